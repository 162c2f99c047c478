package bench

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
)

const exposition = `# HELP strata_objstore_requests_total Object store requests.
# TYPE strata_objstore_requests_total counter
strata_objstore_requests_total{backend="s3",op="put",result="ok"} 12
strata_objstore_requests_total{backend="s3",op="put",result="error"} 1
strata_objstore_requests_total{backend="s3",op="get",result="ok"} 3
strata_ingest_segment_bytes_sum 1.5e+06
strata_ingest_segment_bytes_bucket{le="+Inf"} 7
weird{path="a \"quoted\" \\ back\nslash"} NaN 1700000000000
`

func TestParseMetrics(t *testing.T) {
	samples, err := ParseMetrics(exposition)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 6 {
		t.Fatalf("%d samples, want 6", len(samples))
	}
	m := Metrics(samples)
	if got := m.Sum("strata_objstore_requests_total", map[string]string{"op": "put"}); got != 13 {
		t.Errorf("puts = %v, want 13", got)
	}
	if got := m.Sum("strata_objstore_requests_total", nil); got != 16 {
		t.Errorf("all requests = %v, want 16", got)
	}
	if got := m.Sum("strata_ingest_segment_bytes_sum", nil); got != 1.5e6 {
		t.Errorf("segment bytes = %v", got)
	}
	if got := samples[5].Labels["path"]; got != "a \"quoted\" \\ back\nslash" {
		t.Errorf("escaped label = %q", got)
	}
	if !math.IsNaN(samples[5].Value) {
		t.Errorf("NaN value parsed as %v", samples[5].Value)
	}
	for _, bad := range []string{`{a="b"} 1`, `x{a="b} 1`, `x{a=b} 1`, `x 1 2 3`, `x abc`, `x{a="1",a="2"} 1`, `x{a="\q"} 1`, `x1`} {
		if _, err := ParseMetrics(bad); !errors.Is(err, errSyntax) {
			t.Errorf("%q: err %v, want a syntax error", bad, err)
		}
	}
}

func TestServerStats(t *testing.T) {
	before, _ := ParseMetrics(`strata_objstore_requests_total{op="put",result="ok"} 10
strata_ingest_segments_total{result="committed"} 10
strata_metastore_operation_seconds_count{op="commit_segment"} 10
strata_ingest_segment_bytes_sum 1000
strata_ingest_seals_total{reason="size"} 4
strata_ingest_seals_total{reason="timer"} 6
`)
	after, _ := ParseMetrics(`strata_objstore_requests_total{op="put",result="ok"} 30
strata_objstore_requests_total{op="get_range",result="ok"} 5
strata_ingest_segments_total{result="committed"} 30
strata_metastore_operation_seconds_count{op="commit_segment"} 30
strata_metastore_operation_seconds_count{op="register_node"} 99
strata_ingest_segment_bytes_sum 3000
strata_ingest_seals_total{reason="size"} 4
strata_ingest_seals_total{reason="timer"} 16
strata_ingest_seals_total{reason="quiet"} 10
strata_ingest_append_seconds_bucket{le="0.064"} 90
strata_ingest_append_seconds_bucket{le="0.128"} 99.5
strata_ingest_append_seconds_bucket{le="0.256"} 100
strata_ingest_append_seconds_bucket{le="+Inf"} 100
`)
	st := serverStats(before, after, 10, 8000)
	if want := map[string]float64{"timer": 10, "quiet": 10}; !maps.Equal(st.Seals, want) {
		t.Errorf("seals in the run %v, want %v", st.Seals, want)
	}
	if st.AppendP99 != 128 {
		t.Errorf("append p99 bound %v ms, want 128", st.AppendP99)
	}
	if st.PutsPerSec != 2 || st.GetsPerSec != 0.5 || st.SegmentsPerSec != 2 || st.CommitTxnsPerSec != 2 || st.TxnsPerSegment != 1 {
		t.Errorf("rates: %+v", st)
	}
	if st.StoredPerProduced != 0.25 {
		t.Errorf("stored per produced = %v, want 0.25", st.StoredPerProduced)
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add(exposition)
	f.Add("a 1\nb{c=\"d\"} 2 3\n")
	f.Add("x{a=\"\\\\\\\"\"} -Inf")
	f.Fuzz(func(t *testing.T, text string) {
		samples, err := ParseMetrics(text)
		// Never more samples than lines.
		if lines := strings.Count(text, "\n") + 1; len(samples) > lines {
			t.Fatalf("%d samples from %d lines", len(samples), lines)
		}
		if err != nil && !errors.Is(err, errSyntax) {
			t.Fatalf("error %v is not a syntax error", err)
		}
		// Every parsed sample formats and parses back to itself.
		for _, s := range samples {
			keys := slices.Sorted(maps.Keys(s.Labels))
			line := FormatSample(s, keys)
			again, err := ParseMetrics(line)
			if err != nil || len(again) != 1 {
				t.Fatalf("%q (from %+v) re-parses to %v, %v", line, s, again, err)
			}
			a := again[0]
			sameValue := a.Value == s.Value || (math.IsNaN(a.Value) && math.IsNaN(s.Value))
			if a.Name != s.Name || !sameValue || !maps.Equal(a.Labels, s.Labels) {
				t.Fatalf("round trip changed %+v into %+v", s, a)
			}
		}
	})
}
