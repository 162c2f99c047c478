package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/client"
	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore/sqlite"
)

var userSeq atomic.Int64

func newUserName(t *testing.T) string {
	return fmt.Sprintf("user-%s-%d", strings.ToLower(reTopicChars.ReplaceAllString(t.Name(), "-")), userSeq.Add(1))
}

// listUsers runs `strata users list --output json` with env.
func listUsers(t *testing.T, env map[string]string, extra ...string) map[string]map[string]int32 {
	t.Helper()
	out, errOut, code := runCLIEnv(t, env, "", append([]string{"users", "list", "--output", "json"}, extra...)...)
	if code != 0 {
		t.Fatalf("users list: %d %s", code, errOut)
	}
	var users []client.User
	if err := json.Unmarshal([]byte(out), &users); err != nil {
		t.Fatalf("users list output %q: %v", out, err)
	}
	got := map[string]map[string]int32{}
	for _, u := range users {
		got[u.Name] = map[string]int32{}
		for _, c := range u.Credentials {
			got[u.Name][c.Mechanism] = c.Iterations
		}
	}
	return got
}

func TestUsersThroughCluster(t *testing.T) {
	env := map[string]string{"STRATA_BROKERS": dev.KafkaAddr}
	user := newUserName(t)
	out, errOut, code := runCLIEnv(t, env, "first-pass\n", "users", "create", user, "--mechanism", "SCRAM-SHA-512", "--password-stdin")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	if strings.Contains(out+errOut, "first-pass") {
		t.Fatal("the password is echoed")
	}
	if _, errOut, code := runCLIEnv(t, env, "second-pass\n", "users", "create", user, "--mechanism", "SCRAM-SHA-256", "--iterations", "4096", "--password-stdin"); code != 0 {
		t.Fatalf("create SHA-256: %d %s", code, errOut)
	}
	got := listUsers(t, env)[user]
	if got["SCRAM-SHA-512"] != sasl.DefaultIterations || got["SCRAM-SHA-256"] != 4096 {
		t.Fatalf("listed %v", got)
	}
	out, _, _ = runCLIEnv(t, env, "", "users", "list")
	if !strings.Contains(out, "USER") || !strings.Contains(out, user) {
		t.Fatalf("text list:\n%s", out)
	}

	if _, errOut, code := runCLIEnv(t, env, "", "users", "delete", user, "--mechanism", "SCRAM-SHA-256"); code != 0 {
		t.Fatalf("delete one mechanism: %d %s", code, errOut)
	}
	if got := listUsers(t, env)[user]; len(got) != 1 || got["SCRAM-SHA-512"] == 0 {
		t.Fatalf("after deleting SHA-256: %v", got)
	}
	if _, errOut, code := runCLIEnv(t, env, "", "users", "delete", user, "--mechanism", "SCRAM-SHA-256"); code != exitError {
		t.Fatalf("deleting a missing credential: %d %s", code, errOut)
	}
	if _, errOut, code := runCLIEnv(t, env, "", "users", "delete", user); code != 0 {
		t.Fatalf("delete: %d %s", code, errOut)
	}
	if _, ok := listUsers(t, env)[user]; ok {
		t.Fatal("user still listed after delete")
	}
	if _, errOut, code := runCLIEnv(t, env, "", "users", "delete", user); code != exitError || !strings.Contains(errOut, user) {
		t.Fatalf("deleting an unknown user: %d %s", code, errOut)
	}
}

func TestUsersUsage(t *testing.T) {
	env := map[string]string{"STRATA_BROKERS": dev.KafkaAddr}
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		// stdin is not a terminal: no prompt, and no password flag exists.
		{"pw\n", []string{"users", "create", "u"}, "--password-stdin"},
		{"pw\n", []string{"users", "create", "u", "--password", "pw"}, "-password"},
		{"\n", []string{"users", "create", "u", "--password-stdin"}, "empty"},
		{"pw\n", []string{"users", "create", "u", "--password-stdin", "--mechanism", "PLAIN"}, "--mechanism"},
		{"pw\n", []string{"users", "create", "u", "--password-stdin", "--iterations", "1000"}, "--iterations"},
		{"", []string{"users", "delete", "u", "--mechanism", "SCRAM-SHA-1"}, "--mechanism"},
		{"", []string{"users", "list", "--metastore-url", "mysql://x"}, "--metastore-url"},
	} {
		_, errOut, code := runCLIEnv(t, env, tc.stdin, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d, stderr %q, want usage error about %s", tc.args, code, errOut, tc.want)
		}
		if strings.Contains(errOut, "pw") && !strings.Contains(tc.want, "pw") && !strings.Contains(errOut, "-password") {
			t.Errorf("%v: stderr repeats the password: %q", tc.args, errOut)
		}
	}
}

