package kafka

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkShareGroup: franz-go share consumers (1, 8, 32) accept every
// record of a 4-partition topic through one in-process node over SQLite.
// It reports records per second and share-state transactions per
// acknowledged record (docs/benchmarks.md, "Share groups").
func BenchmarkShareGroup(b *testing.B) {
	for _, members := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("consumers=%d", members), func(b *testing.B) {
			for range b.N {
				benchShareGroup(b, members, 20000)
			}
		})
	}
}

func benchShareGroup(b *testing.B, members, n int) {
	b.StopTimer()
	s, counted := startShareServerTB(b)
	mustCreateTopic(b, s, "bench", 4)
	shareEarliest(b, s, "bg", nil)
	produceValues(b, s, "bench", 4, n)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var got atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	before := counted.updates.Load()
	start := time.Now()
	b.StartTimer()
	for i := range members {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ShareGroup("bg"), kgo.ConsumeTopics("bench"),
			kgo.FetchMaxWait(200*time.Millisecond), kgo.ClientID(fmt.Sprintf("b%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for ctx.Err() == nil {
				fs := cl.PollRecords(ctx, 500)
				fs.EachRecord(func(r *kgo.Record) { r.Ack(kgo.AckAccept) })
				if got.Add(int64(fs.NumRecords())) >= int64(n) {
					once.Do(func() { close(done) })
				}
				select {
				case <-done:
					_ = cl.FlushAcks(context.Background())
					return
				default:
				}
			}
		}()
	}
	select {
	case <-done:
	case <-ctx.Done():
		b.Fatal("timed out")
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(counted.updates.Load()-before)/float64(n), "txns/record")
}

func startShareServerTB(b *testing.B) (*testServer, *countingShare) {
	var counted *countingShare
	s := startServer(b, func(s *Server) {
		counted = &countingShare{ShareStore: s.share.store}
		s.share.store = counted
	})
	return s, counted
}
