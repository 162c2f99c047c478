package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range and precision: microseconds from 1 µs to an hour, three
// significant digits (a reported percentile is within 0.1% of the true
// value), in constant memory whatever the number of samples.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

// Histogram records durations at microsecond resolution in an
// HdrHistogram. The zero value is ready to use; it is safe for concurrent
// use.
type Histogram struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func newHDR() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

func (h *Histogram) hdr() *hdrhistogram.Histogram {
	if h.h == nil {
		h.h = newHDR()
	}
	return h.h
}

// Record adds one duration; negative durations count as zero, durations
// beyond an hour as an hour.
func (h *Histogram) Record(d time.Duration) {
	v := max(0, min(int64(d/time.Microsecond), histHighest))
	h.mu.Lock()
	_ = h.hdr().RecordValue(v) // in range by construction
	h.mu.Unlock()
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return uint64(h.hdr().TotalCount())
}

// Reset forgets every recorded duration.
func (h *Histogram) Reset() {
	h.mu.Lock()
	h.hdr().Reset()
	h.mu.Unlock()
}

// Snapshot returns a copy of the recorded distribution, and with reset
// empties the histogram in the same step, for interval logs.
func (h *Histogram) Snapshot(reset bool) *hdrhistogram.Histogram {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := hdrhistogram.Import(h.hdr().Export())
	if reset {
		h.hdr().Reset()
	}
	return c
}

// Quantile returns the duration below which a fraction q of the recorded
// durations fall, or 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return quantile(h.hdr(), q)
}

func quantile(h *hdrhistogram.Histogram, q float64) time.Duration {
	if h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.ValueAtQuantile(min(100, max(0, q*100)))) * time.Microsecond
}

// Latency is a summary of a latency distribution, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary returns the histogram's percentiles.
func (h *Histogram) Summary() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	return latencyOf(h.hdr())
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	l := Latency{
		Count: h.TotalCount(),
		P50:   ms(quantile(h, 0.50)),
		P90:   ms(quantile(h, 0.90)),
		P99:   ms(quantile(h, 0.99)),
		P999:  ms(quantile(h, 0.999)),
	}
	if l.Count > 0 {
		l.Max = float64(h.Max()) / 1000
		l.Mean = h.Mean() / 1000
	}
	return l
}
