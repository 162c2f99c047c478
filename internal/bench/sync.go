package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ModeSync produces one record at a time and waits for its ack before the
// next (franz-go's ProduceSync), from Config.Workers goroutines: what an
// application that waits on every send sees, and the load of franz-go's
// own integration test (50 workers, 20,000 records).
const ModeSync = "sync"

// runSync is Run for ModeSync: cfg.Workers goroutines share cfg.Producers
// clients and produce until cfg.Records are acked (0: for cfg.Duration).
// The latency is ProduceSync's, call to return.
func runSync(ctx context.Context, cfg Config, brokers []string, adm *kadm.Client, progress io.Writer) (*Summary, error) {
	if err := ensureTopic(ctx, adm, cfg.Topic, cfg.Partitions); err != nil {
		return nil, err
	}
	if _, err := listOffsets(ctx, adm, cfg.Topic, false); err != nil {
		return nil, err
	}
	clients := make([]*kgo.Client, cfg.Producers)
	for i := range clients {
		cl, err := kgo.NewClient(producerOpts(cfg, brokers)...)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return nil, fmt.Errorf("producer client: %w", err)
		}
		clients[i] = cl
	}
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	// One record per client first: the client learns the topic's
	// metadata and its producer id, which are not what is measured.
	for _, cl := range clients {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
			return nil, fmt.Errorf("first produce: %w", err)
		}
	}
	var before Metrics
	var err error
	if cfg.Admin != "" {
		if before, err = Scrape(ctx, cfg.Admin); err != nil {
			return nil, err
		}
	}

	st := &stats{}
	start := time.Now()
	st.measureFrom = start.Add(cfg.Warmup).UnixNano()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	stopSampler, err := startSampler(cfg, ModeSync, st, start, progress)
	if err != nil {
		return nil, err
	}
	var (
		next     atomic.Int64 // records handed out
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	for w := range cfg.Workers {
		cl := clients[w%len(clients)]
		payloads := Payloads(cfg.Payload, cfg.RecordSize, uint64(w+1))
		wg.Go(func() {
			for n := 0; runCtx.Err() == nil; n++ {
				if cfg.Records > 0 && next.Add(1) > int64(cfg.Records) {
					return
				}
				r := &kgo.Record{Value: payloads[n%len(payloads)]}
				t0 := time.Now()
				err := cl.ProduceSync(runCtx, r).FirstErr()
				now := time.Now()
				if err != nil {
					if runCtx.Err() != nil && cfg.Records == 0 {
						return // the duration is up
					}
					st.produceErrs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				d := now.Sub(t0)
				st.produced.Add(1)
				st.producedBytes.Add(int64(len(r.Value)))
				st.lastAck.Store(now.UnixNano())
				if t0.UnixNano() >= st.measureFrom {
					st.produceLat.Record(d)
				}
				st.produceWindow.Record(d)
			}
		})
	}
	wg.Wait()
	end := time.Now()
	if err := stopSampler(); err != nil {
		return nil, err
	}
	if cfg.Records > 0 && st.produced.Load() < int64(cfg.Records) && st.produceErrs.Load() == 0 {
		return nil, fmt.Errorf("%d of %d records acked within -duration %v", st.produced.Load(), cfg.Records, cfg.Duration)
	}

	sum := &Summary{
		Mode: ModeSync, Topic: cfg.Topic, Partitions: cfg.Partitions, RecordSize: cfg.RecordSize, Payload: cfg.Payload,
		Producers: cfg.Producers, Workers: cfg.Workers, Acks: cfg.Acks, Compression: cfg.Compression, Idempotent: cfg.Idempotent,
		WarmupSeconds: cfg.Warmup.Seconds(),
		Produced:      st.produced.Load(), ProduceErrors: st.produceErrs.Load(), ProducedBytes: st.producedBytes.Load(),
		Seconds: end.Sub(start).Seconds(),
	}
	if e, ok := firstErr.Load().(error); ok {
		sum.FirstError = e.Error()
	}
	if sum.Seconds > 0 {
		sum.RecordsPerSec = float64(sum.Produced) / sum.Seconds
		sum.MBPerSec = float64(sum.ProducedBytes) / sum.Seconds / 1e6
	}
	l := st.produceLat.Summary()
	sum.ProduceLatency = &l
	if cfg.Admin != "" {
		after, err := Scrape(ctx, cfg.Admin)
		if err != nil {
			return nil, err
		}
		sum.Server = serverStats(before, after, end.Sub(start).Seconds(), sum.ProducedBytes)
	}
	return sum, nil
}

// syncHeader is the first line of a sync run's text summary.
func (s *Summary) syncHeader(b *strings.Builder) {
	fmt.Fprintf(b, "%s: topic %s, %d partitions, %d B %s records, %d worker(s) waiting for every ack over %d producer client(s), acks=%s, idempotent=%v, %.2f s\n",
		s.Mode, s.Topic, s.Partitions, s.RecordSize, s.Payload, s.Workers, s.Producers, s.Acks, s.Idempotent, s.Seconds)
}
