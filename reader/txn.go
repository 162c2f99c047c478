package reader

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
)

// read_committed reads. A partition's last stable offset (LSO) is the
// first offset of its oldest open transaction, else its high watermark; a
// read_committed read serves only batches below it, and lists the aborted
// transactions whose records those batches may hold, so that the client
// drops them (Kafka's clients skip a listed producer's transactional
// batches from the listed first offset until its abort marker).
//
// Both come from the metastore's transaction index, which every segment
// commit keeps in its own transaction. The reader caches what it read per
// partition with the high watermark of that snapshot: every change to the
// index is a commit that moves the high watermark (a transaction opens
// with a batch, ends with a marker), so the cached copy holds while the
// partition's high watermark is not above it, and a read_committed
// consumer catching up costs one index query per partition, not one per
// fetch.

// maxAbortedPerRead bounds the aborted transactions read from the index
// at once. A read then stops after the last one it knows of, so that it
// never serves a batch of an aborted transaction it could not list.
const maxAbortedPerRead = 1000

// txnCache is a partition's transaction index as last read.
type txnCache struct {
	valid     bool
	next      int64 // the high watermark of the snapshot read
	from      int64 // aborted transactions ending before it were not read
	firstOpen int64
	aborted   []metastore.AbortedTxn // in first-offset order
	truncated bool
}

// usable reports whether the cached index answers a read from offset when
// the partition's high watermark is hwm. st.mu must be held.
func (c *txnCache) usable(offset, hwm int64) bool {
	return c.valid && offset >= c.from && hwm <= c.next
}

// lso is the cached last stable offset below hwm.
func (c *txnCache) lso(hwm int64) int64 {
	if c.firstOpen >= 0 && c.firstOpen < hwm {
		return c.firstOpen
	}
	return hwm
}

// txnIndex returns the partition's transaction index usable for a read
// from offset at high watermark hwm, from the cache or the metastore;
// concurrent misses share one query.
func (r *Reader) txnIndex(ctx context.Context, st *partState, offset, hwm int64) (txnCache, error) {
	st.mu.Lock()
	if st.txns.usable(offset, hwm) {
		c := st.txns
		st.mu.Unlock()
		return c, nil
	}
	st.mu.Unlock()
	key := "t" + st.key.TopicID.String() + "/" + strconv.Itoa(int(st.key.Partition)) + "/" + strconv.FormatInt(offset, 10)
	v, err := r.flights.do(ctx, key, func(ctx context.Context) (any, error) {
		pt, err := r.store.PartitionTxns(ctx, st.key.TopicID, st.key.Partition, offset, maxAbortedPerRead)
		if err != nil {
			return nil, fmt.Errorf("transaction index: %w", err)
		}
		c := txnCache{valid: true, next: pt.NextOffset, from: offset, firstOpen: pt.FirstOpen, aborted: pt.Aborted, truncated: pt.Truncated}
		st.mu.Lock()
		if !st.txns.valid || c.next >= st.txns.next {
			st.txns = c
		}
		st.raise(pt.NextOffset)
		st.mu.Unlock()
		r.metrics.txnIndexReads.Inc()
		return c, nil
	})
	if err != nil {
		return txnCache{}, err
	}
	return v.(txnCache), nil
}

// ReadCommitted is ReadBatches for a read_committed consumer: it serves
// only batches below the last stable offset, reports that offset as
// Result.LastStableOffset and lists in Result.Aborted the aborted
// transactions overlapping the batches served.
func (r *Reader) ReadCommitted(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, maxBytes int) (Result, error) {
	var idx txnCache
	stable := func(st *partState, hwm int64) (int64, error) {
		var err error
		if idx, err = r.txnIndex(ctx, st, offset, hwm); err != nil {
			return 0, err
		}
		stop := idx.lso(hwm)
		if idx.truncated && len(idx.aborted) > 0 {
			// Transactions after the last one read start after it.
			stop = min(stop, idx.aborted[len(idx.aborted)-1].FirstOffset+1)
		}
		return stop, nil
	}
	res, err := r.read(ctx, topicID, partition, offset, maxBytes, true, stable)
	if err != nil || !idx.valid {
		return res, err
	}
	res.LastStableOffset = min(idx.lso(res.HighWatermark), res.HighWatermark)
	next, ok := res.Batches.NextOffset()
	if !ok {
		return res, nil
	}
	for _, a := range idx.aborted {
		if a.FirstOffset >= next {
			break
		}
		if a.LastOffset >= offset {
			res.Aborted = append(res.Aborted, roleapi.AbortedTxn{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset})
		}
	}
	return res, nil
}

// LastStable returns a partition's last stable offset, high watermark and
// log start offset, reading the metastore when the cached index is older
// than the cached high watermark.
func (r *Reader) LastStable(ctx context.Context, topicID uuid.UUID, partition int32) (lso, hwm, logStart int64, err error) {
	st := r.state(topicID, partition)
	snap, err := r.partition(ctx, st, 0)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("last stable offset of %s/%d: %w", topicID, partition, err)
	}
	idx, err := r.txnIndex(ctx, st, snap.hwm, snap.hwm)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("last stable offset of %s/%d: %w", topicID, partition, err)
	}
	return idx.lso(snap.hwm), snap.hwm, snap.logStart, nil
}

// StableAtEnd is AtEnd for a read_committed read: true only when the
// cached index says no transaction is open below the high watermark.
func (r *Reader) StableAtEnd(topicID uuid.UUID, partition int32, offset int64) (Result, bool) {
	res, ok := r.AtEnd(topicID, partition, offset)
	if !ok {
		return res, false
	}
	st := r.existing(topicID, partition)
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.txns.usable(st.txns.from, st.hwm) || st.txns.lso(st.hwm) != st.hwm {
		return Result{}, false
	}
	return res, true
}

// stableAbove reports, for a watch of a read_committed long poll, whether
// the partition's last stable offset is above offset, reading the index
// when the cached one is older than the high watermark.
func (r *Reader) stableAbove(ctx context.Context, st *partState, offset int64) bool {
	st.mu.Lock()
	hwm := st.hwm
	if hwm <= offset {
		st.mu.Unlock()
		return false
	}
	if st.txns.usable(st.txns.from, hwm) {
		above := st.txns.lso(hwm) > offset
		st.mu.Unlock()
		return above
	}
	st.mu.Unlock()
	idx, err := r.txnIndex(ctx, st, offset, hwm)
	if err != nil {
		r.logger.Debug("transaction index", "topic", st.key.TopicID, "partition", st.key.Partition, "err", err)
		return false
	}
	return idx.lso(hwm) > offset
}
