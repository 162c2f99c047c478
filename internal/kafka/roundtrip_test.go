package kafka

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceConsumeRoundTrip: franz-go's idempotent producer (the
// default) writes 100k small records over 12 partitions from several
// goroutines; a consumer reads them all back: per partition in order, no
// gaps, no duplicates, keys, values and headers intact.
func TestProduceConsumeRoundTrip(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const (
		topic      = "roundtrip"
		partitions = 12
		producers  = 4
		perProd    = 25000
		total      = producers * perProd
	)
	createTopic(t, adm, topic, partitions, nil)

	// Record i of producer g goes to partition i%12 as that producer's
	// record number i/12 there: the consumer can check each producer's
	// order in each partition.
	key := func(g, p, n int) string { return fmt.Sprintf("k-%d-%d-%d", g, p, n) }
	value := func(g, p, n int) string { return fmt.Sprintf("value of producer %d, partition %d, record %d", g, p, n) }

	start := time.Now()
	prod, _ := s.clients(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range perProd {
				p, n := i%partitions, i/partitions
				r := &kgo.Record{
					Topic:     topic,
					Partition: int32(p),
					Key:       []byte(key(g, p, n)),
					Value:     []byte(value(g, p, n)),
					Headers: []kgo.RecordHeader{
						{Key: "producer", Value: []byte(strconv.Itoa(g))},
						{Key: "n", Value: []byte(strconv.Itoa(n))},
					},
				}
				prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
					if err != nil {
						errOnce.Do(func() { firstErr = err })
					}
				})
			}
		})
	}
	wg.Wait()
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	produced := time.Since(start)

	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	start = time.Now()
	cons, _ := s.clients(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	var nextOffset [partitions]int64
	var next [producers][partitions]int
	got := 0
	for got < total {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%d of %d records consumed: %v", got, total, err)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			p := int(r.Partition)
			if r.Offset != nextOffset[p] {
				t.Fatalf("partition %d: offset %d after %d", p, r.Offset, nextOffset[p]-1)
			}
			nextOffset[p]++
			if len(r.Headers) != 2 || r.Headers[0].Key != "producer" || r.Headers[1].Key != "n" {
				t.Fatalf("partition %d offset %d: headers %+v", p, r.Offset, r.Headers)
			}
			g, err1 := strconv.Atoi(string(r.Headers[0].Value))
			n, err2 := strconv.Atoi(string(r.Headers[1].Value))
			if err1 != nil || err2 != nil || g < 0 || g >= producers {
				t.Fatalf("partition %d offset %d: headers %+v", p, r.Offset, r.Headers)
			}
			if n != next[g][p] {
				t.Fatalf("partition %d offset %d: record %d of producer %d, want %d (gap, duplicate or reorder)", p, r.Offset, n, g, next[g][p])
			}
			next[g][p]++
			if string(r.Key) != key(g, p, n) || string(r.Value) != value(g, p, n) {
				t.Fatalf("partition %d offset %d: key %q value %q", p, r.Offset, r.Key, r.Value)
			}
			got++
		})
	}
	consumed := time.Since(start)

	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p := range partitions {
		o, _ := ends.Lookup(topic, int32(p))
		if o.Err != nil || o.Offset != nextOffset[p] {
			t.Errorf("partition %d: end offset %d (%v), consumed %d", p, o.Offset, o.Err, nextOffset[p])
		}
		for g := range producers {
			want := perProd / partitions
			if p < perProd%partitions {
				want++
			}
			if next[g][p] != want {
				t.Errorf("partition %d: %d records of producer %d, want %d", p, next[g][p], g, want)
			}
		}
	}
	t.Logf("%d records: produced in %s (%.0f/s), consumed in %s (%.0f/s)", total,
		produced, float64(total)/produced.Seconds(), consumed, float64(total)/consumed.Seconds())
}
