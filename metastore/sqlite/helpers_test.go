package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/metastore"
)

// openAt opens a store on path and closes it at the end of the test.
func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := New(context.Background(), Config{Path: path}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	t.Cleanup(s.Close)
	return s
}

func openTemp(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "metastore.db"))
}

func createTopic(t testing.TB, s *Store, name string, partitions int32) metastore.Topic {
	t.Helper()
	tp, err := s.CreateTopic(context.Background(), name, partitions, nil)
	if err != nil {
		t.Fatalf("CreateTopic(%q): %v", name, err)
	}
	return tp
}

var objectSeq atomic.Int64

// segment builds a segment with one chunk per partition, each holding the
// given batches.
func segment(topic uuid.UUID, partitions []int32, batches ...metastore.BatchMeta) metastore.SegmentSpec {
	seg := metastore.SegmentSpec{ObjectKey: fmt.Sprintf("l0/%08d.seg", objectSeq.Add(1)), ObjectSize: int64(1000 * len(partitions))}
	for i, p := range partitions {
		seg.Chunks = append(seg.Chunks, metastore.ChunkSpec{
			TopicID: topic, Partition: p,
			Start: int64(1000 * i), Length: 1000, RawLength: 4000,
			Batches: batches,
		})
	}
	return seg
}

// plain is a batch of a non-idempotent producer covering n offsets.
func plain(n int32, ts int64) metastore.BatchMeta {
	return metastore.BatchMeta{OffsetCount: n, MaxTimestamp: ts, ProducerID: metastore.NoProducerID}
}

// idem is a batch of idempotent producer pid covering n offsets from seq.
func idem(pid int64, epoch int16, seq, n int32) metastore.BatchMeta {
	return metastore.BatchMeta{OffsetCount: n, MaxTimestamp: 1, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}
}

func commit(t testing.TB, s *Store, seg metastore.SegmentSpec) []metastore.ChunkResult {
	t.Helper()
	res, err := s.CommitSegment(context.Background(), seg)
	if err != nil {
		t.Fatalf("CommitSegment(%s): %v", seg.ObjectKey, err)
	}
	if len(res) != len(seg.Chunks) {
		t.Fatalf("CommitSegment(%s): %d results for %d chunks", seg.ObjectKey, len(res), len(seg.Chunks))
	}
	return res
}

// checkTiling asserts that the partition's chunks tile [logStart, next)
// and returns them.
func checkTiling(t testing.TB, s *Store, topic uuid.UUID, partition int32) []metastore.Chunk {
	t.Helper()
	ctx := context.Background()
	p, err := s.Partition(ctx, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := s.ChunksFrom(ctx, topic, partition, p.LogStartOffset, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	at := p.LogStartOffset
	for _, c := range cs {
		if c.BaseOffset != at {
			t.Fatalf("partition %d: chunk at %d, want %d (gap or overlap)", partition, c.BaseOffset, at)
		}
		if c.EndOffset <= c.BaseOffset {
			t.Fatalf("partition %d: empty chunk [%d, %d)", partition, c.BaseOffset, c.EndOffset)
		}
		at = c.EndOffset
	}
	if at != p.NextOffset {
		t.Fatalf("partition %d: chunks end at %d, next offset is %d", partition, at, p.NextOffset)
	}
	return cs
}
