package metastoretest

import (
	"errors"
	"testing"
	"time"

	"github.com/stratalog/strata/metastore"
)

// RunTxnEnd runs the suite of EndTransaction: the end of a transaction,
// its markers, its row and its offsets, in one metastore transaction.
// open returns a store over a fresh, empty metastore, once per subtest.
func RunTxnEnd(t *testing.T, open func(t *testing.T) Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Backend)
	}{
		{"CommitWritesRowAndOffsets", testTxnEndCommit},
		{"MarkersGetOffsets", testTxnEndMarkerOffsets},
		{"AbortDropsOffsets", testTxnEndAbort},
		{"StaleVersionWritesNothing", testTxnEndConflict},
		{"OffsetsOnly", testTxnEndOffsetsOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
}

// txnBatch is a transactional batch of producer pid.
func txnBatch(pid int64, epoch int16, seq, n int32) metastore.BatchMeta {
	b := idem(pid, epoch, seq, n)
	b.Transactional = true
	return b
}

// marker is the control batch ending pid's transaction.
func marker(pid int64, epoch int16, commit bool) metastore.BatchMeta {
	c := metastore.ControlAbort
	if commit {
		c = metastore.ControlCommit
	}
	return metastore.BatchMeta{OffsetCount: 1, MaxTimestamp: 5000, ProducerID: pid, ProducerEpoch: epoch,
		BaseSequence: -1, Transactional: true, Control: c}
}

// openTxn writes 3 transactional records of a new producer to partitions
// 0 and 1 of a new topic, and stores its Ongoing transaction with pending
// offsets of group g.
func openTxn(t *testing.T, s Backend) (metastore.Topic, metastore.Transaction) {
	t.Helper()
	tp := mustTopic(t, s, "out", 2)
	pid, err := s.AllocateProducerID(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range commit(t, s, segment(chunk(tp.ID, 0, txnBatch(pid, 0, 0, 3)), chunk(tp.ID, 1, txnBatch(pid, 0, 0, 3)))) {
		if r.Err != nil || r.Batches[0].Err != nil {
			t.Fatalf("transactional batch refused: %+v", r)
		}
	}
	row := metastore.Transaction{TransactionalID: "app", ProducerID: pid, State: metastore.TxnEmpty, TimeoutMs: 60000}
	row, err = s.SaveTransaction(ctx(t), row)
	if err != nil {
		t.Fatal(err)
	}
	row.State = metastore.TxnOngoing
	row.StartTime = time.UnixMilli(time.Now().UnixMilli())
	row.Partitions = []metastore.TopicPartition{{Topic: "out", Partition: 0}, {Topic: "out", Partition: 1}}
	row.Groups = []string{"g"}
	row.PendingOffsets = []metastore.TxnOffset{
		{Group: "g", GroupOffset: metastore.GroupOffset{Topic: "out", Partition: 1, Offset: 9, LeaderEpoch: -1, Metadata: "m"}},
		{Group: "g", GroupOffset: metastore.GroupOffset{Topic: "out", Partition: 0, Offset: 4, LeaderEpoch: 2}},
	}
	if row, err = s.SaveTransaction(ctx(t), row); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadTransaction(ctx(t), "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.PendingOffsets) != 2 || got.PendingOffsets[0].Partition != 0 || got.PendingOffsets[1].Metadata != "m" {
		t.Fatalf("pending offsets stored as %+v", got.PendingOffsets)
	}
	return tp, got
}

// ended is row after its end: commit or abort, no partitions, no offsets.
func ended(row metastore.Transaction, commit bool) metastore.Transaction {
	next := row
	next.State = metastore.TxnCompleteAbort
	if commit {
		next.State = metastore.TxnCompleteCommit
	}
	next.StartTime = time.Time{}
	next.PendingOffsets = nil
	return next
}

// markerSegment is the marker object of row's transaction on tp.
func markerSegment(tp metastore.Topic, row metastore.Transaction, commit bool) metastore.SegmentSpec {
	return segment(chunk(tp.ID, 0, marker(row.ProducerID, row.ProducerEpoch, commit)),
		chunk(tp.ID, 1, marker(row.ProducerID, row.ProducerEpoch, commit)))
}

func fetchOffsets(t *testing.T, s Backend, group string) map[metastore.TopicPartition]metastore.GroupOffset {
	t.Helper()
	offs, err := s.FetchOffsets(ctx(t), group, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[metastore.TopicPartition]metastore.GroupOffset{}
	for _, o := range offs {
		out[metastore.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o
	}
	return out
}

func testTxnEndCommit(t *testing.T, s Backend) {
	tp, row := openTxn(t, s)
	if offs := fetchOffsets(t, s, "g"); len(offs) != 0 {
		t.Fatalf("pending offsets visible before the commit: %+v", offs)
	}
	next := ended(row, true)
	stored, _, err := s.EndTransaction(ctx(t), metastore.TxnEndSpec{Txn: next, Markers: markerSegment(tp, row, true), Offsets: row.PendingOffsets})
	if err != nil {
		t.Fatal(err)
	}
	if stored.Version != row.Version+1 || stored.State != metastore.TxnCompleteCommit {
		t.Fatalf("stored %+v, want version %d CompleteCommit", stored, row.Version+1)
	}
	got, err := s.LoadTransaction(ctx(t), "app")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != stored.Version || got.State != metastore.TxnCompleteCommit || len(got.PendingOffsets) != 0 || !got.StartTime.IsZero() {
		t.Fatalf("loaded %+v after the commit", got)
	}
	offs := fetchOffsets(t, s, "g")
	if o := offs[metastore.TopicPartition{Topic: "out", Partition: 0}]; o.Offset != 4 || o.LeaderEpoch != 2 {
		t.Fatalf("offset of out/0 after the commit: %+v", o)
	}
	if o := offs[metastore.TopicPartition{Topic: "out", Partition: 1}]; o.Offset != 9 || o.Metadata != "m" {
		t.Fatalf("offset of out/1 after the commit: %+v", o)
	}
}

// testTxnEndMarkerOffsets: each marker takes the next offset of its
// partition, and the partition's producer state takes the marker's epoch,
// so that the producer's older epoch is fenced there.
func testTxnEndMarkerOffsets(t *testing.T, s Backend) {
	tp, row := openTxn(t, s)
	// The abort of an InitProducerId carries the bumped epoch.
	next := ended(row, false)
	next.ProducerEpoch = row.ProducerEpoch + 1
	next.State = metastore.TxnEmpty
	markers := segment(chunk(tp.ID, 0, marker(row.ProducerID, next.ProducerEpoch, false)),
		chunk(tp.ID, 1, marker(row.ProducerID, next.ProducerEpoch, false)))
	_, res, err := s.EndTransaction(ctx(t), metastore.TxnEndSpec{Txn: next, Markers: markers})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d chunk results for 2 markers", len(res))
	}
	for i, r := range res {
		if r.Err != nil || len(r.Batches) != 1 || r.Batches[0].Err != nil || r.Batches[0].BaseOffset != 3 {
			t.Fatalf("marker %d: %+v, want it at offset 3", i, r)
		}
		if p := partition(t, s, tp.ID, int32(i)); p.NextOffset != 4 {
			t.Fatalf("partition %d next offset %d after its marker, want 4", i, p.NextOffset)
		}
	}
	// The old epoch is fenced on the partitions the markers went to.
	r := commit(t, s, segment(chunk(tp.ID, 0, txnBatch(row.ProducerID, row.ProducerEpoch, 3, 1))))
	if !errors.Is(r[0].Batches[0].Err, metastore.ErrInvalidProducerEpoch) {
		t.Fatalf("batch of the fenced epoch after the abort marker: %+v, want ErrInvalidProducerEpoch", r[0].Batches[0])
	}
}

func testTxnEndAbort(t *testing.T, s Backend) {
	tp, row := openTxn(t, s)
	stored, _, err := s.EndTransaction(ctx(t), metastore.TxnEndSpec{Txn: ended(row, false), Markers: markerSegment(tp, row, false)})
	if err != nil {
		t.Fatal(err)
	}
	if stored.State != metastore.TxnCompleteAbort {
		t.Fatalf("stored %+v", stored)
	}
	if offs := fetchOffsets(t, s, "g"); len(offs) != 0 {
		t.Fatalf("offsets of an aborted transaction committed: %+v", offs)
	}
	got, err := s.LoadTransaction(ctx(t), "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.PendingOffsets) != 0 {
		t.Fatalf("pending offsets kept after the abort: %+v", got.PendingOffsets)
	}
}

// testTxnEndConflict: an end computed from a row that changed since (a
// late EndTxn, a deposed coordinator) writes nothing: no row, no
// markers, no offsets.
func testTxnEndConflict(t *testing.T, s Backend) {
	tp, row := openTxn(t, s)
	moved := row
	moved.Partitions = append(moved.Partitions, metastore.TopicPartition{Topic: "out", Partition: 0})
	moved.TimeoutMs = 30000
	if _, err := s.SaveTransaction(ctx(t), moved); err != nil {
		t.Fatal(err)
	}
	markers := markerSegment(tp, row, true)
	_, _, err := s.EndTransaction(ctx(t), metastore.TxnEndSpec{Txn: ended(row, true), Markers: markers, Offsets: row.PendingOffsets})
	if !errors.Is(err, metastore.ErrTxnConflict) {
		t.Fatalf("end at a stale version: %v, want ErrTxnConflict", err)
	}
	got, err := s.LoadTransaction(ctx(t), "app")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != metastore.TxnOngoing || got.Version != row.Version+1 || got.TimeoutMs != 30000 {
		t.Fatalf("row after a refused end: %+v", got)
	}
	if offs := fetchOffsets(t, s, "g"); len(offs) != 0 {
		t.Fatalf("offsets of a refused end committed: %+v", offs)
	}
	for p := range int32(2) {
		if n := partition(t, s, tp.ID, p).NextOffset; n != 3 {
			t.Fatalf("partition %d next offset %d after a refused end, want 3", p, n)
		}
	}
	// The refused object is not committed: its key is still free.
	if _, err := s.CommitSegment(ctx(t), markers); err != nil {
		t.Fatalf("commit of the refused end's object key: %v", err)
	}
	// An end of an id with no row is a conflict too.
	ghost := ended(row, true)
	ghost.TransactionalID = "ghost"
	if _, _, err := s.EndTransaction(ctx(t), metastore.TxnEndSpec{Txn: ghost}); !errors.Is(err, metastore.ErrTxnConflict) {
		t.Fatalf("end of an unknown id: %v, want ErrTxnConflict", err)
	}
}

// testTxnEndOffsetsOnly: a transaction that only commits offsets has no
// marker object; offsets of a topic deleted meanwhile are dropped.
func testTxnEndOffsetsOnly(t *testing.T, s Backend) {
	mustTopic(t, s, "in", 1)
	mustTopic(t, s, "gone", 1)
	row, err := s.SaveTransaction(ctx(t), metastore.Transaction{TransactionalID: "app", ProducerID: 5,
		State: metastore.TxnOngoing, TimeoutMs: 1000, StartTime: time.Now(), Groups: []string{"g"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopic(ctx(t), "gone"); err != nil {
		t.Fatal(err)
	}
	offs := []metastore.TxnOffset{
		{Group: "g", GroupOffset: metastore.GroupOffset{Topic: "in", Partition: 0, Offset: 12, LeaderEpoch: -1}},
		{Group: "g", GroupOffset: metastore.GroupOffset{Topic: "gone", Partition: 0, Offset: 3, LeaderEpoch: -1}},
		{Group: "h", GroupOffset: metastore.GroupOffset{Topic: "in", Partition: 0, Offset: 7, LeaderEpoch: -1}},
	}
	if _, _, err := s.EndTransaction(ctx(t), metastore.TxnEndSpec{Txn: ended(row, true), Offsets: offs}); err != nil {
		t.Fatal(err)
	}
	g := fetchOffsets(t, s, "g")
	if len(g) != 1 || g[metastore.TopicPartition{Topic: "in", Partition: 0}].Offset != 12 {
		t.Fatalf("offsets of g: %+v", g)
	}
	if h := fetchOffsets(t, s, "h"); h[metastore.TopicPartition{Topic: "in", Partition: 0}].Offset != 7 {
		t.Fatalf("offsets of h: %+v", h)
	}
}
