// Package chunk reads decoded chunks of segment objects: which of a chunk's
// record batches are part of the log, and at which offsets. The reader and
// the compactor both read chunks through it, so that they cannot disagree
// on what a chunk holds.
//
// A chunk row (metastore.Chunk) covers the offsets [BaseOffset, EndOffset)
// of one partition, and the chunk's decoded bytes are its batches, one
// after the other (docs/segment-format.md). The offset rule:
//
//   - Level 0 (written by ingest): batches hold what producers sent, with
//     relative offsets. The batches in the row's Skip list (rejected, or
//     duplicates of retries) are not part of the log and take no offsets;
//     each other batch starts where the one before it ended, the first at
//     BaseOffset, and together they fill the row exactly.
//   - Level 1 (written by the compactor): batches carry their absolute
//     base offsets, in order and not overlapping.
//
// The rule has two forms. Walk is lenient, for serving reads: it starts at
// any offset, passes over level-1 batches that end before the row starts
// and stops at the first that starts after it ends, and checks only what
// it walks over. Strict is for rewriting: the compactor replaces the row
// by what it reads, so every batch must lie inside the row, the skip list
// must name batches that exist, and the batches are checked from the first
// to the last.
//
// Every error of this package means that a chunk's bytes disagree with
// their checks or with their row. The errors carry no sentinel of their
// own: the reader and the compactor each wrap them in their ErrCorrupt.
package chunk

import (
	"fmt"
	"math"
	"sort"
	"unsafe"

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/metastore"
)

// Batch locates one record batch in a decoded chunk.
type Batch struct {
	Pos, Size    int   // byte range in Data.Raw
	BaseOffset   int64 // as stored: relative in level 0, absolute in level 1
	Count        int64 // offsets it occupies: lastOffsetDelta + 1
	Rel          int64 // sum of Count of the batches before this one
	MaxTimestamp int64
}

// Data is a decoded chunk: its batches, concatenated, and their index. It
// is never modified once Parse returns it, so any number of readers may
// share it.
type Data struct {
	Raw     []byte
	Batches []Batch
}

// MemSize is the memory d holds: its bytes and its index.
func (d *Data) MemSize() int64 {
	return int64(cap(d.Raw)) + int64(cap(d.Batches))*int64(unsafe.Sizeof(Batch{}))
}

// Bytes returns batch b's bytes, with their capacity limited to them.
func (d *Data) Bytes(b *Batch) []byte {
	end := b.Pos + b.Size
	return d.Raw[b.Pos:end:end]
}

