package app

import (
	"flag"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/cluster"
)

func TestMemoryBudgets(t *testing.T) {
	cfg := defaultConfig()
	cfg.Kafka.MaxQueuedRequestBytes = 100000
	cfg.Reader.CacheBytes = 1
	cfg.Ingest.MemoryBudget = 10
	cfg.Compactor.MaxMergeRawBytes, cfg.Compactor.KeyMapMaxBytes, cfg.Compactor.ObjectCacheBytes = 100, 1000, 10000
	for _, tc := range []struct {
		roles string
		want  int64
	}{
		{"all", 111111},
		{"reader", 100001},
		{"ingest,reader", 100011},
		{"compactor", 111101},
		{"coordinator,controller", 100001},
	} {
		roles, err := cluster.ParseRoles(tc.roles)
		if err != nil {
			t.Fatal(err)
		}
		if got := memoryBudgets(cfg, roles); got != tc.want {
			t.Errorf("roles %s: budgets %d, want %d", tc.roles, got, tc.want)
		}
	}
}

func TestSetMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	t.Setenv("GOMEMLIMIT", "")
	cfg := defaultConfig()
	roles, _ := cluster.ParseRoles("all")
	// The executable's own pages count in RSS but not in the Go limit.
	want := memoryBudgets(cfg, roles) + cfg.MemoryOverhead - outsideGo
	if got := setMemoryLimit(cfg, roles); got != want || debug.SetMemoryLimit(-1) != want {
		t.Fatalf("limit %d (runtime %d), want %d", got, debug.SetMemoryLimit(-1), want)
	}
	debug.SetMemoryLimit(prev)
	cfg.MemoryOverhead = 0
	if got := setMemoryLimit(cfg, roles); got != 0 || debug.SetMemoryLimit(-1) != prev {
		t.Fatal("overhead 0 set a limit")
	}
	cfg.MemoryOverhead = 1 << 20
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := setMemoryLimit(cfg, roles); got != 0 || debug.SetMemoryLimit(-1) != prev {
		t.Fatal("GOMEMLIMIT did not take precedence")
	}
}

func defaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError))
	return c
}

// TestNewLeavesTheProcessAlone: building a node sets nothing process-wide,
// so that two nodes can share a test process; the soft memory limit is
// set by the strata command alone (startProcess).
func TestNewLeavesTheProcessAlone(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	t.Setenv("GOMEMLIMIT", "")
	cfg := defaultConfig()
	DevDefaults(&cfg, t.TempDir())
	cfg.Kafka.ListenAddress, cfg.AdminAddress = "127.0.0.1:0", "127.0.0.1:0"
	a, err := New(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(10 * time.Second)
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Fatalf("New set the soft memory limit to %d", got)
	}
}
