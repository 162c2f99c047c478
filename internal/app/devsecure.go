package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stratalog/strata/internal/kafka"
	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/metastore"
)

// strata dev --secure: a SASL_SSL listener beside the plaintext one, with a
// throwaway CA and certificate under the data directory and a user admin
// with a generated password, so that a developer can try TLS and SASL
// without making certificates or users first. Everything is kept across
// restarts: clients configured once keep working.

// DevSecureAddress is the SASL_SSL listener `strata dev --secure` adds
// when -kafka.listeners names none.
const DevSecureAddress = "127.0.0.1:9093"

// DevAdminUser is the user `strata dev --secure` creates.
const DevAdminUser = "admin"

// devSecure is what --secure set up, for the banner.
type devSecure struct {
	caFile, passwordFile string
	address              string // the SASL_SSL listener's host:port
}

// devSecureFiles are the files --secure keeps under the data directory.
func devSecureFiles(dataDir string) (tlsDir, caFile, caKey, certFile, keyFile, passwordFile string) {
	tlsDir = filepath.Join(dataDir, "tls")
	return tlsDir, filepath.Join(tlsDir, "ca.pem"), filepath.Join(tlsDir, "ca-key.pem"),
		filepath.Join(tlsDir, "server.pem"), filepath.Join(tlsDir, "server-key.pem"),
		filepath.Join(dataDir, "admin-password")
}

// setUpDevSecure makes (or reuses) the CA, the server certificate and the
// admin password under dataDir, and changes cfg to serve a SASL_SSL
// listener with them, unless the flags already say otherwise: a SASL_SSL
// listener of -kafka.listeners, -kafka.tls.cert-file, -kafka.sasl.*.
func setUpDevSecure(cfg *Config, dataDir string) (*devSecure, error) {
	tlsDir, caFile, caKey, certFile, keyFile, passwordFile := devSecureFiles(dataDir)
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, err
	}
	ca, key, err := loadOrMakeCA(caFile, caKey)
	if err != nil {
		return nil, fmt.Errorf("--secure: CA: %w", err)
	}
	if err := ensureServerCert(certFile, keyFile, ca, key); err != nil {
		return nil, fmt.Errorf("--secure: server certificate: %w", err)
	}
	if _, err := loadOrMakePassword(passwordFile); err != nil {
		return nil, fmt.Errorf("--secure: admin password: %w", err)
	}

	k := &cfg.Kafka
	ls, err := k.ListenerSet()
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(ls, func(l kafka.Listener) bool { return l.Protocol == "SASL_SSL" })
	sec := &devSecure{caFile: caFile, passwordFile: passwordFile, address: DevSecureAddress}
	if i >= 0 {
		sec.address = ls[i].Address
	} else {
		if k.Listeners == "" {
			k.Listeners = "PLAINTEXT://" + k.ListenAddress
			if k.AdvertisedAddress != "" {
				k.AdvertisedListeners = "PLAINTEXT://" + k.AdvertisedAddress
			}
		}
		k.Listeners += ",SASL_SSL://" + DevSecureAddress
		if k.AdvertisedListeners != "" {
			k.AdvertisedListeners += ",SASL_SSL://" + DevSecureAddress
		}
	}
	if k.TLS.CertFile == "" && k.TLS.KeyFile == "" && k.TLS.CertPEM == "" {
		k.TLS.CertFile, k.TLS.KeyFile = certFile, keyFile
	}
	// Kafka's unsecured OAUTHBEARER tokens, for trying OAUTHBEARER
	// clients without an identity provider: on under --secure only.
	if !slices.Contains(k.SASL.Mechanisms, sasl.OAuthBearer) {
		k.SASL.Mechanisms = append(k.SASL.Mechanisms, sasl.OAuthBearer)
	}
	if k.SASL.OAuthBearer.JWKSFile == "" && k.SASL.OAuthBearer.JWKSURL == "" {
		k.SASL.OAuthBearer.Unsecured = true
	}
	// The plaintext listener stays as zero-configuration as without
	// --secure: resources without ACLs stay open unless the flag says
	// otherwise, and admin may do everything.
	if !k.Auth.AllowEveryoneIfNoACLFound.IsSet {
		k.Auth.AllowEveryoneIfNoACLFound.IsSet, k.Auth.AllowEveryoneIfNoACLFound.Value = true, true
	}
	if k.Auth.SuperUsers == "" {
		k.Auth.SuperUsers = "User:" + DevAdminUser
	} else if !strings.Contains(k.Auth.SuperUsers, "User:"+DevAdminUser) {
		k.Auth.SuperUsers += ";User:" + DevAdminUser
	}
	return sec, nil
}

