package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stratalog/strata/client"
	"github.com/stratalog/strata/internal/testenv"
)

var reTopicChars = regexp.MustCompile(`[^a-zA-Z0-9._-]`)

var topicSeq sync.Mutex
var topicN int

// newTopic creates a topic on the shared strata dev.
func newTopic(t *testing.T, partitions int) string {
	t.Helper()
	topicSeq.Lock()
	topicN++
	name := fmt.Sprintf("%s-%d", reTopicChars.ReplaceAllString(t.Name(), "-"), topicN)
	topicSeq.Unlock()
	if out, errOut, code := runCLI(t, "", "topics", "create", name, "--partitions", fmt.Sprint(partitions)); code != 0 {
		t.Fatalf("topics create: %d %s %s", code, out, errOut)
	}
	return name
}

func TestParseAllowsFlagsAfterArguments(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		n       int
		timeout time.Duration
	}{
		{[]string{"a", "-n", "3"}, []string{"a"}, 3, 30 * time.Second},
		{[]string{"-n", "3", "a"}, []string{"a"}, 3, 30 * time.Second},
		{[]string{"--n=3", "a", "--", "-b"}, []string{"a", "-b"}, 3, 30 * time.Second},
		{[]string{"a", "--", "-n", "4"}, []string{"a", "-n", "4"}, 0, 30 * time.Second},
		// A long flag with one dash, as the flag package took it.
		{[]string{"a", "-timeout", "5s", "-n=2"}, []string{"a"}, 2, 5 * time.Second},
		{[]string{"a", "-timeout=7s"}, []string{"a"}, 0, 7 * time.Second},
	} {
		e := &env{stderr: io.Discard, stdout: io.Discard, getenv: func(string) string { return "" },
			commands: map[*pflag.FlagSet]*cobra.Command{}}
		fs := e.flags("x", "x")
		n := fs.IntP("n", "n", 0, "")
		var pos []string
		cmd := e.leaf(fs, make([]string, len(tc.pos)), func(p []string) error { pos = p; return nil })
		root := &cobra.Command{Use: "strata", SilenceErrors: true, SilenceUsage: true}
		root.AddCommand(cmd)
		root.SetArgs(normaliseArgs(root, append([]string{"x"}, tc.args...)))
		err := root.Execute()
		if err != nil || !reflect.DeepEqual(pos, tc.pos) || *n != tc.n || e.timeout != tc.timeout {
			t.Errorf("parse %q: %q, n=%d, timeout %s, %v; want %q, n=%d, timeout %s", tc.args, pos, *n, e.timeout, err, tc.pos, tc.n, tc.timeout)
		}
	}
}

