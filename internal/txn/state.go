// Package txn is the transaction coordinator role: it keeps the state of
// transactional ids (Kafka transactions) in the metastore and decides every
// transition of it. This file is the state machine, a pure function of the
// stored row and one request, so that every transition can be tested
// without a metastore; see docs/transactions.md.
package txn

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/metastore"
)

// MaxEpoch is the highest producer epoch. A producer whose epoch would pass
// it gets a new producer id at epoch 0, as Kafka does.
const MaxEpoch int16 = 32767

// Decision is what ending a transaction writes: a control batch (a commit
// or abort marker) in each of Partitions, with the producer id and epoch,
// and, on commit, the pending offsets of Groups.
type Decision struct {
	Commit        bool
	ProducerID    int64
	ProducerEpoch int16
	Partitions    []metastore.TopicPartition
	Groups        []string
	// Offsets are the pending offsets a commit makes the groups'.
	Offsets []metastore.TxnOffset
}

// Result is the outcome of a request on a transactional id: the row to
// write (Next), whether writing it is needed (Write), and the markers to
// write in the same metastore transaction (End, nil when none). Err is the
// Kafka error to answer, and when it is set nothing is written.
type Result struct {
	Next  metastore.Transaction
	Write bool
	End   *Decision
	Err   *kerr.Error
}

func fail(t metastore.Transaction, e *kerr.Error) Result { return Result{Next: t, Err: e} }

// Init is InitProducerId with a transactional id. cur is the stored row
// (exists false: none); newID is a fresh producer id, used when the id is
// new or its epoch is exhausted. reqID and reqEpoch are the producer id and
// epoch the client sent (-1, -1 for a producer starting afresh, v3+ sends
// its current ones to recover). A transaction the previous instance left
// open is aborted, with the new epoch on its markers so that the previous
// instance is fenced from every partition it wrote.
func Init(cur metastore.Transaction, exists bool, id string, timeoutMs, maxTimeoutMs int32, newID int64, reqID int64, reqEpoch int16, now time.Time) Result {
	if timeoutMs <= 0 || timeoutMs > maxTimeoutMs {
		return fail(cur, kerr.InvalidTransactionTimeout)
	}
	if !exists {
		if reqID != -1 || reqEpoch != -1 {
			// A producer recovering an id the coordinator does not know.
			return fail(cur, kerr.InvalidProducerIDMapping)
		}
		return Result{Write: true, Next: metastore.Transaction{
			TransactionalID: id, ProducerID: newID, ProducerEpoch: 0,
			State: metastore.TxnEmpty, TimeoutMs: timeoutMs,
		}}
	}
	switch cur.State {
	case metastore.TxnPrepareCommit, metastore.TxnPrepareAbort:
		return fail(cur, kerr.ConcurrentTransactions)
	}
	if reqID != -1 || reqEpoch != -1 {
		// KIP-360: a producer may bump its own epoch only from the
		// current one (or retry a bump that already happened).
		switch {
		case reqID != cur.ProducerID:
			return fail(cur, kerr.InvalidProducerIDMapping)
		case reqEpoch != cur.ProducerEpoch:
			return fail(cur, kerr.ProducerFenced)
		}
	}
	next := cur
	next.TimeoutMs = timeoutMs
	if cur.ProducerEpoch >= MaxEpoch-1 {
		next.ProducerID, next.ProducerEpoch = newID, 0
	} else {
		next.ProducerEpoch = cur.ProducerEpoch + 1
	}
	res := Result{Write: true}
	if cur.State == metastore.TxnOngoing {
		// The abort markers carry the bumped epoch of the old producer id,
		// which fences the old instance on every partition of the
		// transaction (with a new producer id, the old one's epoch+1).
		fence := cur.ProducerEpoch + 1
		if cur.ProducerEpoch >= MaxEpoch {
			fence = cur.ProducerEpoch
		}
		res.End = &Decision{Commit: false, ProducerID: cur.ProducerID, ProducerEpoch: fence, Partitions: cur.Partitions}
	}
	next.State = metastore.TxnEmpty
	next.Partitions, next.Groups, next.StartTime, next.PendingOffsets = nil, nil, time.Time{}, nil
	res.Next = next
	return res
}

// checkProducer answers a request of a transaction's producer that names
// its producer id and epoch.
func checkProducer(cur metastore.Transaction, exists bool, pid int64, epoch int16) *kerr.Error {
	switch {
	case !exists || pid != cur.ProducerID:
		return kerr.InvalidProducerIDMapping
	case epoch != cur.ProducerEpoch:
		return kerr.ProducerFenced
	case cur.State == metastore.TxnPrepareCommit || cur.State == metastore.TxnPrepareAbort:
		return kerr.ConcurrentTransactions
	}
	return nil
}

