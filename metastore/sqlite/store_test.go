package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stratalog/strata/metastore"
)

func TestCommitAssignsContiguousOffsets(t *testing.T) {
	s := openTemp(t)
	tp := createTopic(t, s, "orders", 3)
	want := map[int32]int64{}
	for i := range 20 {
		parts := []int32{int32(i % 3)}
		if i%4 == 0 {
			parts = []int32{0, 1, 2}
		}
		seg := segment(tp.ID, parts, plain(3, int64(i)), plain(1, int64(i)), plain(5, int64(i)))
		res := commit(t, s, seg)
		for ci, r := range res {
			p := seg.Chunks[ci].Partition
			if r.Err != nil {
				t.Fatalf("chunk %d: %v", ci, r.Err)
			}
			wantOffsets := []int64{want[p], want[p] + 3, want[p] + 4}
			for bi, b := range r.Batches {
				if b.Err != nil || b.Duplicate || b.BaseOffset != wantOffsets[bi] {
					t.Fatalf("segment %d partition %d batch %d: got %+v, want base offset %d", i, p, bi, b, wantOffsets[bi])
				}
			}
			want[p] += 9
		}
	}
	for p := range int32(3) {
		cs := checkTiling(t, s, tp.ID, p)
		got, _ := s.Partition(context.Background(), tp.ID, p)
		if got.NextOffset != want[p] {
			t.Errorf("partition %d: next offset %d, want %d", p, got.NextOffset, want[p])
		}
		for _, c := range cs {
			if c.BatchCount != 3 || c.Level != 0 || c.Skip != nil || c.Length != 1000 || c.RawLength != 4000 || c.ObjectSize == 0 {
				t.Errorf("partition %d: unexpected chunk row %+v", p, c)
			}
		}
	}
}

