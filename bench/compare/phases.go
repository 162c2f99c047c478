package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/bench"
)

// The phases below each run against fresh strata serve processes, with a
// database and a bucket of their own, so that no earlier load (and no
// compaction of it) is counted in their figures.
const (
	phaseParts    = "partitions"
	phaseAdaptive = "adaptive"
	phaseMemory   = "memory"
	phaseCatchUp  = "catch-up"
)

// createTopic creates topic before a measured window, so that creating
// thousands of partitions is not timed as part of the load.
func createTopic(ctx context.Context, brokers, topic string, partitions int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return err
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(cctx, int32(partitions), -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

func p50p99(s *bench.Summary) (float64, float64) {
	if s == nil || s.ProduceLatency == nil {
		return 0, 0
	}
	return s.ProduceLatency.P50, s.ProduceLatency.P99
}

// ---- 1. Object PUTs against the partition count ----

type partsPhase struct {
	Rate              int        `json:"rate"`
	Seconds           float64    `json:"seconds"`
	FlushInterval     string     `json:"flush_interval"`
	CompactorInterval string     `json:"compactor_interval"`
	Runs              []partsRun `json:"runs"`
}

type partsRun struct {
	Partitions int `json:"partitions"`
	// MaxLevel0Age, when set, is the node's -compactor.max-level0-age.
	MaxLevel0Age  string  `json:"max_level0_age,omitempty"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	// SegmentPutsPerSec are the ingest path's PUTs, OtherPutsPerSec the
	// rest of the node's (its compactor's), PutsPerSec all of them.
	SegmentPutsPerSec float64        `json:"segment_puts_per_sec"`
	OtherPutsPerSec   float64        `json:"other_puts_per_sec"`
	PutsPerSec        float64        `json:"puts_per_sec"`
	CommitsPerSec     float64        `json:"commits_per_sec"`
	CompactorRounds   float64        `json:"compactor_rounds"`
	CompactorRoundSec float64        `json:"compactor_round_seconds"` // mean over the window's rounds
	CompactorObjects  float64        `json:"compactor_objects"`
	CompactorParts    float64        `json:"compactor_partitions"` // partition merges swapped in
	ProduceP99        float64        `json:"produce_p99_ms"`
	Summary           *bench.Summary `json:"summary,omitempty"`
	Error             string         `json:"error,omitempty"`
}

// runPartsPhase offers a fixed moderate load to 1, 100 and 10,000
// partitions (-partitions-counts), each on a fresh node, over a window that
// spans compactor rounds, and splits the node's PUTs into segment uploads
// and the rest. One more run at the largest count shortens the compactor's
// age trigger (-partitions-aged) so that, within the window, every
// partition is merged for age, as after a load of max-level0-age (10
// minutes by default) on a node with the defaults.
func (e *env) runPartsPhase(ctx context.Context) *partsPhase {
	ph := &partsPhase{Rate: 5000, Seconds: e.o.partRun.Seconds(), FlushInterval: "250ms", CompactorInterval: e.o.partCompactor.String()}
	var runs []partsRun
	for f := range strings.SplitSeq(e.o.partCounts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			logf("%s: bad partition count %q", phaseParts, f)
			continue
		}
		runs = append(runs, partsRun{Partitions: n})
	}
	if e.o.partAged > 0 && len(runs) > 0 {
		runs = append(runs, partsRun{Partitions: runs[len(runs)-1].Partitions, MaxLevel0Age: e.o.partAged.String()})
	}
	for _, r := range runs {
		if ctx.Err() != nil {
			break
		}
		if err := e.partsRun(ctx, ph, &r); err != nil {
			r.Error = err.Error()
			logf("%s: %s: %v", phaseParts, r.label(), err)
		} else {
			logf("%s: %s: %.0f records/s, %.1f segment PUTs/s + %.1f other = %.1f PUTs/s, %.1f commits/s, %.0f compactor rounds of %.1f s, %.0f partitions merged into %.0f objects, p99 %.0f ms",
				phaseParts, r.label(), r.RecordsPerSec, r.SegmentPutsPerSec, r.OtherPutsPerSec, r.PutsPerSec, r.CommitsPerSec, r.CompactorRounds, r.CompactorRoundSec,
				r.CompactorParts, r.CompactorObjects, r.ProduceP99)
		}
		ph.Runs = append(ph.Runs, r)
	}
	return ph
}

// label names a run in the log and the table.
func (r partsRun) label() string {
	s := thousands(float64(r.Partitions))
	if r.MaxLevel0Age != "" {
		s += ", merged by age (max-level0-age " + r.MaxLevel0Age + ")"
	}
	return s
}

func (e *env) partsRun(ctx context.Context, ph *partsPhase, r *partsRun) error {
	name := fmt.Sprintf("parts-%d", r.Partitions)
	args := []string{"-ingest.flush-interval", ph.FlushInterval, "-compactor.interval", ph.CompactorInterval}
	if r.MaxLevel0Age != "" {
		name += "-aged"
		args = append(args, "-compactor.max-level0-age", r.MaxLevel0Age)
	}
	n, err := e.newServe(ctx, name)
	if err != nil {
		return err
	}
	if err := n.start(args...); err != nil {
		return err
	}
	defer n.stop()
	topic := "bench-parts"
	if err := createTopic(ctx, n.kafka, topic, r.Partitions); err != nil {
		return err
	}
	cfg := e.loadConfig(n.kafka, n.admin, topic)
	cfg.Partitions = r.Partitions
	cfg.Rate = ph.Rate
	cfg.Producers = 1
	cfg.Duration = e.o.partRun
	var sum *bench.Summary
	w, err := n.measure(ctx, func() (err error) {
		sum, err = runLoad(ctx, bench.ModeProduce, cfg)
		return err
	})
	if err != nil {
		return err
	}
	segPuts := w.rate(mSegments, nil)
	allPuts := w.rate(mObjRequests, opPut)
	r.Summary = sum
	r.Seconds = w.seconds
	r.RecordsPerSec = sum.RecordsPerSec
	r.SegmentPutsPerSec = segPuts
	r.PutsPerSec = allPuts
	r.OtherPutsPerSec = max(allPuts-segPuts, 0)
	r.CommitsPerSec = w.rate(mCommitTxns, opCommit)
	r.CompactorRounds = w.delta(mRounds, nil)
	if c := w.delta(mRoundSeconds+"_count", nil); c > 0 {
		r.CompactorRoundSec = w.delta(mRoundSeconds+"_sum", nil) / c
	}
	r.CompactorObjects = w.delta(mObjWritten, nil)
	r.CompactorParts = w.delta(mSwaps, resultOK)
	_, r.ProduceP99 = p50p99(sum)
	return nil
}

// ---- 2. Adaptive batching against the timer ----

type adaptivePhase struct {
	Seconds          float64       `json:"seconds"`
	FlushInterval    string        `json:"flush_interval"`
	MaxPutsPerSecond string        `json:"max_puts_per_second"`
	Runs             []adaptiveRun `json:"runs"`
}

type adaptiveRun struct {
	Mode              string         `json:"mode"` // timer or adaptive
	OfferedRecords    int            `json:"offered_records_per_sec"`
	OfferedMBPerSec   float64        `json:"offered_mb_per_sec"`
	MBPerSec          float64        `json:"mb_per_sec"`
	P50               float64        `json:"produce_p50_ms"`
	P99               float64        `json:"produce_p99_ms"`
	SegmentPutsPerSec float64        `json:"segment_puts_per_sec"`
	PutsPerSec        float64        `json:"puts_per_sec"`
	MeanObjectBytes   float64        `json:"mean_object_bytes"`
	Summary           *bench.Summary `json:"summary,omitempty"`
	Error             string         `json:"error,omitempty"`
}

// runAdaptivePhase offers 1, 10 and 50 MB/s to a node flushing on the
// timer and to one in adaptive mode.
func (e *env) runAdaptivePhase(ctx context.Context) *adaptivePhase {
	ph := &adaptivePhase{Seconds: e.o.adaptiveRun.Seconds(), FlushInterval: "250ms"}
	// What ingest.adaptive was: its default budget of 100 PUTs/s.
	ph.MaxPutsPerSecond = "100"
	modes := []struct {
		name string
		args []string
	}{
		{"timer", []string{"-ingest.flush-interval", ph.FlushInterval}},
		{"adaptive", []string{"-ingest.put-budget", ph.MaxPutsPerSecond}},
	}
	for _, m := range modes {
		if ctx.Err() != nil {
			break
		}
		runs, err := e.adaptiveMode(ctx, ph, m.name, m.args)
		if err != nil {
			logf("%s: %s: %v", phaseAdaptive, m.name, err)
			runs = append(runs, adaptiveRun{Mode: m.name, Error: err.Error()})
		}
		ph.Runs = append(ph.Runs, runs...)
	}
	return ph
}

func (e *env) adaptiveMode(ctx context.Context, ph *adaptivePhase, mode string, args []string) ([]adaptiveRun, error) {
	n, err := e.newServe(ctx, "adaptive-"+mode)
	if err != nil {
		return nil, err
	}
	if err := n.start(args...); err != nil {
		return nil, err
	}
	defer n.stop()
	var runs []adaptiveRun
	// Records of e.o.recordSize (1 KiB): 1, 10 and 50 MB/s.
	for _, rate := range []int{1000, 10000, 50000} {
		if ctx.Err() != nil {
			break
		}
		r := adaptiveRun{Mode: mode, OfferedRecords: rate, OfferedMBPerSec: float64(rate*e.o.recordSize) / 1e6}
		topic := fmt.Sprintf("bench-%d", rate)
		err := createTopic(ctx, n.kafka, topic, e.o.partitions)
		var w *window
		var sum *bench.Summary
		if err == nil {
			cfg := e.loadConfig(n.kafka, n.admin, topic)
			cfg.Rate = rate
			cfg.Duration = e.o.adaptiveRun
			w, err = n.measure(ctx, func() (err error) {
				sum, err = runLoad(ctx, bench.ModeProduce, cfg)
				return err
			})
		}
		if err != nil {
			r.Error = err.Error()
			logf("%s: %s at %d/s: %v", phaseAdaptive, mode, rate, err)
			runs = append(runs, r)
			continue
		}
		r.Summary = sum
		r.MBPerSec = sum.MBPerSec
		r.P50, r.P99 = p50p99(sum)
		r.SegmentPutsPerSec = w.rate(mSegments, nil)
		r.PutsPerSec = w.rate(mObjRequests, opPut)
		if c := w.delta(mSegmentBytes+"_count", nil); c > 0 {
			r.MeanObjectBytes = w.delta(mSegmentBytes+"_sum", nil) / c
		}
		logf("%s: %s at %d/s: %.1f MB/s, p50 %.1f ms, p99 %.1f ms, %.1f segment PUTs/s (%.1f in all), mean object %.0f KiB",
			phaseAdaptive, mode, rate, r.MBPerSec, r.P50, r.P99, r.SegmentPutsPerSec, r.PutsPerSec, r.MeanObjectBytes/1024)
		runs = append(runs, r)
	}
	return runs, nil
}

// ---- 3. Memory at twice the sustainable load ----

type budget struct {
	Flag  string `json:"flag"`
	Bytes int64  `json:"bytes"`
}

type memoryPhase struct {
	Budgets     []budget `json:"budgets"`
	BudgetBytes int64    `json:"budget_bytes"`
	// Sustainable is the records/s the offered load is twice of, and
	// SustainableFrom where it comes from.
	Sustainable     float64 `json:"sustainable_records_per_sec"`
	SustainableFrom string  `json:"sustainable_from"`
	OfferedRecords  int     `json:"offered_records_per_sec"`
	Producers       int     `json:"producers"`
	MaxBuffered     int     `json:"max_buffered"`
	Seconds         float64 `json:"seconds"`

	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	P99           float64 `json:"produce_p99_ms"`
	ProduceErrors int64   `json:"produce_errors"`
	// PeakRSS is the highest VmRSS sampled every 100 ms, HWM the kernel's
	// VmHWM at the end, Overhead PeakRSS minus the budgets.
	PeakRSS      int64          `json:"peak_rss_bytes"`
	HWM          int64          `json:"vm_hwm_bytes"`
	Overhead     int64          `json:"overhead_bytes"`
	RSSSamples   int            `json:"rss_samples"`
	PeakBuffered float64        `json:"peak_ingest_buffered_bytes"`
	ThrottleSecs float64        `json:"throttle_seconds"`
	HealthzOK    bool           `json:"healthz_ok"`
	Alive        bool           `json:"alive"`
	Summary      *bench.Summary `json:"summary,omitempty"`
	Error        string         `json:"error,omitempty"`
}

// memoryBudgets are the memory bounds of a node's roles, passed explicitly
// at their defaults. The optional ones are passed when the binary has the
// flag.
var memoryBudgets = []struct {
	flag     string
	optional bool
}{
	{"ingest.memory-budget", false},          // open and uploading segments
	{"reader.cache-bytes", false},            // decoded chunks and fetched objects
	{"compactor.max-merge-raw-bytes", false}, // one merge's decompressed input
	{"compactor.key-map-max-bytes", false},   // one key compaction's key map
	{"compactor.object-cache-bytes", true},   // whole level-0 objects kept within a round
}

// runMemoryPhase offers twice the sustainable load and samples the
// server's resident memory. A producer holds at most its buffered records
// unacked, so the server never sees more than producers × max-buffered in
// flight: the default load (4 × 16,384 records, 64 MiB) stays below the
// ingest budget and would never be throttled, hence more producers with
// deeper buffers here.
func (e *env) runMemoryPhase(ctx context.Context, res *results) *memoryPhase {
	ph := &memoryPhase{Sustainable: float64(e.o.sustainable), SustainableFrom: "-sustainable flag",
		Producers: e.o.memProducers, MaxBuffered: e.o.memBuffered, Seconds: e.o.memRun.Seconds()}
	for _, s := range res.Systems {
		if s.Name == "strata-serve-250ms" && s.Error == "" && len(s.Max) > 0 {
			ph.Sustainable = s.recordsPerSec()
			ph.SustainableFrom = "median maximum of strata-serve-250ms in this run"
		}
	}
	ph.OfferedRecords = int(2 * ph.Sustainable)
	if err := e.memoryRun(ctx, ph); err != nil {
		ph.Error = err.Error()
		logf("%s: %v", phaseMemory, err)
	}
	return ph
}

func (e *env) memoryRun(ctx context.Context, ph *memoryPhase) error {
	var args []string
	defaults := flagDefaults()
	for _, mb := range memoryBudgets {
		if mb.optional && defaults.Lookup(mb.flag) == nil {
			continue
		}
		b, err := defaultBytes(mb.flag)
		if err != nil {
			return err
		}
		ph.Budgets = append(ph.Budgets, budget{Flag: mb.flag, Bytes: b})
		ph.BudgetBytes += b
		args = append(args, "-"+mb.flag, fmt.Sprint(b))
	}
	n, err := e.newServe(ctx, "memory")
	if err != nil {
		return err
	}
	if err := n.start(append(args, "-ingest.flush-interval", "250ms")...); err != nil {
		return err
	}
	defer n.stop()
	topic := "bench-memory"
	if err := createTopic(ctx, n.kafka, topic, e.o.partitions); err != nil {
		return err
	}

	pid := n.pid()
	stopSampling := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := procStatus(pid, "VmRSS"); err == nil {
				mu.Lock()
				ph.PeakRSS = max(ph.PeakRSS, rss)
				ph.RSSSamples++
				mu.Unlock()
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	})
	wg.Go(func() {
		// The ingest buffer gauge shows whether the budget was reached;
		// a scrape costs more than a /proc read, so less often.
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
			if m, err := n.scrape(ctx); err == nil {
				mu.Lock()
				ph.PeakBuffered = max(ph.PeakBuffered, m.Sum(mBuffered, nil))
				mu.Unlock()
			}
		}
	})

	cfg := e.loadConfig(n.kafka, n.admin, topic)
	cfg.Rate = ph.OfferedRecords
	cfg.Producers = ph.Producers
	cfg.MaxBuffered = ph.MaxBuffered
	cfg.Duration = e.o.memRun
	var sum *bench.Summary
	w, runErr := n.measure(ctx, func() (err error) {
		sum, err = runLoad(ctx, bench.ModeProduce, cfg)
		return err
	})
	close(stopSampling)
	wg.Wait()

	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ph.HealthzOK = httpOK(n.admin+"/healthz")(hctx) == nil
	cancel()
	ph.Alive = n.alive()
	if hwm, err := procStatus(pid, "VmHWM"); err == nil {
		ph.HWM = hwm
	}
	ph.Overhead = ph.PeakRSS - ph.BudgetBytes
	if w != nil {
		ph.ThrottleSecs = w.delta(mThrottle, nil)
	}
	if sum != nil {
		ph.Summary = sum
		ph.RecordsPerSec = sum.RecordsPerSec
		ph.MBPerSec = sum.MBPerSec
		ph.ProduceErrors = sum.ProduceErrors
		_, ph.P99 = p50p99(sum)
	}
	logf("%s: offered %d/s, achieved %.0f/s; peak RSS %d MiB, VmHWM %d MiB, budgets %d MiB; ingest buffered peak %.0f MiB; throttled %.1f s; healthz %v, alive %v",
		phaseMemory, ph.OfferedRecords, ph.RecordsPerSec, ph.PeakRSS>>20, ph.HWM>>20, ph.BudgetBytes>>20, ph.PeakBuffered/(1<<20), ph.ThrottleSecs, ph.HealthzOK, ph.Alive)
	return runErr
}

// ---- 4. Catch-up reads from level 0 and level 1 ----

type catchUpPhase struct {
	Partitions int            `json:"partitions"`
	Consumers  int            `json:"consumers"`
	Seconds    float64        `json:"seconds"`
	Produce    *bench.Summary `json:"produce,omitempty"`
	Level0     *bench.Summary `json:"level0,omitempty"`
	Level1     *bench.Summary `json:"level1,omitempty"`
	// Level0CPU and Level1CPU are the cores each process used during the
	// reads.
	Level0CPU *cpuShare `json:"level0_cpu,omitempty"`
	Level1CPU *cpuShare `json:"level1_cpu,omitempty"`
	// CompactSeconds is the time from the compactor's start until no
	// level-0 chunk was left (or the wait gave up: Level0Left > 0).
	CompactSeconds float64  `json:"compact_seconds"`
	Level0Left     float64  `json:"level0_chunks_left"`
	Level1Objects  float64  `json:"level1_objects"`
	CompactorFlags []string `json:"compactor_flags"`
	Error          string   `json:"error,omitempty"`
}

// cpuShare is the CPU time of the node, MinIO and the consumer (this
// process) over a read, in cores (CPU seconds per second).
type cpuShare struct {
	Node     float64 `json:"node"`
	MinIO    float64 `json:"minio"`
	Consumer float64 `json:"consumer"`
}

// measureCPU runs f and reports the cores each of pids used meanwhile.
func measureCPU(pids []int, f func() error) ([]float64, error) {
	before := make([]float64, len(pids))
	for i, pid := range pids {
		before[i], _ = cpuSeconds(pid)
	}
	t0 := time.Now()
	err := f()
	secs := time.Since(t0).Seconds()
	cores := make([]float64, len(pids))
	for i, pid := range pids {
		after, _ := cpuSeconds(pid)
		cores[i] = (after - before[i]) / secs
	}
	return cores, err
}

// rolesNoCompactor are all roles but the compactor.
const rolesNoCompactor = "ingest,reader,coordinator,controller"

// catchUpCompactor makes the compactor merge every level-0 chunk at once:
// a round a second, no threshold of age or count, the level-0 gauge
// refreshed every round.
var catchUpCompactor = []string{"-compactor.interval", "1s", "-compactor.min-level0-chunks", "0",
	"-compactor.max-level0-age", "0s", "-compactor.stats-interval", "0s"}

// runCatchUpPhase produces at full load to a node without a compactor,
// reads everything back after a restart (level 0, cold cache), compacts it
// all to level 1 and reads it back again after another restart.
func (e *env) runCatchUpPhase(ctx context.Context) *catchUpPhase {
	ph := &catchUpPhase{Partitions: e.o.partitions, Consumers: e.o.consumers, Seconds: e.o.catchUpRun.Seconds(), CompactorFlags: catchUpCompactor}
	if err := e.catchUp(ctx, ph); err != nil {
		ph.Error = err.Error()
		logf("%s: %v", phaseCatchUp, err)
	}
	return ph
}

func (e *env) catchUp(ctx context.Context, ph *catchUpPhase) error {
	n, err := e.newServe(ctx, "catch-up")
	if err != nil {
		return err
	}
	defer n.stop()
	noCompactor := []string{"-roles", rolesNoCompactor, "-ingest.flush-interval", "250ms"}
	if err := n.start(noCompactor...); err != nil {
		return err
	}
	topic := "bench-catch-up"
	cfg := e.loadConfig(n.kafka, n.admin, topic)
	cfg.Duration = e.o.catchUpRun
	sum, err := runLoad(ctx, bench.ModeProduce, cfg)
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	ph.Produce = sum
	logf("%s: produced %d records, %.0f records/s, %.1f MB/s", phaseCatchUp, sum.Produced, sum.RecordsPerSec, sum.MBPerSec)

	read := func(level string, cpu **cpuShare) (*bench.Summary, error) {
		n.stop() // a cold cache: nothing of the topic in memory
		if err := n.start(noCompactor...); err != nil {
			return nil, err
		}
		c := e.loadConfig(n.kafka, n.admin, topic)
		c.Duration = e.o.catchUpRead // at most
		c.Consumers = e.o.consumers
		if e.o.profileCatchUp != "" {
			path := fmt.Sprintf("%s-%s.pprof", e.o.profileCatchUp, strings.ReplaceAll(level, " ", ""))
			go func() {
				if err := fetchProfile(n.admin, 5*time.Second, path); err != nil {
					logf("%s: profile: %v", phaseCatchUp, err)
				}
			}()
			// The consumer runs in this process.
			if f, err := os.Create(strings.TrimSuffix(path, ".pprof") + "-consumer.pprof"); err == nil {
				if err := pprof.StartCPUProfile(f); err == nil {
					time.AfterFunc(5*time.Second, func() { pprof.StopCPUProfile(); f.Close() })
				}
			}
		}
		var s *bench.Summary
		cores, err := measureCPU([]int{n.pid(), e.minio.p.Pid(), os.Getpid()}, func() error {
			var err error
			s, err = runLoad(ctx, bench.ModeConsume, c)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("consume %s: %w", level, err)
		}
		*cpu = &cpuShare{Node: cores[0], MinIO: cores[1], Consumer: cores[2]}
		decoded := 0.0
		if m, err := n.scrape(ctx); err == nil {
			decoded = m.Sum(mDecoded, nil)
		}
		logf("%s: %s: cores used: node %.2f, MinIO %.2f, consumer %.2f; %.0f chunks decoded", phaseCatchUp, level, cores[0], cores[1], cores[2], decoded)
		gets := 0.0
		if s.Server != nil {
			gets = s.Server.GetsPerSec
		}
		logf("%s: %s: consumed %d of %d records, %.0f records/s (%.2fx produce), %.1f MB/s, %.1f GETs/s",
			phaseCatchUp, level, s.Consumed, ph.Produce.Produced, s.ConsumeRecsPerSec, s.ConsumeRecsPerSec/ph.Produce.RecordsPerSec, s.ConsumeMBPerSec, gets)
		return s, nil
	}
	if ph.Level0, err = read("level 0", &ph.Level0CPU); err != nil {
		return err
	}

	n.stop()
	if err := n.start(append([]string{"-roles", "all", "-ingest.flush-interval", "250ms"}, ph.CompactorFlags...)...); err != nil {
		return err
	}
	t0 := time.Now()
	deadline := t0.Add(e.o.compactWait)
	for {
		m, err := n.scrape(ctx)
		if err != nil {
			return err
		}
		ph.Level0Left = m.Sum(mLevel0Chunks, nil)
		ph.Level1Objects = m.Sum(mObjectsLevels, map[string]string{"level": "1"})
		// The gauges are refreshed at the end of each round: trust them
		// once a round has completed.
		if m.Sum(mRounds, resultOK) >= 1 && ph.Level0Left == 0 {
			break
		}
		if time.Now().After(deadline) {
			logf("%s: %.0f level-0 chunks left after %v; reading what is merged", phaseCatchUp, ph.Level0Left, e.o.compactWait)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	ph.CompactSeconds = time.Since(t0).Seconds()
	logf("%s: compacted to %.0f level-1 objects in %.1f s, %.0f level-0 chunks left", phaseCatchUp, ph.Level1Objects, ph.CompactSeconds, ph.Level0Left)
	if ph.Level1, err = read("level 1", &ph.Level1CPU); err != nil {
		return err
	}
	return nil
}
