package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config is one chaos run.
type Config struct {
	// Dir receives the history, the report and every process's log; a
	// new directory under the system's temporary directory when empty.
	Dir string
	// StrataBin and MinioBin are the binaries the harness runs.
	StrataBin, MinioBin string
	// Nodes is the number of serve nodes (default 3); Lease their node
	// lease (default 2s).
	Nodes int
	Lease time.Duration
	// Seed chooses the fault schedule and the churn.
	Seed uint64
	// Duration is the length of the fault phase.
	Duration time.Duration
	// Faults are the kinds the schedule draws from.
	Faults []FaultKind
	// NoStandby runs PostgreSQL without a standby (pg-failover then
	// restarts the primary instead).
	NoStandby bool
	// Hostile runs the hostile client phase before the faults.
	Hostile       bool
	HostileConfig HostileConfig
	// NodeArgs are more flags for every node the harness starts.
	NodeArgs []string
	// Brokers runs the workloads against a cluster that is already up:
	// the harness starts nothing and injects no fault.
	Brokers []string
	// Workload sizes the workloads.
	Workload WorkloadConfig
	// FinalTimeout bounds the final read (default 2 minutes).
	FinalTimeout time.Duration
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// Result is what a run found.
type Result struct {
	Dir         string `json:"dir"`
	HistoryPath string `json:"history"`
	ReportPath  string `json:"report_path"`
	Seed        uint64 `json:"seed"`
	// Summary is the one-line verdict.
	Summary      string          `json:"summary"`
	Schedule     Schedule        `json:"schedule"`
	Faults       []FaultRecord   `json:"faults_executed"`
	Hostile      *HostileReport  `json:"hostile,omitempty"`
	Report       *Report         `json:"report"`
	ClientErrors map[string]int  `json:"client_errors"`
	Transactions string          `json:"transactions"`
	Nodes        []NodeSummary   `json:"nodes"`
	Retention    map[int32]int64 `json:"retention_log_start"`
	// Problems are failures that are not anomalies of the history: a
	// fault that could not be healed, a final read that did not finish,
	// a hostile phase over its bounds.
	Problems []string      `json:"problems"`
	Elapsed  time.Duration `json:"elapsed"`
}

// NodeSummary is one node at the end of a run.
type NodeSummary struct {
	Name       string `json:"name"`
	Starts     int    `json:"starts"`
	S3Requests int64  `json:"s3_requests"`
	S3Faulted  int64  `json:"s3_faulted"`
	Log        string `json:"log"`
}

// Failed reports whether the run found an anomaly or a problem.
func (r *Result) Failed() bool { return r.Report == nil || !r.Report.Valid || len(r.Problems) > 0 }

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Run runs the chaos test: cluster, workloads, hostile phase, faults,
// heal, final read, check. The error is for a harness that could not run;
// what the run found is in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	start := time.Now()
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Lease == 0 {
		cfg.Lease = 2 * time.Second
	}
	if cfg.FinalTimeout == 0 {
		cfg.FinalTimeout = 2 * time.Minute
	}
	cfg.Workload.Seed = cfg.Seed
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", fmt.Sprintf("strata-chaos-%d-", cfg.Seed))
		if err != nil {
			return nil, err
		}
		cfg.Dir = dir
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	// The PostgreSQL servers may run as another user: they must reach
	// their directories.
	if err := os.Chmod(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	res := &Result{Dir: cfg.Dir, Seed: cfg.Seed, HistoryPath: filepath.Join(cfg.Dir, "history.jsonl"), ReportPath: filepath.Join(cfg.Dir, "report.json")}
	h, err := NewHistory(res.HistoryPath)
	if err != nil {
		return nil, err
	}
	defer h.Close()

	var c *Cluster
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		cfg.logf("starting %d nodes, a compactor node, PostgreSQL (standby: %v) and MinIO in %s", cfg.Nodes, !cfg.NoStandby, cfg.Dir)
		c, err = StartCluster(ctx, ClusterConfig{
			Dir: cfg.Dir, StrataBin: cfg.StrataBin, MinioBin: cfg.MinioBin,
			Nodes: cfg.Nodes, Lease: cfg.Lease, Standby: !cfg.NoStandby, Seed: cfg.Seed,
			NodeArgs: cfg.NodeArgs,
		})
		if err != nil {
			return nil, err
		}
		defer c.Stop()
		brokers = c.Brokers()
		res.Schedule = NewSchedule(cfg.Seed, cfg.Duration, cfg.Faults, cfg.Nodes, cfg.Lease)
	} else {
		res.Schedule = Schedule{Seed: cfg.Seed}
	}
	cfg.logf("%s", strings.TrimRight(res.Schedule.String(), "\n"))

	w := NewWorkloads(cfg.Workload, h, brokers, cfg.logf)
	if err := w.CreateTopics(ctx); err != nil {
		return nil, err
	}
	w.Start(ctx)
	stopped := false
	defer func() {
		if !stopped {
			w.StopProducers()
			w.Stop()
		}
	}()
	if err := waitFor(ctx, 30*time.Second, func() bool { return w.Acked() >= 100 }); err != nil {
		return nil, fmt.Errorf("chaos: no records acknowledged after 30s of load (%d acked): %v", w.Acked(), w.Errors())
	}
	cfg.logf("workloads running, %d records acknowledged", w.Acked())

	nem := &nemesis{c: c, h: h, logf: cfg.logf}
	if cfg.Hostile && c != nil {
		cfg.logf("hostile phase against %s", c.Nodes[0].Name)
		inv := h.Now()
		h.Add(Op{Process: ProcessNemesis, Type: OpFault, Fault: "hostile-client", Target: c.Nodes[0].Name, Value: "start", Outcome: OK, Invoke: inv, Complete: inv})
		rep, err := Hostile(ctx, cfg.HostileConfig, c, c.Nodes[0], cfg.logf)
		now := h.Now()
		h.Add(Op{Process: ProcessNemesis, Type: OpFault, Fault: "hostile-client", Target: c.Nodes[0].Name, Value: "heal", Outcome: outcomeOfErr(err), Err: errString(err), Invoke: now, Complete: now})
		if err != nil {
			res.Problems = append(res.Problems, "hostile phase: "+err.Error())
		}
		res.Hostile = rep
		if rep != nil {
			res.Problems = append(res.Problems, prefixed("hostile phase: ", rep.Failures)...)
		}
	}

	phase := time.Now()
	cfg.logf("fault phase: %d faults", len(res.Schedule.Faults))
	for _, f := range res.Schedule.Faults {
		if err := sleepCtx(ctx, time.Until(phase.Add(f.At))); err != nil {
			return nil, err
		}
		cfg.logf("fault %s", f)
		rec := nem.run(ctx, f, phase)
		if rec.Note != "" {
			cfg.logf("  %s", rec.Note)
		}
		if rec.Err != "" {
			cfg.logf("  %s", rec.Err)
			res.Problems = append(res.Problems, fmt.Sprintf("%s at +%.1fs: %s", f.Kind, rec.Started.Seconds(), rec.Err))
		}
		res.Faults = append(res.Faults, rec)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if len(res.Schedule.Faults) == 0 {
		_ = sleepCtx(ctx, cfg.Duration)
	}

	if c != nil {
		if err := nem.healAll(ctx); err != nil {
			res.Problems = append(res.Problems, "heal at the end: "+err.Error())
		}
		if err := c.WaitFormed(ctx); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
	}
	cfg.logf("healed; stopping the workloads (%d records acknowledged)", w.Acked())
	w.StopProducers()
	w.Stop()
	stopped = true
	res.ClientErrors = w.Errors()
	res.Transactions = w.TxnNote
	if n := nonRetriable(res.ClientErrors); n > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d records failed with UNKNOWN_SERVER_ERROR, which clients do not retry: an outage should answer a retriable error", n))
	}

	if err := quiesce(ctx, brokers, CheckedTopics(), 30*time.Second); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	finalOffsets(ctx, h, brokers)
	cfg.logf("final read")
	if err := FinalRead(ctx, h, brokers, CheckedTopics(), cfg.FinalTimeout); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	res.Retention = logStarts(ctx, brokers, TopicRetention)
	if err := h.Flush(); err != nil {
		res.Problems = append(res.Problems, "history: "+err.Error())
	}

	res.Report = Check(h.Ops())
	if c != nil {
		for _, n := range c.All() {
			req, faulted := n.S3.Counts()
			res.Nodes = append(res.Nodes, NodeSummary{Name: n.Name, Starts: n.Starts(), S3Requests: req, S3Faulted: faulted, Log: n.LogPath()})
		}
	}
	res.Elapsed = time.Since(start)
	res.Summary = res.Report.Summary()
	if len(res.Problems) > 0 {
		res.Summary += fmt.Sprintf("; %d problems", len(res.Problems))
	}
	if err := writeJSON(res.ReportPath, res); err != nil {
		return res, err
	}
	return res, nil
}

