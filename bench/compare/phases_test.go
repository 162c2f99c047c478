package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/bench"
)

// The phases pass these flags to strata serve; a renamed flag would only
// show after minutes of benchmark otherwise.
func TestPhaseFlagsExist(t *testing.T) {
	fs := flagDefaults()
	for _, mb := range memoryBudgets {
		if mb.optional {
			continue
		}
		b, err := defaultBytes(mb.flag)
		if err != nil {
			t.Fatal(err)
		}
		if b <= 0 {
			t.Errorf("default of -%s is %d, want a positive budget", mb.flag, b)
		}
	}
	names := []string{"roles", "ingest.flush-interval", "ingest.adaptive", "ingest.max-puts-per-second", "compactor.interval", "cluster.register-wait"}
	for _, a := range catchUpCompactor {
		if strings.HasPrefix(a, "-") {
			names = append(names, strings.TrimPrefix(a, "-"))
		}
	}
	for _, n := range names {
		if fs.Lookup(n) == nil {
			t.Errorf("strata serve has no flag -%s", n)
		}
	}
}

func TestProcStatus(t *testing.T) {
	rss, err := procStatus(os.Getpid(), "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	hwm, err := procStatus(os.Getpid(), "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || hwm < rss {
		t.Fatalf("VmRSS %d, VmHWM %d: want 0 < VmRSS <= VmHWM", rss, hwm)
	}
	if _, err := procStatus(os.Getpid(), "NoSuchField"); err == nil {
		t.Fatal("a missing field gave no error")
	}
}

func TestRenderPhases(t *testing.T) {
	r := &results{
		Started: "2026-01-02T03:04:05Z", Options: "quick: test",
		Load: loadShape{RecordSize: 1024, Producers: 4, Partitions: 64},
		Partitions: &partsPhase{Rate: 5000, Seconds: 15, FlushInterval: "250ms", CompactorInterval: "10s", Runs: []partsRun{
			{Partitions: 10000, RecordsPerSec: 4900, SegmentPutsPerSec: 3.5, OtherPutsPerSec: 0.5, PutsPerSec: 4, CommitsPerSec: 3.5, CompactorRounds: 1},
			{Partitions: 100, Error: "boom\nmore"},
			{Partitions: 10000, MaxLevel0Age: "10s", RecordsPerSec: 4950, SegmentPutsPerSec: 3.7, OtherPutsPerSec: 0.1, PutsPerSec: 3.8,
				CommitsPerSec: 3.7, CompactorRounds: 2, CompactorParts: 2000, CompactorObjects: 2, ProduceP99: 480},
		}},
		Adaptive: &adaptivePhase{Seconds: 4, FlushInterval: "250ms", MaxPutsPerSecond: "20", Runs: []adaptiveRun{
			{Mode: "adaptive", OfferedMBPerSec: 1.024, MBPerSec: 1, P50: 17.3, P99: 39.2, SegmentPutsPerSec: 19.8, PutsPerSec: 19.8, MeanObjectBytes: 13 << 10},
		}},
		Memory: &memoryPhase{Budgets: []budget{{"ingest.memory-budget", 256 << 20}}, BudgetBytes: 256 << 20, OfferedRecords: 360000,
			Sustainable: 180000, SustainableFrom: "-sustainable flag", Producers: 8, MaxBuffered: 65536, RecordsPerSec: 170000,
			PeakRSS: 1200 << 20, HWM: 1210 << 20, Overhead: 944 << 20, RSSSamples: 80, HealthzOK: true, Alive: true},
		CatchUp: &catchUpPhase{Partitions: 64, Seconds: 8, CompactorFlags: []string{"-compactor.interval", "1s"},
			Produce:       &bench.Summary{Produced: 1000, RecordsPerSec: 100000, MBPerSec: 100},
			Level0:        &bench.Summary{Consumed: 1000, ConsumeRecsPerSec: 250000, ConsumeMBPerSec: 250, Server: &bench.ServerStats{GetsPerSec: 12}},
			Level1:        &bench.Summary{Consumed: 1000, ConsumeRecsPerSec: 50000, ConsumeMBPerSec: 50},
			Level1Objects: 64, CompactSeconds: 10},
	}
	out := render(r)
	wantInSection(t, out,
		"| 10,000 | 4,900 | 3.5 | 0.5 | 4.0 | 3.5 | 1 |",
		"| 100 | failed: boom |",
		"| 10,000, merged by age (max-level0-age 10s) | 4,950 | 3.7 | 0.1 | 3.8 | 3.7 | 2 | 2000 | 2 | 480.0 |",
		"| adaptive | 1.0 | 1.0 | 17.3 | 39.2 | 19.8 | 19.8 | 13 |",
		"| 360,000 | 170,000 | 0 | 1200 | 1210 | 256 | +944 |",
		"| read level 0 | 1,000 | 250,000 | 250.0 | 2.50 | 12.0 |",
		"| read level 1 | 1,000 | 50,000 | 50.0 | 0.50 | - |",
	)
	if strings.Contains(out, "### Maximum produce throughput") {
		t.Error("system tables rendered without any system measured")
	}
}

func TestCPUTimes(t *testing.T) {
	a, err := cpuTimes()
	if err != nil {
		t.Fatal(err)
	}
	busy := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(busy) { // some CPU time passes
	}
	b, err := cpuTimes()
	if err != nil {
		t.Fatal(err)
	}
	if b.total <= a.total || b.idle < a.idle || b.idle-a.idle > b.total-a.total {
		t.Fatalf("CPU times went from %+v to %+v", a, b)
	}
}

// The maximum-throughput table gives the median and every run, so that a
// reader sees the noise; -render redraws it from the saved results.
func TestRenderSystemsFromSavedResults(t *testing.T) {
	run := func(recs float64) bench.Summary {
		return bench.Summary{RecordsPerSec: recs, MBPerSec: recs / 1000, ProduceLatency: &bench.Latency{P50: 10, P99: 20}}
	}
	o := options{runs: 3, duration: 20 * time.Second, halfRate: 10 * time.Second, producers: 4, maxBuffered: 16384,
		recordSize: 1024, partitions: 64, warmup: 2 * time.Second, systems: "kfake, kfake-prefaulted,nats",
		kfakePrefault: 10 << 30, kfakePrefRun: 8 * time.Second}
	r := &results{
		Started: "2026-01-02T03:04:05Z", Options: describe(o), Machine: "test",
		Systems: []systemResult{
			{Name: "kfake-prefaulted", Max: []bench.Summary{run(600000), run(520000), run(650000)}},
			{Name: "nats", Error: "nats-server not found"},
		},
	}
	path := filepath.Join(t.TempDir(), "results.json")
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	docs := t.TempDir()
	if err := renderOnly(path, docs); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(docs, "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	wantInSection(t, string(md),
		"| kfake-prefaulted | 600,000 | 600,000, 520,000, 650,000 | 600.0 |",
		"| nats | failed: nats-server not found |",
		"kfake-prefaulted is kfake with 10 GiB of its heap touched before it listens",
		"its maximum-throughput runs last 8s",
	)
	for _, png := range []string{"throughput.png", "latency.png"} {
		if fi, err := os.Stat(filepath.Join(docs, "img", png)); err != nil || fi.Size() == 0 {
			t.Errorf("chart %s not written: %v", png, err)
		}
	}
	if err := renderOnly(filepath.Join(docs, "missing.json"), docs); err == nil {
		t.Error("rendering a missing results file gave no error")
	}
}

// wantInSection fails t for every line of want that the rendered section
// lacks.
func wantInSection(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("rendered section lacks %q:\n%s", w, out)
		}
	}
}
