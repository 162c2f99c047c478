package bench

import (
	"math/bits"
	"sync"
	"time"
)

// Histogram buckets: values (in microseconds) below linearMax each have
// their own bucket; above, every power of two is split into subBuckets
// buckets, so a reported percentile is within 1/subBuckets (1.6%) of the
// true value.
const (
	subBits    = 6
	subBuckets = 1 << subBits
	linearMax  = 2 * subBuckets
	maxShift   = 64 - subBits - 1
	numBuckets = linearMax + maxShift*subBuckets
)

// Histogram records durations at microsecond resolution in log-linear
// buckets, in constant memory whatever the number of samples. It is safe for
// concurrent use.
type Histogram struct {
	mu     sync.Mutex
	counts [numBuckets]uint64
	n      uint64
	sum    uint64
	max    uint64
}

func bucketOf(v uint64) int {
	if v < linearMax {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // v>>shift is in [subBuckets, 2*subBuckets)
	return linearMax + (shift-1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketLow returns the smallest value of bucket i and the bucket's width.
func bucketLow(i int) (low, width uint64) {
	if i < linearMax {
		return uint64(i), 1
	}
	shift := (i-linearMax)/subBuckets + 1
	sub := uint64((i-linearMax)%subBuckets + subBuckets)
	return sub << shift, 1 << shift
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d / time.Microsecond)
	}
	i := bucketOf(v)
	h.mu.Lock()
	h.counts[i]++
	h.n++
	h.sum += v
	if v > h.max {
		h.max = v
	}
	h.mu.Unlock()
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Reset forgets every recorded duration.
func (h *Histogram) Reset() {
	h.mu.Lock()
	h.counts = [numBuckets]uint64{}
	h.n, h.sum, h.max = 0, 0, 0
	h.mu.Unlock()
}

// Quantile returns the duration below which a fraction q of the recorded
// durations fall (the middle of the bucket holding it, never above the
// maximum), or 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.quantile(q)
}

func (h *Histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		q = 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketLow(i)
			v := low + width/2
			if v > h.max {
				v = h.max
			}
			return time.Duration(v) * time.Microsecond
		}
	}
	return time.Duration(h.max) * time.Microsecond
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
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	l := Latency{
		Count: int64(h.n),
		P50:   ms(h.quantile(0.50)),
		P90:   ms(h.quantile(0.90)),
		P99:   ms(h.quantile(0.99)),
		P999:  ms(h.quantile(0.999)),
		Max:   float64(h.max) / 1000,
	}
	if h.n > 0 {
		l.Mean = float64(h.sum) / float64(h.n) / 1000
	}
	return l
}
