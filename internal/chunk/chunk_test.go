package chunk

import (
	"bytes"
	"slices"
	"testing"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/metastore"
)

// served is what a walk passed to its fn: each batch's offsets and bytes.
type served struct {
	start, end int64
	data       string
}

func walkAll(t *testing.T, d *Data, c *metastore.Chunk, from int64) ([]served, error) {
	t.Helper()
	var out []served
	err := d.Walk(c, from, func(b *Batch, start, end int64) bool {
		out = append(out, served{start, end, string(d.Bytes(b))})
		return true
	})
	return out, err
}

func strictAll(t *testing.T, d *Data, c *metastore.Chunk) ([]served, error) {
	t.Helper()
	var out []served
	err := d.Strict(c, func(b *Batch, start int64) error {
		out = append(out, served{start, start + b.Count, string(d.Bytes(b))})
		return nil
	})
	return out, err
}

func mustParse(t *testing.T, batches ...[]byte) *Data {
	t.Helper()
	d, err := Parse(bytes.Join(batches, nil))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func at(b []byte, off int64) []byte {
	b = bytes.Clone(b)
	recordbatch.SetBaseOffset(b, off)
	return b
}

func TestParse(t *testing.T) {
	o := batchtest.NoProducer
	o.BaseTimestamp = 1000
	b0 := at(batchtest.Values(o, "a", "b", "c"), 40)
	b1 := batchtest.Batch(o, batchtest.Record{Value: []byte("x"), Timestamp: 1700}, batchtest.Record{Value: []byte("y"), Timestamp: 1300})
	d := mustParse(t, b0, b1)
	want := []Batch{
		{Pos: 0, Size: len(b0), BaseOffset: 40, Count: 3, Rel: 0, MaxTimestamp: 1000},
		{Pos: len(b0), Size: len(b1), Count: 2, Rel: 3, MaxTimestamp: 1700},
	}
	if !slices.Equal(d.Batches, want) {
		t.Fatalf("index %+v, want %+v", d.Batches, want)
	}
	if got := d.Bytes(&d.Batches[1]); !bytes.Equal(got, b1) || cap(got) != len(b1) {
		t.Fatalf("batch 1: %d bytes of capacity %d", len(got), cap(got))
	}
	if d.MemSize() < int64(len(b0)+len(b1))+2*48 {
		t.Fatalf("MemSize %d", d.MemSize())
	}
	raw := bytes.Join([][]byte{b0, b1}, nil)
	for name, in := range map[string][]byte{
		"truncated":      raw[:len(raw)-1],
		"trailing bytes": append(bytes.Clone(raw), 0, 0, 0),
		"bad crc":        func() []byte { b := bytes.Clone(raw); b[len(b)-1] ^= 1; return b }(),
	} {
		if _, err := Parse(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if d, err := Parse(nil); err != nil || len(d.Batches) != 0 {
		t.Errorf("empty chunk: %+v, %v", d, err)
	}
}

func TestLevel0(t *testing.T) {
	b0 := batchtest.Values(batchtest.NoProducer, "a", "b", "c")
	b1 := batchtest.Values(batchtest.NoProducer, "d")
	b2 := batchtest.Values(batchtest.NoProducer, "e", "f")
	d := mustParse(t, b0, b1, b2)
	c := metastore.Chunk{BaseOffset: 100, EndOffset: 106, BatchCount: 3}
	all := []served{{100, 103, string(b0)}, {103, 104, string(b1)}, {104, 106, string(b2)}}
	for from, want := range map[int64][]served{0: all, 100: all, 102: all, 103: all[1:], 105: all[2:], 106: nil} {
		if got, err := walkAll(t, d, &c, from); err != nil || !slices.Equal(got, want) {
			t.Errorf("walk from %d: %v, %v; want %v", from, got, err, want)
		}
	}
	if got, err := strictAll(t, d, &c); err != nil || !slices.Equal(got, all) {
		t.Errorf("strict: %v, %v", got, err)
	}
	// The duplicate in the middle is not part of the log: it takes no
	// offsets.
	c = metastore.Chunk{BaseOffset: 100, EndOffset: 105, BatchCount: 3, Skip: []int32{1}}
	want := []served{{100, 103, string(b0)}, {103, 105, string(b2)}}
	for _, from := range []int64{0, 101} {
		if got, err := walkAll(t, d, &c, from); err != nil || !slices.Equal(got, want) {
			t.Errorf("walk with a skip from %d: %v, %v", from, got, err)
		}
	}
	if got, err := walkAll(t, d, &c, 104); err != nil || !slices.Equal(got, want[1:]) {
		t.Errorf("walk with a skip from 104: %v, %v", got, err)
	}
	if got, err := strictAll(t, d, &c); err != nil || !slices.Equal(got, want) {
		t.Errorf("strict with a skip: %v, %v", got, err)
	}

	for name, tc := range map[string]struct {
		c         metastore.Chunk
		walkFails bool // the lenient walk from the row's start refuses it too
	}{
		"end too far":   {metastore.Chunk{BaseOffset: 0, EndOffset: 7, BatchCount: 3}, true},
		"end too near":  {metastore.Chunk{BaseOffset: 0, EndOffset: 5, BatchCount: 3}, true},
		"batch count":   {metastore.Chunk{BaseOffset: 0, EndOffset: 6, BatchCount: 4}, true},
		"skip too much": {metastore.Chunk{BaseOffset: 0, EndOffset: 6, BatchCount: 3, Skip: []int32{0}}, true},
		"skip past end": {metastore.Chunk{BaseOffset: 0, EndOffset: 6, BatchCount: 3, Skip: []int32{3}}, false},
		"skip negative": {metastore.Chunk{BaseOffset: 0, EndOffset: 6, BatchCount: 3, Skip: []int32{-1}}, false},
	} {
		if _, err := strictAll(t, d, &tc.c); err == nil {
			t.Errorf("%s: strict accepted", name)
		}
		if _, err := walkAll(t, d, &tc.c, 0); (err != nil) != tc.walkFails {
			t.Errorf("%s: walk: %v, want failure %v", name, err, tc.walkFails)
		}
	}
}

func TestLevel1(t *testing.T) {
	b := batchtest.Values(batchtest.NoProducer, "a", "b")
	b10, b15, b17 := at(b, 10), at(b, 15), at(b, 17)
	d := mustParse(t, b10, b15, b17)
	all := []served{{10, 12, string(b10)}, {15, 17, string(b15)}, {17, 19, string(b17)}}
	c := metastore.Chunk{Level: 1, BaseOffset: 8, EndOffset: 20, BatchCount: 3}
	for from, want := range map[int64][]served{0: all, 11: all, 12: all[1:], 16: all[1:], 18: all[2:], 19: nil} {
		if got, err := walkAll(t, d, &c, from); err != nil || !slices.Equal(got, want) {
			t.Errorf("walk from %d: %v, %v; want %v", from, got, err, want)
		}
	}
	if got, err := strictAll(t, d, &c); err != nil || !slices.Equal(got, all) {
		t.Errorf("strict: %v, %v", got, err)
	}
	c.Skip = []int32{1}
	if got, err := strictAll(t, d, &c); err != nil || !slices.Equal(got, []served{all[0], all[2]}) {
		t.Errorf("strict with a skip: %v, %v", got, err)
	}

	// Where the two forms differ: a row narrower than its batches. The
	// walk serves the batches that reach into the row; the compactor,
	// which would rewrite the row from them, refuses it.
	for name, tc := range map[string]struct {
		c    metastore.Chunk
		walk []served
	}{
		"starts after the first batch": {metastore.Chunk{Level: 1, BaseOffset: 11, EndOffset: 20}, all},
		"starts after a whole batch":   {metastore.Chunk{Level: 1, BaseOffset: 12, EndOffset: 20}, all[1:]},
		"ends before the last batch":   {metastore.Chunk{Level: 1, BaseOffset: 8, EndOffset: 18}, all},
		"ends before a whole batch":    {metastore.Chunk{Level: 1, BaseOffset: 8, EndOffset: 17}, all[:2]},
	} {
		if got, err := walkAll(t, d, &tc.c, 0); err != nil || !slices.Equal(got, tc.walk) {
			t.Errorf("%s: walk %v, %v; want %v", name, got, err, tc.walk)
		}
		if _, err := strictAll(t, d, &tc.c); err == nil {
			t.Errorf("%s: strict accepted", name)
		}
	}

	overlap := mustParse(t, at(b, 10), at(b, 11))
	c = metastore.Chunk{Level: 1, BaseOffset: 0, EndOffset: 20}
	if _, err := strictAll(t, overlap, &c); err == nil {
		t.Error("overlapping batches: strict accepted")
	}
	if _, err := walkAll(t, overlap, &c, 0); err == nil {
		t.Error("overlapping batches: walk accepted")
	}
	// A skipped batch out of order: the walk refuses it, so Strict does.
	c = metastore.Chunk{Level: 1, BaseOffset: 0, EndOffset: 20, Skip: []int32{0}}
	if _, err := strictAll(t, mustParse(t, at(b, 1000), at(b, 10)), &c); err == nil {
		t.Error("skipped batch out of order: strict accepted")
	}
	if _, err := strictAll(t, d, &metastore.Chunk{Level: 1, BaseOffset: 8, EndOffset: 20, BatchCount: 2}); err == nil {
		t.Error("batch count: strict accepted")
	}
}

// TestStrictStops checks that an error of fn stops Strict and is returned.
func TestStrictStops(t *testing.T) {
	b := batchtest.Values(batchtest.NoProducer, "a")
	for _, level := range []int16{0, 1} {
		d := mustParse(t, at(b, 0), at(b, 1), at(b, 2))
		c := metastore.Chunk{Level: level, BaseOffset: 0, EndOffset: 3}
		n := 0
		stop := bytes.ErrTooLarge
		if err := d.Strict(&c, func(*Batch, int64) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("level %d: %v after %d batches", level, err, n)
		}
	}
}

// seedBatches returns batches of one to four records, with timestamps out
// of order, the last from an idempotent producer.
func seedBatches() [][]byte {
	var out [][]byte
	for n := 1; n <= 4; n++ {
		o := batchtest.NoProducer
		if n == 4 {
			o = batchtest.Options{ProducerID: 3, BaseSequence: 5}
		}
		o.BaseTimestamp = 1000
		recs := make([]batchtest.Record, n)
		for i := range recs {
			recs[i] = batchtest.Record{Value: []byte{byte('a' + i)}, Timestamp: 1000 + int64(i*700%1000)}
		}
		out = append(out, batchtest.Batch(o, recs...))
	}
	return out
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