// createDevAdmin stores the admin user's SCRAM credentials (both SHA
// variants, which PLAIN also checks against) in the node's metastore.
func createDevAdmin(ctx context.Context, store metastore.ScramStore, passwordFile string) error {
	password, err := loadOrMakePassword(passwordFile)
	if err != nil {
		return err
	}
	for _, mech := range []string{sasl.ScramSHA256, sasl.ScramSHA512} {
		c, err := sasl.NewCredential(mech, DevAdminUser, password, 0)
		if err != nil {
			return err
		}
		if err := store.UpsertScramCredential(ctx, c); err != nil {
			return fmt.Errorf("--secure: store the admin user: %w", err)
		}
	}
	return nil
}

// printDevSecure writes the client settings of the SASL_SSL listener,
// naming the files that hold the secrets rather than the secrets.
func printDevSecure(w io.Writer, s *devSecure) {
	fmt.Fprintf(w, `  SASL_SSL listener:      %[1]s   (user %[2]s, password in %[3]s, CA certificate %[4]s)
    kcat:
      kcat -b %[1]s -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 \
        -X sasl.username=%[2]s -X sasl.password="$(cat %[3]s)" -X ssl.ca.location=%[4]s -L
    kafka-python:
      KafkaProducer(bootstrap_servers="%[1]s", security_protocol="SASL_SSL",
          sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="%[2]s",
          sasl_plain_password=open("%[3]s").read().strip(), ssl_cafile="%[4]s")
    franz-go:
      pem, _ := os.ReadFile("%[4]s"); pool := x509.NewCertPool(); pool.AppendCertsFromPEM(pem)
      pw, _ := os.ReadFile("%[3]s")
      kgo.NewClient(kgo.SeedBrokers("%[1]s"), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
          kgo.SASL(scram.Auth{User: "%[2]s", Pass: strings.TrimSpace(string(pw))}.AsSha512Mechanism()))
    strata:
      STRATA_PASSWORD="$(cat %[3]s)" strata topics list --brokers %[1]s --tls --ca-file %[4]s \
        --sasl-mechanism SCRAM-SHA-512 --user %[2]s
`, s.address, DevAdminUser, s.passwordFile, s.caFile)
}

// loadOrMakePassword returns the password kept in file, first writing a
// random one (mode 0600) when there is none.
func loadOrMakePassword(file string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		if p := strings.TrimSpace(string(b)); p != "" {
			return p, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(raw)
	return p, os.WriteFile(file, []byte(p+"\n"), 0o600)
}

// loadOrMakeCA reads the CA of the data directory, or makes one valid for
// ten years.
func loadOrMakeCA(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	if cert, key, err := readPair(certFile, keyFile); err == nil {
		return cert, key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: "strata dev CA", Organization: []string{"strata dev"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// ensureServerCert keeps a server certificate for localhost and
// 127.0.0.1 signed by the CA, making a new one when there is none, when it
// was signed by another CA, or when it expires within a month.
func ensureServerCert(certFile, keyFile string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	if cert, _, err := readPair(certFile, keyFile); err == nil {
		if cert.CheckSignatureFrom(ca) == nil && time.Until(cert.NotAfter) > 30*24*time.Hour {
			return nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"strata dev"}},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writePair(certFile, keyFile, der, key)
}

func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// readPair reads a PEM certificate and its ECDSA key.
func readPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certFile, err)
	}
	key, err := x509.ParseECPrivateKey(kp.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	return cert, key, nil
}

// writePair writes a certificate (mode 0644) and its key (mode 0600).
func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