// checkLogin reports whether user authenticates with password through
// PLAIN and SCRAM against the credentials in store.
func checkLogin(t *testing.T, store sasl.Credentials, user, password string) bool {
	t.Helper()
	var cfg sasl.Config
	cfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	srv, err := sasl.NewServer(cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := srv.Start(sasl.Plain)
	if err != nil {
		t.Fatal(err)
	}
	_, done, err := ex.Next(context.Background(), []byte("\x00"+user+"\x00"+password))
	if err != nil && !errors.Is(err, sasl.ErrAuthenticationFailed) {
		t.Fatal(err)
	}
	return done
}

// The first user, before any node runs: written straight into the SQLite
// metastore a strata dev then starts on, and served by it.
func TestUsersDirectSQLiteBeforeCluster(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "data", "meta.db")
	env := map[string]string{"STRATA_METASTORE_URL": url}
	if _, errOut, code := runCLIEnv(t, env, "admin-pass\n", "users", "create", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	if got := listUsers(t, env)["admin"]; got["SCRAM-SHA-512"] != sasl.DefaultIterations {
		t.Fatalf("listed %v", got)
	}

	store, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(dir, "data", "meta.db")}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if !checkLogin(t, store, "admin", "admin-pass") || checkLogin(t, store, "admin", "admin-pas") {
		t.Fatal("the stored credential does not check the password")
	}
	creds, err := store.ScramCredentials(context.Background(), nil)
	if err != nil || len(creds) != 1 {
		t.Fatalf("%v %v", creds, err)
	}
	for _, b := range [][]byte{creds[0].Salt, creds[0].StoredKey, creds[0].ServerKey} {
		if strings.Contains(string(b), "admin-pass") {
			t.Fatal("password stored")
		}
	}
	store.Close()

	node, err := startStrata(dir, "dev", "-data-dir", filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer node.stop()
	if got := listUsers(t, map[string]string{"STRATA_BROKERS": node.KafkaAddr})["admin"]; got["SCRAM-SHA-512"] != sasl.DefaultIterations {
		t.Fatalf("the node lists %v", got)
	}

	if _, errOut, code := runCLIEnv(t, env, "", "users", "delete", "admin", "--metastore-url", url); code != 0 {
		t.Fatalf("delete: %d %s", code, errOut)
	}
	if _, errOut, code := runCLIEnv(t, env, "", "users", "delete", "admin"); code != exitError {
		t.Fatalf("delete again: %d %s", code, errOut)
	}
}

func TestUsersDirectPostgres(t *testing.T) {
	url := testenv.PostgresURL(t)
	if !strings.HasPrefix(url, "postgres") {
		t.Fatalf("PostgresURL %q is not a URL", url)
	}
	env := map[string]string{"STRATA_METASTORE_URL": url}
	if _, errOut, code := runCLIEnv(t, env, "pg-pass\r\n", "users", "create", "alice", "--mechanism", "SCRAM-SHA-256", "--password-stdin"); code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	if _, errOut, code := runCLIEnv(t, env, "other\n", "users", "create", "bob", "--password-stdin"); code != 0 {
		t.Fatalf("create bob: %d %s", code, errOut)
	}
	got := listUsers(t, env)
	if len(got) != 2 || got["alice"]["SCRAM-SHA-256"] == 0 || got["bob"]["SCRAM-SHA-512"] == 0 {
		t.Fatalf("listed %v", got)
	}
	if _, errOut, code := runCLIEnv(t, env, "", "users", "delete", "alice"); code != 0 {
		t.Fatalf("delete: %d %s", code, errOut)
	}
	if got := listUsers(t, env); len(got) != 1 {
		t.Fatalf("after delete %v", got)
	}
	// A wrong URL fails without printing it.
	bad := "postgres://strata:hunter2@127.0.0.1:1/strata"
	_, errOut, code := runCLIEnv(t, map[string]string{"STRATA_METASTORE_URL": bad}, "", "users", "list", "--timeout", "5s")
	if code != exitError || strings.Contains(errOut, "hunter2") {
		t.Fatalf("unreachable metastore: %d %q", code, errOut)
	}
}