func TestParseOffsetRange(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(t time.Time) *client.Position { p := client.AtTime(t); return &p }
	off := func(n int64) *client.Position { p := client.AtOffset(n); return &p }
	end := client.End()
	for _, c := range []struct {
		in         string
		start      client.Position
		stop       *client.Position
		wantErrSub string
	}{
		{in: "beginning", start: client.Beginning()},
		{in: "end", start: client.End()},
		{in: "1000", start: client.AtOffset(1000)},
		{in: "-10", start: client.FromEnd(10)},
		{in: "@1772366400000", start: client.AtTime(now)},
		{in: "@2026-03-01T12:00:00Z", start: client.AtTime(now)},
		{in: "@10m", start: client.AtTime(now.Add(-10 * time.Minute))},
		{in: "100..200", start: client.AtOffset(100), stop: off(200)},
		{in: "..200", start: client.Beginning(), stop: off(200)},
		{in: "-5..end", start: client.FromEnd(5), stop: &end},
		{in: "@1h..@10m", start: client.AtTime(now.Add(-time.Hour)), stop: at(now.Add(-10 * time.Minute))},
		{in: "", wantErrSub: "want beginning"},
		{in: "tomorrow", wantErrSub: "want beginning"},
		{in: "@soon", wantErrSub: "@TIME"},
		{in: "1..", wantErrSub: "a range ends"},
		{in: "1..-3", wantErrSub: "a range ends"},
	} {
		start, stop, err := parseOffsetRange(c.in, now)
		if c.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErrSub) {
				t.Errorf("%q: err %v, want one saying %q", c.in, err, c.wantErrSub)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if start.String() != c.start.String() {
			t.Errorf("%q: start %s, want %s", c.in, start, c.start)
		}
		switch {
		case (stop == nil) != (c.stop == nil):
			t.Errorf("%q: stop %v, want %v", c.in, stop, c.stop)
		case stop != nil && stop.String() != c.stop.String():
			t.Errorf("%q: stop %s, want %s", c.in, stop, c.stop)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                  now.Add(-10 * time.Minute),
		"1h30m":                now.Add(-90 * time.Minute),
		"2025-02-28T08:00:00Z": time.Date(2025, 2, 28, 8, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-5m", "yesterday", "10 minutes"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}

// TestBinaryRoundTrip produces arbitrary bytes with produce --json and reads
// them back with consume --format json: every key, value and header
// survives.
func TestBinaryRoundTrip(t *testing.T) {
	topic := newTopic(t, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	var want []record
	var in bytes.Buffer
	for i := range 50 {
		r := record{Partition: 0, Value: randBytes(rng, i%7 == 0)}
		if i%3 != 0 {
			r.Key = randBytes(rng, false)
		}
		if i%2 == 0 {
			r.Headers = []client.Header{{Key: "h", Value: []byte(fmt.Sprint("v", i))}}
		}
		want = append(want, r)
		b, err := formatJSONLine(client.Message[[]byte, []byte]{RawKey: r.Key, RawValue: r.Value, Headers: r.Headers})
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
		in.WriteByte('\n')
	}
	if out, errOut, code := runCLI(t, in.String(), "produce", topic, "--json"); code != 0 {
		t.Fatalf("produce: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := runCLI(t, "", "consume", topic, "--from-beginning", "-n", "50", "--output", "json")
	if code != 0 {
		t.Fatalf("consume: exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("consumed %d lines, want %d", len(lines), len(want))
	}
	for i, line := range lines {
		got, err := parseJSONLine([]byte(line))
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		got.Partition = 0
		if !reflect.DeepEqual(normRecord(got), normRecord(want[i])) {
			t.Errorf("record %d: got %+v, want %+v", i, got, want[i])
		}
	}
}

// randBytes returns random bytes, text or binary, sometimes empty; never
// nil (a null value stays null through the round trip anyway).
func randBytes(rng *rand.Rand, empty bool) []byte {
	if empty {
		return []byte{}
	}
	b := make([]byte, rng.IntN(40))
	for i := range b {
		if rng.IntN(2) == 0 {
			b[i] = byte(rng.IntN(256))
		} else {
			b[i] = byte('a' + rng.IntN(26))
		}
	}
	return b
}

// normRecord makes empty and nil header lists equal.
func normRecord(r record) record {
	if len(r.Headers) == 0 {
		r.Headers = nil
	}
	return r
}

// TestConsumeExitsOnCancel checks that Ctrl-C ends consume cleanly, and that
// in a group it commits exactly what it printed.
func TestConsumeExitsOnCancel(t *testing.T) {
	for _, group := range []string{"", "cancel-group"} {
		name := "direct"
		if group != "" {
			name = "group"
		}
		t.Run(name, func(t *testing.T) {
			topic := newTopic(t, 1)
			if _, errOut, code := runCLI(t, "a\nb\nc\n", "produce", topic); code != 0 {
				t.Fatal(errOut)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &lockedBuffer{}
			args := []string{"consume", topic, "--from-beginning"}
			if group != "" {
				group += "-" + topic
				args = append(args, "--group", group)
			}
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, args, strings.NewReader(""), out, io.Discard,
					func(k string) string { return map[string]string{"STRATA_BROKERS": dev.KafkaAddr}[k] })
			}()
			testenv.WaitFor(t, 30*time.Second, "consume to print a, b and c", func() bool {
				return out.String() == "a\nb\nc\n"
			})
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Fatalf("consume exited %d on cancel, want 0", code)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("consume did not exit after cancel")
			}
			if group == "" {
				return
			}
			out2, errOut, code := runCLI(t, "", "groups", "describe", group, "--output", "json")
			if code != 0 {
				t.Fatal(errOut)
			}
			var g client.GroupInfo
			if err := json.Unmarshal([]byte(out2), &g); err != nil {
				t.Fatal(err)
			}
			if g.State != "Empty" || len(g.Offsets) != 1 || g.Offsets[0].Committed != 3 {
				t.Errorf("after cancel the group is %+v; want Empty with offset 3 committed", g)
			}
		})
	}
}

// TestProduceExitsOnCancel checks that Ctrl-C while produce waits for input
// ends it cleanly, with every line read so far acknowledged.
func TestProduceExitsOnCancel(t *testing.T) {
	topic := newTopic(t, 1)
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"produce", topic, "--print-offsets"}, pr, out, io.Discard,
			func(k string) string { return map[string]string{"STRATA_BROKERS": dev.KafkaAddr}[k] })
	}()
	fmt.Fprintln(pw, "one")
	fmt.Fprintln(pw, "two")
	testenv.WaitFor(t, 30*time.Second, "produce to print the offsets of two lines", func() bool {
		return strings.Count(out.String(), "\n") >= 2
	})
	cancel() // stdin stays open, as on a terminal
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("produce exited %d on cancel, want 0", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("produce did not exit after cancel")
	}
	if got := out.String(); got != fmt.Sprintf("topic=%s partition=0 offset=0\ntopic=%s partition=0 offset=1\n", topic, topic) {
		t.Errorf("printed %q", got)
	}
}

func TestDescribeAllConfigs(t *testing.T) {
	topic := newTopic(t, 1)
	out, errOut, code := runCLI(t, "", "topics", "describe", topic, "--all-configs", "--output", "json")
	if code != 0 {
		t.Fatal(errOut)
	}
	var info client.TopicInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range info.Configs {
		if c.Name == "retention.ms" {
			found = c.Source != "topic" && c.Value != ""
		}
	}
	if !found {
		t.Errorf("--all-configs does not list retention.ms with its default: %+v", info.Configs)
	}
}

func TestStatusReadsNodeMetrics(t *testing.T) {
	out, errOut, code := runCLI(t, "", "status", "--admin", "http://"+dev.AdminAddr)
	if code != 0 {
		t.Fatalf("status --admin: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Ready:", "ready", "strata_kafka_requests_total", "count "} {
		if !strings.Contains(out, want) {
			t.Errorf("status --admin output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runCLI(t, "", "status", "--admin", dev.AdminAddr, "--output", "json")
	var st struct {
		Node nodeStatus `json:"node"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || !st.Node.Ready || st.Node.Metrics["strata_kafka_requests_total"] == nil {
		t.Errorf("status --admin --output json: exit %d\n%s", code, out)
	}
	if st.Node.Metrics["strata_kafka_requests_total"].Value < 1 {
		t.Errorf("strata_kafka_requests_total = %v after requests were served", st.Node.Metrics["strata_kafka_requests_total"])
	}
	if _, errOut, code := runCLI(t, "", "status", "--admin", "http://127.0.0.1:1"); code != 1 || !strings.Contains(errOut, "admin endpoint") {
		t.Errorf("status with an unreachable --admin: exit %d, %q", code, errOut)
	}
}

func TestParseMetrics(t *testing.T) {
	in := `# HELP strata_x_total x
# TYPE strata_x_total counter
strata_x_total{api="produce"} 3
strata_x_total{api="fetch",note="a } b"} 4 1700000000000
# TYPE strata_lat_seconds histogram
strata_lat_seconds_bucket{le="0.1"} 2
strata_lat_seconds_bucket{le="+Inf"} 5
strata_lat_seconds_sum 1.5
strata_lat_seconds_count 5
# TYPE go_goroutines gauge
go_goroutines 12
untyped_thing NaN
`
	got, err := parseMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if m := got["strata_x_total"]; m == nil || m.Type != "counter" || m.Value != 7 {
		t.Errorf("counter: %+v", m)
	}
	if m := got["strata_lat_seconds"]; m == nil || m.Type != "histogram" || m.Count != 5 || m.Sum != 1.5 || m.Value != 0 {
		t.Errorf("histogram: %+v", m)
	}
	if m := got["go_goroutines"]; m == nil || m.Value != 12 {
		t.Errorf("gauge: %+v", m)
	}
	if _, err := parseMetrics(strings.NewReader("strata_x{a=\"b\" 1\n")); err == nil {
		t.Error("unterminated labels accepted")
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// status --cost shares the node's object PUTs among the topics produced
// to, and prices them.
func TestStatusCost(t *testing.T) {
	for _, topic := range []string{"cost-a", "cost-b"} {
		if _, errOut, code := runCLI(t, "", "topics", "create", topic, "--partitions", "1"); code != 0 {
			t.Fatalf("topics create %s: %s", topic, errOut)
		}
		if _, errOut, code := runCLI(t, strings.Repeat("a fairly long record value to produce\n", 50), "produce", topic); code != 0 {
			t.Fatalf("produce %s: %s", topic, errOut)
		}
	}
	out, errOut, code := runCLI(t, "", "status", "--admin", "http://"+dev.AdminAddr, "--cost", "--output", "json")
	if code != 0 {
		t.Fatalf("status --cost: exit %d: %s", code, errOut)
	}
	var st struct {
		Cost costStatus `json:"cost"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --cost json: %v\n%s", err, out)
	}
	if st.Cost.Prices != "s3-standard" || st.Cost.UptimeSeconds <= 0 {
		t.Errorf("prices %q, uptime %v", st.Cost.Prices, st.Cost.UptimeSeconds)
	}
	seen := map[string]topicCost{}
	for _, tc := range st.Cost.Topics {
		seen[tc.Topic] = tc
	}
	for _, topic := range []string{"cost-a", "cost-b"} {
		tc, ok := seen[topic]
		if !ok || tc.Puts <= 0 || tc.ProducedBytes < 50*37 || tc.RequestsPerDay <= 0 {
			t.Errorf("%s: %+v, want its share of PUTs, the bytes produced and a price", topic, tc)
		}
	}
	out, _, code = runCLI(t, "", "status", "--admin", "http://"+dev.AdminAddr, "--cost", "--prices", "s3-express-one-zone")
	if code != 0 || !strings.Contains(out, "REQUESTS/DAY") || !strings.Contains(out, "cost-a") || !strings.Contains(out, "s3-express-one-zone") {
		t.Errorf("status --cost text:\n%s", out)
	}
	if _, errOut, code := runCLI(t, "", "status", "--cost"); code != 2 || !strings.Contains(errOut, "--cost needs --admin") {
		t.Errorf("--cost without --admin: exit %d, %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, "", "status", "--admin", "http://"+dev.AdminAddr, "--cost", "--prices", "cheap"); code != 2 || !strings.Contains(errOut, "--prices") {
		t.Errorf("a bad --prices: exit %d, %q", code, errOut)
	}
}
