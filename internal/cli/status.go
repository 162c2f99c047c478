package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/stratalog/strata/client"
	"github.com/stratalog/strata/internal/cost"
)

// registryNote says where the node registry is reported.
const registryNote = "the brokers above are what the Kafka protocol shows; " +
	"pass --admin http://host:9644 for the node registry (zones, roles, heartbeats), leaders per node and compaction figures"

func (e *env) status() *cobra.Command {
	fs := e.flags("status", "status [--admin http://host:9644 [--cost [--prices s3-standard]]]")
	admin := fs.String("admin", "", "admin HTTP address of a node (http://host:9644): also show the node registry, compaction figures and the node's readiness and metrics")
	withCost := fs.Bool("cost", false, "with --admin: the node's object-store requests by topic and what they cost a day")
	pricesFlag := fs.String("prices", "s3-standard", "with --cost: unit prices, a preset (s3-standard, s3-express-one-zone) or put=,get=,storage= in dollars")
	return e.leaf(fs, nil, func([]string) error {
		if *withCost && *admin == "" {
			return usagef("--cost needs --admin http://host:9644: the cost comes from a node's metrics")
		}
		prices, err := cost.ParsePrices(*pricesFlag)
		if err != nil {
			return usagef("--prices: %v", err)
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := e.reqCtx()
		defer cancel()
		cl, err := c.Admin().Cluster(ctx)
		if err != nil {
			return err
		}
		var (
			node  *nodeStatus
			reg   *registryStatus
			costs *costStatus
		)
		if *admin != "" {
			if reg, err = readRegistry(ctx, *admin); err != nil {
				return err
			}
			if node, err = readNode(ctx, *admin); err != nil {
				return err
			}
		}
		if *withCost {
			if costs, err = readCost(ctx, *admin, prices); err != nil {
				return err
			}
		}
		if e.output == "json" {
			if cl.Brokers == nil {
				cl.Brokers = []client.Broker{}
			}
			out := map[string]any{"cluster": cl}
			if reg == nil {
				out["node_registry"] = registryNote
			} else {
				out["registry"] = reg
			}
			if node != nil {
				out["node"] = node
			}
			if costs != nil {
				out["cost"] = costs
			}
			return e.printJSON(out)
		}
		e.fields("Cluster", orDash(cl.ID), "Controller", strconv.Itoa(int(cl.Controller)),
			"Brokers", strconv.Itoa(len(cl.Brokers)), "Topics", strconv.Itoa(cl.Topics),
			"Partitions", fmt.Sprintf("%d (%d without a leader)", cl.Partitions, cl.Leaderless))
		fmt.Fprintln(e.stdout)
		rows := make([][]string, 0, len(cl.Brokers))
		for _, b := range cl.Brokers {
			rows = append(rows, []string{strconv.Itoa(int(b.ID)), fmt.Sprintf("%s:%d", b.Host, b.Port), orDash(b.Rack), strconv.Itoa(b.Leaders)})
		}
		e.table([]string{"BROKER", "ADDRESS", "RACK", "LEADERS"}, rows)
		if reg == nil {
			fmt.Fprintln(e.stdout)
			fmt.Fprintf(e.stdout, "Note: %s.\n", registryNote)
			return nil
		}
		fmt.Fprintln(e.stdout)
		e.printRegistry(reg)
		fmt.Fprintln(e.stdout)
		e.fields("Node", node.URL, "Ready", node.Readiness)
		fmt.Fprintln(e.stdout)
		rows = rows[:0]
		for _, name := range sortedKeys(node.Metrics) {
			m := node.Metrics[name]
			v := formatFloat(m.Value)
			if m.Type == "histogram" || m.Type == "summary" {
				mean := "-"
				if m.Count > 0 {
					mean = formatFloat(m.Sum / m.Count)
				}
				v = fmt.Sprintf("count %s, mean %s", formatFloat(m.Count), mean)
			}
			rows = append(rows, []string{name, v})
		}
		if len(rows) == 0 {
			fmt.Fprintln(e.stdout, "No strata_ metrics at", node.URL+"/metrics")
		} else {
			e.table([]string{"METRIC", "VALUE"}, rows)
		}
		if costs != nil {
			fmt.Fprintln(e.stdout)
			e.printCost(costs)
		}
		return nil
	})
}

// printRegistry writes the nodes, leaders per node and compaction figures.
func (e *env) printRegistry(reg *registryStatus) {
	controller := "none"
	if reg.Controller.NodeID >= 0 {
		controller = fmt.Sprintf("%d (term %d)", reg.Controller.NodeID, reg.Controller.Term)
	}
	e.fields("Registry", reg.URL, "Controller", controller,
		"Nodes", strconv.Itoa(len(reg.Nodes)),
		"Partitions", fmt.Sprintf("%d (%d without an assigned leader)", reg.Partitions, reg.Leaderless))
	fmt.Fprintln(e.stdout)
	rows := make([][]string, 0, len(reg.Nodes))
	seen := make(map[string]bool)
	for _, n := range reg.Nodes {
		id := strconv.Itoa(int(n.ID))
		seen[id] = true
		roles := strings.Join(n.Roles, ",")
		if n.Controller {
			roles += " (controller)"
		}
		rows = append(rows, []string{id, n.Address, orDash(n.Rack), orDash(roles),
			formatAge(n.HeartbeatAge) + " ago", yesNo(n.Live), strconv.Itoa(reg.LeadersByNode[id])})
	}
	// Partitions led by nodes that are not in the registry any more.
	for _, id := range sortedKeys(reg.LeadersByNode) {
		if !seen[id] {
			rows = append(rows, []string{id, "-", "-", "-", "-", "no", strconv.Itoa(reg.LeadersByNode[id])})
		}
	}
	e.table([]string{"NODE", "ADDRESS", "ZONE", "ROLES", "HEARTBEAT", "LIVE", "LEADERS"}, rows)
	fmt.Fprintln(e.stdout)
	comp := reg.Compaction
	rows = rows[:0]
	for _, l := range comp.Levels {
		rows = append(rows, []string{strconv.Itoa(int(l.Level)), strconv.FormatInt(l.Objects, 10),
			strconv.FormatInt(l.Bytes, 10), strconv.FormatInt(l.Unreferenced, 10)})
	}
	rows = append(rows, []string{"total", strconv.FormatInt(comp.Objects, 10), strconv.FormatInt(comp.Bytes, 10), ""})
	e.table([]string{"LEVEL", "OBJECTS", "BYTES", "UNREFERENCED"}, rows)
	fmt.Fprintln(e.stdout)
	lag := "none (no unmerged level-0 chunk)"
	if comp.OldestLevel0 != nil {
		lag = fmt.Sprintf("%s (oldest level-0 chunk committed %s)", formatAge(comp.Lag), comp.OldestLevel0.UTC().Format(time.RFC3339))
	}
	e.fields("Chunk rows", fmt.Sprintf("%d (at most %d in one partition)", comp.ChunkRows, comp.MaxPartitionChunkRows),
		"Level-0 backlog", fmt.Sprintf("%d chunks", comp.Level0Chunks),
		"Compaction lag", lag)
}

// registryStatus is the body of a node's GET /v1/status.
type registryStatus struct {
	URL        string    `json:"url"`
	Now        time.Time `json:"now"`
	Controller struct {
		NodeID    int32     `json:"node_id"`
		Term      int64     `json:"term"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"controller"`
	LeadersVersion int64            `json:"leaders_version"`
	Nodes          []registryNode   `json:"nodes"`
	Partitions     int              `json:"partitions"`
	Leaderless     int              `json:"leaderless"`
	LeadersByNode  map[string]int   `json:"leaders_by_node"`
	Compaction     compactionStatus `json:"compaction"`
}

type registryNode struct {
	ID            int32     `json:"id"`
	Address       string    `json:"address"`
	Rack          string    `json:"rack"`
	Roles         []string  `json:"roles"`
	RegisteredAt  time.Time `json:"registered_at"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	HeartbeatAge  float64   `json:"heartbeat_age_seconds"`
	ExpiresAt     time.Time `json:"expires_at"`
	Live          bool      `json:"live"`
	Controller    bool      `json:"controller"`
	Leaders       int       `json:"leaders"`
}

type levelStatus struct {
	Level        int16 `json:"level"`
	Objects      int64 `json:"objects"`
	Bytes        int64 `json:"bytes"`
	Unreferenced int64 `json:"unreferenced"`
}

type compactionStatus struct {
	Levels                []levelStatus `json:"levels"`
	Objects               int64         `json:"objects"`
	Bytes                 int64         `json:"bytes"`
	ChunkRows             int64         `json:"chunk_rows"`
	MaxPartitionChunkRows int64         `json:"max_partition_chunk_rows"`
	Level0Chunks          int64         `json:"level0_chunks"`
	OldestLevel0          *time.Time    `json:"oldest_level0"`
	Lag                   float64       `json:"lag_seconds"`
}

// readRegistry reads GET base/v1/status.
func readRegistry(ctx context.Context, base string) (*registryStatus, error) {
	base = adminBase(base)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/status", nil)
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
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		msg := strings.TrimSpace(string(body))
		if resp.StatusCode == http.StatusNotFound {
			msg = "this Strata version does not report the node registry"
		}
		return nil, fmt.Errorf("admin endpoint %s/v1/status: %s: %s", base, resp.Status, msg)
	}
	reg := &registryStatus{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(reg); err != nil {
		return nil, fmt.Errorf("admin endpoint %s/v1/status: %w", base, err)
	}
	reg.URL = base
	if reg.Nodes == nil {
		reg.Nodes = []registryNode{}
	}
	if reg.LeadersByNode == nil {
		reg.LeadersByNode = map[string]int{}
	}
	if reg.Compaction.Levels == nil {
		reg.Compaction.Levels = []levelStatus{}
	}
	return reg, nil
}

// setAdminToken sends the admin bearer token of STRATA_ADMIN_TOKEN, for a
// node started with -admin.token-file. It is never a flag, so that it stays
// off the command line.
func setAdminToken(req *http.Request) {
	if tok := os.Getenv("STRATA_ADMIN_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
}

// adminBase is the admin URL without a trailing slash, http:// by default.
func adminBase(base string) string {
	base = strings.TrimRight(base, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return base
}

// formatAge writes seconds as a duration rounded to 100ms (to 1s from a
// minute on).
func formatAge(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	if d < 0 {
		d = 0
	}
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// nodeStatus is what a node's admin HTTP endpoint tells.
type nodeStatus struct {
	URL       string             `json:"url"`
	Ready     bool               `json:"ready"`
	Readiness string             `json:"readiness"` // body of /readyz
	Metrics   map[string]*metric `json:"metrics"`   // strata_* families
}

func readNode(ctx context.Context, base string) (*nodeStatus, error) {
	base = adminBase(base)
	n := &nodeStatus{URL: base}
	get := func(path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return nil, usagef("--admin %q: %v", base, err)
		}
		setAdminToken(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("admin endpoint %s: %w; is it the node's -admin.listen-address?", base, err)
		}
		return resp, nil
	}
	resp, err := get("/readyz")
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	n.Ready = resp.StatusCode == http.StatusOK
	n.Readiness = strings.TrimSpace(string(body))
	if n.Readiness == "" {
		n.Readiness = resp.Status
	}
	resp, err = get("/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin endpoint %s/metrics: %s", base, resp.Status)
	}
	all, err := parseMetrics(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s/metrics: %w", base, err)
	}
	n.Metrics = make(map[string]*metric)
	for name, m := range all {
		if strings.HasPrefix(name, "strata_") {
			n.Metrics[name] = m
		}
	}
	return n, nil
}

// metric sums one metric family over its label sets.
type metric struct {
	Type  string  `json:"type"`            // counter, gauge, histogram, summary, untyped
	Value float64 `json:"value"`           // counters, gauges, untyped: the sum over label sets
	Count float64 `json:"count,omitempty"` // histograms, summaries: observations
	Sum   float64 `json:"sum,omitempty"`   // histograms, summaries: sum of observations
}

// parseMetrics reads the Prometheus text exposition format with
// Prometheus's own parser and sums each family over its label sets:
// counters, gauges and untyped values add up; histograms and summaries
// give their observation counts and sums (buckets and quantiles do not
// add up).
func parseMetrics(r io.Reader) (map[string]*metric, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*metric, len(fams))
	for name, f := range fams {
		m := &metric{Type: strings.ToLower(f.GetType().String())}
		for _, s := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				m.Value += s.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				m.Value += s.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				m.Count += float64(s.GetHistogram().GetSampleCount())
				m.Sum += s.GetHistogram().GetSampleSum()
			case dto.MetricType_SUMMARY:
				m.Count += float64(s.GetSummary().GetSampleCount())
				m.Sum += s.GetSummary().GetSampleSum()
			default:
				m.Value += s.GetUntyped().GetValue()
			}
		}
		out[name] = m
	}
	return out, nil
}

func formatFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
