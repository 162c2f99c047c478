package compactor

import (
	"context"
	"fmt"
	"sort"

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/metastore"
)

// Transactions and compaction. Merges copy every batch, control batches
// (markers) included, and leave the metastore's transaction index alone,
// so read_committed reads of merged objects find what they found before.
// Key compaction (clean) follows Kafka's cleaner:
//
//   - it cleans only below the last stable offset: the outcome of an open
//     transaction is not known, so neither are the records it may hide;
//   - records of aborted transactions (the index's ranges) go, and never
//     supersede a committed record of the same key;
//   - commit markers go once older than delete.retention.ms: no reader
//     needs them once the records before them are committed. Abort
//     markers stay: a read_committed client that is told of an aborted
//     transaction skips its producer's transactional batches until it
//     meets the abort marker, so a marker must outlive the index row that
//     names it, and the row lives until retention passes the marker.
//
// A level-0 merge of a compacted topic (dedupe) knows no index: it keeps
// transactional and control batches whole and keeps them out of the key
// map, leaving them to the next cleaning.

// maxAbortedPerClean bounds the aborted transactions a cleaning reads; a
// partition with more is cleaned up to the last one read, and the rest
// at the next cleaning.
const maxAbortedPerClean = 100_000

// txnFilter is a partition's transaction index, for a cleaning.
type txnFilter struct {
	aborted []metastore.AbortedTxn // in first-offset order
}

// isAborted reports whether a transactional batch of producer pid at
// offset base belongs to an aborted transaction.
func (t *txnFilter) isAborted(pid, base int64) bool {
	// The transactions that began at or before base.
	n := sort.Search(len(t.aborted), func(i int) bool { return t.aborted[i].FirstOffset > base })
	for i := n - 1; i >= 0; i-- {
		if a := t.aborted[i]; a.ProducerID == pid && base < a.LastOffset {
			return true
		}
	}
	return false
}

// stableRows returns the rows a cleaning may rewrite, those wholly below
// the last stable offset (and below the first aborted transaction it did
// not read), and the partition's transaction index for them.
func (c *Compactor) stableRows(ctx context.Context, p metastore.Partition, rows []metastore.Chunk) ([]metastore.Chunk, *txnFilter, error) {
	pt, err := c.store.PartitionTxns(ctx, p.TopicID, p.Partition, p.LogStartOffset, maxAbortedPerClean)
	if err != nil {
		return nil, nil, fmt.Errorf("compactor: transaction index: %w", err)
	}
	stop := pt.LastStableOffset()
	if pt.Truncated && len(pt.Aborted) > 0 {
		stop = min(stop, pt.Aborted[len(pt.Aborted)-1].FirstOffset+1)
	}
	n := 0
	for n < len(rows) && rows[n].EndOffset <= stop {
		n++
	}
	return rows[:n], &txnFilter{aborted: pt.Aborted}, nil
}

// mapped reports whether b's records go into the key map: not a control
// batch, and a transactional one only when a cleaning knows it committed.
func (f *filter) mapped(b *batch) bool {
	switch {
	case b.h.IsControl():
		return false
	case !b.h.IsTransactional():
		return true
	case f.txns == nil:
		return false
	}
	return !f.txns.isAborted(b.h.ProducerID, b.base)
}

// What keepBatch decides for a batch.
const (
	batchFilter = iota // filter its records one by one
	batchWhole         // keep it as it is
	batchDrop          // drop it whole
)

// keepBatch decides for a whole batch before its records are filtered.
func (f *filter) keepBatch(b *batch) (int, error) {
	switch {
	case b.h.IsControl():
		if f.txns == nil || b.h.MaxTimestamp >= f.horizon || b.base >= f.protect {
			return batchWhole, nil
		}
		typ, err := recordbatch.ParseControl(b.data, b.h)
		if err != nil {
			return 0, err
		}
		if typ == recordbatch.ControlTypeCommit {
			return batchDrop, nil
		}
		return batchWhole, nil
	case !b.h.IsTransactional():
		return batchFilter, nil
	case f.txns == nil:
		return batchWhole, nil
	case f.txns.isAborted(b.h.ProducerID, b.base):
		return batchDrop, nil
	}
	return batchFilter, nil
}

// pruneTxns drops the aborted transactions whose marker retention (or
// DeleteRecords) has moved below the log start offset.
func (c *Compactor) pruneTxns(ctx context.Context) error {
	n, err := c.store.PruneAbortedTxns(ctx)
	if err != nil {
		return fmt.Errorf("compactor: prune aborted transactions: %w", err)
	}
	if n > 0 {
		c.logger.Debug("pruned aborted transactions", "rows", n)
	}
	return nil
}
