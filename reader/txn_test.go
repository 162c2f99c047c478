package reader

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
)

// txnLog commits, on partition 0, segments of plain batches with one
// transaction of producer pid each (one batch and its marker), every
// abortEvery-th aborted, and returns the high watermark and how many
// offsets hold records a read_committed consumer sees.
func txnLog(e *env, pid int64, segments, plainPerSegment, abortEvery int, value string) (hwm int64, aborted int) {
	e.t.Helper()
	vals := values(value, 100)
	seq := int32(0)
	for i := range segments {
		var bs [][]byte
		for range plainPerSegment {
			bs = append(bs, batchtest.Values(batchtest.NoProducer, vals...))
		}
		bs = append(bs, batchtest.Values(batchtest.Options{ProducerID: pid, BaseSequence: seq, Transactional: true}, vals...))
		seq += int32(len(vals))
		abort := abortEvery > 0 && i%abortEvery == 0
		if abort {
			aborted++
		}
		bs = append(bs, recordbatch.Marker(pid, 0, !abort, 0, time.Now().UnixMilli()))
		e.commit(map[int32][][]byte{0: bs})
	}
	p, err := e.store.Partition(context.Background(), e.topic.ID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.NextOffset, aborted
}

// TestReadCommittedListsOverlappingAborted: a read_committed read lists
// exactly the aborted transactions whose records the batches served may
// hold (marker at or after the offset read, first offset below the end of
// what was served), and reads the index once while the high watermark
// stays.
func TestReadCommittedListsOverlappingAborted(t *testing.T) {
	e := newEnv(t, testConfig())
	pid, err := e.store.AllocateProducerID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hwm, _ := txnLog(e, pid, 6, 1, 2, "v") // segments 0, 2, 4 aborted; 201 offsets each
	ctx := context.Background()
	seen := map[int64]bool{}
	for off := int64(0); off < hwm; {
		res, err := e.r.ReadCommitted(ctx, e.topic.ID, 0, off, 20<<10) // about two batches per read
		if err != nil {
			t.Fatal(err)
		}
		if res.LastStableOffset != hwm || res.HighWatermark != hwm {
			t.Fatalf("at %d: last stable offset %d, high watermark %d, want %d", off, res.LastStableOffset, res.HighWatermark, hwm)
		}
		next, ok := res.Batches.NextOffset()
		if !ok {
			t.Fatalf("nothing read at %d", off)
		}
		for _, a := range res.Aborted {
			if a.ProducerID != pid || a.FirstOffset >= next {
				t.Fatalf("read [%d, %d) lists %+v", off, next, a)
			}
			seen[a.FirstOffset] = true
		}
		off = next
	}
	// Segment i's transactional batch sits at 100 + 201*i.
	if len(seen) != 3 || !seen[100] || !seen[100+2*201] || !seen[100+4*201] {
		t.Fatalf("aborted transactions listed %v", seen)
	}
	if n := testutil.ToFloat64(e.r.metrics.txnIndexReads); n != 1 {
		t.Fatalf("%v index reads for one catch-up at a fixed high watermark, want 1", n)
	}
}

// BenchmarkCatchUp reads a partition from its start to its end with a cold
// reader, read_uncommitted and read_committed: the transaction index costs
// one metastore query per partition, not one per read.
func BenchmarkCatchUp(b *testing.B) {
	e := newEnv(b, testConfig())
	pid, err := e.store.AllocateProducerID(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	hwm, _ := txnLog(e, pid, 100, 8, 10, strings.Repeat("x", 100)) // ~10 MiB
	ctx := context.Background()
	for _, mode := range []string{"read_uncommitted", "read_committed"} {
		b.Run(mode, func(b *testing.B) {
			var bytes int64
			for b.Loop() {
				r := New(testConfig(), e.store, e.s3, e.logger, prometheus.NewRegistry())
				read := r.ReadBatches
				if mode == "read_committed" {
					read = r.ReadCommitted
				}
				bytes = 0
				for off := int64(0); off < hwm; {
					res, err := read(ctx, e.topic.ID, 0, off, 1<<20)
					if err != nil {
						b.Fatal(err)
					}
					next, ok := res.Batches.NextOffset()
					if !ok {
						b.Fatalf("nothing read at %d", off)
					}
					bytes += int64(res.Batches.Len())
					off = next
				}
			}
			b.SetBytes(bytes)
		})
	}
}
