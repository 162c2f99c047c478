package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
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
		return nil, fmt.Errorf("tls: load certificate: %w", err)
	}
	r.cert, r.certStat, r.keyStat = &cert, cs, ks
	return r.cert, nil
}

// ServerTLSConfig is the TLS configuration of a listener: TLS 1.2 at
// least, and the certificate of certFile and keyFile, re-read when they
// change. The admin listener uses it too.
func ServerTLSConfig(certFile, keyFile string) (*tls.Config, error) {
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

// TLSConfig holds the -kafka.tls.* flags: the certificate of the SSL and
// SASL_SSL listeners, and how they check client certificates.
type TLSConfig struct {
	// CertFile and KeyFile hold the listeners' certificate chain and key
	// in PEM. They are read again when they change: new connections get
	// the new certificate, open ones keep theirs.
	CertFile string
	KeyFile  string
	// CertPEM and KeyPEM are the certificate chain and key themselves,
	// instead of the files (tls_pem.go).
	CertPEM string
	KeyPEM  string
	// ClientCAFile holds the PEM certificates of the authorities whose
	// client certificates are accepted; read again when it changes.
	ClientCAFile string
	// ClientAuth is Kafka's ssl.client.auth: none, request (a certificate
	// is checked when given) or require.
	ClientAuth string
	// PrincipalFromCN makes a client certificate's principal "User:" and
	// its subject's common name, instead of Kafka's default, the whole
	// subject distinguished name.
	PrincipalFromCN bool
}

// Values of TLSConfig.ClientAuth.
const (
	ClientAuthNone    = "none"
	ClientAuthRequest = "request"
	ClientAuthRequire = "require"
)

// validate checks the settings and reads the files, so that a listener
// whose certificate cannot be loaded stops the node at start-up.
func (c TLSConfig) validate() error {
	switch c.ClientAuth {
	case ClientAuthNone, ClientAuthRequest, ClientAuthRequire:
	default:
		return fmt.Errorf("kafka: tls client auth %q: want none, request or require", c.ClientAuth)
	}
	if err := c.checkCertSource(); err != nil {
		return err
	}
	if c.ClientAuth != ClientAuthNone && c.ClientCAFile == "" {
		return fmt.Errorf("kafka: tls client auth %s needs -kafka.tls.client-ca-file", c.ClientAuth)
	}
	_, err := newListenerTLS(c)
	return err
}

// newListenerTLS is the TLS configuration of the SSL and SASL_SSL
// listeners: ServerTLSConfig, and the client certificate check of c,
// against authorities read again when their file changes.
func newListenerTLS(c TLSConfig) (*tls.Config, error) {
	base, err := c.serverTLS()
	if err != nil {
		return nil, err
	}
	switch c.ClientAuth {
	case ClientAuthRequest:
		base.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		base.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return base, nil
	}
	cas := &caReloader{file: c.ClientCAFile}
	if _, err := cas.get(); err != nil {
		return nil, err
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool, err := cas.get()
		if err != nil {
			return nil, err
		}
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.ClientCAs = pool
		return cfg, nil
	}
	return base, nil
}

// caReloader is certReloader for the client authorities.
type caReloader struct {
	file string

	mu   sync.Mutex
	pool *x509.CertPool
	st   fileStamp
}

func (r *caReloader) get() (*x509.CertPool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := stamp(r.file)
	if r.pool != nil && (err != nil || st == r.st) {
		return r.pool, nil
	}
	pem, err := os.ReadFile(r.file)
	pool := x509.NewCertPool()
	if err == nil && !pool.AppendCertsFromPEM(pem) {
		err = errors.New("no PEM certificate in the file")
	}
	if err != nil {
		if r.pool != nil {
			return r.pool, nil
		}
		return nil, fmt.Errorf("kafka tls: client CA file: %w", err)
	}
	r.pool, r.st = pool, st
	return pool, nil
}

// certPrincipal is the principal of a client certificate: Kafka's default,
// "User:" and the subject's distinguished name in RFC 2253 form
// ("CN=alice,OU=eng,O=Example"), or "User:" and its common name.
func certPrincipal(cert *x509.Certificate, fromCN bool) string {
	if fromCN {
		return "User:" + cert.Subject.CommonName
	}
	return "User:" + cert.Subject.String()
}

// startTLS completes the TLS handshake of a connection on an SSL or
// SASL_SSL listener, within the request read timeout, and takes the
// principal from the client's certificate if it sent one. It reports
// whether the connection can be served.
func (c *conn) startTLS() bool {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	d := c.s.cfg.RequestReadTimeout
	if d <= 0 {
		d = c.s.cfg.IdleTimeout
	}
	if d > 0 {
		tc.SetDeadline(time.Now().Add(d))
	}
	if err := tc.HandshakeContext(c.readCtx); err != nil {
		c.s.auth.tlsHandshakeFailures.WithLabelValues(c.listener.Name).Inc()
		if ok, n := c.s.rateLog.allow("tls handshake"); ok {
			c.log.Info("TLS handshake failed", "listener", c.listener.Name, "err", err, "failed", n)
		}
		return false
	}
	tc.SetDeadline(time.Time{})
	c.s.auth.tlsHandshakes.WithLabelValues(c.listener.Name).Inc()
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		c.principal = certPrincipal(certs[0], c.s.cfg.TLS.PrincipalFromCN)
	}
	return true
}