func prefixed(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// quiesce waits until every node answers the same end offsets for the
// topics twice, a second apart: nothing is still being committed.
func quiesce(ctx context.Context, brokers, topics []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var prev string
	var last error
	for time.Now().Before(deadline) {
		cur, err := endOffsetsEverywhere(ctx, brokers, topics)
		if err == nil && cur == prev {
			return nil
		}
		last, prev = err, cur
		if err := sleepCtx(ctx, time.Second); err != nil {
			return err
		}
	}
	return fmt.Errorf("chaos: no quiescence after %v: end offsets still moving or nodes disagree (%v)", timeout, last)
}

// endOffsetsEverywhere asks every broker itself for the end offsets of
// every partition of topics, and returns them as one string when all
// agree.
func endOffsetsEverywhere(ctx context.Context, brokers, topics []string) (string, error) {
	var first string
	for _, b := range brokers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b))
		if err != nil {
			return "", err
		}
		s, err := func() (string, error) {
			defer cl.Close()
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			md := kmsg.NewPtrMetadataRequest()
			for _, t := range topics {
				md.Topics = append(md.Topics, kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr(t)})
			}
			mr, err := cl.SeedBrokers()[0].Request(rctx, md)
			if err != nil {
				return "", err
			}
			req := kmsg.NewPtrListOffsetsRequest()
			req.ReplicaID = -1
			for _, t := range mr.(*kmsg.MetadataResponse).Topics {
				rt := kmsg.ListOffsetsRequestTopic{Topic: *t.Topic}
				for _, p := range t.Partitions {
					rt.Partitions = append(rt.Partitions, kmsg.ListOffsetsRequestTopicPartition{Partition: p.Partition, Timestamp: -1, CurrentLeaderEpoch: -1})
				}
				req.Topics = append(req.Topics, rt)
			}
			lr, err := cl.SeedBrokers()[0].Request(rctx, req)
			if err != nil {
				return "", err
			}
			var parts []string
			for _, t := range lr.(*kmsg.ListOffsetsResponse).Topics {
				for _, p := range t.Partitions {
					if p.ErrorCode != 0 {
						return "", fmt.Errorf("%s: list offsets %s/%d: error %d", b, t.Topic, p.Partition, p.ErrorCode)
					}
					parts = append(parts, fmt.Sprintf("%s/%d=%d", t.Topic, p.Partition, p.Offset))
				}
			}
			sort.Strings(parts)
			return strings.Join(parts, ","), nil
		}()
		if err != nil {
			return "", err
		}
		if first == "" {
			first = s
		} else if s != first {
			return "", fmt.Errorf("%s answers %s, another node %s", b, s, first)
		}
	}
	return first, nil
}

