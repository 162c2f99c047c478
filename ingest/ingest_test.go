package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type env struct {
	store   metastore.Store
	objects *objstore.Faulty
	commits *faultyCommitter
	sink    *recordingSink
}

// faultyCommitter fails CommitSegment while fail is set, before touching
// the metastore, as a lost connection to PostgreSQL would.
type faultyCommitter struct {
	metastore.Store
	fail  atomic.Bool
	panic atomic.Bool // panics instead, as a bug in a backend would
}

func (f *faultyCommitter) CommitSegment(ctx context.Context, seg metastore.SegmentSpec) ([]metastore.ChunkResult, error) {
	if f.panic.Load() {
		panic("injected commit panic")
	}
	if f.fail.Load() {
		return nil, errors.New("injected commit failure")
	}
	return f.Store.CommitSegment(ctx, seg)
}

type recordingSink struct {
	mu     sync.Mutex
	chunks []metastore.Chunk
}

func (s *recordingSink) Committed(chunks []metastore.Chunk, object []byte) {
	s.mu.Lock()
	s.chunks = append(s.chunks, chunks...)
	s.mu.Unlock()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	store, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(t), MaxConns: 8}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	s3env := testenv.S3(t)
	s3, err := objstore.NewS3(ctx, objstore.S3Config{
		Endpoint: s3env.Endpoint, Region: s3env.Region, Bucket: s3env.Bucket,
		AccessKeyID: s3env.AccessKeyID, SecretAccessKey: s3env.SecretAccessKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		store:   store,
		objects: objstore.NewFaulty(s3),
		commits: &faultyCommitter{Store: store},
		sink:    &recordingSink{},
	}
}

func (e *env) ingester(t *testing.T, mutate func(*ingest.Config)) *ingest.Ingester {
	t.Helper()
	cfg := ingest.Defaults()
	cfg.FlushInterval = 20 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	ing, err := ingest.New(cfg, e.commits, e.objects, e.sink, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ing.Close(context.Background()) })
	return ing
}

