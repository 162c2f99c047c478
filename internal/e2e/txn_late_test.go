package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// endTxn sends one EndTxn, as a delayed or retried request of a producer
// would arrive, and returns its error.
func endTxn(t testing.TB, addr, id string, pid int64, epoch int16, commit bool) error {
	t.Helper()
	cl := newClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("EndTxn: %v", err)
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// TestTxnLateEndTxn is the late-marker case of Jepsen's analysis of
// Bufstream, which Kafka shares: a commit or abort of transaction N that
// arrives late must not end transaction N+1 of the same id.
//
//   - Markers are written in the metastore transaction of the decision:
//     when EndTxn returns, every partition holds its marker, so no marker of
//     N can arrive after N+1's records.
//   - A retried EndTxn of N before N+1 begins succeeds and writes nothing.
//   - A late EndTxn of N from the instance a restart fenced (its epoch)
//     while N+1 is open is PRODUCER_FENCED, commit or abort, and N+1 goes on
//     untouched.
func TestTxnLateEndTxn(t *testing.T) {
	s := startStrata(t, modeDev, strataOpts{InProcess: true})
	const topic, id = "late", "app-late"
	createTopic(t, s.KafkaAddr, topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	first := txnProducer(t, s.KafkaAddr, id)
	produceTxn(t, first, topic, 2, "n", true)
	pid, epoch, err := first.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := map[int32][]logEntry{}
	for p := range int32(2) {
		log := rawLog(t, s.KafkaAddr, topic, p)
		if len(log) != 3 || !log[2].Control || !log[2].Commit {
			t.Fatalf("partition %d right after EndTxn: %+v, want 2 records and their commit marker", p, log)
		}
		before[p] = log
	}
	// The retry of N's commit: success, no second marker.
	if err := endTxn(t, s.KafkaAddr, id, pid, epoch, true); err != nil {
		t.Fatalf("retried commit of N: %v", err)
	}
	for p := range int32(2) {
		if log := rawLog(t, s.KafkaAddr, topic, p); len(log) != len(before[p]) {
			t.Fatalf("partition %d after the retried commit: %+v", p, log)
		}
	}

	// The producer restarts (a new epoch) and opens N+1.
	second := txnProducer(t, s.KafkaAddr, id)
	if err := second.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := second.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("n1-0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, commit := range []bool{true, false} {
		if err := endTxn(t, s.KafkaAddr, id, pid, epoch, commit); !errors.Is(err, kerr.ProducerFenced) {
			t.Fatalf("late EndTxn(commit=%v) of N during N+1: %v, want PRODUCER_FENCED", commit, err)
		}
	}
	log := rawLog(t, s.KafkaAddr, topic, 0)
	if _, _, open := committedValues(log); open != 1 || log[len(log)-1].Control {
		t.Fatalf("N+1 after the late EndTxns: %+v, want its record open, with no marker", log)
	}
	adm := kadm.NewClient(newClient(t, s.KafkaAddr))
	if d, err := adm.DescribeTransactions(ctx, id); err == nil {
		if st := d[id].State; st != "Ongoing" {
			t.Fatalf("N+1 is %s after the late EndTxns", st)
		}
	}
	if err := second.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	log = rawLog(t, s.KafkaAddr, topic, 0)
	committed, aborted, open := committedValues(log)
	if want := []string{"n-0-0", "n-0-1", "n1-0"}; !slices.Equal(committed, want) || aborted != 0 || open != 0 {
		t.Fatalf("partition 0 at the end: committed %v, %d aborted, %d open (%+v)", committed, aborted, open, log)
	}
	markers := 0
	for _, e := range log {
		if e.Control {
			markers++
		}
	}
	if markers != 2 {
		t.Fatalf("partition 0 holds %d markers, want one per transaction: %+v", markers, log)
	}
}

// TestTxnTimeout: a producer that begins a transaction and goes quiet is
// aborted once its transaction.timeout.ms has passed: an abort marker ends
// its records, and its own commit is then refused (fenced).
func TestTxnTimeout(t *testing.T) {
	s := startStrata(t, modeDev, strataOpts{InProcess: true, Args: []string{"-txn.sweep-interval", "100ms", "-txn.max-timeout", "5s"}})
	const topic, id = "quiet", "app-quiet"
	createTopic(t, s.KafkaAddr, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Above the broker's maximum: refused.
	tooLong := txnProducer(t, s.KafkaAddr, "app-too-long", kgo.TransactionTimeout(time.Minute))
	if err := tooLong.BeginTransaction(); err == nil {
		err = tooLong.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.InvalidTransactionTimeout) {
			t.Fatalf("transaction timeout above the maximum: %v, want INVALID_TRANSACTION_TIMEOUT", err)
		}
	}

	quiet := txnProducer(t, s.KafkaAddr, id, kgo.TransactionTimeout(time.Second))
	if err := quiet.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := quiet.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("abandoned")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the quiet transaction to be aborted", func() bool {
		log := rawLog(t, s.KafkaAddr, topic, 0)
		return len(log) == 2 && log[1].Control && !log[1].Commit
	})
	if err := quiet.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the commit of a transaction aborted by its timeout succeeded")
	}
	// A read_committed consumer is not held up by it.
	logs := map[int32][]logEntry{0: rawLog(t, s.KafkaAddr, topic, 0)}
	fresh := newClient(t, s.KafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := fresh.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	logs[0] = rawLog(t, s.KafkaAddr, topic, 0)
	if got := readCommitted(t, s.KafkaAddr, topic, logs); !slices.Equal(got[0], []string{"after"}) {
		t.Errorf("read_committed after the timeout: %v, want [after]", got[0])
	}
}