// Parse indexes the record batches of a decoded chunk, checking each one
// (recordbatch.Check: structure, CRC32C, header fields). The batches must
// fill raw exactly.
func Parse(raw []byte) (*Data, error) {
	d := &Data{Raw: raw}
	pos := 0
	var rel int64
	err := recordbatch.Split(raw, func(batch []byte, h recordbatch.Header) error {
		if h.LastOffsetDelta < 0 {
			return fmt.Errorf("negative last offset delta %d", h.LastOffsetDelta)
		}
		n := h.OffsetCount()
		d.Batches = append(d.Batches, Batch{
			Pos:          pos,
			Size:         len(batch),
			BaseOffset:   h.BaseOffset,
			Count:        n,
			Rel:          rel,
			MaxTimestamp: h.MaxTimestamp,
		})
		pos += len(batch)
		rel += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	if pos != len(raw) {
		return nil, fmt.Errorf("batches cover %d of %d bytes", pos, len(raw))
	}
	return d, nil
}

// Walk calls fn, in order, for each batch of d that is part of the log
// of row c (not in c.Skip), lies within the row's offsets, and ends after
// offset from, with the batch's absolute first offset and one past its
// last. fn returns false to stop. This is the lenient form of the offset
// rule, for serving reads; an index that disagrees with the bytes, where
// the walk meets it, is an error.
func (d *Data) Walk(c *metastore.Chunk, from int64, fn func(b *Batch, start, end int64) bool) error {
	if c.BatchCount > 0 && int(c.BatchCount) != len(d.Batches) {
		return fmt.Errorf("index says %d batches, chunk holds %d", c.BatchCount, len(d.Batches))
	}
	skipped := skipList(c)
	if c.Level == 0 {
		return d.walkRelative(c, from, skipped, fn)
	}
	i := sort.Search(len(d.Batches), func(i int) bool {
		b := &d.Batches[i]
		return b.BaseOffset+b.Count > from
	})
	prevEnd := int64(math.MinInt64)
	for ; i < len(d.Batches); i++ {
		b := &d.Batches[i]
		start, end := b.BaseOffset, b.BaseOffset+b.Count
		if start < prevEnd {
			return fmt.Errorf("batch offsets out of order at batch %d", i)
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

// walkRelative is Walk for a level-0 row: offsets follow from the row's
// base offset and the batches before, less the skipped ones.
func (d *Data) walkRelative(c *metastore.Chunk, from int64, skipped func(int) bool, fn func(b *Batch, start, end int64) bool) error {
	i, abs := 0, c.BaseOffset
	if len(c.Skip) == 0 && from > c.BaseOffset {
		// Without skipped batches offsets follow from the running sums.
		i = sort.Search(len(d.Batches), func(i int) bool {
			b := &d.Batches[i]
			return c.BaseOffset+b.Rel+b.Count > from
		})
		if i < len(d.Batches) {
			abs = c.BaseOffset + d.Batches[i].Rel
		} else if len(d.Batches) > 0 {
			last := &d.Batches[len(d.Batches)-1]
			abs = c.BaseOffset + last.Rel + last.Count
		}
	}
	for ; i < len(d.Batches); i++ {
		if skipped(i) {
			continue
		}
		b := &d.Batches[i]
		start, end := abs, abs+b.Count
		abs = end
		if end > c.EndOffset || end < start {
			return fmt.Errorf("batches run past the chunk's end offset %d", c.EndOffset)
		}
		if end <= from {
			continue
		}
		if !fn(b, start, end) {
			return nil
		}
	}
	if abs != c.EndOffset {
		return fmt.Errorf("batches end at offset %d, index says %d", abs, c.EndOffset)
	}
	return nil
}

// Strict calls fn, in order, for every batch of d that is part of the log
// of row c, with its absolute first offset, after checking it: the strict
// form of the offset rule, for rewriting. Every batch must lie within
// [c.BaseOffset, c.EndOffset), level-1 batches (skipped ones too) must be
// in order and not overlap, a level-0 row's batches must fill it exactly,
// and the row's batch count and skip list must match the chunk. A batch that breaks the rule stops the walk
// with an error, so a caller keeps what fn saw only when Strict returns
// nil. An error from fn stops it too, and is returned unchanged.
func (d *Data) Strict(c *metastore.Chunk, fn func(b *Batch, start int64) error) error {
	n := len(d.Batches)
	for _, i := range c.Skip {
		if i < 0 || int(i) >= n {
			return fmt.Errorf("skip index %d of %d batches", i, n)
		}
	}
	if c.Level == 0 {
		// Walked from the row's start, the lenient rule checks all that
		// the strict one does.
		var err error
		werr := d.Walk(c, math.MinInt64, func(b *Batch, start, _ int64) bool {
			err = fn(b, start)
			return err == nil
		})
		if err != nil {
			return err
		}
		return werr
	}
	if c.BatchCount > 0 && int(c.BatchCount) != n {
		return fmt.Errorf("index says %d batches, chunk holds %d", c.BatchCount, n)
	}
	skipped := skipList(c)
	prevEnd := int64(math.MinInt64)
	for i := range d.Batches {
		b := &d.Batches[i]
		start, end := b.BaseOffset, b.BaseOffset+b.Count
		// Skipped batches too, as Walk checks them: what Strict accepts,
		// the reader serves.
		if start < prevEnd {
			return fmt.Errorf("batch %d at offset %d overlaps the one before", i, start)
		}
		prevEnd = end
		if skipped(i) {
			continue
		}
		if start < c.BaseOffset {
			return fmt.Errorf("batch %d at offset %d starts before the chunk at %d", i, start, c.BaseOffset)
		}
		if end > c.EndOffset || end < start {
			return fmt.Errorf("batch %d [%d, %d) runs past the chunk's end offset %d", i, start, end, c.EndOffset)
		}
		if err := fn(b, start); err != nil {
			return err
		}
	}
	return nil
}

// skipList returns whether batch i is in c's skip list.
func skipList(c *metastore.Chunk) func(i int) bool {
	if len(c.Skip) == 0 {
		return func(int) bool { return false }
	}
	skip := make(map[int32]bool, len(c.Skip))
	for _, s := range c.Skip {
		skip[s] = true
	}
	return func(i int) bool { return skip[int32(i)] }
}
