package e2e

import (
	"context"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// ackLog records what a producer was told: record number → partition and
// offset.
type ackLog struct {
	mu     sync.Mutex
	acked  map[int]ack
	failed int
}

type ack struct {
	partition int32
	offset    int64
}

func (l *ackLog) add(n int, r *kgo.Record, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed++
		return
	}
	l.acked[n] = ack{r.Partition, r.Offset}
}

func (l *ackLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// snapshot returns a copy of the acked records and the number of failed
// ones.
func (l *ackLog) snapshot() (map[int]ack, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[int]ack, len(l.acked))
	for k, v := range l.acked {
		m[k] = v
	}
	return m, l.failed
}

// checkAcked fails the test unless every acked record is stored, once, at
// the offset it was acked with, and each partition holds records in the
// order they were produced. Values are record numbers; record n went to
// partition n % partitions.
func checkAcked(t testing.TB, got map[int32][]*kgo.Record, acked map[int]ack, partitions int) {
	t.Helper()
	checkContiguous(t, got)
	seen := map[int]ack{}
	for p, rs := range got {
		last := -1
		for _, r := range rs {
			n, err := strconv.Atoi(string(r.Value))
			if err != nil || n%partitions != int(p) {
				t.Fatalf("partition %d offset %d: unexpected value %q", p, r.Offset, r.Value)
			}
			if prev, dup := seen[n]; dup {
				t.Fatalf("record %d stored twice: partition %d offsets %d and %d", n, p, prev.offset, r.Offset)
			}
			seen[n] = ack{p, r.Offset}
			if n <= last {
				t.Fatalf("partition %d offset %d: record %d after record %d, not in produce order", p, r.Offset, n, last)
			}
			last = n
		}
	}
	for n, a := range acked {
		if s, ok := seen[n]; !ok {
			t.Fatalf("record %d, acked at partition %d offset %d, is lost", n, a.partition, a.offset)
		} else if s != a {
			t.Fatalf("record %d acked at partition %d offset %d, stored at offset %d", n, a.partition, a.offset, s.offset)
		}
	}
}

// TestShutdownUnderLoad sends SIGTERM while an acks=all producer writes:
// strata must exit 0 within the timeout, and after a restart on the same
// data every record acked before the shutdown is there, once, in order.
// Records produced after the restart follow them, and everything survives a
// second, idle restart.
func TestShutdownUnderLoad(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		s := startStrata(t, mode, strataOpts{})
		const topic, partitions = "shutdown", 3
		createTopic(t, s.KafkaAddr, topic, partitions)

		log := &ackLog{acked: map[int]ack{}}
		prod, err := kgo.NewClient(
			kgo.SeedBrokers(s.KafkaAddr),
			kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.MaxBufferedRecords(300),
			kgo.RecordDeliveryTimeout(time.Minute),
		)
		if err != nil {
			t.Fatal(err)
		}
		var closeOnce sync.Once
		closeProd := func() { closeOnce.Do(prod.Close) }
		t.Cleanup(closeProd)
		ctx, cancel := context.WithCancel(context.Background())
		produced := make(chan int, 1)
		go func() {
			// Bounded in count; stopped by cancel once strata is gone.
			n := 0
			for ; n < 5_000_000 && ctx.Err() == nil; n++ {
				m := n
				r := &kgo.Record{Partition: int32(m % partitions), Value: []byte(strconv.Itoa(m))}
				prod.Produce(ctx, r, func(r *kgo.Record, err error) { log.add(m, r, err) })
			}
			produced <- n
		}()
		defer cancel()

		// Let the load reach a steady state, then stop strata under it.
		waitFor(t, 30*time.Second, "3000 acked records", func() bool { return log.count() >= 3000 })
		atTerm := log.count()
		termAt := time.Now()
		s.Signal(syscall.SIGTERM)
		code, exited := s.Wait(40 * time.Second)
		exitedAfter := time.Since(termAt)
		if !exited {
			t.Fatalf("strata still running 40s after SIGTERM")
		}
		if code != 0 {
			t.Fatalf("strata exited with code %d after SIGTERM, want 0", code)
		}
		cancel()
		n := <-produced
		closeProd() // fails whatever is still buffered
		acked, failed := log.snapshot()
		t.Logf("%s: exited %v after SIGTERM; %d records produced, %d acked (%d when SIGTERM was sent), %d failed",
			mode, exitedAfter.Round(time.Millisecond), n, len(acked), atTerm, failed)

		s.Start()
		got := consumeAll(t, s.KafkaAddr, topic)
		checkAcked(t, got, acked, partitions)
		t.Logf("%s: %d records stored, %d of them unacked", mode, countRecords(got), countRecords(got)-len(acked))

		// New records go after the old ones.
		ends := endOffsets(t, s.KafkaAddr, topic)
		prod2 := newClient(t, s.KafkaAddr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
		defer cancel2()
		base := n + partitions - n%partitions // keeps n % partitions = partition
		for i := range 3 * partitions {
			m := base + i
			r := &kgo.Record{Partition: int32(m % partitions), Value: []byte(strconv.Itoa(m))}
			res := prod2.ProduceSync(ctx2, r)
			if err := res.FirstErr(); err != nil {
				t.Fatalf("produce after restart: %v", err)
			}
			r = res[0].Record
			if want := ends[r.Partition] + int64(i/partitions); r.Offset != want {
				t.Fatalf("record produced after restart acked at partition %d offset %d, want %d", r.Partition, r.Offset, want)
			}
			acked[m] = ack{r.Partition, r.Offset}
		}
		prod2.Close()

		s.Restart()
		got = consumeAll(t, s.KafkaAddr, topic)
		checkAcked(t, got, acked, partitions)
	})
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, timeout, what, cond)
}
