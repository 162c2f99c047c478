package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stratalog/strata/internal/cost"
)

// topicCost is one topic's share of a node's object-store requests since
// the node started (strata_cost_* metrics), and what they cost a day at
// that average rate.
type topicCost struct {
	Topic         string  `json:"topic"` // "" for what could not be attributed
	Puts          float64 `json:"puts"`
	PutBytes      float64 `json:"put_bytes"`
	Gets          float64 `json:"gets"`
	GetBytes      float64 `json:"get_bytes"`
	ProducedBytes float64 `json:"produced_bytes"`
	// RequestsPerDay is the dollars a day of the topic's PUTs and GETs at
	// their average rate since the node started.
	RequestsPerDay float64 `json:"requests_usd_per_day"`
}

// costStatus is what `strata status --cost` reports of one node.
type costStatus struct {
	Prices        string      `json:"prices"`
	UptimeSeconds float64     `json:"uptime_seconds"`
	Topics        []topicCost `json:"topics"`
}

// costMetrics are the strata_cost_* counters and the field each fills.
var costMetrics = map[string]func(*topicCost) *float64{
	"strata_cost_object_puts_total":      func(c *topicCost) *float64 { return &c.Puts },
	"strata_cost_object_put_bytes_total": func(c *topicCost) *float64 { return &c.PutBytes },
	"strata_cost_object_gets_total":      func(c *topicCost) *float64 { return &c.Gets },
	"strata_cost_object_get_bytes_total": func(c *topicCost) *float64 { return &c.GetBytes },
	"strata_cost_produced_bytes_total":   func(c *topicCost) *float64 { return &c.ProducedBytes },
}

// readCost reads a node's per-topic request counts from its /metrics and
// prices them.
func readCost(ctx context.Context, base string, prices cost.Prices) (*costStatus, error) {
	base = adminBase(base)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, usagef("--admin %q: %v", base, err)
	}
	setAdminToken(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w; is it the node's -admin.listen-address?", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin endpoint %s/metrics: %s", base, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s/metrics: %w", base, err)
	}
	out := &costStatus{Prices: prices.Name}
	if f := fams["process_start_time_seconds"]; f != nil && len(f.GetMetric()) > 0 {
		started := time.Unix(0, int64(f.GetMetric()[0].GetGauge().GetValue()*1e9))
		out.UptimeSeconds = time.Since(started).Seconds()
	}
	byTopic := map[string]*topicCost{}
	for name, field := range costMetrics {
		f := fams[name]
		if f == nil {
			continue
		}
		for _, m := range f.GetMetric() {
			topic := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" {
					topic = l.GetValue()
				}
			}
			tc := byTopic[topic]
			if tc == nil {
				tc = &topicCost{Topic: topic}
				byTopic[topic] = tc
			}
			*field(tc) += m.GetCounter().GetValue()
		}
	}
	out.Topics = make([]topicCost, 0, len(byTopic))
	for _, tc := range byTopic {
		if out.UptimeSeconds > 0 {
			tc.RequestsPerDay, _ = prices.Daily(tc.Puts/out.UptimeSeconds, tc.Gets/out.UptimeSeconds, 0)
		}
		out.Topics = append(out.Topics, *tc)
	}
	// The costliest first; what is not attributed last.
	sort.Slice(out.Topics, func(i, j int) bool {
		a, b := out.Topics[i], out.Topics[j]
		if (a.Topic == "") != (b.Topic == "") {
			return b.Topic == ""
		}
		if a.RequestsPerDay != b.RequestsPerDay {
			return a.RequestsPerDay > b.RequestsPerDay
		}
		return a.Topic < b.Topic
	})
	return out, nil
}

// printCost writes the cost table.
func (e *env) printCost(c *costStatus) {
	fmt.Fprintf(e.stdout, "Object-store requests by topic since the node started %s ago, priced at %s:\n",
		time.Duration(c.UptimeSeconds*float64(time.Second)).Round(time.Second), c.Prices)
	rows := make([][]string, 0, len(c.Topics))
	for _, t := range c.Topics {
		name := t.Topic
		if name == "" {
			name = "(not attributed)"
		}
		rows = append(rows, []string{name, formatFloat(t.Puts), mb(t.PutBytes), formatFloat(t.Gets), mb(t.GetBytes),
			mb(t.ProducedBytes), "$" + strconv.FormatFloat(t.RequestsPerDay, 'f', 4, 64)})
	}
	if len(rows) == 0 {
		fmt.Fprintln(e.stdout, "No object-store requests attributed yet.")
		return
	}
	e.table([]string{"TOPIC", "PUTS", "PUT MB", "GETS", "GET MB", "PRODUCED MB", "REQUESTS/DAY"}, rows)
	fmt.Fprintln(e.stdout, "PUTs of a segment holding several topics are shared by their bytes; /day is the average rate since the start.")
}

func mb(b float64) string { return strconv.FormatFloat(b/1e6, 'f', 2, 64) }
