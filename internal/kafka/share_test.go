package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// shareEarliest makes group read its topics from the start.
func shareEarliest(t testing.TB, s *testServer, group string, more map[string]string) {
	t.Helper()
	set := map[string]*string{shareAutoOffsetReset: strPtr("earliest")}
	for k, v := range more {
		set[k] = strPtr(v)
	}
	if err := s.store.SetShareGroupConfigs(context.Background(), group, set); err != nil {
		t.Fatal(err)
	}
}

func produceValues(t testing.TB, s *testServer, topic string, partitions, n int) {
	t.Helper()
	cl, _ := s.clients(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: fmt.Appendf(nil, "v%d", i)}
	}
	if err := cl.ProduceSync(testContext(t), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// shareConsumer is a franz-go share-group member.
func shareConsumer(t testing.TB, s *testServer, group, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.addr), kgo.ShareGroup(group), kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestShareGroupFranzAcceptOnce: three franz-go share consumers on a
// two-partition topic receive every record, and each record is delivered
// (and accepted) once overall; the share partitions' start offsets end at
// the high watermarks.
func TestShareGroupFranzAcceptOnce(t *testing.T) {
	s := startServer(t)
	top := mustCreateTopic(t, s, "queue", 2)
	shareEarliest(t, s, "sg", nil)
	const n = 200
	produceValues(t, s, "queue", 2, n)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	total := 0
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		cl := shareConsumer(t, s, "sg", "queue", kgo.ClientID(fmt.Sprintf("c%d", i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				fs := cl.PollRecords(ctx, 50)
				if ctx.Err() != nil {
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					r.Ack(kgo.AckAccept)
					mu.Lock()
					seen[string(r.Value)]++
					total++
					if total == n {
						close(done)
					}
					mu.Unlock()
				})
				select {
				case <-done:
					fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = cl.FlushAcks(fctx)
					fcancel()
					return
				default:
				}
			}
		}()
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("received %d distinct records, want %d", len(seen), n)
	}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("record %s delivered %d times", v, c)
		}
	}
	// The acknowledgements are in the metastore: both partitions' start
	// offsets reach their high watermarks.
	eventually(t, 10*time.Second, "share start offsets at the high watermarks", func() bool {
		sts, err := s.store.ShareStates(context.Background(), "sg")
		if err != nil || len(sts) != 2 {
			return false
		}
		for _, st := range sts {
			if st.Key.TopicID != top.ID || st.StartOffset != n/2 {
				return false
			}
		}
		return true
	})
}
