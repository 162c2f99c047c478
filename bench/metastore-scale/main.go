// Command metastore-scale measures one PostgreSQL metastore under the
// commits of many strata nodes: simulated ingest nodes, each with its own
// metastore client, commit segments (postgres.Store.CommitSegment, as a
// node commits what it sealed) of the partitions they lead, at a node's
// seal rate and then faster, until the database saturates. No object is
// written: the commits name objects that do not exist, which the
// metastore never looks at. It then drives the metastore side of a
// compaction cycle and asks a real strata node for the metadata of every
// topic. `make bench-metastore` runs it; docs/scale.md reports it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

type config struct {
	url            string
	partitions     []int
	perTopic       int
	nodes          int
	nodeConns      int
	sharedConns    int
	rates          []float64
	ranges         [][2]int
	foreign        float64
	idempotent     float64
	producers      int
	warmup, window time.Duration
	p99Bound       time.Duration
	compactWindow  time.Duration
	metadata       int
	strata         string
	fsync          bool
	pgSettings     []string
	setupSQL       []string
	strataFlags    []string
	dir            string
}

func main() {
	var cfg config
	var parts, rates, ranges string
	flag.StringVar(&cfg.url, "postgres-url", "", "PostgreSQL server to measure (a database is created on it per partition count); empty: a throwaway local server")
	flag.StringVar(&parts, "partitions", "10000,100000", "partition counts, each measured on a fresh database")
	flag.IntVar(&cfg.perTopic, "partitions-per-topic", 100, "partitions of each topic")
	flag.IntVar(&cfg.nodes, "nodes", 100, "simulated ingest nodes")
	flag.IntVar(&cfg.nodeConns, "node-conns", 2, "metastore connections of each simulated node (its pool; a node commits one segment at a time)")
	flag.IntVar(&cfg.sharedConns, "shared-conns", 0, "when above 0, every simulated node commits through one pool of this many connections, as behind a connection pooler, instead of a pool of its own")
	flag.StringVar(&rates, "rates", "4,8,16,32,64", "seal rates per node, commits/s, ramped up until the database saturates")
	flag.StringVar(&ranges, "segment-partitions", "1-500,1-20", "partitions per segment, uniform in each range (at most what a node leads); each range is ramped")
	flag.Float64Var(&cfg.foreign, "foreign", 0.05, "share of segments written by a node that does not lead their partitions")
	flag.Float64Var(&cfg.idempotent, "idempotent", 0.7, "share of batches written by idempotent producers")
	flag.IntVar(&cfg.producers, "producers-per-node", 4, "idempotent producers writing through each node")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "time at a load before measuring")
	flag.DurationVar(&cfg.window, "window", 10*time.Second, "time measured at each load")
	flag.DurationVar(&cfg.p99Bound, "p99-bound", 100*time.Millisecond, "commit p99 beyond which the database counts as saturated")
	flag.DurationVar(&cfg.compactWindow, "compact-window", 20*time.Second, "most time for the compaction cycle, run under the first load; 0: none")
	flag.IntVar(&cfg.metadata, "metadata-requests", 200, "Metadata requests for every topic sent to a strata node after the load; 0: none")
	flag.StringVar(&cfg.strata, "strata", "bin/strata", "strata binary for the Metadata measurement")
	flag.BoolVar(&cfg.fsync, "fsync", false, "run the throwaway server with fsync and synchronous_commit on (off, as the tests run it, by default)")
	flag.Func("pg-set", "a setting of the throwaway server, name=value (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("%q: want name=value", v)
		}
		cfg.pgSettings = append(cfg.pgSettings, v)
		return nil
	})
	flag.Func("setup-sql", "a statement run on each database after the migrations, before the load (repeatable), to try a schema change", func(v string) error {
		cfg.setupSQL = append(cfg.setupSQL, v)
		return nil
	})
	flag.Func("strata-flag", "a flag of the strata node of the Metadata measurement, -name=value (repeatable)", func(v string) error {
		cfg.strataFlags = append(cfg.strataFlags, v)
		return nil
	})
	flag.StringVar(&cfg.dir, "dir", "", "working directory (default: a temporary one, removed at the end)")
	flag.Parse()
	var err error
	if cfg.partitions, err = ints(parts); err != nil {
		fatal("-partitions: %v", err)
	}
	if cfg.rates, err = floats(rates); err != nil {
		fatal("-rates: %v", err)
	}
	if cfg.ranges, err = intRanges(ranges); err != nil {
		fatal("-segment-partitions: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fatal("%v", err)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "metastore-scale: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", args...)
}

func run(ctx context.Context, cfg config) error {
	dir := cfg.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "metastore-scale-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		// The server runs as the postgres user when this runs as root: it
		// must reach its directory inside.
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
		dir = d
	}
	base := cfg.url
	if base == "" {
		pgDir := filepath.Join(dir, "pg")
		if err := os.MkdirAll(pgDir, 0o755); err != nil {
			return err
		}
		pg, err := startPostgres(pgDir, cfg.nodes*cfg.nodeConns+50, cfg.fsync, cfg.pgSettings)
		if err != nil {
			return err
		}
		defer pg.stop()
		base = pg.url
		logf("PostgreSQL pid %d, fsync %v", pg.p.Pid(), cfg.fsync)
	}
	host, _ := os.Hostname()
	fmt.Printf("# metastore-scale %s, %d nodes × %d connections, %d partitions per topic, %.0f%% foreign segments, %.0f%% idempotent batches, host %s, %d CPUs, load average %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cfg.nodes, cfg.nodeConns, cfg.perTopic,
		cfg.foreign*100, cfg.idempotent*100, host, numCPU(), loadAverage())
	for _, p := range cfg.partitions {
		if err := runScale(ctx, cfg, dir, base, p); err != nil {
			return fmt.Errorf("%d partitions: %w", p, err)
		}
	}
	return nil
}

