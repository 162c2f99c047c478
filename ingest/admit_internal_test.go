package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/bench"
	"github.com/stratalog/strata/internal/recordbatch"
)

// BenchmarkAdmit: admission of one produced batch of 16 records of 1 KiB
// JSON events, as `strata bench` sends them, uncompressed and in each
// codec. "header" is the checks of the header alone (CRC32C and fields),
// what the produce path did before records were walked; "records" is the
// whole admission, the records walked and, compressed, decompressed as a
// stream. Bytes per second are of the batch as produced.
func BenchmarkAdmit(b *testing.B) {
	payloads := bench.Payloads(bench.PayloadJSON, 1024, 1)
	recs := make([]batchtest.Record, 16)
	for n := range recs {
		recs[n] = batchtest.Record{Value: payloads[n%len(payloads)]}
	}
	plain := batchtest.Batch(batchtest.NoProducer, recs...)
	i := &Ingester{admitters: newAdmitters(256 << 20)}
	ctx := context.Background()
	for _, codec := range []int8{0, 1, 2, 3, 4} {
		batch := plain
		if codec != 0 {
			batch = batchtest.Compress(plain, codec)
		}
		name := []string{"none", "gzip", "snappy", "lz4", "zstd"}[codec]
		b.Run(fmt.Sprintf("%s/header", name), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if err := recordbatch.Split(batch, func([]byte, recordbatch.Header) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%s/records", name), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := i.admit(ctx, batch, Admission{RequireKeys: false}); err != nil {
					b.Fatal(err)
				}
			}
		})
		// A compacted topic with LogAppendTime: keys checked and the
		// append time written in, in the same pass.
		keyed := keyedBatch(plain, codec)
		b.Run(fmt.Sprintf("%s/compacted-logappendtime", name), func(b *testing.B) {
			b.SetBytes(int64(len(keyed)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := i.admit(ctx, keyed, Admission{RequireKeys: true, LogAppendTime: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// keyedBatch is the benchmark's batch with a key on every record.
func keyedBatch(plain []byte, codec int8) []byte {
	_, recs := batchtest.Decode(plain)
	keyed := make([]batchtest.Record, len(recs))
	for n, r := range recs {
		keyed[n] = batchtest.Record{Key: []byte(fmt.Sprintf("key-%d", n)), Value: r.Value}
	}
	b := batchtest.Batch(batchtest.NoProducer, keyed...)
	if codec != 0 {
		b = batchtest.Compress(b, codec)
	}
	return b
}

// FuzzAdmit: admission never panics and fails only with its own errors;
// an admitted records field is whole batches whose counts add up.
func FuzzAdmit(f *testing.F) {
	keyed := batchtest.Batch(batchtest.NoProducer, batchtest.Record{Key: []byte("k"), Value: []byte("v")})
	f.Add(keyed, uint8(0))
	f.Add(batchtest.Compress(keyed, 4), uint8(1))
	f.Add(batchtest.Compress(keyed, 2), uint8(2))
	f.Add(append(bytes.Clone(keyed), keyed...), uint8(3))
	i := &Ingester{admitters: newAdmitters(1 << 20)}
	sentinels := []error{ErrCorruptBatch, ErrUnsupportedBatch, ErrOldFormat, ErrBatchTooLarge, ErrUnsupportedCompression, ErrInvalidRecords}
	f.Fuzz(func(t *testing.T, records []byte, flags uint8) {
		adm := Admission{RequireKeys: flags&1 != 0, NoZstd: flags&2 != 0}
		if flags&4 != 0 {
			adm.MaxBatchBytes = 100
		}
		c, err := i.admit(context.Background(), records, adm)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %v wraps no sentinel", err)
		}
		var n int64
		if err := recordbatch.Split(records, func(_ []byte, h recordbatch.Header) error { n += h.OffsetCount(); return nil }); err != nil {
			t.Fatalf("admitted records that Split refuses: %v", err)
		}
		if n != c.records {
			t.Fatalf("admitted %d records, the batches hold %d", c.records, n)
		}
	})
}
