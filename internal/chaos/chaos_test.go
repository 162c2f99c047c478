package chaos

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
	procs "github.com/stratalog/strata/internal/testenv/proc"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// buildChaosCommand builds cmd/strata-chaos into dir.
func buildChaosCommand(t *testing.T, dir string) string {
	t.Helper()
	root, err := procs.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "strata-chaos")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/strata-chaos")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/strata-chaos: %v\n%s", err, b)
	}
	return out
}

// requireServices returns the MinIO binary; without it, or without
// PostgreSQL's server binaries, the test fails when CI=true and is skipped
// otherwise.
func requireServices(t *testing.T) string {
	t.Helper()
	minio, err := MinioBinary()
	if err == nil {
		_, err = postgresBinDir()
	}
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	return minio
}

// TestChaosShort is the chaos run of every build: three serve nodes and a
// compactor node behind fault-injecting proxies, PostgreSQL with a
// synchronous standby, MinIO; the workloads, a hostile client phase, then
// a fault schedule in which every fault kind happens at least once; heal,
// read everything back, check. Any anomaly or problem fails it; its
// directory (history, report, logs) is kept and named then.
//
// STRATA_CHAOS_SEED chooses another schedule.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("a chaos run takes minutes")
	}
	minio := requireServices(t)
	start := time.Now()
	bins := t.TempDir()
	bin := testenv.StrataBinary(t)
	// The hostile phase's well-behaved clients run in a process of their
	// own, built without the race detector: what they measure is the
	// node, not this test binary.
	loadBin := buildChaosCommand(t, bins)
	seed := uint64(1)
	if s := os.Getenv("STRATA_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("STRATA_CHAOS_SEED: %v", err)
		}
	}
	dir, err := os.MkdirTemp("", "strata-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{
		Dir:       dir,
		StrataBin: bin,
		MinioBin:  minio,
		Seed:      seed,
		Duration:  90 * time.Second,
		Faults:    AllFaults,
		Hostile:   true,
		HostileConfig: HostileConfig{
			Window:      6 * time.Second,
			BombBytes:   32 << 20,
			LoadCommand: []string{loadBin, "load"},
			Recovery:    20 * time.Second,
		},
		Workload:     WorkloadConfig{Rate: 100, Churn: true, Transactions: true},
		FinalTimeout: 45 * time.Second,
		Logf:         t.Logf,
	})
	if err != nil {
		t.Fatalf("chaos harness: %v (directory %s)", err, dir)
	}
	t.Logf("chaos run of seed %d took %v:\n%s", seed, time.Since(start).Round(time.Second), res.Describe())

	// The harness did what it promises: every kind of fault, injected and
	// healed.
	counts := res.FaultCounts()
	for _, k := range AllFaults {
		if counts[k] == 0 {
			t.Errorf("no %s fault executed", k)
		}
	}
	if res.Hostile == nil {
		t.Error("no hostile phase")
	}
	if res.Report.Stats.Acked < 1000 {
		t.Errorf("only %d records acknowledged", res.Report.Stats.Acked)
	}
	if res.Failed() {
		t.Errorf("%s\nhistory, report and logs kept in %s; re-check with: go run ./cmd/strata-chaos check -history %s",
			res.Summary, dir, res.HistoryPath)
		return
	}
	os.RemoveAll(dir)
}
