package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/internal/testenv/proc"
)

// TestDevSecure: `strata dev --secure` serves a SASL_SSL listener beside
// the plaintext one with a CA, a certificate and an admin user it makes
// itself; the settings it prints work as pasted; plaintext clients carry
// on; and a restart keeps the CA and the password, so that configured
// clients keep working.
func TestDevSecure(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	plainAddr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	secureAddr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s := testenv.StartStrata(t, "dev", "--secure", "-data-dir", dataDir, "-kafka.listen-address", plainAddr,
		"-kafka.listeners", "PLAINTEXT://"+plainAddr+",SASL_SSL://"+secureAddr)
	waitBanner(t, s, 1)

	caFile := filepath.Join(dataDir, "tls", "ca.pem")
	passwordFile := filepath.Join(dataDir, "admin-password")
	for file, mode := range map[string]os.FileMode{passwordFile: 0o600, filepath.Join(dataDir, "tls", "ca-key.pem"): 0o600, caFile: 0o644} {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", file, fi.Mode().Perm(), mode)
		}
	}
	pw, err := os.ReadFile(passwordFile)
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(pw))
	banner := s.LogTail()
	for _, want := range []string{"SASL_SSL listener:      " + secureAddr, "kcat -b " + secureAddr, passwordFile, caFile, "KafkaProducer(", "kgo.NewClient("} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if len(password) < 20 || strings.Contains(banner, password) {
		t.Errorf("password of %d characters; printed in the banner: %v", len(password), strings.Contains(banner, password))
	}

	// franz-go over SASL_SSL, trusting the CA, with each mechanism.
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	secureClient := func(m sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
		t.Helper()
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(secureAddr), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}), kgo.SASL(m)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	admin := scram.Auth{User: "admin", Pass: password}
	cl := secureClient(admin.AsSha512Mechanism(), kgo.DefaultProduceTopic("secured"))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "secured"); err != nil {
		t.Fatalf("create a topic over SASL_SSL: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("over tls")}).FirstErr(); err != nil {
		t.Fatalf("produce over SASL_SSL: %v", err)
	}
	for name, m := range map[string]sasl.Mechanism{
		"SCRAM-SHA-256": admin.AsSha256Mechanism(),
		"PLAIN":         plain.Auth{User: "admin", Pass: password}.AsMechanism(),
	} {
		if err := secureClient(m).Ping(ctx); err != nil {
			t.Errorf("%s over SASL_SSL: %v", name, err)
		}
	}
	if err := secureClient(scram.Auth{User: "admin", Pass: "wrong"}.AsSha512Mechanism()).Ping(ctx); err == nil {
		t.Error("a wrong password authenticated")
	}

	// The plaintext listener stays zero-configuration.
	pc, err := kgo.NewClient(kgo.SeedBrokers(plainAddr), kgo.ConsumeTopics("secured"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	fs := pc.PollFetches(ctx)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "over tls" {
		t.Fatalf("plaintext consumer: err %v, %d records", err, fs.NumRecords())
	}

	// The kcat command as printed, with the shell's $(cat ...) done here.
	if out := kcat(t, secureAddr, "", "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
		"-X", "sasl.username=admin", "-X", "sasl.password="+password, "-X", "ssl.ca.location="+caFile, "-L", "-m", "20"); !strings.Contains(out, "secured") {
		t.Errorf("kcat with the printed settings listed no topic secured:\n%s", out)
	}

	// A restart keeps the CA and the password.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	waitBanner(t, s, 2)
	caAgain, _ := os.ReadFile(caFile)
	pwAgain, _ := os.ReadFile(passwordFile)
	if string(caAgain) != string(caPEM) || string(pwAgain) != string(pw) {
		t.Error("a restart made a new CA or password")
	}
	if err := secureClient(admin.AsSha512Mechanism()).Ping(ctx); err != nil {
		t.Errorf("after a restart, the same settings: %v", err)
	}
}
