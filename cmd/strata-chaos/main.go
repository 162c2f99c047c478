// Command strata-chaos runs Strata's fault-injection test and checks what
// it recorded, or checks a history saved by an earlier run.
//
//	strata-chaos [run] -strata bin/strata -duration 30m -seed 42
//	strata-chaos check -history DIR/history.jsonl
//
// (strata-chaos load is the hostile phase's well-behaved clients, which a
// run starts as a process of their own.)
//
// A run starts a cluster (serve nodes, a compactor node, PostgreSQL with a
// synchronous standby, MinIO, and proxies that inject faults), runs the
// workloads, a hostile client phase and a seeded schedule of faults, heals
// everything, reads every partition back and checks the history. It
// prints one summary line and exits 1 when it found an anomaly or a
// problem; the history, the JSON report and every process's log stay in
// the run's directory.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stratalog/strata/internal/chaos"
)

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var code int
	switch cmd {
	case "run":
		code = run(args)
	case "check":
		code = check(args)
	case "load":
		code = load(args)
	default:
		fmt.Fprintf(os.Stderr, "strata-chaos: unknown command %q (run or check)\n", cmd)
		code = 2
	}
	os.Exit(code)
}

func run(args []string) int {
	fs := flag.NewFlagSet("strata-chaos run", flag.ExitOnError)
	strata := fs.String("strata", "bin/strata", "strata binary to run")
	minio := fs.String("minio", "", "MinIO server binary (default: $STRATA_MINIO_BIN, bin/minio, minio on PATH)")
	dir := fs.String("dir", "", "directory for the history, report and logs (default: a new one under the temporary directory)")
	duration := fs.Duration("duration", 2*time.Minute, "length of the fault phase")
	seed := fs.Uint64("seed", 0, "seed of the fault schedule (0: a random one, printed)")
	nodes := fs.Int("nodes", 3, "serve nodes")
	lease := fs.Duration("lease", 2*time.Second, "node lease")
	faults := fs.String("faults", "all", "comma-separated fault kinds, all or none: "+kinds())
	hostile := fs.Bool("hostile", true, "run the hostile client phase")
	hostileWindow := fs.Duration("hostile-window", 8*time.Second, "length of the hostile phase's baseline and attack windows")
	maxDrop := fs.Float64("hostile-max-drop", 0.2, "largest accepted drop of the well-behaved clients' throughput under attack")
	hostileEach := fs.Bool("hostile-each", false, "also measure the throughput drop under each attack alone")
	brokers := fs.String("brokers", "", "comma-separated Kafka addresses of a running cluster: start nothing, inject no fault")
	rate := fs.Int("rate", 150, "records per second of each producer")
	noStandby := fs.Bool("no-standby", false, "run PostgreSQL without a standby")
	nodeFlags := fs.String("node-flags", "", "more flags for every strata node, separated by spaces (e.g. -kafka.connection-creation-rate-per-ip=10)")
	_ = fs.Parse(args)

	kindsList, err := chaos.ParseFaults(*faults)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if *seed == 0 {
		*seed = rand.Uint64() >> 1
	}
	cfg := chaos.Config{
		Dir: *dir, Nodes: *nodes, Lease: *lease, Seed: *seed, Duration: *duration,
		Faults: kindsList, NoStandby: *noStandby, Hostile: *hostile, NodeArgs: strings.Fields(*nodeFlags),
		HostileConfig: chaos.HostileConfig{Window: *hostileWindow, MaxDrop: *maxDrop, Each: *hostileEach},
		Workload:      chaos.WorkloadConfig{Rate: *rate, Churn: true, Transactions: true},
		Logf: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
		},
	}
	// The hostile phase's well-behaved clients run as a process of
	// their own: this binary's load command.
	if self, err := os.Executable(); err == nil {
		cfg.HostileConfig.LoadCommand = []string{self, "load"}
	}
	if *brokers != "" {
		cfg.Brokers = strings.Split(*brokers, ",")
	} else {
		if cfg.StrataBin, err = filepath.Abs(*strata); err == nil {
			_, err = os.Stat(cfg.StrataBin)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "strata-chaos: strata binary: %v (build it with make build)\n", err)
			return 2
		}
		cfg.MinioBin = *minio
		if cfg.MinioBin == "" {
			if cfg.MinioBin, err = chaos.MinioBinary(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "strata-chaos: seed %d, fault phase %v\n", cfg.Seed, cfg.Duration)
	res, err := chaos.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "strata-chaos: %v\n", err)
		return 2
	}
	fmt.Fprint(os.Stderr, res.Describe())
	fmt.Println(res.Summary)
	if res.Failed() {
		return 1
	}
	return 0
}

func check(args []string) int {
	fs := flag.NewFlagSet("strata-chaos check", flag.ExitOnError)
	history := fs.String("history", "", "history file (JSON lines) of a run")
	asJSON := fs.Bool("json", false, "print the whole report as JSON")
	_ = fs.Parse(args)
	if *history == "" {
		fmt.Fprintln(os.Stderr, "strata-chaos check: -history is required")
		return 2
	}
	ops, err := chaos.ReadHistoryFile(*history)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rep := chaos.Check(ops)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		for _, a := range rep.Anomalies {
			fmt.Printf("%s: %s\n", a.Kind, a.Detail)
		}
		fmt.Println(rep.Summary())
	}
	if !rep.Valid {
		return 1
	}
	return 0
}

// load runs the hostile phase's well-behaved clients (see chaos.RunLoad)
// until it is killed.
func load(args []string) int {
	fs := flag.NewFlagSet("strata-chaos load", flag.ExitOnError)
	broker := fs.String("broker", "", "Kafka address of the node under attack")
	zone := fs.String("zone", "", "zone (rack) of that node, named in the client id")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := chaos.RunLoad(ctx, *broker, *zone, os.Stdout); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func kinds() string {
	var s []string
	for _, k := range chaos.AllFaults {
		s = append(s, string(k))
	}
	return strings.Join(s, ",")
}
