package console

import (
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// sample is the node's counters at one moment.
type sample struct {
	At              time.Time
	ProduceBytes    float64 // strata_kafka_produce_bytes_total
	FetchBytes      float64 // strata_kafka_fetch_bytes_total
	Puts            float64 // strata_objstore_requests_total{op="put"}
	Gets            float64 // strata_objstore_requests_total{op=~"get.*"}
	ProduceSeconds  float64 // sum of strata_kafka_request_seconds{api="Produce"}
	ProduceRequests float64 // its count
	FetchSeconds    float64
	FetchRequests   float64
	CompactionLag   float64 // strata_compactor_lag_seconds (a gauge)
	// GroupLag is each group's total lag (strata_groups_lag_records,
	// exported by the controller only), for at most maxGroupsSampled
	// groups.
	GroupLag map[string]float64
	// TopicProduced is each topic's bytes committed by this node
	// (strata_cost_produced_bytes_total), for at most maxTopicsSampled
	// topics.
	TopicProduced map[string]float64
}

// maxTopicsSampled bounds the topics whose produced bytes each sample
// keeps.
const maxTopicsSampled = 1000

// maxGroupsSampled bounds the groups whose lag each sample keeps.
const maxGroupsSampled = 200

// history is a bounded ring of samples, oldest first.
type history struct {
	mu      sync.Mutex
	samples []sample
	max     int
}

func newHistory(max int) *history { return &history{max: max} }

func (h *history) add(s sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.samples) == h.max {
		copy(h.samples, h.samples[1:])
		h.samples = h.samples[:h.max-1]
	}
	h.samples = append(h.samples, s)
}

func (h *history) all() []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sample(nil), h.samples...)
}

// sample reads the node's registry into the history.
func (c *Console) sample() {
	if c.deps.Metrics == nil {
		return
	}
	mfs, err := c.deps.Metrics.Gather()
	if err != nil {
		c.log.Debug("console: gather metrics", "err", err)
	}
	s := sample{At: time.Now()}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "strata_kafka_produce_bytes_total":
			s.ProduceBytes = sumCounter(mf, nil)
		case "strata_kafka_fetch_bytes_total":
			s.FetchBytes = sumCounter(mf, nil)
		case "strata_objstore_requests_total":
			s.Puts = sumCounter(mf, func(op string) bool { return op == "put" })
			s.Gets = sumCounter(mf, func(op string) bool { return strings.HasPrefix(op, "get") })
		case "strata_kafka_request_seconds":
			for _, m := range mf.GetMetric() {
				switch label(m, "api") {
				case "Produce":
					s.ProduceSeconds += m.GetHistogram().GetSampleSum()
					s.ProduceRequests += float64(m.GetHistogram().GetSampleCount())
				case "Fetch":
					s.FetchSeconds += m.GetHistogram().GetSampleSum()
					s.FetchRequests += float64(m.GetHistogram().GetSampleCount())
				}
			}
		case "strata_groups_lag_records":
			for _, m := range mf.GetMetric() {
				g := label(m, "group")
				if _, ok := s.GroupLag[g]; !ok && len(s.GroupLag) >= maxGroupsSampled {
					continue
				}
				if s.GroupLag == nil {
					s.GroupLag = map[string]float64{}
				}
				s.GroupLag[g] += m.GetGauge().GetValue()
			}
		case "strata_cost_produced_bytes_total":
			for _, m := range mf.GetMetric() {
				tp := label(m, "topic")
				if _, ok := s.TopicProduced[tp]; !ok && len(s.TopicProduced) >= maxTopicsSampled {
					continue
				}
				if s.TopicProduced == nil {
					s.TopicProduced = map[string]float64{}
				}
				s.TopicProduced[tp] += m.GetCounter().GetValue()
			}
		case "strata_compactor_lag_seconds":
			for _, m := range mf.GetMetric() {
				s.CompactionLag = max(s.CompactionLag, m.GetGauge().GetValue())
			}
		}
	}
	c.history.add(s)
}

// sumCounter adds the counters of mf whose op label passes keep (all when
// keep is nil).
func sumCounter(mf *dto.MetricFamily, keep func(op string) bool) float64 {
	var v float64
	for _, m := range mf.GetMetric() {
		if keep != nil && !keep(label(m, "op")) {
			continue
		}
		v += m.GetCounter().GetValue()
	}
	return v
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// rates are the per-second rates between consecutive samples.
type rates struct {
	At                   []time.Time
	ProduceBps, FetchBps []float64
	PutsPS, GetsPS       []float64
	ProduceMs, FetchMs   []float64 // mean request latency in the interval
	CompactionLag        []float64
}

func computeRates(ss []sample) rates {
	var r rates
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1], ss[i]
		dt := b.At.Sub(a.At).Seconds()
		if dt <= 0 {
			continue
		}
		r.At = append(r.At, b.At)
		r.ProduceBps = append(r.ProduceBps, nonNeg(b.ProduceBytes-a.ProduceBytes)/dt)
		r.FetchBps = append(r.FetchBps, nonNeg(b.FetchBytes-a.FetchBytes)/dt)
		r.PutsPS = append(r.PutsPS, nonNeg(b.Puts-a.Puts)/dt)
		r.GetsPS = append(r.GetsPS, nonNeg(b.Gets-a.Gets)/dt)
		r.ProduceMs = append(r.ProduceMs, meanMs(b.ProduceSeconds-a.ProduceSeconds, b.ProduceRequests-a.ProduceRequests))
		r.FetchMs = append(r.FetchMs, meanMs(b.FetchSeconds-a.FetchSeconds, b.FetchRequests-a.FetchRequests))
		r.CompactionLag = append(r.CompactionLag, b.CompactionLag)
	}
	return r
}

func nonNeg(v float64) float64 { return max(v, 0) }

func meanMs(sec, n float64) float64 {
	if n <= 0 {
		return 0
	}
	return sec / n * 1000
}

// topicRate returns the bytes per second produced to topic through this
// node between the last two samples, and whether two samples show it.
func (h *history) topicRate(topic string) (float64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.samples)
	if n < 2 {
		return 0, false
	}
	a, b := h.samples[n-2], h.samples[n-1]
	dt := b.At.Sub(a.At).Seconds()
	va, oka := a.TopicProduced[topic]
	vb, okb := b.TopicProduced[topic]
	switch {
	case dt <= 0 || !okb:
		return 0, okb
	case !oka:
		va = 0 // first produced between the samples
	}
	return nonNeg(vb-va) / dt, true
}
