// Command compare runs the same Kafka produce load against strata dev,
// strata serve (PostgreSQL + MinIO, two flush intervals), kfake (as it
// starts, and with its heap prefaulted) and NATS JetStream, one after
// another on 127.0.0.1, each run on a fresh instance, measures the
// physical floor (raw MinIO PUTs, PostgreSQL segment commits) in the same
// run, then runs phases against fresh strata serve nodes (object PUTs against the
// partition count, adaptive batching, memory at twice the sustainable
// load, catch-up reads from level 0 and level 1), and writes the results
// into docs/benchmarks.md and docs/img/.
//
//	make bench-compare                        # about 15 minutes, 3 runs per system
//	make bench-compare BENCH_FLAGS=-quick     # about 5 minutes, 1 run per system
//
// The harness is a module of its own (bench/go.mod), so that its
// dependencies (gonum, NATS, kfake) stay out of the broker's; from bench/,
// `go run ./compare` works as well. It builds cmd/strata of the repository
// it sits in.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratalog/strata/internal/bench"
	"github.com/stratalog/strata/internal/objstore"
)

type options struct {
	quick          bool
	runs           int
	duration       time.Duration
	halfRate       time.Duration
	warmup         time.Duration
	floor          time.Duration
	partRun        time.Duration
	partCompactor  time.Duration
	partAged       time.Duration
	partCounts     string
	adaptiveRun    time.Duration
	memRun         time.Duration
	memProducers   int
	memBuffered    int
	sustainable    int
	catchUpRun     time.Duration
	catchUpRead    time.Duration
	compactWait    time.Duration
	producers      int
	maxBuffered    int
	recordSize     int
	partitions     int
	systems        string
	kfakePrefault  int64
	kfakePrefRun   time.Duration
	docs           string
	profile        string
	profileCatchUp string
	consumers      int
	results        string
	render         string
}

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "one short run per system (about 2 minutes in all)")
	flag.IntVar(&o.runs, "runs", 0, "max-throughput runs per system, reported as medians (default 3, 1 with -quick)")
	flag.DurationVar(&o.duration, "duration", 0, "length of one max-throughput run (default 20s, 8s with -quick)")
	flag.DurationVar(&o.halfRate, "half-rate-duration", 0, "length of the latency run at half the maximum throughput (default 10s, 5s with -quick)")
	flag.DurationVar(&o.warmup, "warmup", -1, "latencies of records sent in the first part of every run (at most half of it) are left out of its percentiles; 0: none (default 2s, 1s with -quick)")
	flag.DurationVar(&o.floor, "floor-duration", 0, "length of each physical-floor measurement (default 4s, 2s with -quick)")
	flag.DurationVar(&o.partRun, "partitions-duration", 0, "length of each PUTs-per-partition-count run (default 25s, 15s with -quick)")
	flag.DurationVar(&o.partCompactor, "partitions-compactor-interval", 10*time.Second, "compactor interval of the PUTs-per-partition-count nodes")
	flag.StringVar(&o.partCounts, "partitions-counts", "1,100,10000", "partition counts of the PUTs-per-partition-count runs")
	flag.DurationVar(&o.partAged, "partitions-aged", 10*time.Second, "-compactor.max-level0-age of one more run at the largest partition count, so that every partition is merged by age within the window; 0: no such run")
	flag.DurationVar(&o.adaptiveRun, "adaptive-duration", 0, "length of each adaptive-batching run (default 10s, 4s with -quick)")
	flag.DurationVar(&o.memRun, "memory-duration", 0, "length of the run at twice the sustainable load (default 20s, 8s with -quick)")
	flag.IntVar(&o.memProducers, "memory-producers", 8, "producer clients of the memory run")
	flag.IntVar(&o.memBuffered, "memory-max-buffered", 65536, "records each producer of the memory run keeps in flight")
	flag.IntVar(&o.sustainable, "sustainable", 180000, "sustainable records/s of strata serve, when strata-serve-250ms is not run")
	flag.DurationVar(&o.catchUpRun, "catch-up-duration", 0, "length of the produce run that catch-up consumers read back (default 20s, 8s with -quick)")
	flag.DurationVar(&o.catchUpRead, "catch-up-read-timeout", 0, "longest catch-up read (default 3m, 90s with -quick)")
	flag.DurationVar(&o.compactWait, "compact-wait", 0, "longest wait for the compactor to merge the catch-up data (default 4m, 2m with -quick)")
	flag.IntVar(&o.producers, "producers", 4, "producer clients")
	flag.IntVar(&o.consumers, "consumers", 4, "consumer clients of the catch-up reads, each reading its share of the partitions")
	flag.IntVar(&o.maxBuffered, "max-buffered", 16384, "records each producer keeps in flight")
	flag.IntVar(&o.recordSize, "record-size", 1024, "record size in bytes")
	flag.IntVar(&o.partitions, "partitions", 64, "partitions (NATS: subjects)")
	flag.StringVar(&o.systems, "systems", "strata-dev,strata-serve-250ms,strata-serve-50ms,strata-serve-adaptive,kfake,kfake-prefaulted,nats,floor,partitions,adaptive,budget,memory,catch-up",
		"comma-separated systems and phases to run")
	flag.Int64Var(&o.kfakePrefault, "kfake-prefault", 10<<30, "bytes of heap kfake-prefaulted touches before it listens")
	flag.DurationVar(&o.kfakePrefRun, "kfake-prefaulted-duration", 8*time.Second, "length of one max-throughput run of kfake-prefaulted, which keeps every record in memory: about 2 GB per 100,000 records/s and 10 s")
	flag.StringVar(&o.docs, "docs", "", "docs directory: benchmarks.md gets the section, img/ the charts (default: the repository's docs/)")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of strata serve (250 ms) under the produce load to this file")
	flag.StringVar(&o.profileCatchUp, "profile-catch-up", "", "write CPU profiles of the node during the first 5 s of each catch-up read to <this>-level0.pprof and <this>-level1.pprof")
	flag.StringVar(&o.results, "results", "", "also write the raw results as JSON to this file")
	flag.StringVar(&o.render, "render", "", "run nothing: write the section and charts from the raw results of an earlier run (its -results file)")
	flag.Parse()
	if o.docs == "" {
		root, err := repoRoot()
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-compare: %v\n", err)
			os.Exit(1)
		}
		o.docs = filepath.Join(root, "docs")
	}
	if o.render != "" {
		if err := renderOnly(o.render, o.docs); err != nil {
			fmt.Fprintf(os.Stderr, "bench-compare: %v\n", err)
			os.Exit(1)
		}
		return
	}
	def := func(v *time.Duration, full, quick time.Duration) {
		if *v == 0 {
			*v = full
			if o.quick {
				*v = quick
			}
		}
	}
	def(&o.duration, 20*time.Second, 8*time.Second)
	def(&o.halfRate, 10*time.Second, 5*time.Second)
	def(&o.floor, 4*time.Second, 2*time.Second)
	if o.warmup < 0 {
		o.warmup = 2 * time.Second
		if o.quick {
			o.warmup = time.Second
		}
	}
	// Long enough for one (quick) or two compactor rounds at
	// -partitions-compactor-interval, a round over 10,000 partitions
	// taking about 2 s.
	def(&o.partRun, 25*time.Second, 15*time.Second)
	def(&o.adaptiveRun, 10*time.Second, 4*time.Second)
	def(&o.memRun, 20*time.Second, 8*time.Second)
	def(&o.catchUpRun, 20*time.Second, 8*time.Second)
	def(&o.catchUpRead, 3*time.Minute, 90*time.Second)
	def(&o.compactWait, 4*time.Minute, 2*time.Minute)
	if o.runs == 0 {
		o.runs = 3
		if o.quick {
			o.runs = 1
		}
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "bench-compare: %v\n", err)
		os.Exit(1)
	}
}

