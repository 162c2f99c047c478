package reader

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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

// FuzzParseChunk checks that the index of a decoded chunk describes its bytes
// exactly, and that level-0 offsets assigned from it are contiguous.
func FuzzParseChunk(f *testing.F) {
	seeds := seedBatches()
	f.Add(bytes.Join(seeds, nil), int64(0), uint8(0))
	f.Add(bytes.Join(seeds[1:3], nil), int64(1), uint8(2))
	f.Add(seeds[0][:40], int64(0), uint8(0))
	f.Add([]byte{}, int64(5), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, from int64, skipMask uint8) {
		d, err := parseChunk(raw)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		pos := 0
		var rel int64
		for i, b := range d.batches {
			if b.pos != pos || b.size < recordbatch.HeaderSize || b.count < 1 || b.rel != rel {
				t.Fatalf("batch %d: %+v at byte %d, rel %d", i, b, pos, rel)
			}
			h, err := recordbatch.Check(raw[b.pos : b.pos+b.size])
			if err != nil || h.OffsetCount() != b.count || h.MaxTimestamp != b.maxTS {
				t.Fatalf("batch %d does not re-check: %v", i, err)
			}
			pos += b.size
			rel += b.count
		}
		if pos != len(raw) {
			t.Fatalf("batches cover %d of %d bytes", pos, len(raw))
		}

		// As a level-0 chunk at offset 100 with some batches skipped.
		c := metastore.Chunk{BaseOffset: 100, BatchCount: int32(len(d.batches))}
		var total int64
		for i, b := range d.batches {
			if i < 8 && skipMask&(1<<i) != 0 {
				c.Skip = append(c.Skip, int32(i))
				continue
			}
			total += b.count
		}
		c.EndOffset = c.BaseOffset + total
		from = 100 + from%(total+1)
		next := int64(-1)
		var served int64
		err = walk(&c, d, from, func(b *batchInfo, start, end int64) bool {
			if end <= from || end-start != b.count || (next >= 0 && start != next) {
				t.Fatalf("batch [%d, %d) after %d, from %d", start, end, next, from)
			}
			if next < 0 && start > max(from, c.BaseOffset) {
				t.Fatalf("first batch starts at %d, after %d", start, from)
			}
			next = end
			served += b.count
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
	})
}

// FuzzFirstRecord checks the record scan of OffsetForTimestamp: what it
// finds satisfies the query, and a record it misses did not.
func FuzzFirstRecord(f *testing.F) {
	for _, b := range seedBatches() {
		f.Add(b, int64(1200), int64(0))
	}
	dec := kgo.DefaultDecompressor()
	f.Fuzz(func(t *testing.T, batch []byte, ts, minOffset int64) {
		const base = 50
		off, got, found, err := firstRecordAtOrAfter(dec, batch, base, ts, minOffset)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !found {
			return
		}
		if got < ts || off < minOffset {
			t.Fatalf("found offset %d ts %d for ts >= %d, offset >= %d", off, got, ts, minOffset)
		}
		h, err := recordbatch.ParseHeader(batch)
		if err != nil {
			t.Fatalf("found a record in a batch whose header does not parse: %v", err)
		}
		if h.Compression() == 0 && !h.LogAppendTime() {
			// The answer is the first qualifying record, in record order.
			if recs, ok := decodeRecords(batch); ok {
				for _, r := range recs {
					o, rts := base+int64(r.OffsetDelta), h.BaseTimestamp+r.TimestampDelta64
					if o >= minOffset && rts >= ts {
						if o != off || rts != got {
							t.Fatalf("found %d/%d, first qualifying record is %d/%d", off, got, o, rts)
						}
						break
					}
				}
			}
		}
	})
}

// decodeRecords decodes an uncompressed batch, reporting false when it is
// malformed.
func decodeRecords(batch []byte) (recs []kmsg.Record, ok bool) {
	if _, err := recordbatch.Check(batch); err != nil {
		return nil, false
	}
	defer func() {
		if recover() != nil {
			recs, ok = nil, false
		}
	}()
	_, recs = batchtest.Decode(batch)
	return recs, true
}
