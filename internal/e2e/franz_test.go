package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newClient returns a franz-go client of the broker at addr, closed when the
// test ends. Records not acked within a minute fail rather than hang the
// test: an idempotent producer's records in flight ignore their context.
func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RecordDeliveryTimeout(time.Minute)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates a topic with kadm.
func createTopic(t testing.TB, addr, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, addr))
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// endOffsets lists the high watermark of every partition of topic.
func endOffsets(t testing.TB, addr, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, addr))
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	ends := map[int32]int64{}
	for p, o := range listed[topic] {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, p, o.Err)
		}
		ends[p] = o.Offset
	}
	if len(ends) == 0 {
		t.Fatalf("topic %s has no partitions", topic)
	}
	return ends
}

// consumeAll reads every partition of topic from its start to the high
// watermark listed when it begins, and returns the records by partition.
// It fails the test when the records do not arrive within a minute.
func consumeAll(t testing.TB, addr, topic string, opts ...kgo.Opt) map[int32][]*kgo.Record {
	t.Helper()
	ends := endOffsets(t, addr, topic)
	parts := map[int32]kgo.Offset{}
	for p := range ends {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, addr, append([]kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, opts...)...)
	got := map[int32][]*kgo.Record{}
	done := func() bool {
		for p, end := range ends {
			rs := got[p]
			if end > 0 && (len(rs) == 0 || rs[len(rs)-1].Offset+1 < end) {
				return false
			}
		}
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for polls := 0; !done(); polls++ {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: still short after a minute (%d polls): have %s, want ends %v", topic, polls, summary(got), ends)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("consume %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], r) })
	}
	return got
}

func summary(got map[int32][]*kgo.Record) string {
	s := ""
	for p, rs := range got {
		if len(rs) > 0 {
			s += fmt.Sprintf(" p%d:%d..%d", p, rs[0].Offset, rs[len(rs)-1].Offset)
		}
	}
	return "{" + s + " }"
}

// checkContiguous fails the test unless each partition's records have the
// offsets 0, 1, 2, ... in order.
func checkContiguous(t testing.TB, got map[int32][]*kgo.Record) {
	t.Helper()
	for p, rs := range got {
		for i, r := range rs {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d; offsets are not contiguous from 0", p, i, r.Offset)
			}
		}
	}
}

// TestFranzIdempotent100k writes 100k records over 12 partitions with an
// idempotent franz-go producer, and reads them all back: each partition must
// hold exactly its records, in produce order, at offsets 0..n-1.
func TestFranzIdempotent100k(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		s := startStrata(t, mode, strataOpts{})
		const topic, partitions, total = "franz-100k", 12, 100_000
		createTopic(t, s.KafkaAddr, topic, partitions)

		prod := newClient(t, s.KafkaAddr,
			kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RequiredAcks(kgo.AllISRAcks()),
		)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var (
			mu       sync.Mutex
			acked    = make([]int64, total) // offset acked for record i
			firstErr error
			nacked   int
		)
		start := time.Now()
		for i := 0; i < total; i++ {
			// Record i goes to partition i%12 and is the (i/12)th of it.
			r := &kgo.Record{Partition: int32(i % partitions), Value: []byte(strconv.Itoa(i / partitions))}
			prod.Produce(ctx, r, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("record %d: %w", i, err)
					}
					return
				}
				acked[i] = r.Offset
				nacked++
			})
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
		elapsed := time.Since(start)
		mu.Lock()
		if firstErr != nil {
			t.Fatalf("produce: %v", firstErr)
		}
		if nacked != total {
			t.Fatalf("%d of %d records acked", nacked, total)
		}
		for i, off := range acked {
			if off != int64(i/partitions) {
				t.Fatalf("record %d (partition %d) acked at offset %d, want %d", i, i%partitions, off, i/partitions)
			}
		}
		mu.Unlock()
		t.Logf("%s: produced %d records in %v (%.0f records/s)", mode, total, elapsed.Round(time.Millisecond), total/elapsed.Seconds())

		start = time.Now()
		got := consumeAll(t, s.KafkaAddr, topic)
		t.Logf("%s: consumed %d records in %v", mode, total, time.Since(start).Round(time.Millisecond))
		checkContiguous(t, got)
		n := 0
		for p := int32(0); p < partitions; p++ {
			rs := got[p]
			want := total / partitions
			if int(p) < total%partitions {
				want++
			}
			if len(rs) != want {
				t.Fatalf("partition %d: %d records, want %d", p, len(rs), want)
			}
			for j, r := range rs {
				if string(r.Value) != strconv.Itoa(j) {
					t.Fatalf("partition %d offset %d: value %q, want %q", p, j, r.Value, strconv.Itoa(j))
				}
				if r.ProducerID < 0 {
					t.Fatalf("partition %d offset %d: producer id %d; the idempotent producer's id was not kept", p, j, r.ProducerID)
				}
			}
			n += len(rs)
		}
		if n != total {
			t.Fatalf("consumed %d records, want %d", n, total)
		}
	})
}

