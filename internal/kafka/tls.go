package kafka

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves a listener's certificate and reads its files again
// when either one's size or modification time changes, so that a rotated
// certificate is used by new connections while existing ones keep theirs.
type certReloader struct {
	certFile, keyFile string

	mu       sync.Mutex
	cert     *tls.Certificate
	certStat fileStamp
	keyStat  fileStamp
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mod: fi.ModTime()}, nil
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.get(); err != nil {
		return nil, err
	}
	return r, nil
}

// get returns the current certificate. A failed re-read keeps the last
// good certificate, so that a half-written rotation does not stop the
// listener; the first read must succeed.
func (r *certReloader) get() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, cerr := stamp(r.certFile)
	ks, kerr := stamp(r.keyFile)
	if r.cert != nil && (cerr != nil || kerr != nil || (cs == r.certStat && ks == r.keyStat)) {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, fmt.Errorf("kafka tls: load certificate: %w", err)
	}
	r.cert, r.certStat, r.keyStat = &cert, cs, ks
	return r.cert, nil
}

// serverTLSConfig is the TLS configuration of a listener: TLS 1.2 at
// least, and the certificate of certFile and keyFile, re-read when they
// change.
func serverTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	r, err := newCertReloader(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.get()
		},
	}, nil
}
