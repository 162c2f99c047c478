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
)

// txnProducer is a franz-go transactional producer that writes
// uncompressed batches (rawLog reads them) to the partition each record
// names.
func txnProducer(t testing.TB, addr, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, addr, append([]kgo.Opt{
		kgo.TransactionalID(id),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(time.Minute),
	}, opts...)...)
}

// produceTxn runs one transaction of cl: values to each partition, then
// commit or abort.
func produceTxn(t testing.TB, cl *kgo.Client, topic string, partitions int32, prefix string, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	for p := range partitions {
		for i := range 2 {
			r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", prefix, p, i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", r.Value, err)
			}
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end (commit=%v): %v", commit, err)
	}
}

// TestTxnFranzCommitAbort: a franz-go transactional producer commits one
// transaction over three partitions and aborts the next. Each partition's
// log holds both transactions' records with a marker after each, at real
// offsets; a read_committed consumer sees the committed records alone.
func TestTxnFranzCommitAbort(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		s := startStrata(t, mode, strataOpts{InProcess: true})
		const topic, parts = "txn-out", 3
		createTopic(t, s.KafkaAddr, topic, parts)
		cl := txnProducer(t, s.KafkaAddr, "app-1")
		produceTxn(t, cl, topic, parts, "committed", true)
		produceTxn(t, cl, topic, parts, "aborted", false)

		logs := map[int32][]logEntry{}
		for p := range int32(parts) {
			log := rawLog(t, s.KafkaAddr, topic, p)
			logs[p] = log
			// 2 records, a commit marker, 2 records, an abort marker.
			if len(log) != 6 || !log[2].Control || !log[2].Commit || !log[5].Control || log[5].Commit {
				t.Fatalf("partition %d: log %+v, want 2 records, a commit marker, 2 records, an abort marker", p, log)
			}
			for i, e := range log {
				if e.Offset != int64(i) {
					t.Fatalf("partition %d: entry %d at offset %d", p, i, e.Offset)
				}
			}
			committed, aborted, open := committedValues(log)
			want := []string{fmt.Sprintf("committed-%d-0", p), fmt.Sprintf("committed-%d-1", p)}
			if !slices.Equal(committed, want) || aborted != 2 || open != 0 {
				t.Fatalf("partition %d: committed %v, %d aborted, %d open", p, committed, aborted, open)
			}
		}
		got := readCommitted(t, s.KafkaAddr, topic, logs)
		for p, log := range logs {
			want, _, _ := committedValues(log)
			if !slices.Equal(got[p], want) {
				t.Errorf("read_committed partition %d: %v, want %v", p, got[p], want)
			}
		}
	})
}

// TestTxnFencing: a second producer with the same transactional id fences
// the first. The first one's open transaction is aborted by the second's
// InitProducerId, its later produce and EndTxn fail, and nothing it wrote
// becomes visible.
func TestTxnFencing(t *testing.T) {
	s := startStrata(t, modeDev, strataOpts{InProcess: true})
	const topic = "fenced"
	createTopic(t, s.KafkaAddr, topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	zombie := txnProducer(t, s.KafkaAddr, "app-f")
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("zombie-0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The new instance starts: InitProducerId bumps the epoch and aborts
	// the zombie's transaction.
	fresh := txnProducer(t, s.KafkaAddr, "app-f")
	produceTxn(t, fresh, topic, 2, "fresh", true)

	// The zombie's next produce and its commit fail, fenced.
	perr := zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("zombie-1")}).FirstErr()
	if perr == nil {
		t.Fatal("the fenced producer's produce succeeded")
	}
	cerr := zombie.EndTransaction(ctx, kgo.TryCommit)
	if cerr == nil {
		t.Fatal("the fenced producer's commit succeeded")
	}
	if !errors.Is(perr, kerr.InvalidProducerEpoch) && !errors.Is(perr, kerr.ProducerFenced) && !errors.Is(cerr, kerr.ProducerFenced) && !errors.Is(cerr, kerr.InvalidProducerEpoch) {
		t.Logf("zombie errors: produce %v, commit %v", perr, cerr)
	}
	logs := map[int32][]logEntry{}
	for p := range int32(2) {
		logs[p] = rawLog(t, s.KafkaAddr, topic, p)
		committed, _, open := committedValues(logs[p])
		for _, v := range committed {
			if v == "zombie-0" || v == "zombie-1" {
				t.Fatalf("partition %d: the zombie's %s is committed: %+v", p, v, logs[p])
			}
		}
		if open != 0 {
			t.Fatalf("partition %d: %d records of an open transaction: %+v", p, open, logs[p])
		}
		if len(committed) != 2 {
			t.Fatalf("partition %d: committed %v, want the fresh producer's 2", p, committed)
		}
	}
	got := readCommitted(t, s.KafkaAddr, topic, logs)
	for p, log := range logs {
		want, _, _ := committedValues(log)
		if !slices.Equal(got[p], want) {
			t.Errorf("read_committed partition %d: %v, want %v", p, got[p], want)
		}
	}
}

// TestTxnDescribeAndList: kadm's DescribeTransactions and ListTransactions
// show an open transaction with its producer and partitions, and its state
// once committed.
func TestTxnDescribeAndList(t *testing.T) {
	s := startStrata(t, modeDev, strataOpts{InProcess: true})
	const topic, id = "described", "app-d"
	createTopic(t, s.KafkaAddr, topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := txnProducer(t, s.KafkaAddr, id)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(newClient(t, s.KafkaAddr))
	d, err := adm.DescribeTransactions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got := d[id]
	if got.Err != nil || got.State != "Ongoing" || got.ProducerID != pid || got.ProducerEpoch != epoch ||
		got.TimeoutMillis != 60000 || got.StartTimestamp <= 0 || len(got.Topics[topic]) != 1 {
		t.Fatalf("described %+v", got)
	}
	listed, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := listed[id]; !ok || l.ProducerID != pid || l.State != "Ongoing" {
		t.Fatalf("listed %+v", listed)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if d, err = adm.DescribeTransactions(ctx, id, "unknown-id"); err != nil {
		t.Fatal(err)
	}
	if d[id].State != "CompleteCommit" || !errors.Is(d["unknown-id"].Err, kerr.TransactionalIDNotFound) {
		t.Fatalf("after the commit: %+v; unknown id: %v", d[id], d["unknown-id"].Err)
	}
}
