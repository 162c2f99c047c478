package metastoretest

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// RunTxnIndex runs the suite of the transaction index that segment commits
// keep (metastore.TxnIndexStore, PlanCommit's transaction rules). open
// returns a store over a fresh, empty metastore, once per subtest; the
// suite closes it.
func RunTxnIndex(t *testing.T, open func(t *testing.T) metastore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s metastore.Store)
	}{
		{"OpenAndCommit", testTxnOpenAndCommit},
		{"AbortRecordsRange", testTxnAbortRecordsRange},
		{"MarkerFencesZombie", testTxnMarkerFencesZombie},
		{"WholeTransactionsInOneSegment", testTxnWholeInSegment},
		{"AbortedLimit", testTxnAbortedLimit},
		{"PartitionProducers", testTxnPartitionProducers},
		{"PruneBelowLogStart", testTxnPrune},
		{"DeleteTopic", testTxnDeleteTopic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

func txnData(pid int64, epoch int16, seq, n int32) metastore.BatchMeta {
	b := idem(pid, epoch, seq, n)
	b.Transactional = true
	return b
}

func txnMarker(pid int64, epoch int16, commit bool) metastore.BatchMeta {
	c := metastore.ControlAbort
	if commit {
		c = metastore.ControlCommit
	}
	return metastore.BatchMeta{OffsetCount: 1, MaxTimestamp: 5000, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1,
		Transactional: true, Control: c}
}

func txns(t *testing.T, s metastore.Store, topic uuid.UUID, p int32, from int64) metastore.PartitionTxns {
	t.Helper()
	pt, err := s.PartitionTxns(ctx(t), topic, p, from, 100)
	if err != nil {
		t.Fatalf("PartitionTxns(%d): %v", from, err)
	}
	return pt
}

func producerID(t *testing.T, s metastore.Store) int64 {
	t.Helper()
	id, err := s.AllocateProducerID(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func batchErr(t *testing.T, res []metastore.ChunkResult, i int) error {
	t.Helper()
	if res[0].Err != nil {
		t.Fatalf("chunk: %v", res[0].Err)
	}
	return res[0].Batches[i].Err
}

// testTxnOpenAndCommit: the last stable offset stays at the first offset
// of the oldest open transaction while others commit after it, and is the
// high watermark once every transaction has its commit marker.
func testTxnOpenAndCommit(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "txn-open", 2)
	p1, p2 := producerID(t, s), producerID(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, plain(3, 1))))                                // 0-2
	commit(t, s, segment(chunk(tp.ID, 0, txnData(p1, 0, 0, 2), txnData(p2, 0, 0, 1)))) // p1 3-4, p2 5
	commit(t, s, segment(chunk(tp.ID, 0, txnData(p1, 0, 2, 1), plain(1, 2))))          // p1 6, 7
	pt := txns(t, s, tp.ID, 0, 0)
	if pt.FirstOpen != 3 || pt.NextOffset != 8 || pt.LastStableOffset() != 3 || len(pt.Aborted) != 0 {
		t.Fatalf("two open transactions: %+v", pt)
	}
	if other := txns(t, s, tp.ID, 1, 0); other.LastStableOffset() != 0 || other.FirstOpen != -1 {
		t.Fatalf("untouched partition: %+v", other)
	}
	res := commit(t, s, segment(chunk(tp.ID, 0, txnMarker(p1, 0, true)))) // 8
	if err := batchErr(t, res, 0); err != nil || res[0].Batches[0].BaseOffset != 8 {
		t.Fatalf("commit marker: %+v", res[0].Batches[0])
	}
	if pt = txns(t, s, tp.ID, 0, 0); pt.LastStableOffset() != 5 || len(pt.Aborted) != 0 {
		t.Fatalf("p1 committed, p2 open at 5: %+v", pt)
	}
	commit(t, s, segment(chunk(tp.ID, 0, txnMarker(p2, 0, true)))) // 9
	if pt = txns(t, s, tp.ID, 0, 0); pt.FirstOpen != -1 || pt.LastStableOffset() != 10 || len(pt.Aborted) != 0 {
		t.Fatalf("all committed: %+v", pt)
	}
	if _, err := s.PartitionTxns(ctx(t), tp.ID, 7, 0, 10); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
}

// testTxnAbortRecordsRange: an abort marker records the transaction's
// producer, first offset and marker offset, returned to reads from any
// offset up to the marker's.
func testTxnAbortRecordsRange(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "txn-abort", 1)
	p := producerID(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, plain(2, 1))))                   // 0-1
	commit(t, s, segment(chunk(tp.ID, 0, txnData(p, 0, 0, 3))))           // 2-4
	commit(t, s, segment(chunk(tp.ID, 0, plain(1, 1))))                   // 5
	commit(t, s, segment(chunk(tp.ID, 0, txnData(p, 0, 3, 1))))           // 6
	res := commit(t, s, segment(chunk(tp.ID, 0, txnMarker(p, 0, false)))) // 7
	if err := batchErr(t, res, 0); err != nil {
		t.Fatal(err)
	}
	want := []metastore.AbortedTxn{{ProducerID: p, FirstOffset: 2, LastOffset: 7}}
	for _, from := range []int64{0, 4, 7} {
		if pt := txns(t, s, tp.ID, 0, from); !slices.Equal(pt.Aborted, want) || pt.LastStableOffset() != 8 || pt.Truncated {
			t.Fatalf("from %d: %+v, want aborted %+v and LSO 8", from, pt, want)
		}
	}
	if pt := txns(t, s, tp.ID, 0, 8); len(pt.Aborted) != 0 {
		t.Fatalf("from past the marker: %+v", pt)
	}
	// The producer's next transaction opens anew.
	commit(t, s, segment(chunk(tp.ID, 0, txnData(p, 0, 4, 1)))) // 8
	if pt := txns(t, s, tp.ID, 0, 0); pt.FirstOpen != 8 || !slices.Equal(pt.Aborted, want) {
		t.Fatalf("next transaction: %+v", pt)
	}
}

