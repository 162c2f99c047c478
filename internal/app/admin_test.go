package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/app"
	"github.com/stratalog/strata/internal/apptest"
)

const (
	fileSecret = "s3-secret-from-a-file-7f3a"
	flagSecret = "s3-secret-on-the-command-line-91c2"
	adminToken = "admin-token-5d1e"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func get(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestAdminTokenGuardsEverythingButHealth checks each admin path without
// the token, with a wrong one and with the right one.
func TestAdminTokenGuardsEverythingButHealth(t *testing.T) {
	for _, public := range []bool{false, true} {
		args := []string{"-admin.token-file", writeFile(t, "token", adminToken+"\n")}
		if public {
			args = append(args, "-admin.metrics-public")
		}
		n := apptest.Start(t, apptest.Dev, args...)
		base := "http://" + n.AdminAddr
		protected := []string{"/v1/status", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/symbol", "/debug/pprof/heap", "/nothing-here"}
		if !public {
			protected = append(protected, "/metrics")
		}
		for _, p := range protected {
			if code, _ := get(t, http.DefaultClient, base+p, ""); code != http.StatusUnauthorized {
				t.Errorf("public=%v %s without a token: %d, want 401", public, p, code)
			}
			if code, _ := get(t, http.DefaultClient, base+p, adminToken+"x"); code != http.StatusUnauthorized {
				t.Errorf("public=%v %s with a wrong token: %d, want 401", public, p, code)
			}
			want := http.StatusOK
			if p == "/nothing-here" {
				want = http.StatusNotFound
			}
			if code, _ := get(t, http.DefaultClient, base+p, adminToken); code != want {
				t.Errorf("public=%v %s with the token: %d, want %d", public, p, code, want)
			}
		}
		open := []string{"/healthz", "/readyz"}
		if public {
			open = append(open, "/metrics")
		}
		for _, p := range open {
			if code, _ := get(t, http.DefaultClient, base+p, ""); code != http.StatusOK {
				t.Errorf("public=%v %s without a token: %d, want 200", public, p, code)
			}
		}
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAdminCmdlineHidesSecrets starts a node with the S3 secret key in a
// file and, in the process's command line, as a flag: neither
// /debug/pprof/cmdline nor the node's log shows it.
func TestAdminCmdlineHidesSecrets(t *testing.T) {
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	os.Args = append([]string{saved[0]}, "serve", "-objstore.secret-access-key", flagSecret, "--metastore.postgres.url=postgres://u:pw-91c2@db/strata")

	keyFile := writeFile(t, "s3-secret", fileSecret+"\n")
	cfg := apptest.Config(t, apptest.Dev, "-objstore.access-key-id", "strata", "-objstore.secret-access-key-file", keyFile, "-log.level", "debug")
	if cfg.Objects.SecretAccessKey != fileSecret {
		t.Fatalf("secret from the file: %q", cfg.Objects.SecretAccessKey)
	}
	n := apptest.StartConfig(t, cfg)
	code, body := get(t, http.DefaultClient, "http://"+n.AdminAddr+"/debug/pprof/cmdline", "")
	if code != http.StatusOK {
		t.Fatalf("cmdline: %d", code)
	}
	for _, s := range []string{fileSecret, flagSecret, "pw-91c2"} {
		if strings.Contains(body, s) {
			t.Errorf("cmdline shows %q: %q", s, body)
		}
		if strings.Contains(n.Log(), s) {
			t.Errorf("log shows %q", s)
		}
	}
	if !strings.Contains(body, "-objstore.secret-access-key\x00"+app.Redacted) {
		t.Errorf("cmdline %q: want the flag with its value redacted", body)
	}
	_, metrics := get(t, http.DefaultClient, "http://"+n.AdminAddr+"/metrics", "")
	if strings.Contains(metrics, fileSecret) {
		t.Error("metrics show the secret")
	}
}

func TestRedactArgs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"strata serve -objstore.secret-access-key k", "strata serve -objstore.secret-access-key REDACTED"},
		{"strata serve --objstore.secret-access-key=k -roles all", "strata serve --objstore.secret-access-key=REDACTED -roles all"},
		{"strata serve -metastore.postgres.url=postgres://a:b@h/db", "strata serve -metastore.postgres.url=REDACTED"},
		{"strata serve -metastore.postgres.url-file f", "strata serve -metastore.postgres.url-file f"},
		{"strata serve -- -objstore.secret-access-key k", "strata serve -- -objstore.secret-access-key k"},
		{"strata serve -objstore.secret-access-key", "strata serve -objstore.secret-access-key"},
	} {
		if got := strings.Join(app.RedactArgs(strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("RedactArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSecretFiles(t *testing.T) {
	url := "postgres://strata:pw-from-file@127.0.0.1:5432/strata"
	cfg := apptest.Config(t, apptest.Serve,
		"-objstore.url", t.TempDir(),
		"-metastore.postgres.url", "postgres://ignored@h/db",
		"-metastore.postgres.url-file", writeFile(t, "pg", url+"\n"),
		"-objstore.secret-access-key-file", writeFile(t, "s3", "k\r\n"))
	if cfg.Postgres.URL != url || cfg.Objects.SecretAccessKey != "k" {
		t.Errorf("from the files: url %q, key %q", cfg.Postgres.URL, cfg.Objects.SecretAccessKey)
	}
	// A missing or empty file is an error that names the flag, not a secret.
	var c app.Config
	c.Postgres.URLFile = filepath.Join(t.TempDir(), "missing")
	if err := c.ReadSecretFiles(); err == nil || !strings.Contains(err.Error(), "metastore.postgres.url-file") {
		t.Errorf("missing file: %v", err)
	}
	c.Postgres.URLFile = writeFile(t, "empty", "\n")
	if err := c.ReadSecretFiles(); err == nil {
		t.Error("empty file: no error")
	}
	// An unparsable URL's error hides its password.
	c = app.Config{}
	c.Postgres.URL = "postgres://strata:pw-bad@h:notaport/db"
	c.Postgres.MaxConns = 1
	if err := c.Postgres.Validate(); err == nil || strings.Contains(err.Error(), "pw-bad") {
		t.Errorf("bad URL: %v", err)
	}
}

// TestAdminTLS serves the admin listener over HTTPS with the token.
func TestAdminTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile := writeFile(t, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile := writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	cfg := apptest.Config(t, apptest.Dev, "-admin.tls.cert-file", certFile, "-admin.tls.key-file", keyFile,
		"-admin.token-file", writeFile(t, "token", adminToken))
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// apptest waits on plain HTTP; this node is run here.
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	pool := x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + a.AdminAddr().String()
	if code, _ := get(t, c, base+"/healthz", ""); code != http.StatusOK {
		t.Errorf("https /healthz: %d", code)
	}
	if code, _ := get(t, c, base+"/debug/pprof/cmdline", ""); code != http.StatusUnauthorized {
		t.Errorf("https cmdline without token: %d", code)
	}
	if code, _ := get(t, c, base+"/debug/pprof/cmdline", adminToken); code != http.StatusOK {
		t.Errorf("https cmdline with token: %d", code)
	}
	// Plain HTTP to the TLS listener is not served.
	if resp, err := http.Get("http://" + a.AdminAddr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served by the TLS listener")
		}
	}

	// A rotated certificate is served to new connections without a
	// restart.
	tmpl.SerialNumber = big.NewInt(2)
	der2, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	rotated := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(rotated, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der2}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(rotated, certFile); err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		conn, err := tls.Dial("tcp", a.AdminAddr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 2 {
		t.Errorf("after the rotation the admin listener serves certificate %d, want 2", got)
	}
}
