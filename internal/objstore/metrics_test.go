package objstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/stratalog/strata/internal/objstore"
)

// sample returns the value of the series of name with exactly the given
// labels (the sample count for a histogram), or -1 when there is none.
func sample(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	faulty := objstore.NewFaulty(newLocal(t))
	s := objstore.NewMetrics(faulty, reg, "local")
	ctx := t.Context()

	for _, n := range []int{100, 250, 0} {
		if err := s.Put(ctx, "m/"+string(rune('a'+n%26)), make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	faulty.FailNext(objstore.OpPut, errors.New("disk on fire"))
	if err := s.Put(ctx, "m/failed", make([]byte, 1000)); err == nil {
		t.Fatal("injected Put fault did not fail")
	}
	if _, err := s.Get(ctx, "m/w"); err != nil { // 100 bytes
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "m/missing"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get(missing) through the metrics store = %v, want ErrNotFound", err)
	}
	if _, err := s.GetRange(ctx, "m/q", 10, 40); err != nil { // of the 250 bytes
		t.Fatal(err)
	}
	if _, err := s.GetRange(ctx, "m/q", 240, 40); !errors.Is(err, objstore.ErrInvalidRange) {
		t.Fatalf("GetRange past the end = %v", err)
	}
	if err := s.Delete(ctx, "m/a"); err != nil {
		t.Fatal(err)
	}
	if err := s.List(ctx, "m/", func(objstore.ObjectInfo) error { return nil }); err != nil {
		t.Fatal(err)
	}

	want := `
# HELP strata_objstore_bytes_total Object bytes uploaded (put) or downloaded (get, get_range).
# TYPE strata_objstore_bytes_total counter
strata_objstore_bytes_total{backend="local",op="delete"} 0
strata_objstore_bytes_total{backend="local",op="get"} 100
strata_objstore_bytes_total{backend="local",op="get_range"} 40
strata_objstore_bytes_total{backend="local",op="list"} 0
strata_objstore_bytes_total{backend="local",op="put"} 350
# HELP strata_objstore_requests_total Object store requests by operation and result (ok, not_found, error).
# TYPE strata_objstore_requests_total counter
strata_objstore_requests_total{backend="local",op="delete",result="error"} 0
strata_objstore_requests_total{backend="local",op="delete",result="not_found"} 0
strata_objstore_requests_total{backend="local",op="delete",result="ok"} 1
strata_objstore_requests_total{backend="local",op="get",result="error"} 0
strata_objstore_requests_total{backend="local",op="get",result="not_found"} 1
strata_objstore_requests_total{backend="local",op="get",result="ok"} 1
strata_objstore_requests_total{backend="local",op="get_range",result="error"} 1
strata_objstore_requests_total{backend="local",op="get_range",result="not_found"} 0
strata_objstore_requests_total{backend="local",op="get_range",result="ok"} 1
strata_objstore_requests_total{backend="local",op="list",result="error"} 0
strata_objstore_requests_total{backend="local",op="list",result="not_found"} 0
strata_objstore_requests_total{backend="local",op="list",result="ok"} 1
strata_objstore_requests_total{backend="local",op="put",result="error"} 1
strata_objstore_requests_total{backend="local",op="put",result="not_found"} 0
strata_objstore_requests_total{backend="local",op="put",result="ok"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"strata_objstore_requests_total", "strata_objstore_bytes_total"); err != nil {
		t.Error(err)
	}
	for op, want := range map[string]float64{"put": 4, "get": 2, "get_range": 2, "delete": 1, "list": 1} {
		if got := sample(t, reg, "strata_objstore_request_seconds", map[string]string{"backend": "local", "op": op}); got != want {
			t.Errorf("request_seconds{op=%s} count = %v, want %v", op, got, want)
		}
	}
}

// Two stores can share a registry; their series stay apart.
func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := objstore.NewMetrics(newLocal(t), reg, "a")
	b := objstore.NewMetrics(newLocal(t), reg, "b")
	if err := a.Put(t.Context(), "k", make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(t.Context(), "k", make([]byte, 20)); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(t.Context(), "k", make([]byte, 20)); err != nil {
		t.Fatal(err)
	}
	for backend, want := range map[string]float64{"a": 10, "b": 40} {
		if got := sample(t, reg, "strata_objstore_bytes_total", map[string]string{"backend": backend, "op": "put"}); got != want {
			t.Errorf("bytes_total{backend=%s,op=put} = %v, want %v", backend, got, want)
		}
	}
}
