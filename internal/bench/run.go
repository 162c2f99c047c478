package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Modes of a run.
const (
	ModeProduce = "produce"
	ModeConsume = "consume"
	ModeE2E     = "e2e"
)

// tsHeader is the record header holding the send time, in nanoseconds since
// the Unix epoch, big endian.
const tsHeader = "strata-bench-ts"

// stats are the live counters of a run.
type stats struct {
	produced, produceErrs, producedBytes atomic.Int64
	consumed, consumedBytes              atomic.Int64
	lastAck, lastConsumed                atomic.Int64 // unix nanos

	produceLat, e2eLat       Histogram // records sent from measureFrom on
	measureFrom              int64     // unix nanos: the end of the warm-up
	produceWindow, e2eWindow Histogram // since the last progress line
}

// Run runs one load of the given mode and returns its summary. Progress
// lines go to progress when cfg.Progress > 0 and progress is not nil.
func Run(ctx context.Context, mode string, cfg Config, progress io.Writer) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch mode {
	case ModeProduce, ModeConsume, ModeE2E, ModeSync:
	default:
		return nil, fmt.Errorf("mode %q: want produce, consume, e2e or sync", mode)
	}
	brokers := strings.Split(cfg.Brokers, ",")
	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if mode == ModeSync {
		return runSync(ctx, cfg, brokers, adm, progress)
	}
	if mode != ModeConsume {
		if err := ensureTopic(ctx, adm, cfg.Topic, cfg.Partitions); err != nil {
			return nil, err
		}
	}
	ends, err := listOffsets(ctx, adm, cfg.Topic, false)
	if err != nil {
		return nil, err
	}

	var before Metrics
	if cfg.Admin != "" {
		if before, err = Scrape(ctx, cfg.Admin); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	st := &stats{measureFrom: start.Add(cfg.Warmup).UnixNano()}
	var samplerErr error
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()

	stopSampler, err := startSampler(cfg, mode, st, start, progress)
	if err != nil {
		return nil, err
	}
	stopProgress := func() {
		if stopSampler != nil {
			err := stopSampler()
			stopSampler = nil
			samplerErr = err
		}
	}

	var consumeErr error
	var consumerWG sync.WaitGroup
	producing := make(chan struct{}) // closed when the producers are done
	var producedTotal atomic.Int64
	var firstRecord atomic.Int64
	switch mode {
	case ModeE2E:
		consumerWG.Go(func() {
			consumeErr = consume(runCtx, cfg, brokers, ends, nil, st, producing, &producedTotal, &firstRecord, start)
		})
	case ModeConsume:
		starts, err := listOffsets(ctx, adm, cfg.Topic, true)
		if err != nil {
			stopProgress()
			return nil, err
		}
		deadline, cancel := context.WithTimeout(runCtx, cfg.Duration)
		defer cancel()
		close(producing)
		var errOnce sync.Once
		for _, share := range shareOut(starts, cfg.Consumers) {
			consumerWG.Go(func() {
				if err := consume(deadline, cfg, brokers, share, ends, st, nil, nil, &firstRecord, start); err != nil {
					errOnce.Do(func() { consumeErr = err })
				}
			})
		}
	}

	var produceErr error
	if mode != ModeConsume {
		produceErr = produce(runCtx, cfg, brokers, st)
		producedTotal.Store(st.produced.Load())
		close(producing)
	}
	consumerWG.Wait()
	stopProgress()
	end := time.Now()
	if produceErr != nil {
		return nil, produceErr
	}
	if consumeErr != nil {
		return nil, consumeErr
	}
	if samplerErr != nil {
		return nil, samplerErr
	}

	sum := &Summary{
		Mode: mode, Topic: cfg.Topic, Partitions: len(ends), RecordSize: cfg.RecordSize, Payload: cfg.Payload,
		Producers: cfg.Producers, TargetRate: cfg.Rate, WarmupSeconds: cfg.Warmup.Seconds(), Acks: cfg.Acks, Compression: cfg.Compression, Idempotent: cfg.Idempotent,
		Produced: st.produced.Load(), ProduceErrors: st.produceErrs.Load(), ProducedBytes: st.producedBytes.Load(),
		Consumed: st.consumed.Load(), ConsumedBytes: st.consumedBytes.Load(),
	}
	if mode == ModeConsume {
		sum.Consumers = min(cfg.Consumers, max(1, len(ends)))
	}
	last := end
	switch mode {
	case ModeProduce:
		if t := st.lastAck.Load(); t > 0 {
			last = time.Unix(0, t)
		}
	default:
		if t := st.lastConsumed.Load(); t > 0 {
			last = time.Unix(0, t)
		}
	}
	secs := last.Sub(start).Seconds()
	if mode == ModeE2E {
		// Produce rates over the produce phase, consume rates over the
		// time to the last record consumed.
		if t := st.lastAck.Load(); t > 0 {
			secs = time.Unix(0, t).Sub(start).Seconds()
		}
	}
	sum.Seconds = secs
	if secs > 0 {
		sum.RecordsPerSec = float64(sum.Produced) / secs
		sum.MBPerSec = float64(sum.ProducedBytes) / secs / 1e6
	}
	if mode != ModeConsume && cfg.Acks != "0" {
		l := st.produceLat.Summary()
		sum.ProduceLatency = &l
	}
	if mode != ModeProduce {
		csecs := last.Sub(start).Seconds()
		if csecs > 0 {
			sum.ConsumeRecsPerSec = float64(sum.Consumed) / csecs
			sum.ConsumeMBPerSec = float64(sum.ConsumedBytes) / csecs / 1e6
		}
		if mode == ModeE2E {
			l := st.e2eLat.Summary()
			sum.EndToEndLatency = &l
		}
		if t := firstRecord.Load(); t > 0 {
			sum.ConsumeFirstRecord = float64(time.Unix(0, t).Sub(start)) / float64(time.Millisecond)
		}
	}
	if cfg.Admin != "" {
		after, err := Scrape(ctx, cfg.Admin)
		if err != nil {
			return nil, err
		}
		sum.Server = serverStats(before, after, end.Sub(start).Seconds(), sum.ProducedBytes)
	}
	return sum, nil
}

