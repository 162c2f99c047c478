package metastore

import (
	"errors"
	"slices"
	"testing"
)

func txnBatch(pid int64, epoch int16, seq, n int32) BatchMeta {
	b := idemBatch(pid, epoch, seq, n)
	b.Transactional = true
	return b
}

func markerBatch(pid int64, epoch int16, commit bool) BatchMeta {
	c := ControlAbort
	if commit {
		c = ControlCommit
	}
	return BatchMeta{OffsetCount: 1, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1, Transactional: true, Control: c}
}

func oneChunk(batches ...BatchMeta) SegmentSpec {
	return SegmentSpec{ObjectKey: "obj", Chunks: []ChunkSpec{{TopicID: topicA, Partition: 0, Batches: batches}}}
}

// TestPlanCommitTxnOpensOnce: the first transactional batch of a producer
// opens its transaction at its base offset; later ones of the same
// segment do not open another; non-transactional batches open nothing.
func TestPlanCommitTxnOpensOnce(t *testing.T) {
	a0 := PartitionKey{topicA, 0}
	seg := oneChunk(plainBatch(2, 0), idemBatch(8, 0, 0, 1), txnBatch(7, 0, 0, 3), txnBatch(7, 0, 3, 2))
	plan := PlanCommit(seg, parts(map[PartitionKey]int64{a0: 10}), nil, nil, 0)
	want := []TxnOpen{{Key: ProducerKey{7, topicA, 0}, Offset: 13}}
	if !slices.Equal(plan.Txns.OpenFirst, want) || len(plan.Txns.Ends)+len(plan.Txns.Aborted)+len(plan.Txns.OpenLast) != 0 {
		t.Fatalf("txns %+v, want OpenFirst %+v only", plan.Txns, want)
	}
}

// TestPlanCommitMarkerSkipsSequences: a marker takes an offset without a
// sequence, keeps the producer's sequences at its epoch, and ends the
// transaction (commit: no aborted range).
func TestPlanCommitMarkerSkipsSequences(t *testing.T) {
	a0 := PartitionKey{topicA, 0}
	key := ProducerKey{7, topicA, 0}
	stored := map[ProducerKey]ProducerState{key: {Key: key, Epoch: 2, Recent: []RecentBatch{{0, 4, 20}}}}
	plan := PlanCommit(oneChunk(markerBatch(7, 2, true)), parts(map[PartitionKey]int64{a0: 25}), stored, map[int64]bool{7: true}, 0)
	br := plan.Results[0].Batches[0]
	if br.Err != nil || br.BaseOffset != 25 || plan.NextOffset[a0] != 26 {
		t.Fatalf("marker result %+v, next %d", br, plan.NextOffset[a0])
	}
	if st := plan.Producers[key]; st.Epoch != 2 || st.LastSeq() != 4 {
		t.Fatalf("producer state %+v: a same-epoch marker keeps the sequences", st)
	}
	if want := []TxnEnd{{Key: key, Offset: 25}}; !slices.Equal(plan.Txns.Ends, want) {
		t.Fatalf("ends %+v, want %+v", plan.Txns.Ends, want)
	}
	// The producer continues its sequence after the marker.
	plan = PlanCommit(oneChunk(markerBatch(7, 2, true), txnBatch(7, 2, 5, 1)), parts(map[PartitionKey]int64{a0: 25}), stored, map[int64]bool{7: true}, 0)
	if err := plan.Results[0].Batches[1].Err; err != nil {
		t.Fatalf("batch after the marker: %v", err)
	}
}

// TestPlanCommitMarkerFencesOlderEpoch: a marker of an older epoch than the
// stored one is refused; one of a newer epoch raises the stored epoch, so
// that the fenced instance's next batch is refused and the new instance
// starts at sequence 0.
func TestPlanCommitMarkerFencesOlderEpoch(t *testing.T) {
	a0 := PartitionKey{topicA, 0}
	key := ProducerKey{7, topicA, 0}
	stored := map[ProducerKey]ProducerState{key: {Key: key, Epoch: 3, Recent: []RecentBatch{{0, 4, 20}}}}
	plan := PlanCommit(oneChunk(markerBatch(7, 2, false)), parts(map[PartitionKey]int64{a0: 25}), stored, map[int64]bool{7: true}, 0)
	if br := plan.Results[0].Batches[0]; !errors.Is(br.Err, ErrInvalidProducerEpoch) || br.BaseOffset != -1 {
		t.Fatalf("old-epoch marker: %+v", br)
	}
	if len(plan.Chunks) != 0 || !plan.Txns.Empty() {
		t.Fatalf("a refused marker stored %+v %+v", plan.Chunks, plan.Txns)
	}

	plan = PlanCommit(oneChunk(markerBatch(7, 4, false), txnBatch(7, 3, 5, 1), txnBatch(7, 4, 0, 1)),
		parts(map[PartitionKey]int64{a0: 25}), stored, map[int64]bool{7: true}, 0)
	res := plan.Results[0].Batches
	if res[0].Err != nil || res[0].BaseOffset != 25 {
		t.Fatalf("new-epoch marker: %+v", res[0])
	}
	if !errors.Is(res[1].Err, ErrInvalidProducerEpoch) {
		t.Fatalf("zombie batch after the fencing marker: %+v", res[1])
	}
	if res[2].Err != nil || res[2].BaseOffset != 26 {
		t.Fatalf("new instance's batch at sequence 0: %+v", res[2])
	}
	if st := plan.Producers[key]; st.Epoch != 4 || st.LastSeq() != 0 {
		t.Fatalf("producer state %+v", st)
	}
}