// env holds what the systems share: built binaries, servers, a work dir.
type env struct {
	o       options
	root    string
	work    string
	strata  string
	kfake   string
	pg      *postgres
	minio   *minio
	s3      *s3.Client
	logger  *slog.Logger
	buckets int
}

func run(ctx context.Context, o options) error {
	want := map[string]bool{}
	known := []string{"strata-dev", "strata-serve-250ms", "strata-serve-50ms", "strata-serve-adaptive", "kfake", "kfake-prefaulted", "nats", "floor",
		phaseParts, phaseAdaptive, phaseBudget, phaseMemory, phaseCatchUp}
	for _, s := range strings.Split(o.systems, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(known, s) {
			return fmt.Errorf("-systems: unknown %q, want some of %s", s, strings.Join(known, ","))
		}
		want[s] = true
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "strata-bench-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	// PostgreSQL runs as the postgres user when this runs as root: it must
	// reach its directory inside.
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	e := &env{o: o, root: root, work: work, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	begin := time.Now()

	logf("building strata and kfake")
	if e.strata, err = goBuild(root, work, "./cmd/strata", "strata"); err != nil {
		return err
	}
	if e.kfake, err = goBuild(filepath.Join(root, "bench"), work, "./kfake", "kfake"); err != nil {
		return err
	}
	needServices := false
	for _, s := range []string{"strata-serve-250ms", "strata-serve-50ms", "strata-serve-adaptive", "floor", phaseParts, phaseAdaptive, phaseBudget, phaseMemory, phaseCatchUp} {
		needServices = needServices || want[s]
	}
	if needServices {
		logf("starting PostgreSQL and MinIO")
		pgDir := filepath.Join(work, "postgres")
		if err := os.Mkdir(pgDir, 0o755); err != nil {
			return err
		}
		if e.pg, err = startPostgres(pgDir); err != nil {
			return err
		}
		defer e.pg.stop()
		mDir := filepath.Join(work, "minio")
		if err := os.Mkdir(mDir, 0o755); err != nil {
			return err
		}
		if e.minio, err = startMinio(root, mDir); err != nil {
			return err
		}
		defer e.minio.stop()
		st, err := objstore.NewS3(ctx, e.s3Config("unused"))
		if err != nil {
			return err
		}
		e.s3 = st.Client()
	}

	res := &results{Machine: machine(), Options: describe(o), Started: begin.UTC().Format(time.RFC3339),
		Load: loadShape{RecordSize: o.recordSize, Producers: o.producers, Partitions: o.partitions}}
	for _, name := range []string{"strata-dev", "strata-serve-250ms", "strata-serve-50ms", "strata-serve-adaptive", "kfake", "kfake-prefaulted", "nats"} {
		if !want[name] {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sr, err := e.runSystem(ctx, name)
		if err != nil {
			logf("%s: %v", name, err)
			res.Systems = append(res.Systems, systemResult{Name: name, Error: err.Error()})
			continue
		}
		res.Systems = append(res.Systems, *sr)
	}
	if want["floor"] && ctx.Err() == nil {
		fl, err := e.measureFloor(ctx)
		if err != nil {
			logf("floor: %v", err)
			res.FloorError = err.Error()
		} else {
			res.Floor = fl
		}
	}
	phase := func(name string, f func()) {
		if !want[name] || ctx.Err() != nil {
			return
		}
		t0 := time.Now()
		logf("%s: starting", name)
		f()
		logf("%s: done in %s", name, time.Since(t0).Round(time.Second))
	}
	phase(phaseParts, func() { res.Partitions = e.runPartsPhase(ctx) })
	phase(phaseAdaptive, func() { res.Adaptive = e.runAdaptivePhase(ctx) })
	phase(phaseBudget, func() { res.Budget = e.runBudgetPhase(ctx) })
	phase(phaseMemory, func() { res.Memory = e.runMemoryPhase(ctx, res) })
	phase(phaseCatchUp, func() { res.CatchUp = e.runCatchUpPhase(ctx) })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.Seconds = time.Since(begin).Seconds()
	if o.results != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.results, b, 0o644); err != nil {
			return err
		}
	}
	if err := writeCharts(res, filepath.Join(o.docs, "img")); err != nil {
		logf("charts: %v", err)
		res.ChartError = err.Error()
	}
	if err := writeSection(filepath.Join(o.docs, "benchmarks.md"), res); err != nil {
		return err
	}
	logf("done in %s; wrote %s", time.Since(begin).Round(time.Second), filepath.Join(o.docs, "benchmarks.md"))
	return nil
}

// renderOnly writes the docs of the results saved at path.
func renderOnly(path, docs string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := writeCharts(&res, filepath.Join(docs, "img")); err != nil {
		return fmt.Errorf("charts: %w", err)
	}
	return writeSection(filepath.Join(docs, "benchmarks.md"), &res)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// brokerModule is the module path of the repository's top directory.
const brokerModule = "github.com/stratalog/strata"

// repoRoot returns the repository's top directory: the nearest one, from
// the working directory up, whose go.mod declares brokerModule. The go.mod
// of bench/ itself declares another module.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresModule(b, brokerModule) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s in the working directory or above", brokerModule)
		}
		dir = parent
	}
}

