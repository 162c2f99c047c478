package app_test

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/internal/app"
	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/testenv/certs"
)

// devConfigWithEnv is the configuration of `strata dev args...` with env
// added to its environment (for the rest of the test), the listeners on
// free ports of 127.0.0.1.
func devConfigWithEnv(t *testing.T, dataDir string, env map[string]string, args ...string) app.Config {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var cfg app.Config
	fs := flag.NewFlagSet("strata dev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	defaults := func() {
		app.DevDefaults(&cfg, dataDir)
		cfg.Kafka.ListenAddress, cfg.AdminAddress = "127.0.0.1:0", "127.0.0.1:0"
	}
	if err := app.Load(&cfg, fs, args, defaults); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// scramAdminWorks connects to addr over TLS trusting ca, as user with
// password and SCRAM-SHA-512, and creates a topic: it fails when the
// node does not let the user in.
func scramAdminWorks(t *testing.T, addr string, ca *certs.CA, user, password string) error {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}),
		kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()),
		kgo.RequestRetries(0), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, nil, "boot")
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	return err
}

// TestBootstrapUserAndCertificateFromEnvironment: a node given its
// listener certificate and the first SCRAM user's password only through
// the environment (as the Terraform module gives them) serves SASL_SSL,
// lets that user in, and never logs the password or the key. A restart
// with another password keeps the user's first one: the node creates the
// user, it never changes an existing one.
func TestBootstrapUserAndCertificateFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	ca := certs.NewCA(t, dir, "boot")
	pair := ca.Server(t, dir, "localhost")
	certPEM, err := os.ReadFile(pair.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	const password, later = "first-admin-password-3b9e", "second-admin-password-77d1"
	env := map[string]string{
		"STRATA_KAFKA_LISTENERS":         "SASL_SSL://127.0.0.1:0",
		"STRATA_KAFKA_SASL_MECHANISMS":   "SCRAM-SHA-512",
		"STRATA_KAFKA_TLS_CERT_PEM":      string(certPEM),
		"STRATA_KAFKA_TLS_KEY_PEM":       string(keyPEM),
		"STRATA_AUTH_SUPER_USERS":        "User:admin",
		"STRATA_AUTH_BOOTSTRAP_USER":     "admin",
		"STRATA_AUTH_BOOTSTRAP_PASSWORD": password,
	}
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := apptest.StartConfig(t, devConfigWithEnv(t, dataDir, env))
	if err := scramAdminWorks(t, n.KafkaAddr, ca, "admin", password); err != nil {
		t.Fatalf("the bootstrap user over SASL_SSL: %v", err)
	}
	if err := scramAdminWorks(t, n.KafkaAddr, ca, "admin", password+"x"); err == nil {
		t.Fatal("a wrong password was let in")
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(n.Log(), "created the bootstrap SCRAM user") {
		t.Fatalf("no line says the user was created:\n%s", n.Log())
	}

	env["STRATA_AUTH_BOOTSTRAP_PASSWORD"] = later
	n2 := apptest.StartConfig(t, devConfigWithEnv(t, dataDir, env))
	if err := scramAdminWorks(t, n2.KafkaAddr, ca, "admin", password); err != nil {
		t.Fatalf("the first password after a restart with another: %v", err)
	}
	if err := scramAdminWorks(t, n2.KafkaAddr, ca, "admin", later); err == nil {
		t.Fatal("a restart changed the existing user's password")
	}
	if err := n2.Stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(n2.Log(), "created the bootstrap SCRAM user") {
		t.Fatal("the restart created the user again")
	}
	key := strings.Split(strings.TrimSpace(string(keyPEM)), "\n")[1]
	for _, log := range []string{n.Log(), n2.Log()} {
		for _, secret := range []string{password, later, key} {
			if strings.Contains(log, secret) {
				t.Fatalf("the log shows a secret (%.8s...)", secret)
			}
		}
	}
}

// TestBootstrapUserValidate: a bootstrap user needs a password and a
// SCRAM mechanism, and a password needs a user.
func TestBootstrapUserValidate(t *testing.T) {
	dataDir := t.TempDir()
	for _, env := range []map[string]string{
		{"STRATA_AUTH_BOOTSTRAP_USER": "admin"},
		{"STRATA_AUTH_BOOTSTRAP_PASSWORD": "p4ssw0rd-without-a-user"},
		{"STRATA_AUTH_BOOTSTRAP_USER": "admin", "STRATA_AUTH_BOOTSTRAP_PASSWORD": "x", "STRATA_AUTH_BOOTSTRAP_MECHANISM": "PLAIN"},
	} {
		t.Run("", func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			var cfg app.Config
			fs := flag.NewFlagSet("strata dev", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.RegisterFlags(fs)
			err := app.Load(&cfg, fs, nil, func() { app.DevDefaults(&cfg, dataDir) })
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil {
				t.Errorf("%v accepted", env)
			} else if p := env["STRATA_AUTH_BOOTSTRAP_PASSWORD"]; p != "" && strings.Contains(err.Error(), p) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
