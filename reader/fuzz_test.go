package reader

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
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