func TestCommitChunkRowDescribesObject(t *testing.T) {
	s := openTemp(t)
	tp := createTopic(t, s, "t", 2)
	seg := metastore.SegmentSpec{ObjectKey: "ab/obj-1", ObjectSize: 777, Chunks: []metastore.ChunkSpec{
		{TopicID: tp.ID, Partition: 1, Start: 0, Length: 300, RawLength: 900, Batches: []metastore.BatchMeta{plain(2, 50), plain(2, 40)}},
		{TopicID: tp.ID, Partition: 0, Start: 300, Length: 400, RawLength: 1200, Batches: []metastore.BatchMeta{plain(7, 60)}},
	}}
	commit(t, s, seg)
	cs, err := s.ChunksFrom(context.Background(), tp.ID, 1, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := metastore.Chunk{TopicID: tp.ID, Partition: 1, BaseOffset: 0, EndOffset: 4, ObjectKey: "ab/obj-1", ObjectSize: 777,
		Level: 0, Start: 0, Length: 300, RawLength: 900, BatchCount: 2, MaxTimestamp: 50}
	if len(cs) != 1 || !reflect.DeepEqual(cs[0], want) {
		t.Fatalf("chunks of partition 1 = %+v, want [%+v]", cs, want)
	}
}

func TestCommitUnknownPartitionStoresNothingOfThatChunk(t *testing.T) {
	s := openTemp(t)
	tp := createTopic(t, s, "t", 1)
	seg := metastore.SegmentSpec{ObjectKey: "o1", ObjectSize: 10, Chunks: []metastore.ChunkSpec{
		{TopicID: tp.ID, Partition: 0, Batches: []metastore.BatchMeta{plain(1, 1)}},
		{TopicID: tp.ID, Partition: 5, Batches: []metastore.BatchMeta{plain(1, 1)}},
		{TopicID: uuid.New(), Partition: 0, Batches: []metastore.BatchMeta{plain(1, 1)}},
	}}
	res := commit(t, s, seg)
	if res[0].Err != nil {
		t.Fatalf("known partition failed: %v", res[0].Err)
	}
	for i := 1; i < 3; i++ {
		if !errors.Is(res[i].Err, metastore.ErrUnknownPartition) && !errors.Is(res[i].Err, metastore.ErrUnknownTopic) {
			t.Errorf("chunk %d: err %v, want unknown partition or topic", i, res[i].Err)
		}
	}
	checkTiling(t, s, tp.ID, 0)
}

func TestCommitSameObjectTwiceFails(t *testing.T) {
	s := openTemp(t)
	tp := createTopic(t, s, "t", 1)
	seg := segment(tp.ID, []int32{0}, plain(1, 1))
	commit(t, s, seg)
	_, err := s.CommitSegment(context.Background(), seg)
	if !errors.Is(err, ErrObjectExists) {
		t.Fatalf("second commit of %s: err %v, want ErrObjectExists", seg.ObjectKey, err)
	}
	p, _ := s.Partition(context.Background(), tp.ID, 0)
	if p.NextOffset != 1 {
		t.Fatalf("next offset %d after a failed commit, want 1", p.NextOffset)
	}
}

func TestCommitCanceledContextCommitsNothing(t *testing.T) {
	s := openTemp(t)
	tp := createTopic(t, s, "t", 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.CommitSegment(ctx, segment(tp.ID, []int32{0}, plain(1, 1))); err == nil {
		t.Fatal("commit with a canceled context succeeded")
	}
	p, _ := s.Partition(context.Background(), tp.ID, 0)
	if p.NextOffset != 0 {
		t.Fatalf("next offset %d, want 0", p.NextOffset)
	}
}

func TestIdempotentProducer(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	tp := createTopic(t, s, "t", 1)
	pid, err := s.AllocateProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, segment(tp.ID, []int32{0}, plain(10, 1))) // offsets 0..9 from someone else
	res := commit(t, s, segment(tp.ID, []int32{0}, idem(pid, 0, 0, 5), idem(pid, 0, 5, 5)))
	if b := res[0].Batches; b[0].BaseOffset != 10 || b[1].BaseOffset != 15 {
		t.Fatalf("first batches: %+v", b)
	}

	// A retry of the second batch, plus a new one.
	res = commit(t, s, segment(tp.ID, []int32{0}, idem(pid, 0, 5, 5), idem(pid, 0, 10, 2)))
	b := res[0].Batches
	if !b[0].Duplicate || b[0].BaseOffset != 15 || b[0].Err != nil {
		t.Errorf("retried batch: %+v, want duplicate at 15", b[0])
	}
	if b[1].Duplicate || b[1].BaseOffset != 20 || b[1].Err != nil {
		t.Errorf("new batch: %+v, want offset 20", b[1])
	}
	cs := checkTiling(t, s, tp.ID, 0)
	last := cs[len(cs)-1]
	if last.BaseOffset != 20 || last.EndOffset != 22 || !reflect.DeepEqual(last.Skip, []int32{0}) || last.BatchCount != 2 {
		t.Errorf("chunk with a duplicate: %+v, want [20,22) skipping batch 0", last)
	}

	// A gap in sequences, and an old epoch.
	res = commit(t, s, segment(tp.ID, []int32{0}, idem(pid, 0, 20, 1)))
	if !errors.Is(res[0].Batches[0].Err, metastore.ErrOutOfOrderSequence) {
		t.Errorf("sequence gap: %+v, want ErrOutOfOrderSequence", res[0].Batches[0])
	}
	commit(t, s, segment(tp.ID, []int32{0}, idem(pid, 1, 0, 1))) // bump epoch
	res = commit(t, s, segment(tp.ID, []int32{0}, idem(pid, 0, 12, 1)))
	if !errors.Is(res[0].Batches[0].Err, metastore.ErrInvalidProducerEpoch) {
		t.Errorf("old epoch: %+v, want ErrInvalidProducerEpoch", res[0].Batches[0])
	}
	p, _ := s.Partition(ctx, tp.ID, 0)
	if p.NextOffset != 23 {
		t.Errorf("next offset %d, want 23", p.NextOffset)
	}
	checkTiling(t, s, tp.ID, 0)
}

func TestAllocateProducerIDUnique(t *testing.T) {
	s := openTemp(t)
	var (
		mu   sync.Mutex
		seen = map[int64]bool{}
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 25 {
				id, err := s.AllocateProducerID(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] || id < 0 {
					t.Errorf("producer id %d handed out twice or negative", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 200 {
		t.Fatalf("%d distinct ids, want 200", len(seen))
	}
}

// TestConcurrentCommits commits from 8 goroutines into shared partitions
// while others read, and checks that no offset was handed out twice or
// skipped.
func TestConcurrentCommits(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	tp := createTopic(t, s, "busy", 4)
	const workers, perWorker = 8, 25
	type span struct{ start, end int64 }
	var (
		mu    sync.Mutex
		spans = map[int32][]span{}
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				parts := []int32{int32((w + i) % 4), int32((w + i + 1) % 4)}
				n := int32(1 + (w+i)%5)
				seg := segment(tp.ID, parts, plain(n, 1), plain(2, 1))
				res, err := s.CommitSegment(ctx, seg)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for ci, r := range res {
					p := seg.Chunks[ci].Partition
					spans[p] = append(spans[p], span{r.Batches[0].BaseOffset, r.Batches[0].BaseOffset + int64(n)})
					spans[p] = append(spans[p], span{r.Batches[1].BaseOffset, r.Batches[1].BaseOffset + 2})
				}
				mu.Unlock()
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for p := range int32(4) {
					if _, err := s.ChunksFrom(ctx, tp.ID, p, 0, 100); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for p := range int32(4) {
		checkTiling(t, s, tp.ID, p)
		got, _ := s.Partition(ctx, tp.ID, p)
		covered := make([]bool, got.NextOffset)
		for _, sp := range spans[p] {
			for o := sp.start; o < sp.end; o++ {
				if o >= got.NextOffset || covered[o] {
					t.Fatalf("partition %d: offset %d assigned twice or beyond next offset %d", p, o, got.NextOffset)
				}
				covered[o] = true
			}
		}
		for o, c := range covered {
			if !c {
				t.Fatalf("partition %d: offset %d never assigned", p, o)
			}
		}
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "meta.db")
	ctx := context.Background()
	s := openAt(t, path)
	tp, err := s.CreateTopic(ctx, "durable", 2, map[string]string{"retention.ms": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := s.AllocateProducerID(ctx)
	commit(t, s, segment(tp.ID, []int32{0, 1}, idem(pid, 3, 0, 4)))
	before, _ := s.ChunksFrom(ctx, tp.ID, 1, 0, 0)
	s.Close()
	s.Close() // idempotent
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WAL file left after close: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("database file after close: %v", err)
	}

	s = openAt(t, path)
	got, err := s.TopicByName(ctx, "durable")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tp) {
		t.Errorf("topic after reopen = %+v, want %+v", got, tp)
	}
	after, _ := s.ChunksFrom(ctx, tp.ID, 1, 0, 0)
	if !reflect.DeepEqual(before, after) || len(after) != 1 {
		t.Errorf("chunks after reopen = %+v, want %+v", after, before)
	}
	// Producer state survived: the retry is recognised.
	res := commit(t, s, segment(tp.ID, []int32{1}, idem(pid, 3, 0, 4)))
	if b := res[0].Batches[0]; !b.Duplicate || b.BaseOffset != 0 {
		t.Errorf("retry after reopen: %+v, want duplicate at 0", b)
	}
	next, _ := s.AllocateProducerID(ctx)
	if next <= pid {
		t.Errorf("producer id %d after reopen, not above %d", next, pid)
	}
}

func TestTopics(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := createTopic(t, s, "b-topic", 2)
	if _, err := s.CreateTopic(ctx, "b-topic", 5, nil); !errors.Is(err, metastore.ErrTopicExists) {
		t.Errorf("duplicate create: %v, want ErrTopicExists", err)
	}
	createTopic(t, s, "a.topic_1", 1)
	ts, err := s.ListTopics(ctx)
	if err != nil || len(ts) != 2 || ts[0].Name != "a.topic_1" || ts[1].Name != "b-topic" {
		t.Fatalf("ListTopics = %+v, %v", ts, err)
	}
	byID, err := s.TopicByID(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(byID, a) {
		t.Errorf("TopicByID = %+v, %v; want %+v", byID, err, a)
	}
	if _, err := s.TopicByID(ctx, uuid.New()); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("TopicByID(unknown) err %v", err)
	}
	if _, err := s.TopicByName(ctx, "nope"); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("TopicByName(unknown) err %v", err)
	}
	if _, err := s.Partitions(ctx, uuid.New()); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("Partitions(unknown) err %v", err)
	}
	if _, err := s.Partition(ctx, a.ID, 2); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("Partition(2) of a 2-partition topic: err %v", err)
	}
	ps, err := s.Partitions(ctx, a.ID)
	if err != nil || len(ps) != 2 {
		t.Fatalf("Partitions = %+v, %v", ps, err)
	}
	for i, p := range ps {
		want := metastore.Partition{TopicID: a.ID, Partition: int32(i), LeaderNode: -1}
		if p != want {
			t.Errorf("new partition %+v, want %+v", p, want)
		}
	}
}

func TestCreateTopicValidation(t *testing.T) {
	s := openTemp(t)
	for _, name := range []string{"", ".", "..", "has space", "slash/", "ünï", strings.Repeat("x", 250)} {
		if _, err := s.CreateTopic(context.Background(), name, 1, nil); !errors.Is(err, metastore.ErrInvalidTopic) {
			t.Errorf("CreateTopic(%q): %v, want ErrInvalidTopic", name, err)
		}
	}
	for _, name := range []string{"a", "...", "A-b_c.9", strings.Repeat("x", 249)} {
		if _, err := s.CreateTopic(context.Background(), name, 1, nil); err != nil {
			t.Errorf("CreateTopic(%q): %v", name, err)
		}
	}
	for _, n := range []int32{0, -1} {
		if _, err := s.CreateTopic(context.Background(), fmt.Sprint("p", n), n, nil); !errors.Is(err, metastore.ErrInvalidPartitions) {
			t.Errorf("CreateTopic with %d partitions: %v, want ErrInvalidPartitions", n, err)
		}
	}
}

func TestTopicConfigs(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	createTopic(t, s, "t", 1)
	one, two := "1", "2"
	if err := s.SetTopicConfigs(ctx, "t", map[string]*string{"a": &one, "b": &two}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTopicConfigs(ctx, "t", map[string]*string{"a": nil, "b": &one, "missing": nil}); err != nil {
		t.Fatal(err)
	}
	tp, _ := s.TopicByName(ctx, "t")
	if want := map[string]string{"b": "1"}; !reflect.DeepEqual(tp.Configs, want) {
		t.Errorf("configs %v, want %v", tp.Configs, want)
	}
	if err := s.SetTopicConfigs(ctx, "nope", nil); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("SetTopicConfigs(unknown): %v", err)
	}
}

func TestCreatePartitions(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	tp := createTopic(t, s, "t", 2)
	commit(t, s, segment(tp.ID, []int32{0, 1}, plain(4, 1)))
	for _, n := range []int32{2, 1} {
		if err := s.CreatePartitions(ctx, "t", n); !errors.Is(err, metastore.ErrInvalidPartitions) {
			t.Errorf("CreatePartitions(%d) of a 2-partition topic: %v", n, err)
		}
	}
	if err := s.CreatePartitions(ctx, "t", 5); err != nil {
		t.Fatal(err)
	}
	ps, _ := s.Partitions(ctx, tp.ID)
	got, _ := s.TopicByName(ctx, "t")
	if len(ps) != 5 || got.Partitions != 5 || ps[0].NextOffset != 4 || ps[4].NextOffset != 0 {
		t.Errorf("after CreatePartitions(5): topic %+v, partitions %+v", got, ps)
	}
	if err := s.CreatePartitions(ctx, "nope", 3); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("CreatePartitions(unknown): %v", err)
	}
}

func TestDeleteTopic(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	tp := createTopic(t, s, "t", 2)
	pid, _ := s.AllocateProducerID(ctx)
	commit(t, s, segment(tp.ID, []int32{0, 1}, idem(pid, 0, 0, 3)))
	if err := s.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopic(ctx, "t"); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.ChunksFrom(ctx, tp.ID, 0, 0, 0); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("ChunksFrom of a deleted topic: %v", err)
	}
	for _, table := range []string{"topics", "partitions", "chunks", "producer_state"} {
		var n int
		if err := s.r.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s has %d rows after delete (%v)", table, n, err)
		}
	}
	// The name is free again, with a new id and fresh offsets.
	again := createTopic(t, s, "t", 1)
	if again.ID == tp.ID {
		t.Error("re-created topic reuses the old id")
	}
	res := commit(t, s, segment(again.ID, []int32{0}, idem(pid, 0, 0, 3)))
	if b := res[0].Batches[0]; b.BaseOffset != 0 || b.Duplicate {
		t.Errorf("first batch of re-created topic: %+v", b)
	}
}

func TestChunksFromRanges(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	tp := createTopic(t, s, "t", 1)
	for range 5 {
		commit(t, s, segment(tp.ID, []int32{0}, plain(10, 1))) // chunks [0,10) ... [40,50)
	}
	for _, tc := range []struct {
		offset    int64
		limit     int
		wantBases []int64
	}{
		{0, 10, []int64{0, 10, 20, 30, 40}},
		{0, 0, []int64{0}}, // a limit below 1 is 1
		{0, 2, []int64{0, 10}},
		{9, 1, []int64{0}},
		{10, 1, []int64{10}},
		{49, 5, []int64{40}},
		{50, 5, nil},
	} {
		cs, err := s.ChunksFrom(ctx, tp.ID, 0, tc.offset, tc.limit)
		if err != nil {
			t.Fatalf("ChunksFrom(%d, %d): %v", tc.offset, tc.limit, err)
		}
		var bases []int64
		for _, c := range cs {
			bases = append(bases, c.BaseOffset)
		}
		if !reflect.DeepEqual(bases, tc.wantBases) {
			t.Errorf("ChunksFrom(%d, %d) bases %v, want %v", tc.offset, tc.limit, bases, tc.wantBases)
		}
	}
	for _, off := range []int64{-1, 51} {
		if _, err := s.ChunksFrom(ctx, tp.ID, 0, off, 1); !errors.Is(err, metastore.ErrOffsetOutOfRange) {
			t.Errorf("ChunksFrom(%d): %v, want ErrOffsetOutOfRange", off, err)
		}
	}
	if _, err := s.ChunksFrom(ctx, tp.ID, 1, 0, 1); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("ChunksFrom of an unknown partition: %v", err)
	}
}