func (e *env) topic(t *testing.T, name string, partitions int32) uuid.UUID {
	t.Helper()
	tp, err := e.store.CreateTopic(context.Background(), name, partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tp.ID
}

func values(prefix string, n int) []byte {
	vs := make([]string, n)
	for i := range vs {
		vs[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return batchtest.Values(batchtest.NoProducer, vs...)
}

func mustAppend(t *testing.T, ing *ingest.Ingester, parts ...ingest.PartitionRecords) []ingest.PartitionResult {
	t.Helper()
	res, err := ing.Append(context.Background(), parts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// chunkOffsets walks a partition's chunk rows and checks that they tile
// [log start, next offset); it returns the next offset.
func chunkOffsets(t *testing.T, store metastore.Store, topic uuid.UUID, partition int32) int64 {
	t.Helper()
	ctx := context.Background()
	p, err := store.Partition(ctx, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	at := p.LogStartOffset
	for at < p.NextOffset {
		cs, err := store.ChunksFrom(ctx, topic, partition, at, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			t.Fatalf("partition %d: no chunk at %d below next offset %d", partition, at, p.NextOffset)
		}
		for _, c := range cs {
			if c.BaseOffset != at {
				t.Fatalf("partition %d: chunk starts at %d, want %d (gap or overlap)", partition, c.BaseOffset, at)
			}
			at = c.EndOffset
		}
	}
	if at != p.NextOffset {
		t.Fatalf("partition %d: chunks end at %d, next offset %d", partition, at, p.NextOffset)
	}
	return p.NextOffset
}

func TestAppendAssignsOffsetsInOrder(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, nil)
	topic := e.topic(t, "orders", 2)

	// Sequential appends to one partition get consecutive offsets, whatever
	// segments they land in.
	var want int64
	for i := 0; i < 20; i++ {
		res := mustAppend(t, ing,
			ingest.PartitionRecords{TopicID: topic, Partition: 0, Records: values("a", 3)},
			ingest.PartitionRecords{TopicID: topic, Partition: 1, Records: values("b", 1)},
		)
		if res[0].Err != nil || res[1].Err != nil {
			t.Fatalf("append %d: %v %v", i, res[0].Err, res[1].Err)
		}
		if res[0].BaseOffset != want || res[1].BaseOffset != int64(i) {
			t.Fatalf("append %d: offsets %d,%d want %d,%d", i, res[0].BaseOffset, res[1].BaseOffset, want, i)
		}
		want += 3
	}
	if got := chunkOffsets(t, e.store, topic, 0); got != 60 {
		t.Fatalf("partition 0 next offset %d, want 60", got)
	}
	if got := chunkOffsets(t, e.store, topic, 1); got != 20 {
		t.Fatalf("partition 1 next offset %d, want 20", got)
	}
}

func TestPipelinedEnqueueKeepsOrder(t *testing.T) {
	e := newEnv(t)
	// Tiny segments so that many uploads run at once and may finish out
	// of order; commits must still follow enqueue order.
	ing := e.ingester(t, func(c *ingest.Config) { c.SegmentMaxBytes = 1 << 10; c.MaxUploads = 8 })
	topic := e.topic(t, "pipelined", 1)
	var pendings []*ingest.Pending
	for i := 0; i < 200; i++ {
		p, err := ing.Enqueue(context.Background(), []ingest.PartitionRecords{{TopicID: topic, Records: values(fmt.Sprint(i), 5)}})
		if err != nil {
			t.Fatal(err)
		}
		pendings = append(pendings, p)
	}
	for i, p := range pendings {
		res := p.Wait(context.Background())
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		if res[0].BaseOffset != int64(i*5) {
			t.Fatalf("enqueue %d got offset %d, want %d", i, res[0].BaseOffset, i*5)
		}
	}
	chunkOffsets(t, e.store, topic, 0)
}

func TestUploadFailureFailsSegmentOnly(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, nil)
	topic := e.topic(t, "putfail", 1)
	mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: values("ok", 2)})

	e.objects.Inject("put", func(string) error { return errors.New("injected put failure") })
	res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: values("lost", 4)})
	if !errors.Is(res[0].Err, ingest.ErrUploadFailed) {
		t.Fatalf("got %v, want ErrUploadFailed", res[0].Err)
	}
	if next := chunkOffsets(t, e.store, topic, 0); next != 2 {
		t.Fatalf("failed upload moved the high watermark to %d", next)
	}

	e.objects.Inject("put", nil)
	res = mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: values("next", 1)})
	if res[0].Err != nil || res[0].BaseOffset != 2 {
		t.Fatalf("after failure: %+v, want offset 2", res[0])
	}
	if next := chunkOffsets(t, e.store, topic, 0); next != 3 {
		t.Fatalf("next offset %d, want 3", next)
	}
}

// panickyUploader panics in Put while panic is set.
type panickyUploader struct {
	ingest.Uploader
	panic atomic.Bool
}

func (p *panickyUploader) Put(ctx context.Context, key string, data []byte) error {
	if p.panic.Load() {
		panic("injected upload panic")
	}
	return p.Uploader.Put(ctx, key, data)
}

// TestPanicsFailOnlyTheirSegment: a panic while uploading or committing a
// segment fails that segment's produces with a retriable error, and the
// node goes on; it once took the whole process down.
func TestPanicsFailOnlyTheirSegment(t *testing.T) {
	e := newEnv(t)
	up := &panickyUploader{Uploader: e.objects}
	ing, err := ingest.New(func() ingest.Config { c := ingest.Defaults(); c.FlushInterval = 20 * time.Millisecond; return c }(),
		e.commits, up, e.sink, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ing.Close(context.Background()) })
	topic := e.topic(t, "panics", 1)

	up.panic.Store(true)
	res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: values("upload", 2)})
	if !errors.Is(res[0].Err, ingest.ErrUploadFailed) {
		t.Fatalf("upload panic: %v, want ErrUploadFailed", res[0].Err)
	}
	up.panic.Store(false)
	e.commits.panic.Store(true)
	res = mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: values("commit", 2)})
	if !errors.Is(res[0].Err, ingest.ErrCommitFailed) {
		t.Fatalf("commit panic: %v, want ErrCommitFailed", res[0].Err)
	}
	e.commits.panic.Store(false)
	res = mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: values("after", 1)})
	if res[0].Err != nil || res[0].BaseOffset != 0 {
		t.Fatalf("after the panics: %+v, want offset 0", res[0])
	}
}

