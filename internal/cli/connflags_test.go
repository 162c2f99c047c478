package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalog/strata/internal/testenv/certs"
)

// TestConnectionFlagsSASLSSL runs the CLI against a strata dev whose only
// client listener besides PLAINTEXT is SASL_SSL: --ca-file, --user and
// --sasl-mechanism with the password in $STRATA_PASSWORD reach it; a
// wrong password, no password and an untrusted certificate fail clearly.
func TestConnectionFlagsSASLSSL(t *testing.T) {
	dir := t.TempDir()
	ca := certs.NewCA(t, dir, "cli-test")
	server := ca.Server(t, dir, "server")
	plainAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	secure, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p, err := startStrata(dir, "dev", "-data-dir", filepath.Join(dir, "data"),
		"-kafka.listeners", "PLAINTEXT://"+plainAddr+",SASL_SSL://"+secure,
		"-kafka.tls.cert-file", server.CertFile, "-kafka.tls.key-file", server.KeyFile,
		// A SASL listener makes resources without ACLs closed: carol, and
		// the plaintext client that creates her, may do everything.
		"-auth.super-users", "User:carol;User:ANONYMOUS")
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	plainEnv := map[string]string{"STRATA_BROKERS": plainAddr}
	if out, errOut, code := runCLIEnv(t, plainEnv, "carol-pass\n", "users", "create", "carol", "--mechanism", "SCRAM-SHA-256", "--password-stdin"); code != 0 {
		t.Fatalf("users create: %d %s %s", code, out, errOut)
	}
	flags := []string{"--brokers", secure, "--ca-file", ca.File, "--sasl-mechanism", "SCRAM-SHA-256", "--user", "carol"}
	env := map[string]string{PasswordEnv: "carol-pass"}
	if out, errOut, code := runCLIEnv(t, env, "", append([]string{"topics", "create", "cli-secure", "--partitions", "1"}, flags...)...); code != 0 {
		t.Fatalf("topics create over SASL_SSL: %d %s %s", code, out, errOut)
	}
	if out, errOut, code := runCLIEnv(t, env, "one\ntwo\n", append([]string{"produce", "cli-secure"}, flags...)...); code != 0 {
		t.Fatalf("produce over SASL_SSL: %d %s %s", code, out, errOut)
	}
	out, errOut, code := runCLIEnv(t, env, "", append([]string{"consume", "cli-secure", "--from-beginning", "-e"}, flags...)...)
	if code != 0 || out != "one\ntwo\n" {
		t.Fatalf("consume over SASL_SSL: %d %q %s", code, out, errOut)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"wrong password", map[string]string{PasswordEnv: "guess"}, flags, "SASL_AUTHENTICATION_FAILED"},
		{"untrusted certificate", env, []string{"--brokers", secure, "--tls", "--sasl-mechanism", "SCRAM-SHA-256", "--user", "carol"}, "certificate"},
		{"no user", env, []string{"--brokers", secure, "--ca-file", ca.File, "--sasl-mechanism", "PLAIN"}, "needs --user"},
	} {
		_, errOut, code := runCLIEnv(t, tc.env, "", append([]string{"topics", "list"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want a failure that says %q", tc.name, code, errOut, tc.want)
		}
	}
	// Without $STRATA_PASSWORD and without a terminal, the CLI says how
	// to give the password rather than waiting.
	if _, err := os.Open("/dev/tty"); err != nil {
		_, errOut, code := runCLIEnv(t, map[string]string{}, "", append([]string{"topics", "list"}, flags...)...)
		if code == 0 || !strings.Contains(errOut, PasswordEnv) {
			t.Errorf("no password: exit %d, stderr %q; want a failure naming %s", code, errOut, PasswordEnv)
		}
	}
}
