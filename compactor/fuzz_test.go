package compactor

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/crc32c"
	"github.com/stratalog/strata/internal/recordbatch"
)

// FuzzFilterBatch decodes arbitrary batches and filters them with an
// arbitrary mask. A batch it accepts must come out as valid uncompressed
// batches holding exactly the kept records, at their offsets, with their
// keys, values and headers.
func FuzzFilterBatch(f *testing.F) {
	f.Add(batchtest.Batch(batchtest.NoProducer, testRecords(10, 4)...), uint64(0b1011001))
	f.Add(batchtest.Batch(batchtest.Options{BaseTimestamp: 5, ProducerID: 1, BaseSequence: 1 << 30}, testRecords(3, 3)...), uint64(0b101))
	f.Add(zstdBatch(f, batchtest.Batch(batchtest.NoProducer, testRecords(20, 7)...)), uint64(0xf0f0f))
	f.Add(batchtest.Values(batchtest.NoProducer, "x"), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, mask uint64) {
		// Fix the length and CRC, so that the fuzzer explores the records
		// rather than the checksum.
		if len(data) >= recordbatch.HeaderSize {
			binary.BigEndian.PutUint32(data[8:], uint32(len(data)-12))
			binary.BigEndian.PutUint32(data[17:], crc32c.Checksum(data[21:]))
		}
		h, err := recordbatch.Check(data)
		if err != nil {
			return
		}
		const base = 1000
		recs, err := recordbatch.DecodeRecords(decompressor, data, h, base)
		if err != nil {
			return
		}
		if int32(len(recs)) != h.NumRecords {
			t.Fatalf("%d records, header says %d", len(recs), h.NumRecords)
		}
		for i, r := range recs {
			if r.Offset < base || r.Offset >= base+h.OffsetCount() || (i > 0 && r.Offset <= recs[i-1].Offset) {
				t.Fatalf("record %d at offset %d", i, r.Offset)
			}
		}
		keep := func(r *record) bool { return mask>>(uint64(r.Offset-base)%64)&1 == 1 }
		b := batch{data: data, base: base, count: h.OffsetCount(), h: h}
		out, removed, changed, err := filterBatch(nil, decompressor, &b, 7, keep)
		if err != nil {
			t.Fatalf("filter of a batch that decoded: %v", err)
		}
		var want []record
		for i := range recs {
			if keep(&recs[i]) {
				want = append(want, recs[i])
			}
		}
		if !changed {
			if len(want) != len(recs) || removed != 0 {
				t.Fatalf("unchanged, but %d of %d records kept", len(want), len(recs))
			}
			return
		}
		if removed != len(recs)-len(want) {
			t.Fatalf("%d removed, want %d", removed, len(recs)-len(want))
		}
		i := 0
		err = recordbatch.Split(out, func(nb []byte, nh recordbatch.Header) error {
			if nh.Compression() != 0 || nh.PartitionLeaderEpoch != 7 || nh.ProducerID != h.ProducerID || nh.BaseTimestamp != h.BaseTimestamp {
				t.Fatalf("rewritten header %+v from %+v", nh, h)
			}
			got, err := recordbatch.DecodeRecords(decompressor, nb, nh, nh.BaseOffset)
			if err != nil {
				t.Fatalf("rewritten batch: %v", err)
			}
			for _, g := range got {
				if i >= len(want) {
					t.Fatalf("more records than kept")
				}
				w := want[i]
				if g.Offset != w.Offset || g.Timestamp != w.Timestamp || !bytes.Equal(g.Key, w.Key) ||
					(g.Key == nil) != (w.Key == nil) || !bytes.Equal(g.Value, w.Value) ||
					(g.Value == nil) != (w.Value == nil) || len(g.Headers) != len(w.Headers) {
					t.Fatalf("record %d: %+v, want %+v", i, g, w)
				}
				i++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("rewritten batches fail their checks: %v", err)
		}
		if i != len(want) {
			t.Fatalf("%d records out, %d kept", i, len(want))
		}
	})
}
