package cli

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stratalog/strata/client"
)

// FuzzParseJSONLine feeds arbitrary produce --json input. A line that
// parses describes a record that consume --format json writes back as a
// line parsing to the same record.
func FuzzParseJSONLine(f *testing.F) {
	for _, s := range []string{
		`{"key":"k","value":"v","headers":{"a":"b"}}`,
		`{"value":{"id":7,"tags":["a"]}}`,
		`{"key":null,"value_base64":"AP8B","partition":2}`,
		`{"value":"x","value_base64":"eA=="}`,
		`{"valeu":1}`,
		`{"value":1} {"value":2}`,
		`[]`, `{"headers":{"k":1}}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := parseJSONLine(line)
		if err != nil {
			return
		}
		if r.Partition < -1 {
			t.Fatalf("partition %d", r.Partition)
		}
		again := reparse(t, r)
		if !reflect.DeepEqual(normRecord(again), normRecord(r)) {
			t.Fatalf("%q parsed to %+v, written and parsed again to %+v", line, r, again)
		}
	})
}

// FuzzJSONLineRoundTrip checks that any key, value and header survive
// consume's JSON output and produce's JSON input.
func FuzzJSONLineRoundTrip(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), "h", "x", false)
	f.Add([]byte{0xff, 0}, []byte{}, "", "", true)
	f.Add([]byte(nil), []byte(`{"a":1}`), "trace", "\u00e9", false)
	f.Fuzz(func(t *testing.T, key, value []byte, hk, hv string, nullKey bool) {
		if nullKey {
			key = nil
		}
		r := record{Key: key, Value: value, Partition: -1}
		if hk != "" && utf8.ValidString(hk) && utf8.ValidString(hv) {
			r.Headers = []client.Header{{Key: hk, Value: []byte(hv)}}
		}
		got := reparse(t, r)
		if !bytes.Equal(got.Key, r.Key) || (got.Key == nil) != (r.Key == nil) {
			t.Fatalf("key %q came back as %q", r.Key, got.Key)
		}
		if !bytes.Equal(got.Value, r.Value) || (got.Value == nil) != (r.Value == nil) {
			t.Fatalf("value %q came back as %q", r.Value, got.Value)
		}
		if !reflect.DeepEqual(normRecord(got).Headers, normRecord(r).Headers) {
			t.Fatalf("headers %+v came back as %+v", r.Headers, got.Headers)
		}
	})
}

// reparse writes r the way consume --format json does and parses it the
// way produce --json does.
func reparse(t *testing.T, r record) record {
	t.Helper()
	sort.SliceStable(r.Headers, func(i, j int) bool { return r.Headers[i].Key < r.Headers[j].Key })
	b, err := formatJSONLine(client.Message[[]byte, []byte]{
		Topic: "t", Partition: max(r.Partition, 0), RawKey: r.Key, RawValue: r.Value, Headers: r.Headers, Timestamp: time.Unix(0, 0),
	})
	if err != nil {
		t.Fatalf("format %+v: %v", r, err)
	}
	got, err := parseJSONLine(b)
	if err != nil {
		t.Fatalf("%s does not parse back: %v", b, err)
	}
	got.Partition = r.Partition
	return got
}

// FuzzParseMetrics feeds arbitrary /metrics bodies. What parses sums to
// what the samples say: writing the families back in the text format and
// parsing them again gives the same values.
func FuzzParseMetrics(f *testing.F) {
	f.Add("# TYPE a counter\na{x=\"1\"} 2\na 3\n")
	f.Add("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 0.5\nh_count 1\n")
	f.Add("x{a=\"}\\\"\"} 1 123\n")
	f.Add("bad line\n")
	f.Fuzz(func(t *testing.T, body string) {
		ms, err := parseMetrics(strings.NewReader(body))
		if err != nil {
			return
		}
		var b strings.Builder
		for name, m := range ms {
			if strings.ContainsAny(name, " \t\n{#") || name == "" {
				t.Fatalf("family name %q", name)
			}
			if !strings.Contains(body, name) {
				t.Fatalf("family %q is not in the input", name)
			}
			if math.IsNaN(m.Value) || math.IsNaN(m.Sum) || math.IsNaN(m.Count) ||
				math.IsInf(m.Value, 0) || math.IsInf(m.Sum, 0) || math.IsInf(m.Count, 0) {
				return // NaN and infinities do not compare
			}
			fmt.Fprintf(&b, "# TYPE %s %s\n", name, m.Type)
			switch m.Type {
			case "histogram", "summary":
				fmt.Fprintf(&b, "%s_sum %v\n%s_count %v\n", name, m.Sum, name, m.Count)
			default:
				fmt.Fprintf(&b, "%s %v\n", name, m.Value)
			}
		}
		again, err := parseMetrics(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parse of\n%s: %v", b.String(), err)
		}
		for name, m := range ms {
			if a := again[name]; a == nil || *a != *m {
				t.Fatalf("%s: %+v, after writing and parsing again %+v", name, m, a)
			}
		}
	})
}

func BenchmarkFormatJSONLine(b *testing.B) {
	m := client.Message[[]byte, []byte]{Topic: "events", Partition: 3, Offset: 123456, Timestamp: time.Now(),
		RawKey: []byte("user-42"), RawValue: []byte(`{"id":7,"amount":12.5,"currency":"EUR","items":["a","b","c"]}`),
		Headers: []client.Header{{Key: "trace", Value: []byte("abc123")}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := formatJSONLine(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSONLine(b *testing.B) {
	line := []byte(`{"key":"user-42","value":{"id":7,"amount":12.5,"currency":"EUR"},"headers":{"trace":"abc123"}}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseJSONLine(line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProduceCommand measures strata produce end to end against the
// shared strata dev: lines read, produced and acknowledged.
func BenchmarkProduceCommand(b *testing.B) {
	const lines = 5000
	input := strings.Repeat(strings.Repeat("x", 100)+"\n", lines)
	b.SetBytes(int64(len(input)))
	for i := 0; b.Loop(); i++ {
		_, errOut, code := runCLI(b, input, "produce", fmt.Sprintf("bench-produce-%d", i%4))
		if code != 0 {
			b.Fatal(errOut)
		}
	}
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "records/s")
}