// txnIDOn returns a transactional id whose coordinator, by the cluster's
// view, is node id.
func txnIDOn(t testing.TB, c *testCluster, node int32, prefix string) string {
	t.Helper()
	adm := kadm.NewClient(c.client(t, c.addrs()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 200 {
		id := fmt.Sprintf("%s-%d", prefix, i)
		r := adm.FindTxnCoordinators(ctx, id)
		if r[id].Err == nil && r[id].NodeID == node {
			return id
		}
	}
	t.Fatalf("no transactional id of %d tried is coordinated by node %d", 200, node)
	return ""
}

// TestTxnCoordinatorFailover kills the node that coordinates two
// transactional ids in the middle of their transactions, after
// AddPartitionsToTxn and before EndTxn. The first producer's commit goes
// to the next coordinator, which ends the transaction whole; the second
// producer has gone quiet, and its transaction is aborted by the next
// coordinator once its timeout has passed.
func TestTxnCoordinatorFailover(t *testing.T) {
	c := startCluster(t, nodeSpec{ID: 1}, nodeSpec{ID: 2, Args: []string{"-txn.sweep-interval", "200ms"}},
		nodeSpec{ID: 3, Args: []string{"-txn.sweep-interval", "200ms"}})
	const topic = "failover"
	createTopic(t, c.addr(1), topic, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	active, quietID := txnIDOn(t, c, 3, "fo-active"), txnIDOn(t, c, 3, "fo-quiet")
	seeds := c.addrs()
	producer := func(id string, timeout time.Duration) *kgo.Client {
		return c.client(t, seeds, kgo.TransactionalID(id), kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(timeout), kgo.RetryTimeout(time.Minute))
	}
	a, q := producer(active, time.Minute), producer(quietID, 3*time.Second)
	for i, cl := range []*kgo.Client{a, q} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := range int32(3) {
			r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", i, p)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", r.Value, err)
			}
		}
	}
	c.nodes[3].kill()
	// The client may give up on the dead coordinator before the cluster
	// names the next one; then it aborts. Either way the transaction must
	// end whole: committed on every partition or aborted on every one.
	committed := true
	if err := a.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Logf("commit after the coordinator died: %v; aborting instead", err)
		committed = false
		waitFor(t, time.Minute, "the abort through the next coordinator", func() bool {
			return a.EndTransaction(ctx, kgo.TryAbort) == nil
		})
	}
	waitFor(t, time.Minute, "the quiet transaction to be aborted by the next coordinator", func() bool {
		for p := range int32(3) {
			if _, _, open := committedValues(rawLog(t, c.addr(1), topic, p)); open != 0 {
				return false
			}
		}
		return true
	})
	for p := range int32(3) {
		values, aborted, _ := committedValues(rawLog(t, c.addr(1), topic, p))
		want, wantAborted := []string{fmt.Sprintf("0-%d", p)}, 1
		if !committed {
			want, wantAborted = nil, 2
		}
		if !slices.Equal(values, want) || aborted != wantAborted {
			t.Errorf("partition %d: committed %v and %d aborted, want %v and %d aborted (the quiet one's record, and the active one's unless it committed)", p, values, aborted, want, wantAborted)
		}
	}
}
