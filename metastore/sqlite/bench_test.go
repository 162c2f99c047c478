package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/stratalog/strata/metastore"
)

// BenchmarkCommitSegment commits segments of 64 partition chunks, each with
// 4 batches, as a busy ingest node does.
func BenchmarkCommitSegment(b *testing.B) {
	for _, producers := range []bool{false, true} {
		b.Run(fmt.Sprintf("partitions=64/idempotent=%v", producers), func(b *testing.B) {
			s := openTemp(b)
			ctx := context.Background()
			tp := createTopic(b, s, "bench", 64)
			parts := make([]int32, 64)
			for i := range parts {
				parts[i] = int32(i)
			}
			var pid int64 = metastore.NoProducerID
			if producers {
				var err error
				if pid, err = s.AllocateProducerID(ctx); err != nil {
					b.Fatal(err)
				}
			}
			var seq int32
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				batches := make([]metastore.BatchMeta, 4)
				for i := range batches {
					batches[i] = metastore.BatchMeta{OffsetCount: 10, MaxTimestamp: 1, ProducerID: pid, BaseSequence: seq}
					seq += 10
				}
				seg := segment(tp.ID, parts, batches...)
				res, err := s.CommitSegment(ctx, seg)
				if err != nil {
					b.Fatal(err)
				}
				if res[63].Batches[3].Err != nil {
					b.Fatal(res[63].Batches[3].Err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// BenchmarkChunksFrom looks up the chunk holding an offset, the fetch path's
// query, in a partition of 10,000 chunks.
func BenchmarkChunksFrom(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	tp := createTopic(b, s, "bench", 1)
	for range 10000 {
		commit(b, s, segment(tp.ID, []int32{0}, plain(10, 1)))
	}
	var off int64
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		cs, err := s.ChunksFrom(ctx, tp.ID, 0, off, 4)
		if err != nil || len(cs) == 0 {
			b.Fatal(cs, err)
		}
		off = (off + 7919) % 100000
	}
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}
