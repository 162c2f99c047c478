package chunk

import (
	"bytes"
	"slices"
	"testing"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/metastore"
)

func seedBatches() [][]byte {
	rec := func(ts int64, v string) batchtest.Record { return batchtest.Record{Value: []byte(v), Timestamp: ts} }
	o := batchtest.NoProducer
	o.BaseTimestamp = 1000
	return [][]byte{
		batchtest.Values(batchtest.NoProducer, "a"),
		batchtest.Values(batchtest.NoProducer, "b", "c", "d"),
		batchtest.Batch(o, rec(1000, "x"), rec(1700, "y"), rec(1300, "z")),
		batchtest.Values(batchtest.Options{ProducerID: 3, BaseSequence: 5}, "p", "q"),
	}
}

// FuzzWalk checks that the index of a decoded chunk describes its bytes
// exactly, and that level-0 offsets assigned from it are contiguous.
func FuzzWalk(f *testing.F) {
	seeds := seedBatches()
	f.Add(bytes.Join(seeds, nil), int64(0), uint8(0))
	f.Add(bytes.Join(seeds[1:3], nil), int64(1), uint8(2))
	f.Add(seeds[0][:40], int64(0), uint8(0))
	f.Add([]byte{}, int64(5), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, from int64, skipMask uint8) {
		d, err := Parse(raw)
		if err != nil {
			return
		}
		pos := 0
		var rel int64
		for i, b := range d.Batches {
			if b.Pos != pos || b.Size < recordbatch.HeaderSize || b.Count < 1 || b.Rel != rel {
				t.Fatalf("batch %d: %+v at byte %d, rel %d", i, b, pos, rel)
			}
			h, err := recordbatch.Check(raw[b.Pos : b.Pos+b.Size])
			if err != nil || h.OffsetCount() != b.Count || h.MaxTimestamp != b.MaxTimestamp || h.BaseOffset != b.BaseOffset {
				t.Fatalf("batch %d does not re-check: %v", i, err)
			}
			pos += b.Size
			rel += b.Count
		}
		if pos != len(raw) {
			t.Fatalf("batches cover %d of %d bytes", pos, len(raw))
		}

		// As a level-0 chunk at offset 100 with some batches skipped.
		c := metastore.Chunk{BaseOffset: 100, BatchCount: int32(len(d.Batches))}
		var total int64
		for i, b := range d.Batches {
			if i < 8 && skipMask&(1<<i) != 0 {
				c.Skip = append(c.Skip, int32(i))
				continue
			}
			total += b.Count
		}
		c.EndOffset = c.BaseOffset + total
		if from < 0 {
			from = -from
		}
		from = 100 + from%(total+1)
		next := int64(-1)
		var served int64
		err = d.Walk(&c, from, func(b *Batch, start, end int64) bool {
			if end <= from || end-start != b.Count || (next >= 0 && start != next) {
				t.Fatalf("batch [%d, %d) after %d, from %d", start, end, next, from)
			}
			if next < 0 && start > max(from, c.BaseOffset) {
				t.Fatalf("first batch starts at %d, after %d", start, from)
			}
			next = end
			served += b.Count
			return true
		})
		if err != nil {
			t.Fatalf("consistent chunk: %v", err)
		}
		if next >= 0 && next != c.EndOffset {
			t.Fatalf("served up to %d, chunk ends at %d", next, c.EndOffset)
		}
		if served > total {
			t.Fatalf("served %d offsets of %d", served, total)
		}
		// The strict form accepts the consistent chunk, with the offsets
		// the walk from its start assigns.
		var walked, strict []int64
		if err := d.Walk(&c, 0, func(_ *Batch, start, _ int64) bool { walked = append(walked, start); return true }); err != nil {
			t.Fatalf("walk from the start: %v", err)
		}
		if err := d.Strict(&c, func(_ *Batch, start int64) error { strict = append(strict, start); return nil }); err != nil || !slices.Equal(walked, strict) {
			t.Fatalf("strict: %v at %v; walk at %v", err, strict, walked)
		}
	})
}

// FuzzStrict feeds Strict arbitrary decoded chunks and index rows.
// Whatever it accepts must hold: whole, checked batches taken from the
// input in order, inside the row's offsets and not overlapping, filling a
// level-0 row exactly; and the lenient walk from the row's start must
// serve the same batches at the same offsets.
func FuzzStrict(f *testing.F) {
	b1 := batchtest.Values(batchtest.NoProducer, "a", "b", "c")
	b2 := batchtest.Batch(batchtest.Options{ProducerID: 3, ProducerEpoch: 1, BaseSequence: 9}, batchtest.Record{Key: []byte("k")})
	f.Add(append(bytes.Clone(b1), b2...), uint8(0), int64(10), uint16(4), uint8(0xff))
	f.Add(append(bytes.Clone(b1), b2...), uint8(0), int64(10), uint16(3), uint8(1))
	l1 := bytes.Clone(b1)
	recordbatch.SetBaseOffset(l1, 20)
	f.Add(l1, uint8(1), int64(18), uint16(10), uint8(0xff))
	f.Add([]byte{}, uint8(0), int64(0), uint16(0), uint8(0xff))
	f.Fuzz(func(t *testing.T, raw []byte, level uint8, base int64, span uint16, skip uint8) {
		if base < 0 || base > 1<<60 {
			return
		}
		d, err := Parse(raw)
		if err != nil {
			return
		}
		c := metastore.Chunk{Level: int16(level % 2), BaseOffset: base, EndOffset: base + int64(span)}
		if skip != 0xff {
			c.Skip = []int32{int32(skip % 8)}
		}
		type got struct {
			start, end int64
			pos        int
		}
		var bs []got
		err = d.Strict(&c, func(b *Batch, start int64) error {
			data := d.Bytes(b)
			if _, err := recordbatch.Check(data); err != nil {
				t.Fatalf("batch at %d fails its checks: %v", start, err)
			}
			if !bytes.Equal(raw[b.Pos:b.Pos+b.Size], data) {
				t.Fatalf("batch at %d is not the input's", start)
			}
			bs = append(bs, got{start, start + b.Count, b.Pos})
			return nil
		})
		if err != nil {
			return
		}
		next, pos := c.BaseOffset, -1
		var covered int64
		for i, b := range bs {
			if b.start < next || b.end > c.EndOffset || b.pos <= pos {
				t.Fatalf("batch %d [%d, %d) at byte %d after %d in [%d, %d)", i, b.start, b.end, b.pos, next, c.BaseOffset, c.EndOffset)
			}
			next, pos = b.end, b.pos
			covered += b.end - b.start
		}
		if c.Level == 0 && covered != c.EndOffset-c.BaseOffset {
			t.Fatalf("level 0: batches cover %d offsets of %d", covered, c.EndOffset-c.BaseOffset)
		}
		var walked []got
		err = d.Walk(&c, c.BaseOffset, func(b *Batch, start, end int64) bool {
			walked = append(walked, got{start, end, b.Pos})
			return true
		})
		if err != nil || !slices.Equal(walked, bs) {
			t.Fatalf("walk: %v, %v; strict %v", walked, err, bs)
		}
	})
}
