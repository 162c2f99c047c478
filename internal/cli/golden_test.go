package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// runCLI runs one command against the shared strata dev, with
// STRATA_BROKERS pointing at it.
func runCLI(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIEnv(t, map[string]string{"STRATA_BROKERS": dev.KafkaAddr}, stdin, args...)
}

func runCLIEnv(t testing.TB, envVars map[string]string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return envVars[k] })
	return out.String(), errOut.String(), code
}

// step is one command of a golden test.
type step struct {
	golden string // testdata/<golden>.golden
	args   []string
	stdin  string
	code   int // expected exit code
	// filter, when set, normalises what normalise leaves volatile.
	filter func(string) string
	// before, when set, runs before the command, with the admin URL of
	// the test's strata dev.
	before func(t *testing.T, admin string)
}

// adminURL in a step's args stands for the admin URL of the test's strata
// dev.
const adminURL = "ADMIN_URL"

var (
	reUUID          = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reTrailingSpace = regexp.MustCompile(`(?m) +$`)
	reJSONPort      = regexp.MustCompile(`"port": \d+`)
	reTime          = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
)

// normalise replaces what changes from run to run: the broker's port,
// topic ids, timestamps.
func normalise(s string, addrs map[string]string) string {
	for addr, name := range addrs {
		// Pad the name to the address's width, to keep tables aligned.
		if len(name) < len(addr) {
			name += strings.Repeat(" ", len(addr)-len(name))
		}
		s = strings.ReplaceAll(s, addr, name)
	}
	s = reTrailingSpace.ReplaceAllString(s, "")
	s = reJSONPort.ReplaceAllString(s, `"port": PORT`)
	s = reUUID.ReplaceAllString(s, "<uuid>")
	return reTime.ReplaceAllString(s, "<time>")
}

// newDev starts a strata dev of the test's own, so that what a golden file
// shows (topic lists, counts) does not depend on other tests.
func newDev(t *testing.T) *strataProc {
	t.Helper()
	tmp := t.TempDir()
	p, err := startStrata(tmp, "dev", "-data-dir", filepath.Join(tmp, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return p
}

// runGolden runs steps in order against a new strata dev and compares each
// one's exit code and normalised output with its golden file.
func runGolden(t *testing.T, steps []step, addrs map[string]string) {
	t.Helper()
	d := newDev(t)
	if addrs == nil {
		addrs = map[string]string{}
	}
	addrs[d.KafkaAddr] = "BROKER"
	addrs["http://"+d.AdminAddr] = adminURL
	for _, s := range steps {
		args := make([]string, len(s.args))
		for i, a := range s.args {
			args[i] = strings.ReplaceAll(a, adminURL, "http://"+d.AdminAddr)
		}
		if s.before != nil {
			s.before(t, "http://"+d.AdminAddr)
		}
		stdout, stderr, code := runCLIEnv(t, map[string]string{"STRATA_BROKERS": d.KafkaAddr}, s.stdin, args...)
		var b strings.Builder
		fmt.Fprintf(&b, "$ strata %s\n", shellJoin(s.args))
		if s.stdin != "" {
			fmt.Fprintf(&b, "--- stdin\n%s", s.stdin)
		}
		fmt.Fprintf(&b, "--- exit %d\n--- stdout\n%s--- stderr\n%s", code, stdout, stderr)
		got := normalise(b.String(), addrs)
		if s.filter != nil {
			got = s.filter(got)
		}
		path := filepath.Join("testdata", s.golden+".golden")
		if code != s.code {
			t.Errorf("strata %s: exit %d, want %d\n%s", strings.Join(s.args, " "), code, s.code, got)
			continue
		}
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run the tests with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("strata %s: output differs from %s (-update rewrites it)\n--- got:\n%s\n--- want:\n%s",
				strings.Join(s.args, " "), path, got, want)
		}
	}
}

// shellJoin writes args as a shell would need them.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"{}$*?|&;<>()\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func TestGoldenTopics(t *testing.T) {
	runGolden(t, []step{
		{golden: "topics-create", args: []string{"topics", "create", "orders", "--partitions", "3", "--config", "retention.ms=86400000"}},
		{golden: "topics-create-json", args: []string{"topics", "create", "payments", "--partitions", "1", "--output", "json"}},
		{golden: "topics-create-exists", args: []string{"topics", "create", "orders"}, code: 1},
		{golden: "topics-create-exists-json", args: []string{"topics", "create", "orders", "--output", "json"}, code: 1},
		{golden: "topics-create-invalid", args: []string{"topics", "create", "bad/name"}, code: 1},
		{golden: "topics-list", args: []string{"topics", "list"}},
		{golden: "topics-list-json", args: []string{"topics", "list", "--output", "json"}},
		{golden: "produce-keyed", args: []string{"produce", "orders", "--key-separator", ":", "--print-offsets"},
			stdin: "alice:order 1\nbob:order 2\nalice:order 3\n\ncarol:order 4\n"},
		{golden: "topics-describe", args: []string{"topics", "describe", "orders"}},
		{golden: "topics-alter", args: []string{"topics", "alter", "orders", "--config", "retention.ms=3600000", "--config", "retention.bytes=1073741824"}},
		{golden: "topics-alter-delete", args: []string{"topics", "alter", "orders", "--delete-config", "retention.bytes", "--output", "json"}},
		{golden: "topics-alter-invalid", args: []string{"topics", "alter", "orders", "--config", "retention.ms=soon"}, code: 1},
		{golden: "topics-alter-partitions", args: []string{"topics", "alter", "orders", "--partitions", "5"}},
		{golden: "topics-alter-fewer-partitions", args: []string{"topics", "alter", "orders", "--partitions", "2"}, code: 1},
		{golden: "topics-delete-records", args: []string{"topics", "delete-records", "orders", "--before", "end", "-p", "0", "-p", "1"}},
		{golden: "topics-delete-records-past-end", args: []string{"topics", "delete-records", "orders", "--before", "1000", "-p", "2"}, code: 1},
		{golden: "topics-delete-records-usage", args: []string{"topics", "delete-records", "orders"}, code: 2},
		{golden: "topics-describe-json", args: []string{"topics", "describe", "orders", "--output", "json"}},
		{golden: "topics-delete", args: []string{"topics", "delete", "payments"}},
		{golden: "topics-delete-json", args: []string{"topics", "delete", "orders", "--output", "json"}},
		{golden: "topics-describe-missing", args: []string{"topics", "describe", "orders"}, code: 1},
	}, nil)
}