// ensureTopic creates topic with partitions partitions unless it exists.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	resp, err := adm.CreateTopic(ctx, int32(partitions), -1, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, resp.Err)
	}
	return nil
}

// listOffsets returns the start (earliest) or end offsets of every
// partition of topic, retrying while the topic is not yet known.
func listOffsets(ctx context.Context, adm *kadm.Client, topic string, earliest bool) (map[int32]int64, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var (
			lo  kadm.ListedOffsets
			err error
		)
		if earliest {
			lo, err = adm.ListStartOffsets(ctx, topic)
		} else {
			lo, err = adm.ListEndOffsets(ctx, topic)
		}
		if err == nil {
			err = lo.Error()
		}
		if err == nil {
			out := map[int32]int64{}
			lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
			if len(out) > 0 {
				return out, nil
			}
			err = fmt.Errorf("topic %s: no partitions", topic)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func producerOpts(cfg Config, brokers []string) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ProducerLinger(cfg.Linger),
		kgo.MaxBufferedRecords(cfg.MaxBuffered),
		kgo.RecordDeliveryTimeout(cfg.DrainTimeout + cfg.Duration),
	}
	switch cfg.Acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if !cfg.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(cfg.MaxInflight))
	}
	switch cfg.Compression {
	case "none":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	}
	return opts
}

// produce runs cfg.Producers producers for cfg.Duration, then waits at most
// cfg.DrainTimeout for their outstanding records.
func produce(ctx context.Context, cfg Config, brokers []string, st *stats) error {
	clients := make([]*kgo.Client, cfg.Producers)
	for i := range clients {
		cl, err := kgo.NewClient(producerOpts(cfg, brokers)...)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return fmt.Errorf("producer client: %w", err)
		}
		clients[i] = cl
	}
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	sendCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	var perProducer float64
	if cfg.Rate > 0 {
		perProducer = float64(cfg.Rate) / float64(cfg.Producers)
	}
	var wg sync.WaitGroup
	for i, cl := range clients {
		payloads := Payloads(cfg.Payload, cfg.RecordSize, uint64(i+1))
		wg.Go(func() { produceLoop(sendCtx, ctx, cl, payloads, perProducer, st) })
	}
	wg.Wait()

	drainCtx, cancelDrain := context.WithTimeout(ctx, cfg.DrainTimeout)
	defer cancelDrain()
	var flushErr error
	for _, cl := range clients {
		if err := cl.Flush(drainCtx); err != nil && flushErr == nil {
			flushErr = fmt.Errorf("wait for acks: %w", err)
		}
	}
	if flushErr != nil && ctx.Err() == nil {
		return flushErr
	}
	return ctx.Err()
}

