package recordbatch_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/decompress"
	"github.com/stratalog/strata/internal/recordbatch"
)

// decompressor is the bounded one the reader and the compactor use: an
// unbounded one would spend the fuzzer's time on decompression bombs.
var decompressor = decompress.Shared()

// eachAll collects what EachRecord sees of every record.
func eachAll(batch []byte, h recordbatch.Header, base int64) ([]recordbatch.Record, error) {
	var out []recordbatch.Record
	err := recordbatch.EachRecord(decompressor, batch, h, base, func(r *recordbatch.Record) bool {
		out = append(out, *r)
		return true
	})
	return out, err
}

func TestDecodeRecords(t *testing.T) {
	o := batchtest.Options{BaseTimestamp: 1000, ProducerID: 4, ProducerEpoch: 1, BaseSequence: 9}
	plain := batchtest.Batch(o,
		batchtest.Record{Key: []byte("k0"), Value: []byte("v0"), Timestamp: 1000},
		batchtest.Record{Value: bytes.Repeat([]byte("x"), 300), Timestamp: 1700, Headers: []kmsg.Header{{Key: "h", Value: []byte("1")}, {Key: "g"}}},
		batchtest.Record{Key: []byte("k2"), Timestamp: 1200}, // a tombstone
	)
	for name, batch := range map[string][]byte{
		"uncompressed": plain,
		"zstd":         batchtest.Compress(plain, recordbatch.CompressionZstd),
		"gzip":         batchtest.Compress(plain, recordbatch.CompressionGzip),
	} {
		h, err := recordbatch.Check(batch)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		recs, err := recordbatch.DecodeRecords(decompressor, batch, h, 500)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(recs) != 3 {
			t.Fatalf("%s: %d records", name, len(recs))
		}
		for i, r := range recs {
			if r.Offset != 500+int64(i) {
				t.Errorf("%s: record %d at offset %d", name, i, r.Offset)
			}
		}
		r0, r1, r2 := recs[0], recs[1], recs[2]
		if string(r0.Key) != "k0" || string(r0.Value) != "v0" || r0.Timestamp != 1000 || r0.Tombstone() {
			t.Errorf("%s: record 0 %+v", name, r0)
		}
		if r1.Key != nil || len(r1.Value) != 300 || r1.Timestamp != 1700 || len(r1.Headers) != 2 ||
			string(r1.Headers[0].Value) != "1" || r1.Headers[1].Key != "g" || r1.Headers[1].Value != nil {
			t.Errorf("%s: record 1 %+v", name, r1)
		}
		if string(r2.Key) != "k2" || !r2.Tombstone() || r2.Timestamp != 1200 {
			t.Errorf("%s: record 2 %+v", name, r2)
		}
		// EachRecord sees the same records, and copies of them stay
		// valid (their headers too).
		each, err := eachAll(batch, h, 500)
		if err != nil || len(each) != 3 || each[1].Headers[0].Key != "h" || string(each[2].Key) != "k2" || each[0].Headers != nil {
			t.Errorf("%s: EachRecord %+v, %v", name, each, err)
		}
		// Stopping early stops.
		n := 0
		err = recordbatch.EachRecord(decompressor, batch, h, 500, func(r *recordbatch.Record) bool { n++; return r.Offset < 501 })
		if err != nil || n != 2 {
			t.Errorf("%s: stopped after %d records, %v", name, n, err)
		}
	}

	// LogAppendTime: every record carries the batch's max timestamp.
	lat := bytes.Clone(plain)
	recordbatch.SetLogAppendTime(lat, 5555)
	h, err := recordbatch.Check(lat)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := recordbatch.DecodeRecords(decompressor, lat, h, 0)
	if err != nil || len(recs) != 3 || recs[0].Timestamp != 5555 || recs[2].Timestamp != 5555 {
		t.Fatalf("LogAppendTime: %+v, %v", recs, err)
	}
}

func TestDecodeRecordsRefuses(t *testing.T) {
	three := batchtest.Values(batchtest.NoProducer, "record-0", "record-1", "record-2")
	h, err := recordbatch.Check(three)
	if err != nil {
		t.Fatal(err)
	}
	body := three[recordbatch.HeaderSize:]
	with := func(n int32) recordbatch.Header { c := h; c.NumRecords, c.LastOffsetDelta = n, n-1; return c }
	batch := func(body []byte) []byte { return append(bytes.Clone(three[:recordbatch.HeaderSize]), body...) }
	second := 1 + int(body[0])/2 // where the second record starts
	delta := func(d byte) []byte { b := bytes.Clone(body); b[second+3] = d; return batch(b) }
	compressed := bytes.Clone(three)
	compressed[22] |= recordbatch.CompressionZstd
	cases := map[string]struct {
		h     recordbatch.Header
		batch []byte
	}{
		"fewer records than claimed": {with(4), three},
		"more records than claimed":  {with(2), three},
		"offset delta repeated":      {h, delta(0)}, // 0, 0, 2
		"offset delta past the last": {h, delta(6)}, // 0, 3, 2: zigzag 6 is 3, past lastOffsetDelta 2
		"trailing bytes":             {h, append(bytes.Clone(three), 0)},
		"truncated record":           {h, three[:len(three)-1]},
		"negative record length":     {with(1), batch([]byte{1})},
		"record past the section":    {with(1), batch([]byte{40, 0, 0})},
		"not compressed as it says":  {func() recordbatch.Header { c := h; c.Attributes |= recordbatch.CompressionZstd; return c }(), compressed},
		"shorter than a header":      {h, three[:recordbatch.HeaderSize-1]},
	}
	for name, tc := range cases {
		_, err := recordbatch.DecodeRecords(decompressor, tc.batch, tc.h, 0)
		if !errors.Is(err, recordbatch.ErrRecords) {
			t.Errorf("%s: DecodeRecords: %v, want ErrRecords", name, err)
		}
		if _, err := eachAll(tc.batch, tc.h, 0); !errors.Is(err, recordbatch.ErrRecords) {
			t.Errorf("%s: EachRecord: %v, want ErrRecords", name, err)
		}
	}
}

