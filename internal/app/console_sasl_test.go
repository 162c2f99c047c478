package app_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/internal/testenv/certs"
)

// TestConsoleOnSASLOnlyNode: on a node whose only Kafka listener is
// SASL_SSL, the console connects with its own credentials, trusting the
// listener's authority, and shows the topics; its principal is held to
// the ACLs as any client's is. Without credentials its pages say they
// cannot reach Kafka, and the node serves all the same.
func TestConsoleOnSASLOnlyNode(t *testing.T) {
	dir := t.TempDir()
	ca := certs.NewCA(t, dir, "console")
	pair := ca.Server(t, dir, "localhost")
	certPEM, _ := os.ReadFile(pair.CertFile)
	keyPEM, _ := os.ReadFile(pair.KeyFile)
	const adminPassword, consolePassword = "admin-password-for-the-console-test", "console-password-6a0f"
	env := map[string]string{
		"STRATA_KAFKA_LISTENERS":         "SASL_SSL://127.0.0.1:0",
		"STRATA_KAFKA_SASL_MECHANISMS":   "SCRAM-SHA-512",
		"STRATA_KAFKA_TLS_CERT_PEM":      string(certPEM),
		"STRATA_KAFKA_TLS_KEY_PEM":       string(keyPEM),
		"STRATA_AUTH_SUPER_USERS":        "User:admin",
		"STRATA_AUTH_BOOTSTRAP_USER":     "admin",
		"STRATA_AUTH_BOOTSTRAP_PASSWORD": adminPassword,
	}
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}

	// Without credentials for the console.
	n := apptest.StartConfig(t, devConfigWithEnv(t, dataDir, env))
	if code, body := get(t, http.DefaultClient, "http://"+n.AdminAddr+"/ui/topics", ""); code == http.StatusOK {
		t.Fatalf("console without credentials on a SASL-only node: %d\n%s", code, body)
	}
	if !strings.Contains(n.Log(), "the console has no credentials") {
		t.Fatal("no warning that the console has no credentials")
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	// With them. The certificate is for localhost: the console dials the
	// listener's advertised name, as clients do.
	env["STRATA_CONSOLE_USER"] = "console"
	env["STRATA_CONSOLE_PASSWORD"] = consolePassword
	env["STRATA_CONSOLE_TLS_CA_FILE"] = ca.File
	cfg := devConfigWithEnv(t, dataDir, env)
	cfg.Kafka.Listeners = "SASL_SSL://localhost:0"
	n = apptest.StartConfig(t, cfg)

	adminClient, err := kgo.NewClient(kgo.SeedBrokers(n.KafkaAddr),
		kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}),
		kgo.SASL(scram.Auth{User: "admin", Pass: adminPassword}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer adminClient.Close()
	adm := kadm.NewClient(adminClient)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "console", Mechanism: kadm.ScramSha512, Password: consolePassword}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := adm.CreateTopic(ctx, 1, -1, nil, "shown-by-console"); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	page := "http://" + n.AdminAddr + "/ui/topics"
	// No ACL lets the console's principal describe the topic yet (the
	// topics page needs Describe and DescribeConfigs).
	if code, _ := get(t, http.DefaultClient, page, ""); code == http.StatusOK {
		t.Fatal("the console read a topic its principal may not describe")
	}
	acl := kadm.NewACLs().Allow("User:console").Topics("shown-by-console").Operations(kadm.OpDescribe, kadm.OpDescribeConfigs).ResourcePatternType(kadm.ACLPatternLiteral)
	if _, err := adm.CreateACLs(ctx, acl); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the console shows the topic", func() bool {
		code, body := get(t, http.DefaultClient, page, "")
		return code == http.StatusOK && strings.Contains(body, "shown-by-console")
	})
	for _, secret := range []string{adminPassword, consolePassword} {
		if strings.Contains(n.Log(), secret) {
			t.Fatal("the log shows a password")
		}
	}
}
