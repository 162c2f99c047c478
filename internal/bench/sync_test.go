package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// TestBenchSync: the sync mode's workers produce exactly -records records,
// each acknowledged before the worker's next, and the server saw them all.
func TestBenchSync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs strata")
	}
	s := testenv.StartStrata(t, "dev", "-data-dir", filepath.Join(t.TempDir(), "data"), "-log.level", "warn")
	var stdout, stderr bytes.Buffer
	args := []string{"sync", "--json", "-brokers", s.KafkaAddr, "-admin", "http://" + s.AdminAddr, "-topic", "bench-sync",
		"-partitions", "1", "-workers", "8", "-records", "400", "-record-size", "100", "-progress", "0"}
	if code := Main(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench sync exit %d\nstderr:\n%s", code, stderr.String())
	}
	var sum Summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout.String())
	}
	if sum.Mode != ModeSync || sum.Workers != 8 || sum.Produced != 400 || sum.ProduceErrors != 0 {
		t.Fatalf("summary %+v, want 400 records from 8 workers without errors", sum)
	}
	l := sum.ProduceLatency
	if l == nil || !(0 < l.P50 && l.P50 <= l.P99 && l.P99 <= l.Max) {
		t.Fatalf("produce latency %+v", l)
	}
	if hw := sum.Server; hw == nil || hw.Segments < 1 {
		t.Fatalf("server stats %+v", hw)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := listOffsets(context.Background(), kadm.NewClient(cl), "bench-sync", false)
	if err != nil {
		t.Fatal(err)
	}
	if ends[0] != 401 {
		t.Fatalf("high watermark %d, want 401 (one warm-up record and 400)", ends[0])
	}
}
