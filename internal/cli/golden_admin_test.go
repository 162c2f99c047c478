package cli

import (
	"strings"
	"testing"
)

// TestGoldenAdmin: acls, quotas and users as a user sees them, in text and
// JSON, and their mistakes.
func TestGoldenAdmin(t *testing.T) {
	runGolden(t, []step{
		{golden: "acls-setup-topic", args: []string{"topics", "create", "ledger", "-p", "1"}},
		{golden: "acls-create", args: []string{"acls", "create", "--topic", "ledger", "--allow", "User:alice", "--operation", "read,describe"}},
		{golden: "acls-create-prefixed-json", args: []string{"acls", "add", "--group", "billing-", "--prefixed", "--deny", "User:mallory", "--operation", "read", "--output", "json"}},
		{golden: "acls-list", args: []string{"acls", "list"}},
		{golden: "acls-list-json", args: []string{"acls", "ls", "--principal", "User:alice", "--output", "json"}},
		{golden: "acls-usage-no-resource", args: []string{"acls", "create", "--allow", "User:alice", "--operation", "read"}, code: 2},
		{golden: "acls-usage-delete-everything", args: []string{"acls", "delete"}, code: 2},
		{golden: "acls-delete", args: []string{"acls", "delete", "--topic", "ledger", "--principal", "User:alice"}},
		{golden: "acls-delete-none", args: []string{"acls", "rm", "--topic", "ledger", "--principal", "User:alice"}},
		{golden: "quotas-alter", args: []string{"quotas", "alter", "--for-user", "alice", "--set", "producer_byte_rate=1048576"}},
		{golden: "quotas-alter-default", args: []string{"quotas", "alter", "--default-client-id", "--set", "consumer_byte_rate=2000000"}},
		{golden: "quotas-describe", args: []string{"quotas", "describe"}},
		{golden: "quotas-describe-json", args: []string{"quotas", "describe", "--for-user", "alice", "--strict", "--output", "json"}},
		{golden: "quotas-alter-invalid", args: []string{"quotas", "alter", "--for-user", "alice", "--set", "producer_byte_rate=fast"}, code: 2},
		{golden: "quotas-usage-two-users", args: []string{"quotas", "describe", "--for-user", "alice", "--default-user"}, code: 2},
		{golden: "users-create", args: []string{"users", "create", "alice", "--password-stdin"}, stdin: "correct horse\n"},
		{golden: "users-list", args: []string{"users", "list"}},
		{golden: "users-list-json", args: []string{"users", "ls", "--output", "json"}},
		{golden: "users-usage-mechanism", args: []string{"users", "create", "bob", "--mechanism", "MD5", "--password-stdin"}, stdin: "x\n", code: 2},
		{golden: "users-delete", args: []string{"users", "delete", "alice"}},
		{golden: "users-delete-missing", args: []string{"users", "delete", "alice"}, code: 1},
	}, nil)
}

// TestGoldenCommandLine: what cobra brings (suggestions for a typo, short
// flags, the help of a command) and what it keeps (long flags with one
// dash, the standard library's wording of a bad flag).
func TestGoldenCommandLine(t *testing.T) {
	runGolden(t, []step{
		{golden: "cmdline-did-you-mean", args: []string{"topcis", "list"}, code: 2},
		{golden: "cmdline-subcommand-did-you-mean", args: []string{"topics", "craete", "x"}, code: 2},
		{golden: "cmdline-unknown-subcommand", args: []string{"groups", "frobnicate"}, code: 2},
		{golden: "cmdline-short-flags", args: []string{"topics", "create", "short", "-p", "2", "-c", "retention.ms=60000"}},
		{golden: "cmdline-one-dash-long-flags", args: []string{"topics", "alter", "short", "-partitions", "3", "-output", "json"}},
		{golden: "cmdline-one-dash-equals", args: []string{"topics", "describe", "short", "-output=json"}},
		{golden: "cmdline-unknown-short-flag", args: []string{"topics", "list", "-z"}, code: 2},
		{golden: "cmdline-bad-value", args: []string{"topics", "create", "x", "--partitions", "many"}, code: 2},
		{golden: "cmdline-consume-help", args: []string{"consume", "-h"}},
		{golden: "cmdline-help-command", args: []string{"help", "groups", "reset-offsets"}},
	}, nil)
}

// TestCompletion: strata completion writes a script for each shell, and
// the completion it drives offers commands, subcommands and flags.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, errOut, code := runCLI(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, "strata") || !strings.Contains(out, "__complete") {
			t.Errorf("completion %s: exit %d, %d bytes; %s", shell, code, len(out), errOut)
		}
	}
	topic := newTopic(t, 1)
	for _, tc := range []struct {
		args []string
		want string
	}{
		// Topic names come from the cluster.
		{[]string{"__complete", "consume", topic[:len(topic)-1]}, topic + "\n"},
		{[]string{"__complete", "topics", "describe", ""}, topic + "\n"},
		{[]string{"__complete", "top"}, "topics\t"},
		{[]string{"__complete", "topics", "del"}, "delete-records\t"},
		{[]string{"__complete", "consume", "orders", "--from"}, "--from-beginning\t"},
		{[]string{"__complete", "groups", "reset-offsets", "g", "--to-e"}, "--to-earliest\t"},
	} {
		out, errOut, code := runCLI(t, "", tc.args...)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("strata %s: exit %d, want %q offered:\n%s%s", strings.Join(tc.args, " "), code, tc.want, out, errOut)
		}
	}
}