func TestCommitFailureFailsSegmentOnly(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, nil)
	topic := e.topic(t, "commitfail", 1)
	mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: values("ok", 2)})

	e.commits.fail.Store(true)
	res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: values("lost", 4)})
	if !errors.Is(res[0].Err, ingest.ErrCommitFailed) {
		t.Fatalf("got %v, want ErrCommitFailed", res[0].Err)
	}
	if next := chunkOffsets(t, e.store, topic, 0); next != 2 {
		t.Fatalf("failed commit moved the high watermark to %d", next)
	}
	e.commits.fail.Store(false)
	res = mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: values("next", 1)})
	if res[0].Err != nil || res[0].BaseOffset != 2 {
		t.Fatalf("after failure: %+v, want offset 2", res[0])
	}
	e.sink.mu.Lock()
	defer e.sink.mu.Unlock()
	for _, c := range e.sink.chunks {
		if c.BaseOffset >= 2 && c.EndOffset != 3 {
			t.Fatalf("sink saw a chunk of the failed segment: %+v", c)
		}
	}
}

func TestBadBatchFailsOnlyItsPartition(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, nil)
	topic := e.topic(t, "corrupt", 3)
	bad := values("x", 2)
	bad[len(bad)-1] ^= 0xff // breaks the CRC
	truncated := values("y", 2)[:40]
	res := mustAppend(t, ing,
		ingest.PartitionRecords{TopicID: topic, Partition: 0, Records: bad},
		ingest.PartitionRecords{TopicID: topic, Partition: 1, Records: values("good", 2)},
		ingest.PartitionRecords{TopicID: topic, Partition: 2, Records: truncated},
		ingest.PartitionRecords{TopicID: topic, Partition: 7, Records: values("nopartition", 1)},
	)
	if !errors.Is(res[0].Err, ingest.ErrCorruptBatch) || !errors.Is(res[2].Err, ingest.ErrCorruptBatch) {
		t.Fatalf("corrupt batches: %v, %v", res[0].Err, res[2].Err)
	}
	if res[1].Err != nil || res[1].BaseOffset != 0 {
		t.Fatalf("good partition: %+v", res[1])
	}
	if !errors.Is(res[3].Err, metastore.ErrUnknownPartition) {
		t.Fatalf("unknown partition: %v", res[3].Err)
	}
	if next := chunkOffsets(t, e.store, topic, 0); next != 0 {
		t.Fatalf("corrupt batch was stored: next offset %d", next)
	}
}

func TestIdempotentRetryStoredOnce(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, nil)
	topic := e.topic(t, "idem", 1)
	pid, err := e.store.AllocateProducerID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b0 := batchtest.Values(batchtest.Options{ProducerID: pid, BaseSequence: 0}, "a", "b")
	b1 := batchtest.Values(batchtest.Options{ProducerID: pid, BaseSequence: 2}, "c")
	gap := batchtest.Values(batchtest.Options{ProducerID: pid, BaseSequence: 9}, "z")
	r0 := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: b0})
	r1 := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: b1})
	retry := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: b0})
	bad := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: gap})
	if r0[0].BaseOffset != 0 || r1[0].BaseOffset != 2 {
		t.Fatalf("offsets %d %d", r0[0].BaseOffset, r1[0].BaseOffset)
	}
	if retry[0].Err != nil || retry[0].BaseOffset != 0 {
		t.Fatalf("retry: %+v, want original offset 0", retry[0])
	}
	if !errors.Is(bad[0].Err, metastore.ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap: %v", bad[0].Err)
	}
	if next := chunkOffsets(t, e.store, topic, 0); next != 3 {
		t.Fatalf("next offset %d, want 3 (retry stored twice?)", next)
	}
}