// TestStoredRuleIsLenient shows where the stored rule reads records that
// the produce rule refuses: a record whose fields end before its length.
func TestStoredRuleIsLenient(t *testing.T) {
	one := batchtest.Values(batchtest.NoProducer, "v")
	body := one[recordbatch.HeaderSize:]
	// Lengthen the record by one byte after its fields.
	padded := append([]byte{body[0] + 2}, body[1:]...)
	padded = append(padded, 0)
	batch := batchtest.Reseal(append(bytes.Clone(one[:recordbatch.HeaderSize]), padded...))
	h, err := recordbatch.Check(batch)
	if err != nil {
		t.Fatal(err)
	}
	var w recordbatch.Walker
	if err := w.WalkRecords(h, batch[recordbatch.HeaderSize:], nil, nil); !errors.Is(err, recordbatch.ErrRecords) {
		t.Fatalf("produce rule: %v, want ErrRecords", err)
	}
	recs, err := recordbatch.DecodeRecords(decompressor, batch, h, 7)
	if err != nil || len(recs) != 1 || string(recs[0].Value) != "v" || recs[0].Offset != 7 {
		t.Fatalf("stored rule: %+v, %v", recs, err)
	}
}

// FuzzDecodeRecords: decoding never panics; what it accepts is exactly the
// header's count of records at increasing offsets inside the batch,
// EachRecord sees the same, and every batch the produce rule accepts the
// stored rule reads the same way.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(batchtest.Values(batchtest.NoProducer, "a", "b", "c"))
	f.Add(batchtest.Batch(batchtest.Options{BaseTimestamp: 10, ProducerID: 1, BaseSequence: 3},
		batchtest.Record{Key: []byte("k"), Headers: []kmsg.Header{{Key: "h"}}}, batchtest.Record{Value: []byte("v"), Timestamp: 12}))
	f.Add(batchtest.Compress(batchtest.Values(batchtest.NoProducer, "x", "y"), recordbatch.CompressionZstd))
	f.Add(batchtest.Compress(batchtest.Values(batchtest.NoProducer, "x", "y"), recordbatch.CompressionSnappy))
	f.Fuzz(func(t *testing.T, batch []byte) {
		// Fix the length and CRC, so that the fuzzer explores the records
		// rather than the checksum.
		if len(batch) >= recordbatch.HeaderSize {
			batch = batchtest.Reseal(batch)
		}
		h, err := recordbatch.Check(batch)
		if err != nil {
			return
		}
		const base = 1000
		recs, err := recordbatch.DecodeRecords(decompressor, batch, h, base)
		each, eachErr := eachAll(batch, h, base)
		if (err == nil) != (eachErr == nil) {
			t.Fatalf("DecodeRecords: %v; EachRecord: %v", err, eachErr)
		}
		if err != nil {
			if !errors.Is(err, recordbatch.ErrRecords) || !errors.Is(eachErr, recordbatch.ErrRecords) {
				t.Fatalf("errors %v, %v do not wrap ErrRecords", err, eachErr)
			}
		} else {
			if len(recs) != int(h.NumRecords) || len(each) != len(recs) {
				t.Fatalf("%d and %d records, header says %d", len(recs), len(each), h.NumRecords)
			}
			for i, r := range recs {
				if r.Offset < base || r.Offset >= base+h.OffsetCount() || (i > 0 && r.Offset <= recs[i-1].Offset) {
					t.Fatalf("record %d at offset %d", i, r.Offset)
				}
				e := each[i]
				if e.Offset != r.Offset || e.Timestamp != r.Timestamp || !bytes.Equal(e.Key, r.Key) || !bytes.Equal(e.Value, r.Value) || len(e.Headers) != len(r.Headers) {
					t.Fatalf("record %d: EachRecord %+v, DecodeRecords %+v", i, e, r)
				}
			}
		}
		if h.Compression() != recordbatch.CompressionNone {
			return
		}
		var infos []recordbatch.RecordInfo
		var w recordbatch.Walker
		if w.WalkRecords(h, batch[recordbatch.HeaderSize:], nil, func(i recordbatch.RecordInfo) error { infos = append(infos, i); return nil }) != nil {
			return
		}
		if err != nil {
			t.Fatalf("the produce rule accepts what the stored rule refuses: %v", err)
		}
		for i, info := range infos {
			r := recs[i]
			if r.OffsetDelta != info.OffsetDelta || r.TimestampDelta64 != info.TimestampDelta || (r.Key == nil) != (info.KeyLength < 0) ||
				(r.Value == nil) != (info.ValueLength < 0) || len(r.Headers) != int(info.Headers) {
				t.Fatalf("record %d: walk %+v, decoded %+v", i, info, r)
			}
			if info.KeyLength >= 0 && len(r.Key) != int(info.KeyLength) {
				t.Fatalf("record %d: key of %d bytes, walk says %d", i, len(r.Key), info.KeyLength)
			}
		}
	})
}