func TestGoldenProduceConsume(t *testing.T) {
	runGolden(t, []step{
		{golden: "events-create", args: []string{"topics", "create", "events", "--partitions", "1"}},
		{golden: "produce-text", args: []string{"produce", "events", "--header", "source=cli", "--print-offsets"},
			stdin: "first\nsecond\r\nthird\n"},
		{golden: "produce-json", args: []string{"produce", "events", "--json", "--print-offsets", "--output", "json"},
			stdin: `{"key":"k1","value":"plain text","headers":{"trace":"abc"}}
{"key":null,"value":{"id":7,"tags":["a","b"]}}
{"key":"k3","value_base64":"AP8B"}
`},
		{golden: "produce-json-bad", args: []string{"produce", "events", "--json"},
			stdin: "{\"value\":\"ok\"}\n{\"valeu\":\"typo\"}\n{\"value\":\"never sent\"}\n", code: 1},
		{golden: "consume-text", args: []string{"consume", "events", "--from-beginning", "-n", "7"}},
		{golden: "consume-key-separator", args: []string{"consume", "events", "--offset", "3", "-n", "2", "--key-separator", " => "}},
		{golden: "consume-json", args: []string{"consume", "events", "--from-beginning", "-n", "7", "--format", "json"}},
		{golden: "consume-template", args: []string{"consume", "events", "--offset", "1", "-n", "3", "--format", "template",
			"--template", `{{.Partition}}@{{.Offset}} key={{printf "%q" .Key}} source={{index .Headers "source"}} {{.Value}}`}},
		{golden: "consume-since", args: []string{"consume", "events", "--since", "1h", "-n", "1"}},
		{golden: "consume-missing-topic", args: []string{"consume", "nosuchtopic", "--from-beginning", "-n", "1"}, code: 1},
		{golden: "consume-usage-offset-group", args: []string{"consume", "events", "--group", "g", "--offset", "3"}, code: 2},
		{golden: "consume-usage-two-starts", args: []string{"consume", "events", "--from-beginning", "--since", "1h"}, code: 2},
		{golden: "consume-exit-at-end", args: []string{"consume", "events", "-o", "beginning", "-e"}},
		{golden: "consume-last-two", args: []string{"consume", "events", "-o", "-2", "-e", "--format", "template", "--template", "{{.Offset}} {{.Value}}"}},
		{golden: "consume-range", args: []string{"consume", "events", "-p", "0", "-o", "2..4", "--format", "template", "--template", "{{.Offset}} {{.Value}}"}},
		{golden: "consume-range-past-end", args: []string{"consume", "events", "-o", "5..100", "--format", "template", "--template", "{{.Offset}} {{.Value}}"}},
		{golden: "spread-create", args: []string{"topics", "create", "spread", "--partitions", "3"}},
		{golden: "consume-exit-at-end-empty", args: []string{"consume", "spread", "--from-beginning", "-e"}},
		{golden: "spread-produce-0", args: []string{"produce", "spread", "--partition", "0"}, stdin: "a\nb\n"},
		{golden: "spread-produce-2", args: []string{"produce", "spread", "--partition", "2"}, stdin: "c\n"},
		{golden: "consume-exit-at-end-partitions", args: []string{"consume", "spread", "--from-beginning", "-e", "--format", "template", "--template", "{{.Partition}}@{{.Offset}} {{.Value}}"},
			filter: sortStdout},
		{golden: "consume-usage-exit-group", args: []string{"consume", "events", "--group", "g", "-e"}, code: 2},
		{golden: "consume-usage-bad-offset", args: []string{"consume", "events", "-o", "tomorrow"}, code: 2},
		{golden: "consume-usage-exit-and-range", args: []string{"consume", "events", "-o", "1..3", "-e"}, code: 2},
	}, nil)
}

