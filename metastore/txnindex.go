package metastore

import (
	"context"

	"github.com/google/uuid"
)

// TxnIndexStore reads the index of transactions that every segment commit
// keeps per partition (PlanCommit's TxnPlan, written in the commit's
// transaction): the open transactions, whose oldest first offset is the
// partition's last stable offset, and the aborted ones, which
// read_committed fetches return so that clients skip their records.
type TxnIndexStore interface {
	// PartitionTxns returns the first offset of the partition's oldest
	// open transaction and, in first-offset order, up to limit aborted
	// transactions whose abort marker is at or after from.
	// ErrUnknownPartition when the partition does not exist.
	PartitionTxns(ctx context.Context, topicID uuid.UUID, partition int32, from int64, limit int) (PartitionTxns, error)
	// PartitionProducers returns the producers with state on a partition,
	// by producer id, for DescribeProducers. ErrUnknownPartition when the
	// partition does not exist.
	PartitionProducers(ctx context.Context, topicID uuid.UUID, partition int32) ([]PartitionProducer, error)
	// PruneAbortedTxns deletes the aborted transactions whose marker is
	// below their partition's log start offset: no fetch can ask for
	// them. It returns how many it deleted.
	PruneAbortedTxns(ctx context.Context) (int, error)
}

// PartitionTxns is a partition's transaction index, as PartitionTxns reads
// it.
type PartitionTxns struct {
	// NextOffset is the partition's high watermark read with the index.
	NextOffset int64
	// FirstOpen is the first offset of the oldest open transaction, -1
	// when none is open.
	FirstOpen int64
	// Aborted are the aborted transactions asked for, in first-offset
	// order; Truncated says the limit cut the list.
	Aborted   []AbortedTxn
	Truncated bool
}

// LastStableOffset is the offset below which every transaction has ended:
// the first offset of the oldest open transaction, else the high
// watermark. read_committed consumers read up to it.
func (t PartitionTxns) LastStableOffset() int64 {
	if t.FirstOpen >= 0 && t.FirstOpen < t.NextOffset {
		return t.FirstOpen
	}
	return t.NextOffset
}

// AbortedTxn is one aborted transaction of a partition: its producer, its
// first offset and the offset of its abort marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// PartitionProducer is one producer's state on a partition.
type PartitionProducer struct {
	ProducerID    int64
	Epoch         int16
	LastSequence  int32 // -1 when it has written no batch at this epoch
	LastTimestamp int64 // ms of its last commit on the partition
	// TxnFirstOffset is the first offset of its open transaction, -1 when
	// none is open.
	TxnFirstOffset int64
}

// TxnPlan is what a segment commit changes in the transaction index, in
// the order a backend applies it: OpenFirst, Ends, Aborted, OpenLast.
// Each producer and partition appears at most once in each list.
type TxnPlan struct {
	// OpenFirst opens a transaction at Offset unless the producer has one
	// open on the partition already (its first transactional batch of the
	// segment, before any marker).
	OpenFirst []TxnOpen
	// Ends closes the producer's open transaction on the partition, if
	// any, at the marker's offset: a commit deletes it, an abort moves it
	// to the aborted index with the marker as its last offset.
	Ends []TxnEnd
	// Aborted are transactions begun and aborted within the segment.
	Aborted []TxnAborted
	// OpenLast opens the transactions that a segment's later batches begin
	// after a marker closed the producer's earlier one.
	OpenLast []TxnOpen
}

// Empty reports whether the plan changes nothing.
func (t TxnPlan) Empty() bool {
	return len(t.OpenFirst)+len(t.Ends)+len(t.Aborted)+len(t.OpenLast) == 0
}

// TxnOpen opens Key's transaction at Offset.
type TxnOpen struct {
	Key    ProducerKey
	Offset int64
}

// TxnEnd ends Key's open transaction with a marker at Offset.
type TxnEnd struct {
	Key    ProducerKey
	Offset int64
	Abort  bool
}

// TxnAborted is an aborted range known whole from the segment.
type TxnAborted struct {
	Key         ProducerKey
	FirstOffset int64
	LastOffset  int64
}

// txnTrack is what PlanCommit knows of one producer's transaction on one
// partition while planning a segment.
type txnTrack struct {
	openedFirst bool  // an OpenFirst was planned
	ended       bool  // a marker of this segment closed what the store had open
	open        bool  // after ended: a transaction begun in this segment is open
	first       int64 // its first offset
}

// txnTracks are the tracks of a segment's producers, in the order met.
type txnTracks struct {
	m     map[ProducerKey]*txnTrack
	order []ProducerKey
}

func (ts *txnTracks) get(key ProducerKey) *txnTrack {
	if t := ts.m[key]; t != nil {
		return t
	}
	if ts.m == nil {
		ts.m = make(map[ProducerKey]*txnTrack)
	}
	t := &txnTrack{}
	ts.m[key] = t
	ts.order = append(ts.order, key)
	return t
}

// txnData records a transactional batch committed at off.
func (p *CommitPlan) txnData(ts *txnTracks, key ProducerKey, off int64) {
	t := ts.get(key)
	switch {
	case !t.ended && !t.openedFirst:
		t.openedFirst = true
		p.Txns.OpenFirst = append(p.Txns.OpenFirst, TxnOpen{Key: key, Offset: off})
	case t.ended && !t.open:
		t.open, t.first = true, off
	}
}

// txnMarker records a marker committed at off.
func (p *CommitPlan) txnMarker(ts *txnTracks, key ProducerKey, off int64, abort bool) {
	t := ts.get(key)
	switch {
	case !t.ended:
		t.ended = true
		p.Txns.Ends = append(p.Txns.Ends, TxnEnd{Key: key, Offset: off, Abort: abort})
	case t.open && abort:
		p.Txns.Aborted = append(p.Txns.Aborted, TxnAborted{Key: key, FirstOffset: t.first, LastOffset: off})
	}
	t.open = false
}

// txnFinish plans the transactions left open after a marker.
func (p *CommitPlan) txnFinish(ts *txnTracks) {
	for _, k := range ts.order {
		if t := ts.m[k]; t.ended && t.open {
			p.Txns.OpenLast = append(p.Txns.OpenLast, TxnOpen{Key: k, Offset: t.first})
		}
	}
}
