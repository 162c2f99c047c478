package bench

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
	i := slices.IndexFunc(samples, func(s Sample) bool { return s.Name == "weird" })
	if i < 0 {
		t.Fatal("sample weird not parsed")
	}
	if got := samples[i].Labels["path"]; got != "a \"quoted\" \\ back\nslash" {
		t.Errorf("escaped label = %q", got)
	}
	if !math.IsNaN(samples[i].Value) {
		t.Errorf("NaN value parsed as %v", samples[i].Value)
	}
	for _, bad := range []string{`{a="b"} 1`, `x{a="b} 1`, `x{a=b} 1`, `x 1 2 3`, `x abc`, `x{a="\q"} 1`, `x1`} {
		if _, err := ParseMetrics(bad); !errors.Is(err, errSyntax) {
			t.Errorf("%q: err %v, want a syntax error", bad, err)
		}
	}
}

// A histogram, typed, comes back as the samples its text form shows.
func TestParseMetricsHistogram(t *testing.T) {
	samples, err := ParseMetrics(`# TYPE lat_seconds histogram
lat_seconds_bucket{api="produce",le="0.1"} 2
lat_seconds_bucket{api="produce",le="+Inf"} 5
lat_seconds_sum{api="produce"} 1.5
lat_seconds_count{api="produce"} 5
`)
	if err != nil {
		t.Fatal(err)
	}
	m := Metrics(samples)
	if got := m.Sum("lat_seconds_count", map[string]string{"api": "produce"}); got != 5 {
		t.Errorf("count %v, want 5", got)
	}
	if got := m.Sum("lat_seconds_bucket", map[string]string{"le": "+Inf"}); got != 5 {
		t.Errorf("+Inf bucket %v, want 5", got)
	}
	if got := m.Sum("lat_seconds_bucket", map[string]string{"le": "0.1"}); got != 2 {
		t.Errorf("0.1 bucket %v, want 2", got)
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
	f.Add("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n")
	f.Fuzz(func(t *testing.T, text string) {
		samples, err := ParseMetrics(text)
		if err != nil {
			if !errors.Is(err, errSyntax) {
				t.Fatalf("error %v is not a syntax error", err)
			}
			return
		}
		// Whatever parses, Prometheus's encoder writes back, and that
		// parses to the same samples.
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, name := range slices.Sorted(maps.Keys(fams)) {
			if _, err := expfmt.MetricFamilyToText(&b, fams[name]); err != nil {
				return // a family the text format cannot write (an empty one)
			}
		}
		again, err := ParseMetrics(b.String())
		if err != nil {
			t.Fatalf("re-parse of\n%s: %v", b.String(), err)
		}
		if len(again) != len(samples) {
			t.Fatalf("%d samples, %d after a round trip", len(samples), len(again))
		}
		for i, s := range samples {
			a := again[i]
			sameValue := a.Value == s.Value || (math.IsNaN(a.Value) && math.IsNaN(s.Value))
			if a.Name != s.Name || !sameValue || !maps.Equal(a.Labels, s.Labels) {
				t.Fatalf("round trip changed %+v into %+v", s, a)
			}
		}
	})
}