// testTxnMarkerFencesZombie: a marker of a newer epoch (the coordinator
// aborting a fenced instance's transaction) makes that epoch the
// producer's: the old instance's batches and markers are refused, the new
// instance starts at sequence 0.
func testTxnMarkerFencesZombie(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "txn-fence", 1)
	p := producerID(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, txnData(p, 0, 0, 2))))
	if err := batchErr(t, commit(t, s, segment(chunk(tp.ID, 0, txnMarker(p, 1, false)))), 0); err != nil {
		t.Fatalf("fencing abort marker: %v", err)
	}
	res := commit(t, s, segment(chunk(tp.ID, 0, txnData(p, 0, 2, 1))))
	if err := batchErr(t, res, 0); !errors.Is(err, metastore.ErrInvalidProducerEpoch) {
		t.Fatalf("zombie's batch: %v, want ErrInvalidProducerEpoch", err)
	}
	res = commit(t, s, segment(chunk(tp.ID, 0, txnMarker(p, 0, true))))
	if err := batchErr(t, res, 0); !errors.Is(err, metastore.ErrInvalidProducerEpoch) {
		t.Fatalf("old-epoch marker: %v, want ErrInvalidProducerEpoch", err)
	}
	if pt := txns(t, s, tp.ID, 0, 0); pt.FirstOpen != -1 || pt.NextOffset != 3 ||
		!slices.Equal(pt.Aborted, []metastore.AbortedTxn{{ProducerID: p, FirstOffset: 0, LastOffset: 2}}) {
		t.Fatalf("after fencing: %+v", pt)
	}
	if err := batchErr(t, commit(t, s, segment(chunk(tp.ID, 0, txnData(p, 1, 0, 1)))), 0); err != nil {
		t.Fatalf("new instance at sequence 0: %v", err)
	}
}

// testTxnWholeInSegment: several transactions of one producer and their
// markers in one segment leave the index as if committed one by one.
func testTxnWholeInSegment(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "txn-whole", 1)
	p := producerID(t, s)
	commit(t, s, segment(chunk(tp.ID, 0,
		txnData(p, 0, 0, 2), txnMarker(p, 0, false), // 0-1, abort 2
		txnData(p, 0, 2, 1), txnMarker(p, 0, false), // 3, abort 4
		txnData(p, 0, 3, 1), txnMarker(p, 0, true), // 5, commit 6
		txnData(p, 0, 4, 2)))) // 7-8 open
	pt := txns(t, s, tp.ID, 0, 0)
	want := []metastore.AbortedTxn{{ProducerID: p, FirstOffset: 0, LastOffset: 2}, {ProducerID: p, FirstOffset: 3, LastOffset: 4}}
	if pt.FirstOpen != 7 || pt.NextOffset != 9 || !slices.Equal(pt.Aborted, want) {
		t.Fatalf("index %+v, want open at 7 and aborted %+v", pt, want)
	}
}