// produceLoop sends until sendCtx ends; records carry recCtx, which outlives
// sendCtx so that records still buffered at the end are delivered.
func produceLoop(sendCtx, recCtx context.Context, cl *kgo.Client, payloads [][]byte, rate float64, st *stats) {
	promise := func(r *kgo.Record, err error) {
		now := time.Now()
		if err != nil {
			st.produceErrs.Add(1)
			return
		}
		st.produced.Add(1)
		st.producedBytes.Add(int64(len(r.Value)))
		st.lastAck.Store(now.UnixNano())
		if len(r.Headers) == 1 && len(r.Headers[0].Value) == 8 {
			sent := int64(binary.BigEndian.Uint64(r.Headers[0].Value))
			d := now.Sub(time.Unix(0, sent))
			if sent >= st.measureFrom {
				st.produceLat.Record(d)
			}
			st.produceWindow.Record(d)
		}
	}
	start := time.Now()
	for n := 0; sendCtx.Err() == nil; n++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(n) / rate * float64(time.Second)))
			if wait := time.Until(due); wait > time.Millisecond {
				select {
				case <-sendCtx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		ts := make([]byte, 8)
		binary.BigEndian.PutUint64(ts, uint64(time.Now().UnixNano()))
		r := &kgo.Record{
			Value:   payloads[n%len(payloads)],
			Headers: []kgo.RecordHeader{{Key: tsHeader, Value: ts}},
		}
		cl.Produce(recCtx, r, promise)
	}
}

// consume reads topic from the offsets in from. It stops when ctx ends,
// when every partition reached the offsets in until (if not nil), or, once
// producing is closed, when it has consumed *total records or has seen
// nothing new for a second after the drain timeout.
func consume(ctx context.Context, cfg Config, brokers []string, from, until map[int32]int64, st *stats,
	producing <-chan struct{}, total *atomic.Int64, firstRecord *atomic.Int64, start time.Time) error {
	offsets := map[int32]kgo.Offset{}
	for p, o := range from {
		offsets[p] = kgo.NewOffset().At(o)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: offsets}),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.FetchMaxBytes(64<<20),
		kgo.FetchMaxPartitionBytes(8<<20),
	)
	if err != nil {
		return fmt.Errorf("consumer client: %w", err)
	}
	defer cl.Close()

	remaining := map[int32]int64{}
	for p, end := range until {
		if start, ok := from[p]; ok && end > start {
			remaining[p] = end
		}
	}
	if until != nil && len(remaining) == 0 {
		return nil
	}
	var drainDeadline time.Time
	for {
		if producing != nil {
			select {
			case <-producing:
				if drainDeadline.IsZero() {
					drainDeadline = time.Now().Add(cfg.DrainTimeout)
				}
				if total != nil && st.consumed.Load() >= total.Load() {
					return nil
				}
				if time.Now().After(drainDeadline) {
					return nil
				}
			default:
			}
		}
		pollCtx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			if until != nil || producing == nil {
				return nil // consume mode: the duration is up
			}
			return ctx.Err()
		}
		now := time.Now()
		var firstErr error
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && firstErr == nil {
				firstErr = err
			}
		})
		if firstErr != nil {
			return fmt.Errorf("fetch: %w", firstErr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if firstRecord.Load() == 0 {
				firstRecord.CompareAndSwap(0, now.UnixNano())
			}
			st.consumed.Add(1)
			st.consumedBytes.Add(int64(len(r.Value)))
			st.lastConsumed.Store(now.UnixNano())
			for _, h := range r.Headers {
				if h.Key == tsHeader && len(h.Value) == 8 {
					sent := int64(binary.BigEndian.Uint64(h.Value))
					d := now.Sub(time.Unix(0, sent))
					if sent >= st.measureFrom {
						st.e2eLat.Record(d)
					}
					st.e2eWindow.Record(d)
				}
			}
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
		if until != nil && len(remaining) == 0 {
			return nil
		}
	}
}

// shareOut deals the partitions of offsets round robin into at most n
// maps, one per consumer.
func shareOut(offsets map[int32]int64, n int) []map[int32]int64 {
	parts := slices.Sorted(maps.Keys(offsets))
	n = max(1, min(n, len(parts)))
	shares := make([]map[int32]int64, n)
	for i := range shares {
		shares[i] = map[int32]int64{}
	}
	for i, p := range parts {
		shares[i%n][p] = offsets[p]
	}
	return shares
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