// begin returns cur as an Ongoing transaction: unchanged when it is one,
// a new one started at now otherwise.
func begin(cur metastore.Transaction, now time.Time) metastore.Transaction {
	if cur.State == metastore.TxnOngoing {
		return cur
	}
	next := cur
	next.State = metastore.TxnOngoing
	next.Partitions, next.Groups, next.PendingOffsets = nil, nil, nil
	next.StartTime = now
	return next
}

// AddPartitions is AddPartitionsToTxn: it begins a transaction when none is
// open, and adds the partitions to it. Adding partitions already in it
// writes nothing.
func AddPartitions(cur metastore.Transaction, exists bool, pid int64, epoch int16, parts []metastore.TopicPartition, now time.Time) Result {
	if e := checkProducer(cur, exists, pid, epoch); e != nil {
		return fail(cur, e)
	}
	next := begin(cur, now)
	next.Partitions = metastore.SortTopicPartitions(append(slices.Clone(next.Partitions), parts...))
	write := cur.State != metastore.TxnOngoing || !slices.Equal(next.Partitions, cur.Partitions)
	return Result{Next: next, Write: write}
}

// AddOffsets is AddOffsetsToTxn: the transaction will commit offsets of
// group. It begins a transaction when none is open.
func AddOffsets(cur metastore.Transaction, exists bool, pid int64, epoch int16, group string, now time.Time) Result {
	if e := checkProducer(cur, exists, pid, epoch); e != nil {
		return fail(cur, e)
	}
	next := begin(cur, now)
	if slices.Contains(next.Groups, group) {
		return Result{Next: next, Write: cur.State != metastore.TxnOngoing}
	}
	next.Groups = append(slices.Clone(next.Groups), group)
	slices.Sort(next.Groups)
	return Result{Next: next, Write: true}
}

// OffsetCommit is TxnOffsetCommit: the producer's transaction must be open
// and must have added group. The offsets are held in the row, pending,
// until the transaction ends: a commit makes them the group's, an abort
// drops them.
func OffsetCommit(cur metastore.Transaction, exists bool, pid int64, epoch int16, group string, offs []metastore.GroupOffset) Result {
	if e := checkProducer(cur, exists, pid, epoch); e != nil {
		return fail(cur, e)
	}
	if cur.State != metastore.TxnOngoing || !slices.Contains(cur.Groups, group) {
		return fail(cur, kerr.InvalidTxnState)
	}
	next := cur
	pending := slices.Clone(cur.PendingOffsets)
	for _, o := range offs {
		pending = append(pending, metastore.TxnOffset{Group: group, GroupOffset: o})
	}
	next.PendingOffsets = metastore.SortTxnOffsets(pending)
	return Result{Next: next, Write: len(offs) > 0}
}

// End is EndTxn (classic, transaction version 1): commit or abort the open
// transaction. A retry of an EndTxn that already ended the last
// transaction the same way succeeds and writes nothing; asking the
// opposite of what was decided is INVALID_TXN_STATE.
func End(cur metastore.Transaction, exists bool, pid int64, epoch int16, commit bool, now time.Time) Result {
	if e := checkProducer(cur, exists, pid, epoch); e != nil {
		return fail(cur, e)
	}
	switch cur.State {
	case metastore.TxnCompleteCommit:
		if commit {
			return Result{Next: cur}
		}
		return fail(cur, kerr.InvalidTxnState)
	case metastore.TxnCompleteAbort:
		if !commit {
			return Result{Next: cur}
		}
		return fail(cur, kerr.InvalidTxnState)
	case metastore.TxnOngoing:
	default: // Empty: nothing to end
		return fail(cur, kerr.InvalidTxnState)
	}
	d := &Decision{Commit: commit, ProducerID: cur.ProducerID, ProducerEpoch: cur.ProducerEpoch, Partitions: cur.Partitions}
	next := cur
	if commit {
		d.Groups, d.Offsets = cur.Groups, cur.PendingOffsets
		next.State = metastore.TxnCompleteCommit
	} else {
		next.State = metastore.TxnCompleteAbort
	}
	next.StartTime, next.PendingOffsets = time.Time{}, nil
	return Result{Next: next, Write: true, End: d}
}

// Timeout aborts an Ongoing transaction that has outlived its timeout at
// now, and bumps the epoch so that the producer that went quiet is fenced:
// its next request fails with PRODUCER_FENCED, as in Kafka. A transaction
// that has not expired is left alone (Write false).
func Timeout(cur metastore.Transaction, now time.Time) Result {
	if !cur.Expired(now) {
		return Result{Next: cur}
	}
	next := cur
	fence := cur.ProducerEpoch
	if cur.ProducerEpoch < MaxEpoch {
		fence++
	}
	next.ProducerEpoch = fence
	next.State = metastore.TxnCompleteAbort
	next.StartTime, next.PendingOffsets = time.Time{}, nil
	return Result{Next: next, Write: true, End: &Decision{
		Commit: false, ProducerID: cur.ProducerID, ProducerEpoch: fence, Partitions: cur.Partitions,
	}}
}
