package reader

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/chunk"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/metastore"
)

// maxTimestampChunks bounds the chunks one OffsetForTimestamp scans after the
// one the metastore pointed at.
const maxTimestampChunks = 64

// OffsetForTimestamp returns the first offset whose record timestamp is at
// least ts, and that record's timestamp, or -1, -1 when there is none. The
// metastore points at the first chunk whose max timestamp qualifies; the
// batches of that chunk are scanned by max timestamp, and the records of the
// first qualifying batch are decoded (decompressed with franz-go's kgo
// decompressor) to find the record. Records below the log start offset are
// never returned.
func (r *Reader) OffsetForTimestamp(ctx context.Context, topicID uuid.UUID, partition int32, ts int64) (offset, timestamp int64, err error) {
	st := r.state(topicID, partition)
	snap, err := r.refresh(ctx, st)
	if err != nil {
		return -1, -1, fmt.Errorf("offset for timestamp %s/%d: %w", topicID, partition, err)
	}
	c, ok, err := r.store.ChunkForTimestamp(ctx, topicID, partition, ts)
	if err != nil {
		return -1, -1, fmt.Errorf("offset for timestamp %s/%d: %w", topicID, partition, err)
	}
	if !ok {
		return -1, -1, nil
	}
	chunks := []metastore.Chunk{c}
	for scanned := 0; scanned < maxTimestampChunks; scanned++ {
		if len(chunks) == 0 {
			cur := c.EndOffset
			if cur >= snap.hwm {
				return -1, -1, nil
			}
			chunks, err = r.chunksFor(ctx, st, max(cur, snap.logStart))
			if err != nil {
				return -1, -1, fmt.Errorf("offset for timestamp %s/%d: %w", topicID, partition, err)
			}
			if len(chunks) == 0 {
				return -1, -1, nil
			}
		}
		c, chunks = chunks[0], chunks[1:]
		if c.EndOffset <= snap.logStart || c.MaxTimestamp < ts {
			continue
		}
		off, t, found, err := r.searchChunk(ctx, &c, ts, snap.logStart)
		if err != nil {
			return -1, -1, fmt.Errorf("offset for timestamp %s/%d: %w", topicID, partition, err)
		}
		if found {
			return off, t, nil
		}
	}
	return -1, -1, nil
}

// searchChunk finds the first record of chunk c at or after minOffset whose
// timestamp is at least ts.
func (r *Reader) searchChunk(ctx context.Context, c *metastore.Chunk, ts, minOffset int64) (offset, timestamp int64, found bool, err error) {
	data, err := r.chunk(ctx, []metastore.Chunk{*c})
	if err != nil {
		return 0, 0, false, err
	}
	var serr error
	werr := walk(c, data, minOffset, func(b *chunk.Batch, start, _ int64) bool {
		if b.MaxTimestamp < ts {
			return true
		}
		offset, timestamp, found, serr = firstRecordAtOrAfter(r.decomp, data.Bytes(b), start, ts, minOffset)
		return serr == nil && !found
	})
	if werr != nil {
		return 0, 0, false, werr
	}
	return offset, timestamp, found, serr
}

// firstRecordAtOrAfter scans the records of one batch whose first offset is
// base for the first one at or after minOffset with timestamp >= ts. The
// records are decoded by the rule of stored batches
// (recordbatch.EachRecord), up to the one found.
func firstRecordAtOrAfter(dec kgo.Decompressor, batch []byte, base, ts, minOffset int64) (offset, timestamp int64, found bool, err error) {
	h, err := recordbatch.ParseHeader(batch)
	if err != nil {
		return 0, 0, false, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if h.LogAppendTime() {
		// Every record carries the batch's max timestamp.
		if h.MaxTimestamp >= ts {
			return max(base, minOffset), h.MaxTimestamp, true, nil
		}
		return 0, 0, false, nil
	}
	err = recordbatch.EachRecord(dec, batch, h, base, func(r *recordbatch.Record) bool {
		if r.Offset >= minOffset && r.Timestamp >= ts {
			offset, timestamp, found = r.Offset, r.Timestamp, true
			return false
		}
		return true
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return offset, timestamp, found, nil
}
