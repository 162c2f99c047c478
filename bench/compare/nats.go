package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/internal/bench"
)

// runNATS measures NATS JetStream with file storage: the same number of
// producers (connections), record size, payload and subjects as partitions,
// each publish acknowledged by the stream (the analogue of acks=all). Like
// every other system, each run gets a fresh server with its own directory:
// on one server, each run also wrote behind the streams of the runs before
// it, and went slower than the one before (137k, 121k, 109k records/s).
func (e *env) runNATS(ctx context.Context) (*systemResult, error) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		return nil, fmt.Errorf("nats-server not found (apt-get install nats-server): %w", err)
	}
	logf("nats: starting")
	sr := &systemResult{Name: "nats"}
	for i := range e.o.runs {
		instance := fmt.Sprintf("nats-max-%d", i)
		sum, err := e.natsRun(ctx, bin, instance, fmt.Sprintf("nats: run %d", i+1), 0, e.o.duration)
		e.dropInstance(instance)
		if err != nil {
			return nil, fmt.Errorf("max run %d: %w", i+1, err)
		}
		logf("nats: run %d: %.0f records/s, %.1f MB/s, p50 %.1f ms, p99 %.1f ms", i+1,
			sum.RecordsPerSec, sum.MBPerSec, sum.ProduceLatency.P50, sum.ProduceLatency.P99)
		sr.Max = append(sr.Max, *sum)
	}
	half := int(medianOf(sr.Max, func(s bench.Summary) float64 { return s.RecordsPerSec }) / 2)
	sum, err := e.natsRun(ctx, bin, "nats-latency", "nats: half rate", max(half, 1), e.o.halfRate)
	e.dropInstance("nats-latency")
	if err != nil {
		return nil, fmt.Errorf("half-rate run: %w", err)
	}
	logf("nats: half rate %d/s: produce p50 %.1f ms p99 %.1f ms", half, sum.ProduceLatency.P50, sum.ProduceLatency.P99)
	sr.Half = sum
	return sr, nil
}

// natsRun starts a fresh nats-server in the instance's directory, waits
// for idle cores, runs one load against it and stops it.
func (e *env) natsRun(ctx context.Context, bin, instance, what string, rate int, d time.Duration) (*bench.Summary, error) {
	dir := filepath.Join(e.work, instance)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", filepath.Join(dir, "js"), "-m", "0")
	p, err := start("nats-server", filepath.Join(dir, "nats.log"), cmd)
	if err != nil {
		return nil, err
	}
	defer p.stop(syscall.SIGTERM, 10*time.Second)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	if err := p.waitFor(30*time.Second, func(ctx context.Context) error {
		nc, err := nats.Connect(url)
		if err != nil {
			return err
		}
		nc.Close()
		return nil
	}); err != nil {
		return nil, err
	}
	settle(ctx, what)
	return e.natsProduce(ctx, url, "bench", rate, d)
}

type natsPending struct {
	f    jetstream.PubAckFuture
	sent time.Time
	size int
}

func (e *env) natsProduce(ctx context.Context, url, stream string, rate int, d time.Duration) (*bench.Summary, error) {
	setup, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	defer setup.Close()
	js, err := jetstream.New(setup)
	if err != nil {
		return nil, err
	}
	subjPrefix := "bench." + stream
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "bench-" + stream, Subjects: []string{subjPrefix + ".>"}, Storage: jetstream.FileStorage,
	}); err != nil {
		return nil, fmt.Errorf("create stream: %w", err)
	}
	subjects := make([]string, e.o.partitions)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("%s.%d", subjPrefix, i)
	}

	var (
		lat                 bench.Histogram
		acked, errs, nbytes atomic.Int64
		lastAck             atomic.Int64
		wg                  sync.WaitGroup
		firstErr            error
		errMu               sync.Mutex
	)
	start := time.Now()
	warmup := min(e.o.warmup, d/2)
	perProducer := float64(rate) / float64(e.o.producers)
	for w := range e.o.producers {
		nc, err := nats.Connect(url)
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		pjs, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(e.o.maxBuffered))
		if err != nil {
			return nil, err
		}
		payloads := bench.Payloads(bench.PayloadJSON, e.o.recordSize, uint64(w+1))
		pending := make(chan natsPending, e.o.maxBuffered)
		wg.Go(func() { // collector: acks arrive in publish order per connection
			for pp := range pending {
				select {
				case <-pp.f.Ok():
					now := time.Now()
					if pp.sent.Sub(start) >= warmup {
						lat.Record(now.Sub(pp.sent))
					}
					acked.Add(1)
					nbytes.Add(int64(pp.size))
					lastAck.Store(now.UnixNano())
				case err := <-pp.f.Err():
					errs.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
				}
			}
		})
		wg.Go(func() {
			defer close(pending)
			for n := 0; time.Since(start) < d && ctx.Err() == nil; n++ {
				if perProducer > 0 {
					due := start.Add(time.Duration(float64(n) / perProducer * float64(time.Second)))
					if wait := time.Until(due); wait > time.Millisecond {
						time.Sleep(wait)
					}
				}
				v := payloads[n%len(payloads)]
				t0 := time.Now()
				f, err := pjs.PublishAsync(subjects[(n+w)%len(subjects)], v, jetstream.WithStallWait(time.Minute))
				if err != nil {
					errs.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					if errors.Is(err, nats.ErrConnectionClosed) {
						return
					}
					continue
				}
				pending <- natsPending{f: f, sent: t0, size: len(v)}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if acked.Load() == 0 && firstErr != nil {
		return nil, firstErr
	}
	secs := time.Unix(0, lastAck.Load()).Sub(start).Seconds()
	l := lat.Summary()
	s := &bench.Summary{
		Mode: "produce", Topic: "bench-" + stream, Partitions: e.o.partitions, RecordSize: e.o.recordSize,
		Payload: bench.PayloadJSON, Producers: e.o.producers, TargetRate: rate, Acks: "stream ack",
		Compression: "none", Seconds: secs, WarmupSeconds: warmup.Seconds(), Produced: acked.Load(), ProduceErrors: errs.Load(),
		ProducedBytes: nbytes.Load(), ProduceLatency: &l,
	}
	if secs > 0 {
		s.RecordsPerSec = float64(s.Produced) / secs
		s.MBPerSec = float64(s.ProducedBytes) / secs / 1e6
	}
	return s, nil
}