func TestMemoryBudgetBlocksEnqueue(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, func(c *ingest.Config) {
		c.SegmentMaxBytes = 4 << 10
		c.MemoryBudget = 9 << 10
		c.FlushInterval = time.Hour // only size seals
	})
	topic := e.topic(t, "budget", 1)
	release := make(chan struct{})
	e.objects.Inject("put", func(string) error { <-release; return nil })

	big := values(string(make([]byte, 200)), 20) // ~4.4 KiB: seals a segment each
	var pendings []*ingest.Pending
	for i := 0; i < 2; i++ {
		p, err := ing.Enqueue(context.Background(), []ingest.PartitionRecords{{TopicID: topic, Records: big}})
		if err != nil {
			t.Fatal(err)
		}
		pendings = append(pendings, p)
	}
	// The budget is spent by two segments whose uploads hang: a third
	// enqueue must wait, not grow memory.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := ing.Enqueue(ctx, []ingest.PartitionRecords{{TopicID: topic, Records: big}})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enqueue over budget returned %v, want it to wait", err)
	}
	done := make(chan *ingest.Pending)
	go func() {
		p, err := ing.Enqueue(context.Background(), []ingest.PartitionRecords{{TopicID: topic, Records: big}})
		if err != nil {
			t.Error(err)
		}
		done <- p
	}()
	close(release)
	e.objects.Inject("put", nil)
	p := <-done
	if p == nil {
		t.FailNow()
	}
	if p.Throttle <= 0 {
		t.Fatalf("throttled enqueue reports no throttle time")
	}
	ing.Flush()
	for i, q := range append(pendings, p) {
		if r := q.Wait(context.Background()); r[0].Err != nil || r[0].BaseOffset != int64(i*20) {
			t.Fatalf("pending %d: %+v", i, r[0])
		}
	}
}

func TestCloseCommitsAccepted(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, func(c *ingest.Config) { c.FlushInterval = time.Hour })
	topic := e.topic(t, "close", 1)
	p, err := ing.Enqueue(context.Background(), []ingest.PartitionRecords{{TopicID: topic, Records: values("x", 3)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := p.Wait(context.Background()); r[0].Err != nil || r[0].BaseOffset != 0 {
		t.Fatalf("accepted before close: %+v", r[0])
	}
	if _, err := ing.Enqueue(context.Background(), []ingest.PartitionRecords{{TopicID: topic, Records: values("y", 1)}}); !errors.Is(err, ingest.ErrClosed) {
		t.Fatalf("enqueue after close: %v", err)
	}
}

func TestAdaptiveSealsWithoutWaitingForTheTimer(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, func(c *ingest.Config) {
		c.FlushInterval = 5 * time.Second // would dominate without adaptive mode
		c.Adaptive = true
		c.MaxPutsPerSecond = 1000
	})
	topic := e.topic(t, "adaptive", 1)
	for i := 0; i < 5; i++ {
		start := time.Now()
		res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: values("a", 1)})
		if res[0].Err != nil || res[0].BaseOffset != int64(i) {
			t.Fatalf("append %d: %+v", i, res[0])
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("adaptive append took %v: it waited for the flush interval", took)
		}
	}
}

func TestAdaptiveCapsPutRate(t *testing.T) {
	// "full segments": the appends waiting fill a segment (16 of about 70
	// bytes against 512), which in timer mode would be sealed and PUT at
	// once; the budget caps those PUTs too.
	for _, tc := range []struct {
		name       string
		segmentMax int
	}{{"upload finished", 8 << 20}, {"full segments", 512}} {
		t.Run(tc.name, func(t *testing.T) { testAdaptiveCap(t, tc.segmentMax) })
	}
}

func testAdaptiveCap(t *testing.T, segmentMax int) {
	e := newEnv(t)
	ing := e.ingester(t, func(c *ingest.Config) {
		c.FlushInterval = time.Second
		c.Adaptive = true
		c.MaxPutsPerSecond = 5
		c.SegmentMaxBytes = segmentMax
	})
	topic := e.topic(t, "capped", 1)
	before := e.objects.Calls(objstore.OpPut)
	// 16 concurrent producers append for 1.2 s: without the cap every
	// finished upload would seal a new segment at once.
	deadline := time.Now().Add(1200 * time.Millisecond)
	var wg sync.WaitGroup
	var acked atomic.Int64
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				res, err := ing.Append(context.Background(), []ingest.PartitionRecords{{TopicID: topic, Records: values("c", 1)}})
				if err != nil || res[0].Err != nil {
					t.Errorf("append: %v %v", err, res[0].Err)
					return
				}
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(deadline.Add(-1200 * time.Millisecond))
	puts := e.objects.Calls(objstore.OpPut) - before
	if max := int64(elapsed.Seconds()*5) + 2; puts > max {
		t.Fatalf("%d PUTs in %v with a cap of 5/s (allowed %d)", puts, elapsed, max)
	}
	if acked.Load() < 16 {
		t.Fatalf("%d appends acked in %v", acked.Load(), elapsed)
	}
	if next := chunkOffsets(t, e.store, topic, 0); next != acked.Load() {
		t.Fatalf("next offset %d, acked %d", next, acked.Load())
	}
}

