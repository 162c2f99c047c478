package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// eosMember is one consume-transform-produce member of a franz-go
// GroupTransactSession: it copies every record of the input topic to the
// same partition of the output topic, one transaction per poll, with the
// input offsets committed in the transaction.
type eosMember struct {
	sess      *kgo.GroupTransactSession
	cancel    context.CancelFunc
	done      chan struct{}
	commits   atomic.Int64 // transactions committed
	aborts    atomic.Int64 // transactions that did not commit
	errors    atomic.Int64 // failed Ends
	lastError atomic.Value
}

func startEOSMember(t *testing.T, seeds []string, i int, in, out, group string) *eosMember {
	t.Helper()
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(fmt.Sprintf("eos-%d", i)),
		kgo.TransactionalID(fmt.Sprintf("eos-copy-%d", i)),
		kgo.TransactionTimeout(20*time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.RetryTimeout(30*time.Second),
	)
	if err != nil {
		t.Fatalf("group transact session: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &eosMember{sess: sess, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := sess.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			fs.EachError(func(topic string, p int32, err error) {
				m.lastError.Store(fmt.Sprintf("fetch %s/%d: %v", topic, p, err))
			})
			if fs.NumRecords() == 0 {
				continue
			}
			if err := sess.Begin(); err != nil {
				m.lastError.Store(fmt.Sprintf("begin: %v", err))
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				sess.Produce(ctx, &kgo.Record{Topic: out, Partition: r.Partition, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
					if err != nil {
						m.lastError.Store(fmt.Sprintf("produce: %v", err))
					}
				})
			})
			endCtx, endCancel := context.WithTimeout(context.Background(), 30*time.Second)
			committed, err := sess.End(endCtx, kgo.TryCommit)
			endCancel()
			// A failed End leaves the transaction to end: abort it (the
			// session then rewinds to the committed offsets), as franz-go
			// asks of its users, until that succeeds.
			for err != nil && ctx.Err() == nil {
				m.errors.Add(1)
				m.lastError.Store(fmt.Sprintf("end: %v", err))
				endCtx, endCancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err = sess.End(endCtx, kgo.TryAbort)
				endCancel()
			}
			if committed {
				m.commits.Add(1)
			} else {
				m.aborts.Add(1)
			}
		}
	}()
	return m
}

// stop makes the member leave the group.
func (m *eosMember) stop() {
	m.cancel()
	<-m.done
	m.sess.Close()
}

// TestTxnGroupTransactSessionExactlyOnce runs franz-go's
// GroupTransactSession consume-transform-produce over a three-node
// cluster: two members copy an input topic to an output topic, a third
// joins, a node is killed (SIGKILL: its partitions, groups and
// transactional ids move after its lease), and a member leaves. Read with
// read_committed, the output holds every input record exactly once.
func TestTxnGroupTransactSessionExactlyOnce(t *testing.T) {
	c := startCluster(t, nodeSpec{ID: 1}, nodeSpec{ID: 2}, nodeSpec{ID: 3})
	const (
		in, out, group = "eos-in", "eos-out", "eos-group"
		parts          = 4
		n              = 3000
	)
	createTopic(t, c.addr(1), in, parts)
	createTopic(t, c.addr(1), out, parts)
	seeds := c.addrs()
	prod := c.client(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceBatch := func(from, to int) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		var failed atomic.Value
		for i := from; i < to; i++ {
			wg.Add(1)
			prod.Produce(ctx, &kgo.Record{Topic: in, Partition: int32(i % parts), Value: fmt.Appendf(nil, "in-%05d", i)}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Store(err)
				}
				wg.Done()
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			t.Fatalf("produce the input: %v", err)
		}
	}
	produceBatch(0, n/2)

	// The output as a read_committed reader must see it, from the raw log
	// and its markers (node 1 stays up).
	copied := func() (map[string]int, int) {
		seen := map[string]int{}
		open := 0
		for p := range int32(parts) {
			committed, _, o := committedValues(rawLog(t, c.addr(1), out, p))
			open += o
			for _, v := range committed {
				seen[v]++
			}
		}
		return seen, open
	}
	progress := func(what string, want int) {
		t.Helper()
		waitFor(t, 2*time.Minute, what, func() bool {
			seen, _ := copied()
			return len(seen) >= want
		})
	}

	members := []*eosMember{startEOSMember(t, seeds, 0, in, out, group), startEOSMember(t, seeds, 1, in, out, group)}
	defer func() {
		for i, m := range members {
			if m != nil {
				if t.Failed() {
					t.Logf("member %d: %d commits, %d aborted or failed, %d failed ends, last error %v", i, m.commits.Load(), m.aborts.Load(), m.errors.Load(), m.lastError.Load())
				}
				m.stop()
			}
		}
	}()
	progress("a quarter of the input copied", n/4)
	members = append(members, startEOSMember(t, seeds, 2, in, out, group)) // joins
	produceBatch(n/2, n)
	progress("half of the input copied", n/2)
	c.nodes[3].kill()
	progress("three quarters of the input copied after the kill", 3*n/4)
	members[0].stop() // leaves
	members[0] = nil
	progress("the whole input copied", n)

	seen, open := copied()
	for v, k := range seen {
		if k != 1 {
			t.Errorf("output value %s committed %d times", v, k)
		}
	}
	for i := range n {
		if v := fmt.Sprintf("in-%05d", i); seen[v] != 1 {
			t.Errorf("input %s copied %d times", v, seen[v])
		}
	}
	for i, m := range members {
		if m != nil {
			t.Logf("member %d: %d commits, %d aborted or failed, %d failed ends, last error %v", i, m.commits.Load(), m.aborts.Load(), m.errors.Load(), m.lastError.Load())
		}
	}
	t.Logf("records of transactions still open at the end: %d", open)

	// What a read_committed consumer of the output sees: each input once.
	logs := map[int32][]logEntry{}
	for p := range int32(parts) {
		logs[p] = rawLog(t, c.addr(1), out, p)
	}
	got := readCommitted(t, c.addr(1), out, logs)
	counts := map[string]int{}
	for _, vs := range got {
		for _, v := range vs {
			counts[v]++
		}
	}
	for i := range n {
		if v := fmt.Sprintf("in-%05d", i); counts[v] != 1 {
			t.Errorf("read_committed: input %s seen %d times", v, counts[v])
			break
		}
	}
}
