package compactor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/metastore"
)

// benchRun writes n level-0 objects to a local directory, each holding a
// chunk of about chunkBytes of ~1 KiB JSON-like records for the partition
// (and one for another partition), and returns the partition's chunk rows.
func benchRun(b *testing.B, objects objstore.Store, n, chunkBytes int) (metastore.Partition, []metastore.Chunk, int64) {
	b.Helper()
	ctx := context.Background()
	p := metastore.Partition{TopicID: uuid.New(), Partition: 0, NextOffset: 0, LeaderEpoch: 1}
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []metastore.Chunk
	var raw int64
	for i := range n {
		var data []byte
		var count int64
		var batches int32
		for len(data) < chunkBytes {
			recs := make([]batchtest.Record, 16)
			for r := range recs {
				recs[r] = batchtest.Record{
					Key:   fmt.Appendf(nil, "user-%d", rng.IntN(100000)),
					Value: fmt.Appendf(nil, `{"id":%d,"event":"click","path":"/items/%d","payload":"%x"}`, rng.Int64(), rng.IntN(1000), randomBytes(rng, 450)),
				}
			}
			data = append(data, batchtest.Batch(batchtest.Options{BaseTimestamp: 1700000000000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs...)...)
			count += 16
			batches++
		}
		other := batchtest.Values(batchtest.NoProducer, "other partition")
		obj, infos, err := segment.Encode(segment.Level0, []segment.ChunkInput{
			{TopicID: uuid.New(), Partition: 0, BaseOffset: -1, Batches: 1, Records: 1, Data: other},
			{TopicID: p.TopicID, Partition: 0, BaseOffset: -1, Batches: batches, Records: count, Data: data},
		})
		if err != nil {
			b.Fatal(err)
		}
		key := fmt.Sprintf("%04x/bench-%d.seg", i, i)
		if err := objects.Put(ctx, key, obj); err != nil {
			b.Fatal(err)
		}
		rows = append(rows, metastore.Chunk{
			TopicID: p.TopicID, BaseOffset: p.NextOffset, EndOffset: p.NextOffset + count, ObjectKey: key, ObjectSize: int64(len(obj)),
			Start: infos[1].Start, Length: infos[1].Length, RawLength: infos[1].RawLength, BatchCount: batches,
		})
		p.NextOffset += count
		raw += int64(len(data))
	}
	return p, rows, raw
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// BenchmarkBuild measures a merge of 64 level-0 chunks of 256 KiB into one
// level-1 object: ranged reads from a local directory, decoding, offset
// rewriting and encoding (zstd SpeedDefault).
func BenchmarkBuild(b *testing.B) {
	objects, err := objstore.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	p, rows, raw := benchRun(b, objects, 64, 256<<10)
	cfg := Defaults()
	c, err := New(cfg, nil, objects, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, keyed := range []bool{false, true} {
		b.Run(fmt.Sprintf("dedupe=%v", keyed), func(b *testing.B) {
			b.SetBytes(raw)
			b.ReportAllocs()
			var out int
			for b.Loop() {
				var f *filter
				if keyed {
					f = &filter{dedupe: true, horizon: -1 << 63}
				}
				bt, err := c.build(context.Background(), p, rows, f)
				if err != nil {
					b.Fatal(err)
				}
				o, err := c.encode([]*built{bt})
				if err != nil {
					b.Fatal(err)
				}
				out = len(o.data)
			}
			b.ReportMetric(float64(raw)/float64(out), "ratio")
		})
	}
}

// BenchmarkFilterBatch measures key compaction of one batch of 16 records
// from which half go.
func BenchmarkFilterBatch(b *testing.B) {
	data := batchtest.Batch(batchtest.NoProducer, testRecords(16, 16)...)
	h, err := recordbatch.Check(data)
	if err != nil {
		b.Fatal(err)
	}
	bt := batch{data: data, base: 0, count: h.OffsetCount(), h: h}
	keep := func(r *record) bool { return r.Offset%2 == 0 }
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf, _, _, err = filterBatch(buf[:0], decompressor, &bt, 0, keep)
		if err != nil {
			b.Fatal(err)
		}
	}
}
