package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramQuantilesMatchExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h Histogram
	var exact []time.Duration
	for range 50000 {
		// Log-normal-ish latencies between ~0.1 ms and ~10 s.
		d := time.Duration(math.Exp(rng.NormFloat64()*1.5+9) * float64(time.Microsecond))
		h.Record(d)
		exact = append(exact, d.Truncate(time.Microsecond))
	}
	slices.Sort(exact)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := exact[int(q*float64(len(exact)))-1]
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.005 {
			t.Errorf("q%.3f = %v, exact %v (off by %.1f%%)", q, got, want, rel*100)
		}
	}
	s := h.Summary()
	if !(s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
		t.Errorf("percentiles not ordered: %+v", s)
	}
	if wantMax := float64(exact[len(exact)-1]/time.Microsecond) / 1000; math.Abs(s.Max-wantMax)/wantMax > 0.001 {
		t.Errorf("max %v ms, want %v", s.Max, exact[len(exact)-1])
	}
	if s.Count != int64(len(exact)) {
		t.Errorf("count %d, want %d", s.Count, len(exact))
	}
}

func TestHistogramEmptyAndReset(t *testing.T) {
	var h Histogram
	if q := h.Quantile(0.99); q != 0 {
		t.Fatalf("empty p99 = %v", q)
	}
	h.Record(5 * time.Millisecond)
	h.Record(-time.Second)
	// Three significant digits: within 0.1% of what was recorded.
	if got := h.Quantile(1); got < 5*time.Millisecond || got > 5005*time.Microsecond {
		t.Fatalf("p100 = %v, want 5ms (within 0.1%%)", got)
	}
	if got := h.Quantile(0); got != 0 {
		t.Fatalf("p0 = %v, want 0 (negative counts as zero)", got)
	}
	h.Reset()
	if h.Count() != 0 || h.Quantile(0.5) != 0 {
		t.Fatalf("after reset: count %d p50 %v", h.Count(), h.Quantile(0.5))
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			h.Record(d * 7919 % (10 * time.Second))
			d++
		}
	})
}