// TestAdaptiveOverfillSealsAnyway: a segment four times past its size is
// sealed whatever the PUT budget, so that no chunk outgrows what readers
// accept.
func TestAdaptiveOverfillSealsAnyway(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, func(c *ingest.Config) {
		c.FlushInterval = 10 * time.Second
		c.Adaptive = true
		c.MaxPutsPerSecond = 0.2 // one PUT per 5 s
		c.SegmentMaxBytes = 64
	})
	topic := e.topic(t, "overfill", 1)
	start := time.Now()
	for i := range 3 {
		records := values("overfill", 20) // several hundred bytes: over 4 × 64
		if len(records) < 4*64 {
			t.Fatalf("test batch of %d bytes is too small", len(records))
		}
		res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: records})
		if res[0].Err != nil || res[0].BaseOffset != int64(20*i) {
			t.Fatalf("append %d: %+v", i, res[0])
		}
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("3 overfull appends took %v: they waited for the PUT budget", took)
	}
}

// TestQuietSegmentSealedEarly: a segment at least half full that nothing
// has been added to for the quiet interval is sealed without waiting for
// the flush interval; a smaller one waits for it, and one that keeps
// receiving produces stays open.
func TestQuietSegmentSealedEarly(t *testing.T) {
	e := newEnv(t)
	batch := values("q", 20)
	topic := e.topic(t, "quiet", 1)
	part := ingest.PartitionRecords{TopicID: topic, Records: batch}

	t.Run("half full", func(t *testing.T) {
		ing := e.ingester(t, func(c *ingest.Config) {
			c.FlushInterval = 30 * time.Second
			c.SegmentMaxBytes = 2*len(batch) - 1 // one batch is over half
			c.QuietInterval = 20 * time.Millisecond
		})
		start := time.Now()
		if res := mustAppend(t, ing, part); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("append took %v: the quiet segment waited for the flush interval", took)
		}
	})

	t.Run("under half", func(t *testing.T) {
		flush := 700 * time.Millisecond
		ing := e.ingester(t, func(c *ingest.Config) {
			c.FlushInterval = flush
			c.SegmentMaxBytes = 4 * len(batch)
			c.QuietInterval = 10 * time.Millisecond
		})
		start := time.Now()
		if res := mustAppend(t, ing, part); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		if took := time.Since(start); took < flush {
			t.Fatalf("append took %v: a segment under half full was sealed before the flush interval (%v)", took, flush)
		}
	})

	// Once the node has been receiving half a segment in less than a
	// flush interval, a quiet segment under half full is sealed after that
	// much time since the previous seal: its producers wait for it, and
	// waiting longer would add no bytes.
	t.Run("under half at a high byte rate", func(t *testing.T) {
		flush := 5 * time.Second
		ing := e.ingester(t, func(c *ingest.Config) {
			c.FlushInterval = flush
			c.SegmentMaxBytes = 10 * len(batch)
			c.QuietInterval = 10 * time.Millisecond
		})
		ctx := context.Background()
		var pendings []*ingest.Pending
		for range 30 { // three full segments
			p, err := ing.Enqueue(ctx, []ingest.PartitionRecords{part})
			if err != nil {
				t.Fatal(err)
			}
			pendings = append(pendings, p)
		}
		for _, p := range pendings {
			if res := p.Wait(ctx); res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
		}
		start := time.Now()
		if res := mustAppend(t, ing, part); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		if took := time.Since(start); took > flush/2 {
			t.Fatalf("append took %v: the quiet segment waited for the flush interval (%v)", took, flush)
		}
	})

	// At a byte rate below half a segment per flush interval, the timer
	// keeps sealing: PUTs stay at one per flush interval.
	t.Run("under half at a low byte rate", func(t *testing.T) {
		flush := 300 * time.Millisecond
		ing := e.ingester(t, func(c *ingest.Config) {
			c.FlushInterval = flush
			c.SegmentMaxBytes = 10 * len(batch)
			c.QuietInterval = 10 * time.Millisecond
		})
		for n := range 3 {
			start := time.Now()
			if res := mustAppend(t, ing, part); res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			if took := time.Since(start); took < flush {
				t.Fatalf("append %d took %v: a segment under half full was sealed before the flush interval (%v)", n, took, flush)
			}
		}
	})

	t.Run("busy", func(t *testing.T) {
		quiet := 600 * time.Millisecond
		ing := e.ingester(t, func(c *ingest.Config) {
			c.FlushInterval = 30 * time.Second
			c.SegmentMaxBytes = 100 * len(batch)
			c.QuietInterval = quiet
		})
		ctx := context.Background()
		var pendings []*ingest.Pending
		var last time.Time
		for i := 0; i < 60; i++ { // past half full after 50
			p, err := ing.Enqueue(ctx, []ingest.PartitionRecords{part})
			if err != nil {
				t.Fatal(err)
			}
			pendings = append(pendings, p)
			last = time.Now()
			time.Sleep(5 * time.Millisecond) // a steady rate of produces, not a synchronisation
		}
		select {
		case <-pendings[0].Done():
			if time.Since(last) < quiet {
				t.Fatal("the segment was sealed while produces kept arriving")
			}
		default:
		}
		for _, p := range pendings {
			select {
			case <-p.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the segment was not sealed once produces stopped")
			}
			if res := p.Wait(ctx); res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
		}
	})
}

