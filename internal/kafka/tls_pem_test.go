package kafka

import (
	"crypto/tls"
	"os"
	"strings"
	"testing"
)

// TestTLSCertificateFromPEM: a listener certificate given as PEM text is
// served; files and text together, half of the text, and a bad key are
// refused, and the refusal never quotes the key.
func TestTLSCertificateFromPEM(t *testing.T) {
	certFile, keyFile := writeSelfSigned(t, t.TempDir(), "pem-listener")
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	good := TLSConfig{CertPEM: string(certPEM), KeyPEM: string(keyPEM), ClientAuth: ClientAuthNone}
	if err := good.validate(); err != nil {
		t.Fatalf("PEM certificate refused: %v", err)
	}
	cfg, err := newListenerTLS(good)
	if err != nil {
		t.Fatal(err)
	}
	if cn := handshakeCN(t, cfg, &tls.Config{InsecureSkipVerify: true}); cn != "pem-listener" {
		t.Fatalf("served certificate %q", cn)
	}
	badKey := strings.Replace(string(keyPEM), "\n", "\nAAAA", 2)
	for name, c := range map[string]TLSConfig{
		"files and text": {CertFile: certFile, KeyFile: keyFile, CertPEM: string(certPEM), KeyPEM: string(keyPEM)},
		"no key":         {CertPEM: string(certPEM)},
		"no certificate": {KeyPEM: string(keyPEM)},
		"bad key":        {CertPEM: string(certPEM), KeyPEM: badKey},
	} {
		c.ClientAuth = ClientAuthNone
		err := c.validate()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), strings.Split(string(keyPEM), "\n")[1]) {
			t.Errorf("%s: the error quotes the key: %v", name, err)
		}
	}
}
