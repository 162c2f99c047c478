package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one line of the Prometheus text exposition format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// errSyntax marks an exposition that Prometheus's parser refused.
var errSyntax = errors.New("prometheus text: syntax error")

// ParseMetrics parses the Prometheus text exposition format with
// Prometheus's own parser (expfmt) and returns its samples as the text
// shows them: a histogram gives name_bucket{le=...}, name_sum and
// name_count, a summary name{quantile=...}, name_sum and name_count.
// Families come in name order, samples in the order of the text. A
// malformed exposition is an error wrapping errSyntax.
func ParseMetrics(text string) ([]Sample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSyntax, err)
	}
	var out []Sample
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		out = appendSamples(out, fams[name])
	}
	return out, nil
}

// appendSamples flattens one family into the samples of its text form.
func appendSamples(out []Sample, f *dto.MetricFamily) []Sample {
	name := f.GetName()
	for _, m := range f.GetMetric() {
		labels := make(map[string]string, len(m.GetLabel())+1)
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		with := func(k, v string) map[string]string {
			c := maps.Clone(labels)
			c[k] = v
			return c
		}
		switch {
		case m.Histogram != nil:
			h := m.GetHistogram()
			buckets := h.GetBucket()
			for _, b := range buckets {
				out = append(out, Sample{name + "_bucket", with("le", formatBound(b.GetUpperBound())), float64(b.GetCumulativeCount())})
			}
			// The +Inf bucket is the count, written even when the text
			// left it out, as Prometheus's own encoder does.
			if len(buckets) == 0 || !math.IsInf(buckets[len(buckets)-1].GetUpperBound(), 1) {
				out = append(out, Sample{name + "_bucket", with("le", "+Inf"), float64(h.GetSampleCount())})
			}
			out = append(out, Sample{name + "_sum", labels, h.GetSampleSum()}, Sample{name + "_count", labels, float64(h.GetSampleCount())})
		case m.Summary != nil:
			sm := m.GetSummary()
			for _, q := range sm.GetQuantile() {
				out = append(out, Sample{name, with("quantile", formatBound(q.GetQuantile())), q.GetValue()})
			}
			out = append(out, Sample{name + "_sum", labels, sm.GetSampleSum()}, Sample{name + "_count", labels, float64(sm.GetSampleCount())})
		case m.Counter != nil:
			out = append(out, Sample{name, labels, m.GetCounter().GetValue()})
		case m.Gauge != nil:
			out = append(out, Sample{name, labels, m.GetGauge().GetValue()})
		default:
			out = append(out, Sample{name, labels, m.GetUntyped().GetValue()})
		}
	}
	return out
}

// formatBound writes a bucket bound or a quantile as the text format does.
func formatBound(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Metrics is one scrape of a /metrics endpoint.
type Metrics []Sample

// Sum adds the values of every sample named name whose labels include all
// of match.
func (m Metrics) Sum(name string, match map[string]string) float64 {
	var total float64
	for _, s := range m {
		if s.Name != name {
			continue
		}
		ok := true
		for k, v := range match {
			if s.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			total += s.Value
		}
	}
	return total
}

// Scrape reads and parses base + "/metrics".
func Scrape(ctx context.Context, base string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := strings.TrimSuffix(base, "/") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	// Ask for the text format, not protobuf or OpenMetrics.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	samples, err := ParseMetrics(string(body))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return Metrics(samples), nil
}