// TestSealReasons: strata_ingest_seals_total says which rule sealed each
// segment, in both modes.
func TestSealReasons(t *testing.T) {
	e := newEnv(t)
	batch := values("r", 20)
	topic := e.topic(t, "reasons", 1)
	part := ingest.PartitionRecords{TopicID: topic, Records: batch}
	seals := func(reg *prometheus.Registry) map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "strata_ingest_seals_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "reason" {
						got[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		}
		return got
	}
	start := func(mutate func(*ingest.Config)) (*ingest.Ingester, *prometheus.Registry) {
		cfg := ingest.Defaults()
		mutate(&cfg)
		reg := prometheus.NewRegistry()
		ing, err := ingest.New(cfg, e.commits, e.objects, e.sink, nil, reg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ing.Close(context.Background()) })
		return ing, reg
	}
	for _, tc := range []struct {
		name   string
		mutate func(*ingest.Config)
		want   string
	}{
		{"timer", func(c *ingest.Config) { c.FlushInterval = 20 * time.Millisecond; c.SegmentMaxBytes = 4 * len(batch) }, "timer"},
		{"size", func(c *ingest.Config) { c.FlushInterval = time.Minute; c.SegmentMaxBytes = len(batch) }, "size"},
		{"quiet", func(c *ingest.Config) {
			c.FlushInterval = time.Minute
			c.SegmentMaxBytes = 2*len(batch) - 1
			c.QuietInterval = 10 * time.Millisecond
		}, "quiet"},
		{"adaptive idle", func(c *ingest.Config) { c.Adaptive = true; c.MaxPutsPerSecond = 1000 }, "idle"},
		// The second append finds its segment held back by the PUT
		// budget; its delayed seal still counts as idle.
		{"adaptive budget", func(c *ingest.Config) { c.Adaptive = true; c.MaxPutsPerSecond = 5 }, "idle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ing, reg := start(tc.mutate)
			for range 2 {
				if res := mustAppend(t, ing, part); res[0].Err != nil {
					t.Fatal(res[0].Err)
				}
			}
			if got := seals(reg); got[tc.want] != 2 || len(got) != 1 {
				t.Errorf("seals by reason %v, want 2 %s", got, tc.want)
			}
		})
	}
}