func TestChunkForTimestamp(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	tp := createTopic(t, s, "t", 1)
	for _, ts := range []int64{100, 300, 200, 400} { // chunks [0,2) [2,4) [4,6) [6,8)
		commit(t, s, segment(tp.ID, []int32{0}, plain(1, ts-50), plain(1, ts)))
	}
	for _, tc := range []struct {
		ts   int64
		base int64
		ok   bool
	}{{0, 0, true}, {100, 0, true}, {101, 2, true}, {250, 2, true}, {301, 6, true}, {400, 6, true}, {401, 0, false}} {
		c, ok, err := s.ChunkForTimestamp(ctx, tp.ID, 0, tc.ts)
		if err != nil || ok != tc.ok || (ok && c.BaseOffset != tc.base) {
			t.Errorf("ChunkForTimestamp(%d) = base %d, %v, %v; want %d, %v", tc.ts, c.BaseOffset, ok, err, tc.base, tc.ok)
		}
	}
	if _, _, err := s.ChunkForTimestamp(ctx, tp.ID, 3, 0); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("ChunkForTimestamp of an unknown partition: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(context.Background(), Config{Path: filepath.Join(t.TempDir(), "m.db")}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tp := createTopic(t, s, "t", 3)
	commit(t, s, segment(tp.ID, []int32{0, 1, 2}, plain(1, 1)))
	if _, err := s.TopicByName(context.Background(), "nope"); err == nil {
		t.Fatal("unknown topic found")
	}
	if got := testutil.ToFloat64(s.m.CommittedChunks); got != 3 {
		t.Errorf("committed chunks metric %v, want 3", got)
	}
	// An unknown topic is an answer, not a failure worth an alert.
	if got := testutil.ToFloat64(s.m.OperationErrors.WithLabelValues("topic_by_name")); got != 0 {
		t.Errorf("topic_by_name errors %v, want 0 for an unknown topic", got)
	}
	if got := testutil.CollectAndCount(s.m.CommitSeconds); got != 1 {
		t.Errorf("commit histogram has %d series, want 1", got)
	}
	if n := testutil.CollectAndCount(reg, "strata_metastore_operation_seconds"); n < 3 {
		t.Errorf("%d operation histograms, want at least create_topic, commit_segment, topic_by_name", n)
	}
	// A second store on the same registry shares the collectors.
	s2, err := New(context.Background(), Config{Path: filepath.Join(t.TempDir(), "m2.db")}, nil, reg)
	if err != nil {
		t.Fatalf("second store on one registry: %v", err)
	}
	s2.Close()
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Path: "x.db"}, true},
		{Config{Path: "data/x.db", BusyTimeout: 1, ReadConns: 2}, true},
		{Config{}, false},
		{Config{Path: ":memory:"}, false},
		{Config{Path: "file::memory:?cache=shared"}, false},
		{Config{Path: "file:x.db?mode=rwc"}, false},
		{Config{Path: "x.db", BusyTimeout: -1}, false},
		{Config{Path: "x.db", ReadConns: -1}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.cfg, err, tc.ok)
		}
	}
	if _, err := New(context.Background(), Config{Path: ":memory:"}, nil, nil); err == nil {
		t.Error("New accepted :memory:")
	}
}
