package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// startStrataDev builds ./cmd/strata (or takes $STRATA_BINARY), runs
// `strata dev` on free loopback ports with flush interval flush, and returns
// its Kafka and admin addresses. It is stopped when the test ends.
func startStrataDev(t *testing.T, flush time.Duration) (kafkaAddr, adminAddr string) {
	t.Helper()
	s := testenv.StartStrata(t, "dev", "-data-dir", filepath.Join(t.TempDir(), "data"),
		"-ingest.flush-interval", flush.String(), "-log.level", "warn")
	return s.KafkaAddr, s.AdminAddr
}

func TestBenchAgainstStrataDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs strata")
	}
	flush := 50 * time.Millisecond
	kafkaAddr, adminAddr := startStrataDev(t, flush)
	ctx := context.Background()
	common := []string{"-brokers", kafkaAddr, "-admin", "http://" + adminAddr, "-topic", "bench-e2e",
		"-partitions", "8", "-record-size", "1024", "-rate", "2000", "-producers", "2"}

	// e2e with --json: every produced record is consumed, latencies are
	// ordered and at least the flush wait, and the server side shows one
	// commit transaction per segment and compressed segments.
	var stdout, stderr bytes.Buffer
	args := append([]string{"e2e", "--json", "-duration", "3s", "-progress", "1s"}, common...)
	if code := Main(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench e2e exit %d\nstderr:\n%s", code, stderr.String())
	}
	var sum Summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout.String())
	}
	if sum.Produced < 1000 || sum.ProduceErrors != 0 {
		t.Errorf("produced %d records with %d errors, want thousands and none", sum.Produced, sum.ProduceErrors)
	}
	if sum.Consumed != sum.Produced {
		t.Errorf("consumed %d of %d produced records", sum.Consumed, sum.Produced)
	}
	if sum.ProducedBytes != sum.Produced*1024 {
		t.Errorf("produced bytes %d, want %d", sum.ProducedBytes, sum.Produced*1024)
	}
	if sum.RecordsPerSec < 500 || sum.RecordsPerSec > 2600 {
		t.Errorf("records/s %.0f, offered 2000/s", sum.RecordsPerSec)
	}
	for name, l := range map[string]*Latency{"produce": sum.ProduceLatency, "end-to-end": sum.EndToEndLatency} {
		if l == nil {
			t.Fatalf("no %s latency", name)
		}
		if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
			t.Errorf("%s latency percentiles not ordered: %+v", name, *l)
		}
		if l.Max < float64(flush)/float64(time.Millisecond)/2 || l.P50 > 5000 {
			t.Errorf("%s latency implausible for a %v flush: %+v", name, flush, *l)
		}
	}
	if sum.EndToEndLatency.P50 < sum.ProduceLatency.P50*0.8 {
		t.Errorf("end-to-end p50 %.1f ms well below produce p50 %.1f ms", sum.EndToEndLatency.P50, sum.ProduceLatency.P50)
	}
	st := sum.Server
	if st == nil {
		t.Fatal("no server stats")
	}
	if st.ObjectPuts < 1 || st.Segments < 1 {
		t.Errorf("server: %v PUTs, %v segments", st.ObjectPuts, st.Segments)
	}
	if st.TxnsPerSegment != 1 {
		t.Errorf("commit transactions per segment %.2f, want 1", st.TxnsPerSegment)
	}
	if maxPuts := float64(time.Second/flush) * 1.2; st.PutsPerSec > maxPuts {
		t.Errorf("%.1f PUTs/s with a %v flush at low load", st.PutsPerSec, flush)
	}
	if st.StoredPerProduced <= 0.05 || st.StoredPerProduced >= 1 {
		t.Errorf("bytes stored per byte produced %.3f: JSON segments should compress", st.StoredPerProduced)
	}
	if lines := strings.Count(stderr.String(), "rec/s"); lines < 2 {
		t.Errorf("%d progress lines on stderr, want one a second:\n%s", lines, stderr.String())
	}

	// consume reads everything back from the start and stops by itself.
	stdout.Reset()
	stderr.Reset()
	args = append([]string{"consume", "--json", "-duration", "20s"}, common...)
	start := time.Now()
	if code := Main(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench consume exit %d\nstderr:\n%s", code, stderr.String())
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("consume of %d records took %v: it should stop at the end offsets", sum.Produced, took)
	}
	var csum Summary
	if err := json.Unmarshal(stdout.Bytes(), &csum); err != nil {
		t.Fatalf("consume summary: %v\n%s", err, stdout.String())
	}
	if csum.Consumed != sum.Produced {
		t.Errorf("consume read %d records, %d were produced", csum.Consumed, sum.Produced)
	}
	if csum.Server == nil || csum.Server.ObjectGets+csum.Server.ObjectPuts < 0 {
		t.Errorf("consume server stats: %+v", csum.Server)
	}

	// Three consumers share the 8 partitions and read every record once.
	stdout.Reset()
	stderr.Reset()
	args = append([]string{"consume", "--json", "-duration", "20s", "-consumers", "3"}, common...)
	if code := Main(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench consume -consumers 3 exit %d\nstderr:\n%s", code, stderr.String())
	}
	var msum Summary
	if err := json.Unmarshal(stdout.Bytes(), &msum); err != nil {
		t.Fatalf("consume summary: %v\n%s", err, stdout.String())
	}
	if msum.Consumed != sum.Produced || msum.Consumers != 3 {
		t.Errorf("3 consumers read %d records (summary says %d consumers), %d were produced", msum.Consumed, msum.Consumers, sum.Produced)
	}

	// produce with a warm-up: its records count in the rate, not in the
	// latency percentiles.
	stdout.Reset()
	stderr.Reset()
	args = append([]string{"produce", "--json", "-duration", "2s", "-warmup", "1s", "-progress", "0"}, common...)
	if code := Main(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench produce -warmup exit %d\nstderr:\n%s", code, stderr.String())
	}
	var wsum Summary
	if err := json.Unmarshal(stdout.Bytes(), &wsum); err != nil {
		t.Fatalf("produce summary: %v\n%s", err, stdout.String())
	}
	if wsum.WarmupSeconds != 1 || wsum.ProduceLatency == nil {
		t.Fatalf("warm-up run summary: %+v", wsum)
	}
	if n := wsum.ProduceLatency.Count; n < wsum.Produced/4 || n > wsum.Produced*3/4 {
		t.Errorf("%d latencies of %d records produced in 2 s with a 1 s warm-up, want about half", n, wsum.Produced)
	}
	if code := Main(ctx, []string{"produce", "-duration", "1s", "-warmup", "1s"}, &stdout, &stderr); code == 0 {
		t.Error("a warm-up as long as the run was accepted")
	}

	// produce, text summary.
	stdout.Reset()
	stderr.Reset()
	args = append([]string{"produce", "-duration", "1s", "-progress", "0"}, common...)
	if code := Main(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench produce exit %d\nstderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"records/s", "produce latency ms  p50", "PUTs/s", "commit txns/s"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, stdout.String())
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr with -progress 0: %s", stderr.String())
	}
}

func TestMainUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), nil, &stdout, &stderr); code != 2 {
		t.Errorf("no mode: exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "produce|consume|e2e") {
		t.Errorf("usage missing: %s", stderr.String())
	}
	for _, args := range [][]string{
		{"produce", "-acks", "1"}, // idempotence needs acks=all
		{"produce", "-payload", "xml"},
		{"e2e", "-partitions", "0"},
		{"consume", "extra"},
	} {
		stderr.Reset()
		if code := Main(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}