// sortStdout sorts the lines of a golden step's stdout: records of
// different partitions arrive in any order.
func sortStdout(s string) string {
	head, rest, ok := strings.Cut(s, "--- stdout\n")
	if !ok {
		return s
	}
	out, tail, ok := strings.Cut(rest, "--- stderr\n")
	if !ok {
		return s
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	sort.Strings(lines)
	if out != "" {
		out = strings.Join(lines, "\n") + "\n"
	}
	return head + "--- stdout\n" + out + "--- stderr\n" + tail
}

func TestGoldenGroups(t *testing.T) {
	runGolden(t, []step{
		{golden: "groups-setup-topic", args: []string{"topics", "create", "jobs", "--partitions", "2"}},
		{golden: "groups-setup-produce", args: []string{"produce", "jobs", "--partition", "0"}, stdin: "j0\nj1\nj2\nj3\n"},
		{golden: "groups-consume", args: []string{"consume", "jobs", "--group", "workers", "--from-beginning", "-n", "4"}},
		{golden: "groups-list", args: []string{"groups", "list"}},
		{golden: "groups-list-json", args: []string{"groups", "list", "--output", "json"}},
		{golden: "groups-setup-produce-more", args: []string{"produce", "jobs", "--partition", "0"}, stdin: "j4\nj5\n"},
		{golden: "groups-describe", args: []string{"groups", "describe", "workers"}},
		{golden: "groups-describe-json", args: []string{"groups", "describe", "workers", "--output", "json"}},
		{golden: "groups-reset-dry-run", args: []string{"groups", "reset-offsets", "workers", "--topic", "jobs", "--to-earliest"}},
		{golden: "groups-describe-after-dry-run", args: []string{"groups", "describe", "workers"}},
		{golden: "groups-reset-earliest", args: []string{"groups", "reset-offsets", "workers", "--topic", "jobs", "--to-earliest", "--execute"}},
		{golden: "groups-reset-latest", args: []string{"groups", "reset-offsets", "workers", "--topic", "jobs", "--to-latest", "--partition", "1", "--execute"}},
		{golden: "groups-reset-offset-json", args: []string{"groups", "reset-offsets", "workers", "--topic", "jobs", "--to-offset", "3", "--partition", "0", "--output", "json", "--execute"}},
		{golden: "groups-reset-shift-dry-run", args: []string{"groups", "reset-offsets", "workers", "--all-topics", "--shift-by", "-2"}},
		{golden: "groups-reset-shift-forward", args: []string{"groups", "reset-offsets", "workers", "--topic", "jobs", "--shift-by", "1", "--execute"}},
		{golden: "groups-reset-shift-back", args: []string{"groups", "reset-offsets", "workers", "--all-topics", "--shift-by", "-1", "--execute"}},
		{golden: "groups-reset-current", args: []string{"groups", "reset-offsets", "workers", "--all-topics", "--to-current"}},
		{golden: "groups-reset-usage", args: []string{"groups", "reset-offsets", "workers", "--topic", "jobs"}, code: 2},
		{golden: "groups-reset-usage-no-topic", args: []string{"groups", "reset-offsets", "workers", "--to-earliest"}, code: 2},
		{golden: "groups-resume", args: []string{"consume", "jobs", "--group", "workers", "-n", "3"}},
		{golden: "groups-delete-offsets", args: []string{"groups", "delete-offsets", "workers", "--topic", "jobs", "-p", "1"}},
		{golden: "groups-describe-after-delete-offsets", args: []string{"groups", "describe", "workers"}},
		{golden: "groups-delete", args: []string{"groups", "delete", "workers"}},
		{golden: "groups-describe-missing", args: []string{"groups", "describe", "workers"}, code: 1},
	}, nil)
}

func TestGoldenStatus(t *testing.T) {
	runGolden(t, []step{
		{golden: "status-setup", args: []string{"topics", "create", "t", "--partitions", "4"}},
		{golden: "status", args: []string{"status"}},
		{golden: "status-json", args: []string{"status", "--output", "json"}},
		{golden: "status-admin", args: []string{"status", "--admin", adminURL}, filter: normaliseStatus, before: waitLeaders},
		{golden: "status-admin-json", args: []string{"status", "--admin", adminURL, "--output", "json"}, filter: normaliseStatus},
	}, nil)
}

var (
	reAge         = regexp.MustCompile(`\S+ ago +`)
	reJSONSeconds = regexp.MustCompile(`"(heartbeat_age_seconds|lag_seconds)": [0-9.e+-]+`)
	reMetricTable = regexp.MustCompile(`(?s)METRIC +VALUE\n.*?(--- stderr)`)
	reJSONMetrics = regexp.MustCompile(`(?s)"metrics": \{.*?\n    \}`)
)

// waitLeaders waits until the controller has assigned a leader to every
// partition, which it does a poll after the topic is created.
func waitLeaders(t *testing.T, admin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		reg, err := readRegistry(ctx, admin)
		if err == nil && reg.Partitions > 0 && reg.Leaderless == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("partitions still without an assigned leader: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// normaliseStatus hides what `strata status --admin` shows that changes
// from run to run: heartbeat ages, lags and the node's metrics.
func normaliseStatus(s string) string {
	s = reAge.ReplaceAllStringFunc(s, func(m string) string {
		r := "<age> ago"
		if len(r) < len(m) {
			r += strings.Repeat(" ", len(m)-len(r))
		}
		return r
	})
	s = reJSONSeconds.ReplaceAllString(s, `"$1": <seconds>`)
	s = reMetricTable.ReplaceAllString(s, "METRIC  VALUE\n<metrics>\n$1")
	return reJSONMetrics.ReplaceAllString(s, `"metrics": "<metrics>"`)
}

func TestGoldenErrors(t *testing.T) {
	closed, err := freeAddr() // nothing listens there any more
	if err != nil {
		t.Fatal(err)
	}
	runGolden(t, []step{
		{golden: "unreachable", args: []string{"topics", "list", "--brokers", closed}, code: 1},
		{golden: "unreachable-json", args: []string{"status", "--brokers", closed, "--output", "json"}, code: 1},
		{golden: "usage-no-subcommand", args: []string{"topics"}, code: 2},
		{golden: "usage-missing-name", args: []string{"topics", "create", "--partitions", "3"}, code: 2},
		{golden: "usage-extra-arg", args: []string{"topics", "describe", "a", "b"}, code: 2},
		{golden: "usage-bad-flag", args: []string{"groups", "list", "--nope"}, code: 2},
		{golden: "usage-bad-output", args: []string{"topics", "list", "--output", "yaml"}, code: 2},
		{golden: "usage-unknown-command", args: []string{"topic"}, code: 2},
		{golden: "usage-topics-help", args: []string{"topics", "-h"}},
		{golden: "usage-produce-help", args: []string{"produce", "--help"}},
	}, map[string]string{closed: "CLOSED"})
}