// testTxnAbortedLimit: the aborted list is cut at the limit, in
// first-offset order, and says so.
func testTxnAbortedLimit(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "txn-limit", 1)
	p := producerID(t, s)
	for i := range int32(5) {
		commit(t, s, segment(chunk(tp.ID, 0, txnData(p, 0, i, 1), txnMarker(p, 0, false))))
	}
	pt, err := s.PartitionTxns(ctx(t), tp.ID, 0, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []metastore.AbortedTxn{{ProducerID: p, FirstOffset: 2, LastOffset: 3}, {ProducerID: p, FirstOffset: 4, LastOffset: 5}}
	if !slices.Equal(pt.Aborted, want) || !pt.Truncated {
		t.Fatalf("limit 2 from 3: %+v, want %+v truncated", pt, want)
	}
	if pt, err = s.PartitionTxns(ctx(t), tp.ID, 0, 3, 4); err != nil || len(pt.Aborted) != 4 || pt.Truncated {
		t.Fatalf("limit 4 from 3: %+v, %v", pt, err)
	}
}

// testTxnPartitionProducers: a partition's producers with their epoch,
// last sequence and open transaction.
func testTxnPartitionProducers(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "txn-producers", 1)
	p1, p2 := producerID(t, s), producerID(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, idem(p1, 2, 0, 3), plain(1, 1), txnData(p2, 0, 0, 2))))
	ps, err := s.PartitionProducers(ctx(t), tp.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].ProducerID != p1 || ps[1].ProducerID != p2 {
		t.Fatalf("producers %+v", ps)
	}
	if a := ps[0]; a.Epoch != 2 || a.LastSequence != 2 || a.TxnFirstOffset != -1 || a.LastTimestamp <= 0 {
		t.Fatalf("idempotent producer %+v", a)
	}
	if b := ps[1]; b.Epoch != 0 || b.LastSequence != 1 || b.TxnFirstOffset != 4 {
		t.Fatalf("transactional producer %+v", b)
	}
	if _, err := s.PartitionProducers(ctx(t), tp.ID, 3); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
}

// testTxnPrune: an aborted range whose marker is below the log start
// offset is deleted; one the log still holds stays.
func testTxnPrune(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "txn-prune", 1)
	p := producerID(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, txnData(p, 0, 0, 2), txnMarker(p, 0, false)))) // 0-1, abort 2
	commit(t, s, segment(chunk(tp.ID, 0, txnData(p, 0, 2, 2), txnMarker(p, 0, false)))) // 3-4, abort 5
	commit(t, s, segment(chunk(tp.ID, 0, plain(1, 1))))                                 // 6
	if _, err := s.DeleteRecords(ctx(t), tp.ID, 0, 4); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneAbortedTxns(ctx(t))
	if err != nil || n != 1 {
		t.Fatalf("PruneAbortedTxns = %d, %v; want 1", n, err)
	}
	want := []metastore.AbortedTxn{{ProducerID: p, FirstOffset: 3, LastOffset: 5}}
	if pt := txns(t, s, tp.ID, 0, 0); !slices.Equal(pt.Aborted, want) {
		t.Fatalf("after prune: %+v, want %+v", pt.Aborted, want)
	}
}

// testTxnDeleteTopic: deleting a topic with open and aborted transactions
// succeeds, and a topic made again under its name starts with none.
func testTxnDeleteTopic(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "txn-delete", 1)
	p := producerID(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, txnData(p, 0, 0, 2), txnMarker(p, 0, false), txnData(p, 0, 2, 1))))
	if err := s.DeleteTopic(ctx(t), "txn-delete"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if _, err := s.PartitionTxns(ctx(t), tp.ID, 0, 0, 10); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Fatalf("deleted topic: %v", err)
	}
	again := mustTopic(t, s, "txn-delete", 1)
	if pt := txns(t, s, again.ID, 0, 0); pt.FirstOpen != -1 || len(pt.Aborted) != 0 {
		t.Fatalf("new topic: %+v", pt)
	}
}