func runScale(ctx context.Context, cfg config, dir, base string, total int) error {
	name := fmt.Sprintf("scale_%d", total)
	_ = dropDB(ctx, base, name)
	db, err := createDB(ctx, base, name)
	if err != nil {
		return err
	}
	pm := postmasterPid(ctx, base)
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	admin, err := postgres.New(ctx, postgres.Config{URL: db, MaxConns: 8}, logger, nil)
	if err != nil {
		return err
	}
	defer admin.Close()
	for _, q := range cfg.setupSQL {
		if _, err := admin.Pool().Exec(ctx, q); err != nil {
			return fmt.Errorf("-setup-sql %q: %w", q, err)
		}
		fmt.Printf("Set up with `%s`.\n\n", q)
	}

	// Topics, created by 8 callers at once.
	logf("%d partitions: creating %d topics", total, (total+cfg.perTopic-1)/cfg.perTopic)
	t0 := time.Now()
	var (
		mu    sync.Mutex
		parts []metastore.PartitionKey
		wg    sync.WaitGroup
		errs  = make(chan error, 8)
		names = make(chan int)
	)
	for range 8 {
		wg.Go(func() {
			for i := range names {
				n := min(cfg.perTopic, total-i*cfg.perTopic)
				t, err := admin.CreateTopic(ctx, fmt.Sprintf("scale-%05d", i), int32(n), nil)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for j := range n {
					parts = append(parts, metastore.PartitionKey{TopicID: t.ID, Partition: int32(j)})
				}
				mu.Unlock()
			}
		})
	}
	go func() {
		defer close(names)
		for i := 0; i*cfg.perTopic < total; i++ {
			select {
			case names <- i:
			case err := <-errs:
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	logf("%d partitions: topics created in %v", total, time.Since(t0).Round(time.Millisecond))

	led := assignLeaders(parts, cfg.nodes)
	nodes := make([]*simNode, cfg.nodes)
	var shared *postgres.Store
	if cfg.sharedConns > 0 {
		if shared, err = postgres.New(ctx, postgres.Config{URL: db, MaxConns: int32(cfg.sharedConns)}, logger, reg); err != nil {
			return err
		}
		defer shared.Close()
	}
	for i := range nodes {
		s := shared
		if s == nil {
			if s, err = postgres.New(ctx, postgres.Config{URL: db, MaxConns: int32(cfg.nodeConns)}, logger, reg); err != nil {
				return err
			}
			defer s.Close()
		}
		n := &simNode{id: i, store: s, led: led[i], seq: map[metastore.ProducerKey]int32{},
			rng: rand.New(rand.NewPCG(uint64(total), uint64(i)))}
		for range cfg.producers {
			id, err := s.AllocateProducerID(ctx)
			if err != nil {
				return err
			}
			n.producers = append(n.producers, id)
		}
		nodes[i] = n
	}

	resetStatements(ctx, db)
	conns := fmt.Sprintf("%d nodes with a pool of %d connections each", cfg.nodes, cfg.nodeConns)
	if shared != nil {
		conns = fmt.Sprintf("%d nodes sharing one pool of %d connections", cfg.nodes, cfg.sharedConns)
	}
	fmt.Printf("## %d partitions (%d topics), %d to %d led per node, %s\n\n", total, (total+cfg.perTopic-1)/cfg.perTopic,
		len(led[len(led)-1]), len(led[0]), conns)
	fmt.Println("| segment partitions | seals/s per node | offered commits/s | commits/s | partitions/s | partitions per segment | commit p50 | commit p99 | commit max | late seals | PostgreSQL cores | harness cores | retries | errors | rejected | load avg |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	var saturation []string
	compacted := false
	for ri, rg := range cfg.ranges {
		prev := 0.0
		for _, rate := range cfg.rates {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			l := load{rate: rate, minParts: rg[0], maxParts: rg[1], foreign: cfg.foreign, idempotent: cfg.idempotent, recordsPerB: 10}
			var cs *compactionStats
			var cerr error
			var cwg sync.WaitGroup
			window := cfg.window
			if ri == 0 && !compacted && cfg.compactWindow > 0 {
				compacted = true
				// The first load is measured twice: alone, then with the
				// compaction cycle running.
				r := measure(ctx, nodes, led, l, cfg.warmup, window, pm, reg)
				printRow(rg, l, cfg.nodes, r, "")
				logf("%d partitions: compaction cycle under the load", total)
				cwg.Go(func() {
					time.Sleep(cfg.warmup)
					cs, cerr = compactCycle(ctx, admin, time.Now().Add(cfg.compactWindow))
				})
				window = cfg.compactWindow
			}
			logf("%d partitions: %d-%d partitions per segment, %v seals/s per node", total, rg[0], rg[1], rate)
			r := measure(ctx, nodes, led, l, cfg.warmup, window, pm, reg)
			cwg.Wait()
			if cs != nil || cerr != nil {
				printRow(rg, l, cfg.nodes, r, " (compacting)")
				if cerr != nil {
					return fmt.Errorf("compaction cycle: %w", cerr)
				}
				defer printCompaction(total, cs)
				continue
			}
			printRow(rg, l, cfg.nodes, r, "")
			offered := float64(cfg.nodes) * rate
			switch {
			case r.commitsPerSec < 0.9*offered:
				saturation = append(saturation, fmt.Sprintf("%d-%d partitions per segment: %.0f commits/s (%.0f partitions/s) of %.0f offered at %v seals/s per node",
					rg[0], rg[1], r.commitsPerSec, r.partsPerSec, offered, rate))
			case r.p99 > cfg.p99Bound:
				saturation = append(saturation, fmt.Sprintf("%d-%d partitions per segment: commit p99 %v over %v at %v seals/s per node (%.0f commits/s, %.0f partitions/s)",
					rg[0], rg[1], r.p99, cfg.p99Bound, rate, r.commitsPerSec, r.partsPerSec))
			case prev > 0 && r.commitsPerSec < 1.1*prev:
				saturation = append(saturation, fmt.Sprintf("%d-%d partitions per segment: commits/s stopped rising at %v seals/s per node (%.0f commits/s, %.0f partitions/s)",
					rg[0], rg[1], rate, r.commitsPerSec, r.partsPerSec))
			default:
				prev = r.commitsPerSec
				continue
			}
			break
		}
	}
	fmt.Println()
	for _, s := range saturation {
		fmt.Printf("Saturated: %s.\n", s)
	}
	fmt.Println()

	// The database's own counts, once every simulated node has closed its
	// connections (a backend reports its counts when it ends).
	for _, n := range nodes {
		n.store.Close()
	}
	if shared != nil {
		shared.Close()
	}
	if err := printDatabaseCounts(ctx, db); err != nil {
		return err
	}
	if sts := topStatements(ctx, db, 8); len(sts) > 0 {
		fmt.Println("Statements that took most of the server's time over the whole run (pg_stat_statements):")
		fmt.Println()
		fmt.Println("| total ms | calls | mean ms | rows | statement |")
		fmt.Println("|---|---|---|---|---|")
		for _, st := range sts {
			q := st.query
			if len(q) > 160 {
				q = q[:160] + "..."
			}
			fmt.Printf("| %.0f | %d | %.3f | %d | `%s` |\n", st.total, st.calls, st.mean, st.rows, strings.ReplaceAll(q, "|", "\\|"))
		}
		fmt.Println()
	}
	admin.Close()

	if cfg.metadata > 0 {
		bin, _ := filepath.Abs(cfg.strata)
		if _, err := os.Stat(bin); err != nil {
			fmt.Printf("Metadata not measured: no strata binary at %s (`make build`).\n\n", cfg.strata)
		} else {
			logf("%d partitions: Metadata through a strata node %v", total, cfg.strataFlags)
			if len(cfg.strataFlags) > 0 {
				fmt.Printf("The strata node runs with %s.\n\n", strings.Join(cfg.strataFlags, " "))
			}
			mdir := filepath.Join(dir, name)
			if err := os.MkdirAll(mdir, 0o755); err != nil {
				return err
			}
			ms, err := measureMetadata(ctx, bin, mdir, db, cfg.metadata, cfg.strataFlags)
			if err != nil {
				return err
			}
			fmt.Printf("Metadata of every topic (%d topics, %d partitions) from one strata node, %d requests one after the other (franz-go kmsg.MetadataRequest, topics null): p50 %v, p99 %v, max %v; CPU per request: node %.0f ms, client %.0f ms; load average %s; the node's controller gave every partition a leader in %v.\n\n",
				ms.topics, ms.partitions, ms.requests, ms.latency.Quantile(0.5), ms.latency.Quantile(0.99), ms.latency.Quantile(1),
				ms.nodeCPU*1000, ms.clientCPU*1000, loadAverage(), ms.leadersIn.Round(time.Millisecond))
			if ms.failed > 0 {
				fmt.Printf("%d of the %d Metadata requests failed and are left out (the last: %s).\n\n", ms.failed, ms.requests, ms.lastErr)
			}
		}
	}
	return nil
}

// result is one phase's figures.
type result struct {
	commitsPerSec, partsPerSec, partsPerSeg float64
	p50, p99, max                           time.Duration
	late                                    int64
	pgCores, selfCores                      float64
	retries, errors                         float64
	failed, rejected                        int64
	firstErr                                string
	loadAvg                                 string
}

func measure(ctx context.Context, nodes []*simNode, led [][]metastore.PartitionKey, l load, warmup, window time.Duration, pm int, reg *prometheus.Registry) result {
	retries0, errors0 := counters(reg)
	var pg0, pg1 float64
	var self0 float64
	// CPU is read over the window alone: a timer at its start.
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(warmup)
		if pm > 0 {
			pg0, _ = treeCPU(pm)
		}
		self0 = selfCPU()
	}()
	st := runPhase(ctx, nodes, led, l, warmup, window)
	<-done
	if pm > 0 {
		pg1, _ = treeCPU(pm)
	}
	self1 := selfCPU()
	retries1, errors1 := counters(reg)
	secs := window.Seconds()
	r := result{
		commitsPerSec: float64(st.commits.Load()) / secs,
		partsPerSec:   float64(st.chunks.Load()) / secs,
		p50:           st.latency.Quantile(0.5), p99: st.latency.Quantile(0.99), max: st.latency.Quantile(1),
		late:     st.behind.Load(),
		pgCores:  -1,
		retries:  retries1 - retries0,
		errors:   errors1 - errors0,
		failed:   st.failed.Load(),
		rejected: st.rejected.Load(),
		loadAvg:  loadAverage(),
	}
	if c := st.commits.Load(); c > 0 {
		r.partsPerSeg = float64(st.chunks.Load()) / float64(c)
	}
	if pm > 0 {
		r.pgCores = (pg1 - pg0) / secs // the window, plus the commits in flight at its end
	}
	r.selfCores = (self1 - self0) / secs
	if e, ok := st.firstErr.Load().(string); ok {
		r.firstErr = e
	}
	return r
}

func printRow(rg [2]int, l load, nodes int, r result, note string) {
	pg := "not local"
	if r.pgCores >= 0 {
		pg = fmt.Sprintf("%.2f", r.pgCores)
	}
	fmt.Printf("| %d-%d%s | %v | %.0f | %.0f | %.0f | %.1f | %v | %v | %v | %d | %s | %.2f | %.0f | %.0f (%d failed) | %d | %s |\n",
		rg[0], rg[1], note, l.rate, float64(nodes)*l.rate, r.commitsPerSec, r.partsPerSec, r.partsPerSeg,
		r.p50, r.p99, r.max, r.late, pg, r.selfCores, r.retries, r.errors, r.failed, r.rejected, r.loadAvg)
	if r.firstErr != "" {
		fmt.Printf("\n(first error: %s)\n\n", r.firstErr)
	}
}

func printCompaction(total int, cs *compactionStats) {
	perPart := func(s metastore.CompactionStats) string {
		return fmt.Sprintf("%d chunk rows (%.1f per partition, at most %d), %d level-0", s.ChunkRows,
			float64(s.ChunkRows)/float64(total), s.MaxPartitionChunkRows, s.Level0Chunks)
	}
	fmt.Printf("Compaction cycle at %d partitions (metastore side only: Backlogs, ChunksFrom, SwapObject; no objects read or written), under the load of the row marked compacting: %d rounds, %d level-1 objects swapped in for %d partitions (%d swaps left out because their rows had changed) in %v; SwapObject p50 %v, p99 %v. Before: %s. After: %s.\n\n",
		total, cs.rounds, cs.objects, cs.partitions, cs.changed, cs.took.Round(time.Millisecond), cs.swap.Quantile(0.5), cs.swap.Quantile(0.99),
		perPart(cs.rowsBefore), perPart(cs.rowsAfter))
}

// counters sums the store's retries and its counted errors over every
// operation.
func counters(reg *prometheus.Registry) (retries, errors float64) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
		switch mf.GetName() {
		case "strata_metastore_retries_total":
			retries = sum
		case "strata_metastore_operation_errors_total":
			errors = sum
		}
	}
	return retries, errors
}

func printDatabaseCounts(ctx context.Context, db string) error {
	c, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	// Backends that just ended may report a moment later.
	time.Sleep(time.Second)
	var deadlocks, commits, rollbacks, conflicts int64
	var size string
	err = c.QueryRow(ctx, `SELECT deadlocks, xact_commit, xact_rollback, conflicts, pg_size_pretty(pg_database_size(datname))
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&deadlocks, &commits, &rollbacks, &conflicts, &size)
	if err != nil {
		return err
	}
	fmt.Printf("pg_stat_database over the whole run: %d deadlocks, %d transactions committed, %d rolled back; database size %s.\n\n",
		deadlocks, commits, rollbacks, size)
	return nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q: want positive integers", s)
		}
		out = append(out, v)
	}
	return out, nil
}

func floats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q: want positive numbers", s)
		}
		out = append(out, v)
	}
	return out, nil
}

func intRanges(s string) ([][2]int, error) {
	var out [][2]int
	for _, f := range strings.Split(s, ",") {
		lo, hi, ok := strings.Cut(strings.TrimSpace(f), "-")
		if !ok {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 1 || b < a {
			return nil, fmt.Errorf("%q: want ranges such as 1-500", s)
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}