// TestPlanCommitMarkerWithoutState: a marker for a producer with no state on
// the partition (a transaction that wrote nothing there) is taken and
// stores the epoch.
func TestPlanCommitMarkerWithoutState(t *testing.T) {
	a0 := PartitionKey{topicA, 0}
	plan := PlanCommit(oneChunk(markerBatch(9, 5, false)), parts(map[PartitionKey]int64{a0: 0}), nil, map[int64]bool{9: true}, 0)
	if br := plan.Results[0].Batches[0]; br.Err != nil || br.BaseOffset != 0 {
		t.Fatalf("marker %+v", br)
	}
	if st := plan.Producers[ProducerKey{9, topicA, 0}]; st.Epoch != 5 || len(st.Recent) != 0 {
		t.Fatalf("state %+v", st)
	}
	if want := []TxnEnd{{Key: ProducerKey{9, topicA, 0}, Offset: 0, Abort: true}}; !slices.Equal(plan.Txns.Ends, want) {
		t.Fatalf("ends %+v", plan.Txns.Ends)
	}
}

// TestPlanCommitMarkerWithoutProducer: a control batch that names no
// producer is refused.
func TestPlanCommitMarkerWithoutProducer(t *testing.T) {
	a0 := PartitionKey{topicA, 0}
	m := markerBatch(NoProducerID, 0, true)
	plan := PlanCommit(oneChunk(m), parts(map[PartitionKey]int64{a0: 0}), nil, nil, 0)
	if br := plan.Results[0].Batches[0]; br.Err == nil {
		t.Fatalf("marker without a producer taken: %+v", br)
	}
}

// TestPlanCommitTxnWholeInSegment: a segment holding a transaction's
// batches and its abort marker, then the start of the next transaction,
// plans the open before the end, the whole aborted range, and the new open
// transaction after it.
func TestPlanCommitTxnWholeInSegment(t *testing.T) {
	a0 := PartitionKey{topicA, 0}
	key := ProducerKey{7, topicA, 0}
	seg := oneChunk(txnBatch(7, 0, 0, 2), markerBatch(7, 0, false), txnBatch(7, 0, 2, 1), markerBatch(7, 0, false),
		txnBatch(7, 0, 3, 1), markerBatch(7, 0, true), txnBatch(7, 0, 4, 2), txnBatch(7, 0, 6, 1))
	plan := PlanCommit(seg, parts(map[PartitionKey]int64{a0: 100}), nil, nil, 0)
	for i, b := range plan.Results[0].Batches {
		if b.Err != nil {
			t.Fatalf("batch %d: %v", i, b.Err)
		}
	}
	// offsets: 100-101 txn, 102 abort, 103 txn, 104 abort, 105 txn, 106 commit, 107-108, 109
	want := TxnPlan{
		OpenFirst: []TxnOpen{{Key: key, Offset: 100}},
		Ends:      []TxnEnd{{Key: key, Offset: 102, Abort: true}},
		Aborted:   []TxnAborted{{Key: key, FirstOffset: 103, LastOffset: 104}},
		OpenLast:  []TxnOpen{{Key: key, Offset: 107}},
	}
	if !slices.Equal(plan.Txns.OpenFirst, want.OpenFirst) || !slices.Equal(plan.Txns.Ends, want.Ends) ||
		!slices.Equal(plan.Txns.Aborted, want.Aborted) || !slices.Equal(plan.Txns.OpenLast, want.OpenLast) {
		t.Fatalf("txns %+v\nwant %+v", plan.Txns, want)
	}
}

// TestPlanCommitDuplicateTxnBatchOpensNothing: a retried transactional
// batch, a duplicate, neither takes offsets nor opens a transaction.
func TestPlanCommitDuplicateTxnBatchOpensNothing(t *testing.T) {
	a0 := PartitionKey{topicA, 0}
	key := ProducerKey{7, topicA, 0}
	stored := map[ProducerKey]ProducerState{key: {Key: key, Epoch: 0, Recent: []RecentBatch{{0, 1, 40}}}}
	plan := PlanCommit(oneChunk(txnBatch(7, 0, 0, 2)), parts(map[PartitionKey]int64{a0: 50}), stored, map[int64]bool{7: true}, 0)
	if br := plan.Results[0].Batches[0]; !br.Duplicate || br.BaseOffset != 40 {
		t.Fatalf("duplicate %+v", br)
	}
	if !plan.Txns.Empty() {
		t.Fatalf("a duplicate planned %+v", plan.Txns)
	}
}

// TestLastStableOffset: the oldest open transaction's first offset, else
// the high watermark.
func TestLastStableOffset(t *testing.T) {
	if got := (PartitionTxns{NextOffset: 50, FirstOpen: -1}).LastStableOffset(); got != 50 {
		t.Errorf("no open transaction: %d", got)
	}
	if got := (PartitionTxns{NextOffset: 50, FirstOpen: 12}).LastStableOffset(); got != 12 {
		t.Errorf("open at 12: %d", got)
	}
}