// declaresModule reports whether the go.mod file gomod declares module path.
func declaresModule(gomod []byte, path string) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}

func goBuild(root, work, pkg, name string) (string, error) {
	if err := os.MkdirAll(filepath.Join(work, "bin"), 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(work, "bin", name)
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if !fileExists(gobin) {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

func (e *env) s3Config(bucket string) objstore.S3Config {
	return objstore.S3Config{
		Bucket: bucket, Endpoint: e.minio.endpoint, Region: "us-east-1",
		AccessKeyID: minioUser, SecretAccessKey: minioSecret, PathStyle: true,
	}
}

func (e *env) newBucket(ctx context.Context) (string, error) {
	e.buckets++
	name := fmt.Sprintf("bench-%d", e.buckets)
	_, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("create bucket %s: %w", name, err)
	}
	return name, nil
}

// loadConfig is the load every Kafka system gets.
func (e *env) loadConfig(brokers, admin, topic string) bench.Config {
	var c bench.Config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	c.RegisterFlags(fs)
	c.Brokers = brokers
	c.Admin = admin
	c.Topic = topic
	c.Partitions = e.o.partitions
	c.RecordSize = e.o.recordSize
	c.Payload = bench.PayloadJSON
	c.Producers = e.o.producers
	c.MaxBuffered = e.o.maxBuffered
	c.Acks = "all"
	c.Idempotent = true
	c.Duration = e.o.duration
	c.Warmup = e.o.warmup
	c.DrainTimeout = 60 * time.Second
	c.Progress = 0
	return c
}

// runLoad runs one load of strata bench, its warm-up cut to at most half
// of the run.
func runLoad(ctx context.Context, mode string, cfg bench.Config) (*bench.Summary, error) {
	cfg.Warmup = min(cfg.Warmup, cfg.Duration/2)
	return bench.Run(ctx, mode, cfg, nil)
}

// kafkaSystem is a running Kafka-compatible server.
type kafkaSystem struct {
	brokers, admin string
	stop           func()
}

// startKafka starts a fresh instance of the Kafka system name: its own
// directory, and for strata serve its own database and bucket, all named
// after instance.
func (e *env) startKafka(ctx context.Context, name, instance string) (*kafkaSystem, error) {
	dir := filepath.Join(e.work, instance)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	switch name {
	case "kfake", "kfake-prefaulted":
		args := []string{"-partitions", fmt.Sprint(e.o.partitions)}
		wait := 10 * time.Second
		if name == "kfake-prefaulted" {
			// Touching the heap takes up to 2 s per GiB on a
			// virtual machine whose memory the host reclaimed.
			args = append(args, "-prefault", fmt.Sprint(e.o.kfakePrefault))
			wait += time.Duration(3*e.o.kfakePrefault>>30) * time.Second
		}
		cmd := exec.Command(e.kfake, args...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		p, err := start(name, filepath.Join(dir, "kfake.log"), cmd)
		if err != nil {
			return nil, err
		}
		addr, err := firstLine(stdout, wait)
		if err != nil {
			p.stop(syscall.SIGTERM, 5*time.Second)
			return nil, fmt.Errorf("kfake address: %w", err)
		}
		return &kafkaSystem{brokers: addr, stop: func() { p.stop(syscall.SIGTERM, 5*time.Second) }}, nil
	}
	kafka, admin, err := twoPorts()
	if err != nil {
		return nil, err
	}
	common := []string{"-kafka.listen-address", kafka, "-admin.listen-address", admin, "-log.level", "warn"}
	var args []string
	switch name {
	case "strata-dev":
		args = append([]string{"dev", "-data-dir", filepath.Join(dir, "data")}, common...)
	case "strata-serve-250ms", "strata-serve-50ms", "strata-serve-adaptive":
		n, err := e.newServe(ctx, instance)
		if err != nil {
			return nil, err
		}
		flags := []string{"-ingest.flush-interval", strings.TrimPrefix(name, "strata-serve-")}
		if name == "strata-serve-adaptive" {
			// What adaptive mode was by default: a budget of 100 PUTs/s.
			flags = []string{"-ingest.put-budget", "100"}
		}
		if err := n.start(flags...); err != nil {
			return nil, err
		}
		return &kafkaSystem{brokers: n.kafka, admin: n.admin, stop: n.stop}, nil
	default:
		return nil, fmt.Errorf("unknown system %s", name)
	}
	cmd := exec.Command(e.strata, args...)
	p, err := start(name, filepath.Join(dir, "strata.log"), cmd)
	if err != nil {
		return nil, err
	}
	if err := p.waitFor(60*time.Second, httpOK("http://"+admin+"/readyz")); err != nil {
		p.stop(syscall.SIGKILL, time.Second)
		return nil, err
	}
	return &kafkaSystem{brokers: kafka, admin: "http://" + admin, stop: func() { p.stop(syscall.SIGTERM, 15*time.Second) }}, nil
}

// runSystem measures one system: the maximum produce throughput (median of
// o.runs runs), then latency at half of it. Every run starts a fresh
// instance: on one strata node run after run, each run would also carry
// the compaction of the runs before it (gigabytes at full load), which the
// first run does not; the runs would measure different things.
func (e *env) runSystem(ctx context.Context, name string) (*systemResult, error) {
	if name == "nats" {
		return e.runNATS(ctx)
	}
	logf("%s: starting", name)
	sr := &systemResult{Name: name}
	for i := range e.o.runs {
		sys, err := e.startKafka(ctx, name, fmt.Sprintf("%s-max-%d", name, i))
		if err != nil {
			return nil, err
		}
		cfg := e.loadConfig(sys.brokers, sys.admin, fmt.Sprintf("bench-max-%d", i))
		if name == "kfake-prefaulted" {
			cfg.Duration = min(cfg.Duration, e.o.kfakePrefRun)
		}
		settle(ctx, fmt.Sprintf("%s: run %d", name, i+1))
		var profDone chan error
		if name == "strata-serve-250ms" && i == 0 && e.o.profile != "" {
			profDone = make(chan error, 1)
			go func() { profDone <- fetchProfile(sys.admin, e.o.duration-2*time.Second, e.o.profile) }()
		}
		sum, err := runLoad(ctx, bench.ModeProduce, cfg)
		if profDone != nil {
			if perr := <-profDone; perr != nil {
				logf("profile: %v", perr)
			}
		}
		sys.stop()
		e.dropInstance(fmt.Sprintf("%s-max-%d", name, i))
		if err != nil {
			return nil, fmt.Errorf("max run %d: %w", i+1, err)
		}
		logf("%s: run %d: %.0f records/s, %.1f MB/s, p50 %.1f ms, p99 %.1f ms", name, i+1,
			sum.RecordsPerSec, sum.MBPerSec, sum.ProduceLatency.P50, sum.ProduceLatency.P99)
		sr.Max = append(sr.Max, *sum)
	}
	sys, err := e.startKafka(ctx, name, name+"-latency")
	if err != nil {
		return nil, err
	}
	defer sys.stop()
	half := int(medianOf(sr.Max, func(s bench.Summary) float64 { return s.RecordsPerSec }) / 2)
	if half < 1 {
		half = 1
	}
	cfg := e.loadConfig(sys.brokers, sys.admin, "bench-half")
	cfg.Rate = half
	cfg.Duration = e.o.halfRate
	settle(ctx, name+": half rate")
	sum, err := runLoad(ctx, bench.ModeProduce, cfg)
	if err != nil {
		return nil, fmt.Errorf("half-rate run: %w", err)
	}
	logf("%s: half rate %d/s: produce p50 %.1f ms p99 %.1f ms", name, half, sum.ProduceLatency.P50, sum.ProduceLatency.P99)
	sr.Half = sum

	// End-to-end latency needs a consumer on the same cores: measure it at
	// a tenth of the maximum, where the consumer keeps up.
	cfg = e.loadConfig(sys.brokers, sys.admin, "bench-e2e")
	cfg.Rate = max(half/5, 1)
	cfg.Duration = e.o.halfRate
	sum, err = runLoad(ctx, bench.ModeE2E, cfg)
	if err != nil {
		return nil, fmt.Errorf("e2e run: %w", err)
	}
	logf("%s: e2e at %d/s: produce p50 %.1f ms p99 %.1f ms, e2e p50 %.1f ms p99 %.1f ms", name, cfg.Rate,
		sum.ProduceLatency.P50, sum.ProduceLatency.P99, sum.EndToEndLatency.P50, sum.EndToEndLatency.P99)
	sr.E2E = sum

	return sr, nil
}

// dropInstance removes the directory of a stopped instance (strata dev's
// data, logs), so that a full run does not fill the disk.
func (e *env) dropInstance(instance string) {
	if err := os.RemoveAll(filepath.Join(e.work, instance)); err != nil {
		logf("%s: %v", instance, err)
	}
}

func fetchProfile(admin string, d time.Duration, path string) error {
	if d < time.Second {
		d = time.Second
	}
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func medianOf[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