// TestFranzConnectionCuts writes with an idempotent producer through a proxy
// that cuts every connection every 200-500ms. Whatever the cuts, every acked
// record must be stored exactly once, at the offset it was acked with, and
// each partition must keep produce order; no record, acked or not, may be
// stored twice.
func TestFranzConnectionCuts(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		kafkaAddr := freeAddr(t)
		px := newCutProxy(t, kafkaAddr)
		// Clients reach strata only through the proxy: it is the address
		// strata advertises. A longer flush keeps produce requests in
		// flight, so that cuts land between a request and its response.
		startStrata(t, mode, strataOpts{KafkaAddr: kafkaAddr, Advertised: px.Addr(), FlushInterval: 50 * time.Millisecond})
		const topic, partitions, total = "cut", 6, 20_000
		createTopic(t, px.Addr(), topic, partitions)

		var lostResponses lostProduceResponses
		prod := newClient(t, px.Addr(),
			kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
			kgo.ProduceRequestTimeout(10*time.Second),
			kgo.WithHooks(&lostResponses),
		)
		log := &ackLog{acked: map[int]ack{}}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()

		px.StartCutting(200*time.Millisecond, 500*time.Millisecond)
		// Produce in paced waves so that the writes span many cuts.
		const wave = 250
		tick := time.NewTicker(40 * time.Millisecond)
		deadline := time.Now().Add(time.Minute)
		for i := 0; i < total && time.Now().Before(deadline); {
			for end := min(i+wave, total); i < end; i++ {
				n := i
				r := &kgo.Record{Partition: int32(n % partitions), Value: []byte(strconv.Itoa(n))}
				prod.Produce(ctx, r, func(r *kgo.Record, err error) { log.add(n, r, err) })
			}
			<-tick.C
		}
		tick.Stop()
		if err := prod.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
		cuts := px.StopCutting()
		prod.Close()

		acked, failed := log.snapshot()
		lost := lostResponses.n.Load()
		t.Logf("%s: %d records acked, %d failed, %d connection cuts, %d produce responses lost", mode, len(acked), failed, cuts, lost)
		if cuts < 5 || lost == 0 {
			t.Fatalf("%d connection cuts and %d produce requests that lost their response: the test did not exercise retries", cuts, lost)
		}
		if len(acked) < total/2 {
			t.Fatalf("only %d of %d records acked", len(acked), total)
		}
		got := consumeAll(t, px.Addr(), topic)
		checkAcked(t, got, acked, partitions)
		t.Logf("%s: %d records stored", mode, countRecords(got))
	})
}

// lostProduceResponses counts produce requests that were written but whose
// response never arrived: the producer must retry them without knowing
// whether they were stored.
type lostProduceResponses struct{ n atomic.Int64 }

func (l *lostProduceResponses) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key == 0 && e.WriteErr == nil && e.ReadErr != nil {
		l.n.Add(1)
	}
}