// finalOffsets records the group's committed offsets once everything is
// healed, as the final process.
func finalOffsets(ctx context.Context, h *History, brokers []string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	inv := h.Now()
	offs, err := kadm.NewClient(cl).FetchOffsets(rctx, Group)
	now := h.Now()
	if err != nil {
		return
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil {
			h.Add(Op{Process: ProcessFinal, Type: OpOffsets, Outcome: OK, Group: Group, Topic: o.Topic, Partition: o.Partition, Offset: o.At, Invoke: inv, Complete: now})
		}
	})
}

// logStarts returns the log start offset of each partition of topic.
func logStarts(ctx context.Context, brokers []string, topic string) map[int32]int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	starts, err := kadm.NewClient(cl).ListStartOffsets(rctx, topic)
	if err != nil {
		return nil
	}
	out := map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[o.Partition] = o.Offset
		}
	})
	return out
}

// FaultCounts counts the executed faults by kind.
func (r *Result) FaultCounts() map[FaultKind]int {
	out := map[FaultKind]int{}
	for _, f := range r.Faults {
		out[f.Kind]++
	}
	return out
}

// Describe is the run in a few lines: the summary, the faults by kind,
// the anomalies with the faults they showed under, the problems.
func (r *Result) Describe() string {
	var b strings.Builder
	b.WriteString(r.Summary + "\n")
	counts := r.FaultCounts()
	var kinds []string
	for k, n := range counts {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	slices.Sort(kinds)
	fmt.Fprintf(&b, "seed %d; faults: %s\n", r.Seed, strings.Join(kinds, " "))
	if r.Report != nil {
		for _, a := range r.Report.Anomalies {
			fmt.Fprintf(&b, "  %s: %s", a.Kind, a.Detail)
			if len(a.Faults) > 0 {
				fmt.Fprintf(&b, " [during %s]", strings.Join(a.Faults, ", "))
			}
			b.WriteString("\n")
		}
	}
	if r.Report != nil {
		st := r.Report.Stats
		fmt.Fprintf(&b, "group: %d of %d offsets received more than once; %d rounds in which two nodes answered as its coordinator", st.GroupRedelivered, st.GroupPolled, st.SplitCoordinator)
		if st.SplitExample != "" {
			fmt.Fprintf(&b, " (first: %s)", st.SplitExample)
		}
		b.WriteString("\n")
		var ind []string
		for k, v := range st.IndeterminateByFault {
			ind = append(ind, fmt.Sprintf("%s=%d", k, v))
		}
		slices.Sort(ind)
		fmt.Fprintf(&b, "indeterminate produces by fault: %s\n", strings.Join(ind, " "))
	}
	for _, p := range r.Problems {
		b.WriteString("  problem: " + p + "\n")
	}
	if r.Hostile != nil {
		b.WriteString(r.Hostile.String() + "\n")
	}
	fmt.Fprintf(&b, "history %s, report %s\n", r.HistoryPath, r.ReportPath)
	return b.String()
}

// nonRetriable counts the records of the checked workloads that failed
// with UNKNOWN_SERVER_ERROR.
func nonRetriable(errs map[string]int) int {
	n := 0
	for k, v := range errs {
		if (strings.HasPrefix(k, WorkloadIdempotent+":") || strings.HasPrefix(k, WorkloadAtLeastOnce+":")) && strings.Contains(k, "UNKNOWN_SERVER_ERROR") {
			n += v
		}
	}
	return n
}
