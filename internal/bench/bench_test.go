package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"image/color"
	"image/png"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

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
	// It also draws its chart and writes its histogram log.
	plotFile, histFile := filepath.Join(t.TempDir(), "run.png"), filepath.Join(t.TempDir(), "run.hlog")
	args := append([]string{"e2e", "--json", "-duration", "3s", "-progress", "1s", "-plot", plotFile, "-hist", histFile}, common...)
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
	checkPlot(t, plotFile)
	// The interval log holds every latency the run measured, produce and
	// end-to-end alike.
	counts := histLogCounts(t, histFile)
	if counts["produce"] != sum.Produced || counts["e2e"] != sum.Consumed {
		t.Errorf("histogram log counts %v, want produce %d and e2e %d", counts, sum.Produced, sum.Consumed)
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

	// The text summary of a consume run names its consumers, not the
	// producer settings it does not use.
	stdout.Reset()
	stderr.Reset()
	args = append([]string{"consume", "-duration", "20s", "-consumers", "2", "-progress", "0"}, common...)
	if code := Main(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench consume text exit %d\nstderr:\n%s", code, stderr.String())
	}
	first, _, _ := strings.Cut(stdout.String(), "\n")
	if !strings.Contains(first, "2 consumer(s)") || strings.Contains(first, "acks=") || strings.Contains(first, "producer") {
		t.Errorf("consume summary header: %q", first)
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

// checkPlot checks that path is a PNG chart of the run's size.
func checkPlot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 400 {
		t.Errorf("chart is %dx%d pixels", b.Dx(), b.Dy())
	}
	// A chart with lines has more than the background and axis colours.
	colours := map[color.Color]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 3 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 3 {
			colours[img.At(x, y)] = true
		}
	}
	for _, c := range palette[:4] {
		r, g, b, _ := c.RGBA()
		if !colours[color.RGBA64{uint16(r), uint16(g), uint16(b), 0xffff}] && !colours[color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xff}] && !colours[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xff}] {
			t.Errorf("chart has no line of colour %v", c)
		}
	}
}

// histLogCounts reads an HdrHistogram interval log and returns the
// recorded counts by tag.
func histLogCounts(t *testing.T, path string) map[string]int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := hdrhistogram.NewHistogramLogReader(f)
	counts := map[string]int64{}
	for {
		h, err := r.NextIntervalHistogram()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h == nil {
			return counts
		}
		counts[h.Tag()] += h.TotalCount()
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
	stderr.Reset()
	if code := Main(context.Background(), []string{"prodcue"}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), `unknown mode "prodcue"; want produce, consume, e2e, sync`) {
		t.Errorf("unknown mode: exit %d, %s", code, stderr.String())
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

// STRATA_BROKERS names the brokers as for every strata command, and a
// broker that cannot be reached gets the hint the other commands give.
func TestBrokersFromEnvironmentAndUnreachableHint(t *testing.T) {
	closed := closedAddr(t)
	var stdout, stderr bytes.Buffer
	env := func(k string) string { return map[string]string{"STRATA_BROKERS": closed}[k] }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, []string{"produce", "-duration", "1s", "-progress", "0"}, &stdout, &stderr, env)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
	}
	for _, want := range []string{closed, "strata dev", "STRATA_BROKERS"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	// -h shows the brokers STRATA_BROKERS set as the default.
	stderr.Reset()
	if code := run(ctx, []string{"produce", "-h"}, &stdout, &stderr, env); code != 0 || !strings.Contains(stderr.String(), closed) {
		t.Errorf("produce -h: exit %d, default brokers not %s:\n%s", code, closed, stderr.String())
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
