package reader

import (
	"fmt"
	"sort"

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
)

// ErrCorrupt is returned when a chunk's bytes fail their checks (zstd frame
// checksum, batch structure or CRC) or disagree with the chunk index.
// Corrupt data is never cached.
var ErrCorrupt = roleapi.ErrCorrupt

// batchInfo locates one record batch in a decoded chunk.
type batchInfo struct {
	pos, size  int   // byte range in chunkData.raw
	baseOffset int64 // as stored: relative in level 0, absolute in level 1
	count      int64 // offsets occupied: lastOffsetDelta + 1
	rel        int64 // sum of count of the batches before this one
	maxTS      int64
}

// chunkData is a decoded chunk: the concatenated batches and their index.
// It is shared by every reader of the chunk and never modified.
type chunkData struct {
	raw     []byte
	batches []batchInfo
}

const batchInfoSize = 48

func (d *chunkData) memSize() int64 {
	return int64(cap(d.raw)) + int64(cap(d.batches))*batchInfoSize
}

// parseChunk indexes the record batches of a decoded chunk, checking each
// batch's structure and CRC. The batches must tile raw exactly.
func parseChunk(raw []byte) (*chunkData, error) {
	d := &chunkData{raw: raw}
	pos := 0
	var rel int64
	err := recordbatch.Split(raw, func(batch []byte, h recordbatch.Header) error {
		if h.LastOffsetDelta < 0 {
			return fmt.Errorf("negative last offset delta %d", h.LastOffsetDelta)
		}
		n := int64(h.LastOffsetDelta) + 1
		d.batches = append(d.batches, batchInfo{
			pos:        pos,
			size:       len(batch),
			baseOffset: h.BaseOffset,
			count:      n,
			rel:        rel,
			maxTS:      h.MaxTimestamp,
		})
		pos += len(batch)
		rel += n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if pos != len(raw) {
		return nil, fmt.Errorf("%w: batches cover %d of %d bytes", ErrCorrupt, pos, len(raw))
	}
	return d, nil
}

// walk calls fn, in order, for each batch of chunk c that is part of the log
// (not in c.Skip), lies within the chunk's offsets, and ends after offset
// from, with the batch's absolute first offset and one past its last. fn
// returns false to stop. Level-0 batches get their offsets from the chunk's
// base offset; level-1 batches carry them. An index that disagrees with the
// bytes gives ErrCorrupt.
func walk(c *metastore.Chunk, d *chunkData, from int64, fn func(b *batchInfo, start, end int64) bool) error {
	if c.BatchCount > 0 && int(c.BatchCount) != len(d.batches) {
		return fmt.Errorf("%w: index says %d batches, chunk holds %d", ErrCorrupt, c.BatchCount, len(d.batches))
	}
	skipped := func(i int) bool { return false }
	if len(c.Skip) > 0 {
		skip := make(map[int32]bool, len(c.Skip))
		for _, s := range c.Skip {
			skip[s] = true
		}
		skipped = func(i int) bool { return skip[int32(i)] }
	}
	if c.Level == 0 {
		return walkRelative(c, d, from, skipped, fn)
	}
	i := sort.Search(len(d.batches), func(i int) bool {
		b := &d.batches[i]
		return b.baseOffset+b.count > from
	})
	prevEnd := int64(-1 << 63)
	for ; i < len(d.batches); i++ {
		b := &d.batches[i]
		start, end := b.baseOffset, b.baseOffset+b.count
		if start < prevEnd {
			return fmt.Errorf("%w: batch offsets out of order at batch %d", ErrCorrupt, i)
		}
		prevEnd = end
		if skipped(i) || end <= c.BaseOffset || end <= from {
			continue
		}
		if start >= c.EndOffset {
			return nil
		}
		if !fn(b, start, end) {
			return nil
		}
	}
	return nil
}

func walkRelative(c *metastore.Chunk, d *chunkData, from int64, skipped func(int) bool, fn func(b *batchInfo, start, end int64) bool) error {
	i, abs := 0, c.BaseOffset
	if len(c.Skip) == 0 && from > c.BaseOffset {
		// Without skipped batches offsets follow from the running sums.
		i = sort.Search(len(d.batches), func(i int) bool {
			b := &d.batches[i]
			return c.BaseOffset+b.rel+b.count > from
		})
		if i < len(d.batches) {
			abs = c.BaseOffset + d.batches[i].rel
		} else if len(d.batches) > 0 {
			last := &d.batches[len(d.batches)-1]
			abs = c.BaseOffset + last.rel + last.count
		}
	}
	for ; i < len(d.batches); i++ {
		if skipped(i) {
			continue
		}
		b := &d.batches[i]
		start, end := abs, abs+b.count
		abs = end
		if end > c.EndOffset {
			return fmt.Errorf("%w: batches run past the chunk's end offset %d", ErrCorrupt, c.EndOffset)
		}
		if end <= from {
			continue
		}
		if !fn(b, start, end) {
			return nil
		}
	}
	if abs != c.EndOffset {
		return fmt.Errorf("%w: batches end at offset %d, index says %d", ErrCorrupt, abs, c.EndOffset)
	}
	return nil
}
