package reader

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/chunk"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a reader on a real metastore (PostgreSQL) and object store (MinIO).
type env struct {
	t       testing.TB
	store   metastore.Store
	s3      objstore.Store // without metrics
	faulty  *objstore.Faulty
	objects objstore.Store // counted by objReg
	objReg  *prometheus.Registry
	reg     *prometheus.Registry // the reader's metrics
	topic   metastore.Topic
	counted *countingStore // the reader's view of store
	r       *Reader
	logger  *slog.Logger
	pgURL   string
	seq     int
}

func testConfig() Config {
	cfg := Defaults()
	cfg.CacheBytes = 64 << 20
	return cfg
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s3env := testenv.S3(t)
	s3, err := objstore.NewS3(ctx, objstore.S3Config{
		Bucket:          s3env.Bucket,
		Endpoint:        s3env.Endpoint,
		Region:          s3env.Region,
		AccessKeyID:     s3env.AccessKeyID,
		SecretAccessKey: s3env.SecretAccessKey,
		PathStyle:       true,
	})
	if err != nil {
		t.Fatal(err)
	}
	pgURL := testenv.PostgresURL(t)
	store, err := postgres.New(ctx, postgres.Config{URL: pgURL, MaxConns: 4}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	topic, err := store.CreateTopic(ctx, "events", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, s3: s3, objReg: prometheus.NewRegistry(), reg: prometheus.NewRegistry(), topic: topic, pgURL: pgURL}
	e.faulty = objstore.NewFaulty(s3)
	e.objects = objstore.NewMetrics(e.faulty, e.objReg, "s3")
	e.logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.counted = &countingStore{Metastore: store}
	e.r = New(cfg, e.counted, e.objects, e.logger, e.reg)
	return e
}

// waiting reports whether a long poll is registered on each of the
// partitions, so that a raise of their high watermark wakes it.
func (e *env) waiting(partitions ...int32) bool {
	for _, p := range partitions {
		st := e.r.existing(e.topic.ID, p)
		if st == nil {
			return false
		}
		st.mu.Lock()
		n := len(st.waiters)
		st.mu.Unlock()
		if n == 0 {
			return false
		}
	}
	return true
}

// loaded reports whether the reader has read the partition's row.
func (e *env) loaded(partition int32) bool {
	st := e.r.existing(e.topic.ID, partition)
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.loaded
}

// fetchedSince reports whether the reader has read the partition's row
// since t.
func (e *env) fetchedSince(partition int32, t time.Time) bool {
	st := e.r.existing(e.topic.ID, partition)
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.loaded && !st.fetched.Before(t)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// segmentObject encodes one level-0 object holding, per partition, the
// given batches, as the ingest path would. It returns the object and the
// commit spec for it (the key is set, the object is not stored).
func (e *env) segmentObject(parts map[int32][][]byte) ([]byte, metastore.SegmentSpec) {
	e.t.Helper()
	e.seq++
	var inputs []segment.ChunkInput
	var metas [][]metastore.BatchMeta
	for p := int32(0); p < e.topic.Partitions; p++ {
		batches, ok := parts[p]
		if !ok {
			continue
		}
		in := segment.ChunkInput{TopicID: e.topic.ID, Partition: p, BaseOffset: -1, MinTimestamp: math.MaxInt64, MaxTimestamp: math.MinInt64}
		var meta []metastore.BatchMeta
		for _, b := range batches {
			h, err := recordbatch.Check(b)
			if err != nil {
				e.t.Fatal(err)
			}
			in.Batches++
			in.Records += h.OffsetCount()
			in.MinTimestamp = min(in.MinTimestamp, h.BaseTimestamp)
			in.MaxTimestamp = max(in.MaxTimestamp, h.MaxTimestamp)
			in.Data = append(in.Data, b...)
			m := metastore.BatchMeta{
				OffsetCount:   int32(h.OffsetCount()),
				MaxTimestamp:  h.MaxTimestamp,
				ProducerID:    h.ProducerID,
				ProducerEpoch: h.ProducerEpoch,
				BaseSequence:  h.BaseSequence,
				Transactional: h.IsTransactional(),
			}
			if h.IsControl() {
				m.Control = metastore.ControlAbort
				if typ, err := recordbatch.ParseControl(b, h); err == nil && typ == recordbatch.ControlTypeCommit {
					m.Control = metastore.ControlCommit
				}
			}
			meta = append(meta, m)
		}
		inputs = append(inputs, in)
		metas = append(metas, meta)
	}
	obj, infos, err := segment.Encode(0, inputs)
	if err != nil {
		e.t.Fatal(err)
	}
	seg := metastore.SegmentSpec{ObjectKey: fmt.Sprintf("l0/%02d/%s", e.seq%100, uuid.NewString()), ObjectSize: int64(len(obj))}
	for i, info := range infos {
		seg.Chunks = append(seg.Chunks, metastore.ChunkSpec{
			TopicID:   e.topic.ID,
			Partition: info.Partition,
			Start:     info.Start,
			Length:    info.Length,
			RawLength: info.RawLength,
			Batches:   metas[i],
		})
	}
	return obj, seg
}

// commit uploads and commits one level-0 object and returns the chunk rows
// it added and the object.
func (e *env) commit(parts map[int32][][]byte) ([]metastore.Chunk, []byte) {
	e.t.Helper()
	ctx := context.Background()
	obj, seg := e.segmentObject(parts)
	if err := e.s3.Put(ctx, seg.ObjectKey, obj); err != nil {
		e.t.Fatal(err)
	}
	res, err := e.store.CommitSegment(ctx, seg)
	if err != nil {
		e.t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			e.t.Fatalf("chunk %d: %v", i, r.Err)
		}
	}
	return metastore.ChunksFromResults(seg, res), obj
}

func (e *env) read(p int32, offset int64, maxBytes int) Result {
	e.t.Helper()
	res, err := e.r.Read(context.Background(), e.topic.ID, p, offset, maxBytes)
	if err != nil {
		e.t.Fatalf("read partition %d at %d: %v", p, offset, err)
	}
	return res
}

// getRequests sums strata_objstore_requests_total of one operation, all
// results, as counted by objstore.NewMetrics.
func (e *env) getRequests(op string) float64 {
	e.t.Helper()
	mfs, err := e.objReg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "strata_objstore_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" && l.GetValue() == op {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// countingStore counts the metastore calls the reader makes.
type countingStore struct {
	Metastore
	calls atomic.Int64
}

func (s *countingStore) Partition(ctx context.Context, topicID uuid.UUID, partition int32) (metastore.Partition, error) {
	s.calls.Add(1)
	return s.Metastore.Partition(ctx, topicID, partition)
}

func (s *countingStore) Partitions(ctx context.Context, topicID uuid.UUID) ([]metastore.Partition, error) {
	s.calls.Add(1)
	return s.Metastore.Partitions(ctx, topicID)
}

func (s *countingStore) ChunksFrom(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, limit int) ([]metastore.Chunk, error) {
	s.calls.Add(1)
	return s.Metastore.ChunksFrom(ctx, topicID, partition, offset, limit)
}

// served is one batch of a read result.
type served struct {
	h      recordbatch.Header
	values []string
}

// batchesOf checks every batch of records (structure and CRC) and returns
// them with their record values.
func batchesOf(t testing.TB, records []byte) []served {
	t.Helper()
	var out []served
	err := recordbatch.Split(records, func(batch []byte, h recordbatch.Header) error {
		_, recs := batchtest.Decode(batch)
		s := served{h: h}
		for _, r := range recs {
			s.values = append(s.values, string(r.Value))
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatalf("served records do not parse: %v", err)
	}
	return out
}

// values returns n distinct record values with a prefix.
func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// threeSegments commits three objects. Partition 0 gets batches of 3, 2, 1
// and 4 records (offsets 0-2, 3-4, 5, 6-9); partition 1 gets one batch per
// object, so that the objects are shared.
func threeSegments(e *env) {
	e.commit(map[int32][][]byte{
		0: {batchtest.Values(batchtest.NoProducer, values("a", 3)...), batchtest.Values(batchtest.NoProducer, values("b", 2)...)},
		1: {batchtest.Values(batchtest.NoProducer, values("x", 5)...)},
	})
	e.commit(map[int32][][]byte{
		0: {batchtest.Values(batchtest.NoProducer, values("c", 1)...)},
		1: {batchtest.Values(batchtest.NoProducer, values("y", 5)...)},
	})
	e.commit(map[int32][][]byte{
		0: {batchtest.Values(batchtest.NoProducer, values("d", 4)...)},
		1: {batchtest.Values(batchtest.NoProducer, values("z", 5)...)},
	})
}

func TestReadFromStartRewritesOffsets(t *testing.T) {
	e := newEnv(t, testConfig())
	threeSegments(e)

	res := e.read(0, 0, 1<<20)
	if res.HighWatermark != 10 || res.LogStartOffset != 0 {
		t.Fatalf("high watermark %d, log start %d; want 10, 0", res.HighWatermark, res.LogStartOffset)
	}
	got := batchesOf(t, res.Records)
	want := []struct {
		base   int64
		prefix string
		n      int
	}{{0, "a", 3}, {3, "b", 2}, {5, "c", 1}, {6, "d", 4}}
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	next := int64(0)
	for i, w := range want {
		g := got[i]
		if g.h.BaseOffset != w.base || g.h.BaseOffset != next {
			t.Errorf("batch %d: base offset %d, want %d", i, g.h.BaseOffset, w.base)
		}
		if g.h.PartitionLeaderEpoch < 0 {
			t.Errorf("batch %d: leader epoch %d not written", i, g.h.PartitionLeaderEpoch)
		}
		if fmt.Sprint(g.values) != fmt.Sprint(values(w.prefix, w.n)) {
			t.Errorf("batch %d: values %v, want %v", i, g.values, values(w.prefix, w.n))
		}
		next = g.h.BaseOffset + g.h.OffsetCount()
	}

	// Partition 1 shares the objects and is read from the same cache.
	p1 := batchesOf(t, e.read(1, 0, 1<<20).Records)
	if len(p1) != 3 || p1[2].h.BaseOffset != 10 || p1[2].values[0] != "z-0" {
		t.Fatalf("partition 1: %d batches, last %+v", len(p1), p1[len(p1)-1])
	}
	if n := e.getRequests(objstore.OpGet); n != 3 {
		t.Errorf("%v whole-object GETs for 3 objects read by 2 partitions, want 3", n)
	}

	// The cached chunks keep the offsets as stored; a second read, served
	// from the cache, is identical.
	again := e.read(0, 0, 1<<20)
	if !bytes.Equal(again.Records, res.Records) {
		t.Fatal("second read differs from the first")
	}
	if n := e.getRequests(objstore.OpGet); n != 3 {
		t.Errorf("cached read made GETs: %v in all", n)
	}

	// At the high watermark the read is empty.
	if res := e.read(0, 10, 1<<20); len(res.Records) != 0 || res.HighWatermark != 10 {
		t.Fatalf("read at the high watermark: %d bytes, hwm %d", len(res.Records), res.HighWatermark)
	}
}

func TestCachedBytesNotModified(t *testing.T) {
	e := newEnv(t, testConfig())
	threeSegments(e)
	e.read(0, 0, 1<<20)
	e.r.cache.mu.Lock()
	defer e.r.cache.mu.Unlock()
	n := 0
	for k, ent := range e.r.cache.entries {
		d, ok := ent.value.(*chunk.Data)
		if !ok {
			continue
		}
		n++
		for i := range d.Batches {
			h, err := recordbatch.ParseHeader(d.Bytes(&d.Batches[i]))
			if err != nil {
				t.Fatal(err)
			}
			if h.BaseOffset != 0 || h.PartitionLeaderEpoch != -1 {
				t.Errorf("cached chunk %v: batch header changed to base %d epoch %d", k, h.BaseOffset, h.PartitionLeaderEpoch)
			}
		}
	}
	if n == 0 {
		t.Fatal("no chunk cached")
	}
}

func TestReadInsideBatch(t *testing.T) {
	e := newEnv(t, testConfig())
	threeSegments(e)
	for _, tc := range []struct {
		offset, base int64
		batches      int
	}{
		{1, 0, 4}, {2, 0, 4}, {3, 3, 3}, {4, 3, 3}, {5, 5, 2}, {8, 6, 1}, {9, 6, 1},
	} {
		got := batchesOf(t, e.read(0, tc.offset, 1<<20).Records)
		if len(got) != tc.batches || got[0].h.BaseOffset != tc.base {
			t.Errorf("read at %d: %d batches from %d, want %d from %d", tc.offset, len(got), got[0].h.BaseOffset, tc.batches, tc.base)
		}
	}
}

func TestMaxBytes(t *testing.T) {
	e := newEnv(t, testConfig())
	threeSegments(e)
	all := batchesOf(t, e.read(0, 0, 1<<20).Records)
	size := func(n int) int {
		s := 0
		for _, b := range all[:n] {
			s += b.h.Size()
		}
		return s
	}
	for _, tc := range []struct {
		maxBytes, want int
	}{
		{0, 1}, {1, 1}, {size(1), 1}, {size(2) - 1, 1}, {size(2), 2},
		{size(3), 3}, // spans two objects
		{size(3) + 1, 3}, {size(4), 4}, {1 << 20, 4},
	} {
		res := e.read(0, 0, tc.maxBytes)
		got := batchesOf(t, res.Records)
		if len(got) != tc.want {
			t.Errorf("maxBytes %d: %d batches, want %d", tc.maxBytes, len(got), tc.want)
		}
		if len(got) > 1 && len(res.Records) > tc.maxBytes {
			t.Errorf("maxBytes %d: %d bytes returned", tc.maxBytes, len(res.Records))
		}
	}
	// A read continuing where the last ended picks up the next batch.
	got := batchesOf(t, e.read(0, 5, 1).Records)
	if len(got) != 1 || got[0].h.BaseOffset != 5 {
		t.Fatalf("read at 5: %+v", got)
	}
}

func TestSkippedBatchesNotServed(t *testing.T) {
	e := newEnv(t, testConfig())
	prod := batchtest.Options{ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0}
	first := batchtest.Values(prod, values("p", 3)...)
	e.commit(map[int32][][]byte{0: {first}})

	// A retry of the first batch (a duplicate), a plain batch, a batch out of
	// sequence, then the producer's next batch.
	dup := first
	plain := batchtest.Values(batchtest.NoProducer, values("q", 2)...)
	bad := batchtest.Values(batchtest.Options{ProducerID: 7, ProducerEpoch: 0, BaseSequence: 9}, values("bad", 1)...)
	next := batchtest.Values(batchtest.Options{ProducerID: 7, ProducerEpoch: 0, BaseSequence: 3}, values("r", 2)...)
	chunks, _ := e.commit(map[int32][][]byte{0: {dup, plain, bad, next}})
	if len(chunks) != 1 || fmt.Sprint(chunks[0].Skip) != "[0 2]" {
		t.Fatalf("commit skipped %v, want [0 2]", chunks[0].Skip)
	}

	got := batchesOf(t, e.read(0, 0, 1<<20).Records)
	want := []struct {
		base   int64
		values []string
	}{{0, values("p", 3)}, {3, values("q", 2)}, {5, values("r", 2)}}
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].h.BaseOffset != w.base || fmt.Sprint(got[i].values) != fmt.Sprint(w.values) {
			t.Errorf("batch %d: base %d values %v, want %d %v", i, got[i].h.BaseOffset, got[i].values, w.base, w.values)
		}
	}
	// Reading from inside the chunk lands on the right batch.
	got = batchesOf(t, e.read(0, 6, 1<<20).Records)
	if len(got) != 1 || got[0].h.BaseOffset != 5 || got[0].values[0] != "r-0" {
		t.Fatalf("read at 6: %+v", got)
	}
}

func TestOffsetOutOfRange(t *testing.T) {
	cfg := testConfig()
	cfg.MetadataTTL = time.Hour
	e := newEnv(t, cfg)
	threeSegments(e)
	ctx := context.Background()
	for _, off := range []int64{-1, 11, 1000} {
		res, err := e.r.Read(ctx, e.topic.ID, 0, off, 1<<20)
		if !errors.Is(err, metastore.ErrOffsetOutOfRange) {
			t.Errorf("read at %d: error %v, want ErrOffsetOutOfRange", off, err)
		}
		if res.HighWatermark != 10 || len(res.Records) != 0 {
			t.Errorf("read at %d: hwm %d, %d bytes", off, res.HighWatermark, len(res.Records))
		}
	}
	// An offset above the cached high watermark is looked up again: records
	// committed by another node become readable without waiting for a TTL.
	e.read(0, 10, 1)
	e.commit(map[int32][][]byte{0: {batchtest.Values(batchtest.NoProducer, "late")}})
	if res := e.read(0, 11, 1<<20); res.HighWatermark != 11 || len(res.Records) != 0 {
		t.Fatalf("read at 11 after another node's commit: hwm %d", res.HighWatermark)
	}
	if _, err := e.r.Read(ctx, e.topic.ID, 9, 0, 1); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
}

func TestCommittedServesWithoutMetastoreOrGet(t *testing.T) {
	cfg := testConfig()
	cfg.MetadataTTL = time.Hour
	e := newEnv(t, cfg)
	threeSegments(e)
	e.read(0, 0, 1<<20) // caches the partition and its index
	gets := e.getRequests(objstore.OpGet)

	chunks, obj := e.commit(map[int32][][]byte{0: {batchtest.Values(batchtest.NoProducer, values("e", 2)...)}})
	e.r.Committed(chunks, obj)
	calls := e.counted.calls.Load()
	res := e.read(0, 10, 1<<20)
	got := batchesOf(t, res.Records)
	if res.HighWatermark != 12 || len(got) != 1 || got[0].h.BaseOffset != 10 || got[0].values[1] != "e-1" {
		t.Fatalf("read after Committed: hwm %d, batches %+v", res.HighWatermark, got)
	}
	if n := e.getRequests(objstore.OpGet); n != gets {
		t.Errorf("read of a locally committed object made %v GETs", n-gets)
	}
	// One query: the partition row, for the leader epoch the new records
	// are served with (it may have gone up since the row was cached).
	if n := e.counted.calls.Load() - calls; n != 1 {
		t.Errorf("read of a locally committed object made %d metastore queries, want 1", n)
	}
	// A consumer re-reading within the cached range queries nothing more.
	for range 20 {
		e.read(0, 5, 1)
		e.read(0, 10, 1<<20)
	}
	if n := e.counted.calls.Load() - calls; n != 1 {
		t.Errorf("steady reads made %d metastore queries, want none", n-1)
	}
}

func TestWaitWokenByCommitted(t *testing.T) {
	cfg := testConfig()
	cfg.PollInterval = time.Hour // only a wake-up can end the wait early
	cfg.MetadataTTL = time.Hour
	e := newEnv(t, cfg)
	threeSegments(e)
	e.read(0, 10, 1)

	chunks, obj := e.commit(map[int32][][]byte{0: {batchtest.Values(batchtest.NoProducer, "new")}})
	done := make(chan time.Time)
	go func() {
		e.r.Wait(context.Background(), []Watch{
			{TopicID: e.topic.ID, Partition: 2, Offset: 0},
			{TopicID: e.topic.ID, Partition: 0, Offset: 10},
		}, 30*time.Second)
		done <- time.Now()
	}()
	// Partition 2 was never read: once its row is loaded, Wait has made
	// its first check and found nothing new.
	testenv.WaitFor(t, 5*time.Second, "Wait to block", func() bool {
		return e.waiting(0, 2) && e.loaded(2)
	})
	select {
	case <-done:
		t.Fatal("Wait returned before anything was committed locally")
	default:
	}
	if g := testutil.ToFloat64(e.r.metrics.waiting); g != 1 {
		t.Errorf("strata_reader_waiting_fetches = %v during the wait, want 1", g)
	}
	woke := time.Now()
	e.r.Committed(chunks, obj)
	select {
	case end := <-done:
		if d := end.Sub(woke); d > 50*time.Millisecond {
			t.Errorf("Wait returned %v after Committed", d)
		}
		if g := testutil.ToFloat64(e.r.metrics.waiting); g != 0 {
			t.Errorf("strata_reader_waiting_fetches = %v after the wait, want 0", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait not woken by Committed")
	}
}

func TestWaitWokenByNotify(t *testing.T) {
	cfg := testConfig()
	cfg.PollInterval = time.Hour
	cfg.MetadataTTL = time.Hour
	e := newEnv(t, cfg)
	threeSegments(e)
	e.read(1, 15, 1)
	done := make(chan struct{})
	go func() {
		e.r.Wait(context.Background(), []Watch{{TopicID: e.topic.ID, Partition: 1, Offset: 15}}, 30*time.Second)
		close(done)
	}()
	testenv.WaitFor(t, 5*time.Second, "Wait to block", func() bool { return e.waiting(1) })
	e.r.Notify(e.topic.ID, 1, 15) // not above the watch offset
	select {
	case <-done:
		t.Fatal("Wait returned for a high watermark equal to the watch offset")
	case <-time.After(50 * time.Millisecond):
	}
	e.r.Notify(e.topic.ID, 1, 16)
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Wait not woken by Notify")
	}
}

func TestWaitTimesOutAndPolls(t *testing.T) {
	cfg := testConfig()
	cfg.PollInterval = 50 * time.Millisecond
	cfg.MetadataTTL = 10 * time.Millisecond
	e := newEnv(t, cfg)
	threeSegments(e)
	watch := []Watch{{TopicID: e.topic.ID, Partition: 0, Offset: 10}}

	start := time.Now()
	e.r.Wait(context.Background(), watch, 200*time.Millisecond)
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("Wait with nothing new took %v, want about 200ms", d)
	}

	// A commit by another node (no Committed, no Notify) is found by the
	// periodic re-check. The commit comes after Wait has read the
	// partition row once, so that only a later re-check can find it.
	done := make(chan struct{})
	start = time.Now()
	go func() {
		e.r.Wait(context.Background(), watch, 20*time.Second)
		close(done)
	}()
	testenv.WaitFor(t, 5*time.Second, "Wait to read the partition row", func() bool {
		return e.waiting(0) && e.fetchedSince(0, start)
	})
	e.commit(map[int32][][]byte{0: {batchtest.Values(batchtest.NoProducer, "remote")}})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait missed a remote commit for 5s")
	}
	if res := e.read(0, 10, 1<<20); res.HighWatermark != 11 {
		t.Fatalf("high watermark %d after remote commit", res.HighWatermark)
	}

	// A cancelled context ends the wait.
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() {
		e.r.Wait(ctx, []Watch{{TopicID: e.topic.ID, Partition: 0, Offset: 11}}, 20*time.Second)
		close(done)
	}()
	testenv.WaitFor(t, 5*time.Second, "Wait to block", func() bool { return e.waiting(0) })
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Wait ignored its context for 2s")
	}
}

func TestConcurrentMissesShareOneGet(t *testing.T) {
	e := newEnv(t, testConfig())
	threeSegments(e)
	batches := make(map[int32][][]byte)
	for p := range int32(3) {
		batches[p] = [][]byte{batchtest.Values(batchtest.NoProducer, values(fmt.Sprint("fresh", p), 3)...)}
	}
	e.commit(batches) // not announced with Committed: nobody has it cached
	before := e.getRequests(objstore.OpGet)
	// Hold the GET until every reader has missed the cache, so that all of
	// them want the object at the same time.
	release := make(chan struct{})
	e.faulty.Inject(objstore.OpGet, func(string) error { <-release; return nil })

	const readers = 32
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	start := make(chan struct{})
	for i := range readers {
		p := int32(i % 3)
		wg.Go(func() {
			<-start
			off := int64(10)
			if p > 0 {
				off = 15
			}
			if p == 2 {
				off = 0
			}
			res, err := e.r.Read(context.Background(), e.topic.ID, p, off, 1<<20)
			if err != nil {
				errs <- err
				return
			}
			var got []served
			recordbatch.Split(res.Records, func(batch []byte, h recordbatch.Header) error {
				_, recs := batchtest.Decode(batch)
				got = append(got, served{h: h, values: []string{string(recs[0].Value)}})
				return nil
			})
			if len(got) != 1 || got[0].h.BaseOffset != off || got[0].values[0] != fmt.Sprint("fresh", p, "-0") {
				errs <- fmt.Errorf("partition %d: read %+v", p, got)
			}
		})
	}
	close(start)
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) }) // also when WaitFor fails
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%d readers to miss the cache", readers), func() bool {
		return testutil.ToFloat64(e.r.metrics.cacheMisses) >= readers
	})
	releaseOnce.Do(func() { close(release) })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.getRequests(objstore.OpGet) - before; n != 1 {
		t.Fatalf("%d concurrent readers of a new object made %v GETs, want 1", readers, n)
	}
	if n := testutil.ToFloat64(e.r.metrics.objectGets.WithLabelValues("whole")); n != 1 {
		t.Errorf("strata_reader_object_gets_total{kind=whole} = %v, want 1", n)
	}
}

func TestCacheEvictionKeepsBound(t *testing.T) {
	cfg := testConfig()
	cfg.CacheBytes = 48 << 10
	cfg.ObjectTTL = 0 // only decoded chunks
	e := newEnv(t, cfg)
	value := strings.Repeat("v", 1000)
	const objects = 12
	for i := range objects {
		recs := make([]string, 10)
		for j := range recs {
			recs[j] = fmt.Sprintf("%d-%d-%s", i, j, value)
		}
		e.commit(map[int32][][]byte{0: {batchtest.Values(batchtest.NoProducer, recs...)}}) // ~10 KiB raw
	}
	for round := range 2 {
		for i := range objects {
			got := batchesOf(t, e.read(0, int64(i*10), 1).Records)
			if len(got) != 1 || got[0].h.BaseOffset != int64(i*10) || !strings.HasPrefix(got[0].values[9], fmt.Sprintf("%d-9-", i)) {
				t.Fatalf("round %d object %d: wrong batch", round, i)
			}
			if used := e.r.cache.bytes(); used > cfg.CacheBytes {
				t.Fatalf("cache holds %d bytes, bound %d", used, cfg.CacheBytes)
			}
			if g := testutil.ToFloat64(e.r.metrics.cacheBytes); int64(g) != e.r.cache.bytes() {
				t.Fatalf("strata_reader_cache_bytes %v, cache holds %d", g, e.r.cache.bytes())
			}
		}
	}
	if n := e.r.cache.len(); n >= objects || n == 0 {
		t.Fatalf("%d chunks cached of %d read with a bound of %d bytes", n, objects, cfg.CacheBytes)
	}
	// Evicted chunks were fetched again: more GETs than objects.
	if n := e.getRequests(objstore.OpGet); n <= objects {
		t.Fatalf("%v GETs for two rounds over %d objects that do not fit", n, objects)
	}
	// Each read looks a chunk up once; the chunk loaded ahead of a read
	// may be found by the next one.
	if h, m := testutil.ToFloat64(e.r.metrics.cacheHits), testutil.ToFloat64(e.r.metrics.cacheMisses); h+m != 2*objects || m < objects {
		t.Errorf("hits %v misses %v", h, m)
	}
}

// TestReadAhead: a read loads the partition's next chunk without waiting
// for it, so that a consumer reading on finds it cached.
func TestReadAhead(t *testing.T) {
	cfg := testConfig()
	cfg.ObjectTTL = 0 // only decoded chunks
	e := newEnv(t, cfg)
	var second metastore.Chunk
	for i := range 3 {
		chunks, _ := e.commit(map[int32][][]byte{0: {batchtest.Values(batchtest.NoProducer, fmt.Sprintf("r%d", i))}})
		if i == 1 {
			second = chunks[0]
		}
	}
	if got := batchesOf(t, e.read(0, 0, 1).Records); len(got) != 1 || got[0].h.BaseOffset != 0 {
		t.Fatalf("first read: %+v", got)
	}
	if n := testutil.ToFloat64(e.r.metrics.readAheads); n != 1 {
		t.Fatalf("%v chunks read ahead, want 1 (the next one)", n)
	}
	// The chunk loaded ahead lands in the cache by itself.
	testenv.WaitFor(t, 5*time.Second, "the next chunk to be loaded ahead", func() bool {
		_, ok := e.r.cache.get(cacheKey{object: second.ObjectKey, start: second.Start})
		return ok
	})
	hits := testutil.ToFloat64(e.r.metrics.cacheHits)
	if got := batchesOf(t, e.read(0, 1, 1).Records); len(got) != 1 || got[0].h.BaseOffset != 1 {
		t.Fatalf("second read: %+v", got)
	}
	if testutil.ToFloat64(e.r.metrics.cacheHits) != hits+1 {
		t.Fatal("the second read did not find the chunk loaded ahead")
	}
}

func TestCorruptObjectIsAnError(t *testing.T) {
	cfg := testConfig()
	cfg.MetadataTTL = 0 // each subtest commits more, read at once
	e := newEnv(t, cfg)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		corrupt func(obj []byte, c metastore.Chunk) []byte
	}{
		{"flipped byte in chunk", func(obj []byte, c metastore.Chunk) []byte {
			obj[c.Start+c.Length/2] ^= 0x40
			return obj
		}},
		{"truncated", func(obj []byte, c metastore.Chunk) []byte { return obj[:len(obj)-5] }},
		{"chunk replaced by zeros", func(obj []byte, c metastore.Chunk) []byte {
			clear(obj[c.Start : c.Start+c.Length])
			return obj
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks, obj := e.commit(map[int32][][]byte{2: {batchtest.Values(batchtest.NoProducer, values("secret", 4)...)}})
			c := chunks[0]
			bad := tc.corrupt(bytes.Clone(obj), c)
			if err := e.s3.Put(ctx, c.ObjectKey, bad); err != nil {
				t.Fatal(err)
			}
			for range 2 { // the error is not cached away
				res, err := e.r.Read(ctx, e.topic.ID, 2, c.BaseOffset, 1<<20)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("read of a corrupt object: err %v, %d bytes", err, len(res.Records))
				}
				if len(res.Records) != 0 {
					t.Fatal("corrupt object served records")
				}
			}
			if _, ok := e.r.cache.get(cacheKey{object: c.ObjectKey, start: c.Start}); ok {
				t.Fatal("corrupt chunk cached")
			}
		})
	}
}

func TestMissingObject(t *testing.T) {
	e := newEnv(t, testConfig())
	chunks, _ := e.commit(map[int32][][]byte{0: {batchtest.Values(batchtest.NoProducer, "gone")}})
	if err := e.s3.Delete(context.Background(), chunks[0].ObjectKey); err != nil {
		t.Fatal(err)
	}
	_, err := e.r.Read(context.Background(), e.topic.ID, 0, 0, 1<<20)
	if !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("read of a deleted object: %v", err)
	}
}

func TestRangedGetForLargeObjects(t *testing.T) {
	cfg := testConfig()
	cfg.WholeObjectMaxBytes = 0 // every object counts as large
	e := newEnv(t, cfg)
	threeSegments(e)
	got := batchesOf(t, e.read(0, 0, 1<<20).Records)
	if len(got) != 4 || got[3].h.BaseOffset != 6 {
		t.Fatalf("read %d batches", len(got))
	}
	if g, r := e.getRequests(objstore.OpGet), e.getRequests(objstore.OpGetRange); g != 0 || r != 3 {
		t.Fatalf("%v GETs and %v ranged GETs, want 0 and 3", g, r)
	}
}

// level1Store serves a fixed chunk index for one partition, as the
// compactor would leave it: level-1 chunks with absolute offsets.
type level1Store struct {
	part   metastore.Partition
	chunks []metastore.Chunk
}

func (s *level1Store) Partition(ctx context.Context, topicID uuid.UUID, partition int32) (metastore.Partition, error) {
	return s.part, nil
}

func (s *level1Store) Partitions(ctx context.Context, topicID uuid.UUID) ([]metastore.Partition, error) {
	return []metastore.Partition{s.part}, nil
}

func (s *level1Store) ChunksFrom(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, limit int) ([]metastore.Chunk, error) {
	var out []metastore.Chunk
	for _, c := range s.chunks {
		if c.EndOffset > offset && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *level1Store) PartitionTxns(ctx context.Context, topicID uuid.UUID, partition int32, from int64, limit int) (metastore.PartitionTxns, error) {
	return metastore.PartitionTxns{NextOffset: s.part.NextOffset, FirstOpen: -1}, nil
}

func (s *level1Store) ChunkForTimestamp(ctx context.Context, topicID uuid.UUID, partition int32, ts int64) (metastore.Chunk, bool, error) {
	for _, c := range s.chunks {
		if c.MaxTimestamp >= ts {
			return c, true, nil
		}
	}
	return metastore.Chunk{}, false, nil
}

func TestReadLevel1(t *testing.T) {
	s3 := newEnv(t, testConfig()).s3
	topic := uuid.New()
	// Two chunks in one object: offsets 100-104 and 105-107, batches with
	// absolute offsets and their own leader epochs.
	mk := func(base int64, epoch int32, vals ...string) []byte {
		b := batchtest.Values(batchtest.NoProducer, vals...)
		recordbatch.SetBaseOffset(b, base)
		recordbatch.SetPartitionLeaderEpoch(b, epoch)
		return b
	}
	c1 := append(mk(100, 3, "a", "b"), mk(102, 3, "c", "d", "e")...)
	c2 := mk(105, 4, "f", "g", "h")
	obj, infos, err := segment.Encode(1, []segment.ChunkInput{
		{TopicID: topic, Partition: 0, BaseOffset: 100, Batches: 2, Records: 5, Data: c1},
		{TopicID: topic, Partition: 0, BaseOffset: 105, Batches: 1, Records: 3, Data: c2},
	})
	if err != nil {
		t.Fatal(err)
	}
	key := "l1/" + uuid.NewString()
	if err := s3.Put(context.Background(), key, obj); err != nil {
		t.Fatal(err)
	}
	store := &level1Store{part: metastore.Partition{TopicID: topic, LogStartOffset: 100, NextOffset: 108, LeaderEpoch: 9}}
	for i, info := range infos {
		store.chunks = append(store.chunks, metastore.Chunk{
			TopicID: topic, BaseOffset: []int64{100, 105}[i], EndOffset: []int64{105, 108}[i],
			ObjectKey: key, ObjectSize: int64(len(obj)), Level: 1,
			Start: info.Start, Length: info.Length, RawLength: info.RawLength, BatchCount: info.Batches,
		})
	}
	// The object is small enough to be fetched whole, but a level-1
	// object holds one partition: its chunks are read with ranged GETs,
	// both in one span.
	r := New(testConfig(), store, s3, nil, prometheus.NewRegistry())
	res, err := r.Read(context.Background(), topic, 0, 103, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got := batchesOf(t, res.Records)
	if len(got) != 2 || got[0].h.BaseOffset != 102 || got[1].h.BaseOffset != 105 || got[1].h.PartitionLeaderEpoch != 4 {
		t.Fatalf("level-1 read at 103: %+v", got)
	}
	whole := testutil.ToFloat64(r.metrics.objectGets.WithLabelValues("whole"))
	ranged := testutil.ToFloat64(r.metrics.objectGets.WithLabelValues("range"))
	if whole != 0 || ranged != 1 {
		t.Fatalf("level-1 read: %v whole GETs and %v ranged, want 0 and 1", whole, ranged)
	}
	if _, err := r.Read(context.Background(), topic, 0, 99, 1); !errors.Is(err, metastore.ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
}

// level1Object stores one level-1 object of n chunks for partition 0 of
// topic, each chunk one batch of records with absolute offsets, and
// returns the store that indexes it and every record value in order.
func level1Object(t *testing.T, s3 objstore.Store, topic uuid.UUID, n, perChunk int) (*level1Store, []string) {
	t.Helper()
	var inputs []segment.ChunkInput
	var all []string
	rng := rand.New(rand.NewPCG(uint64(n), uint64(perChunk)))
	for i := range n {
		// Hex digits: chunks that compress only twofold, so that a span
		// holds a few of them.
		vals := make([]string, perChunk)
		for j := range vals {
			b := make([]byte, 1000)
			for k := range b {
				b[k] = byte(rng.Uint32())
			}
			vals[j] = fmt.Sprintf("c%d-%d-%x", i, j, b)
		}
		b := batchtest.Values(batchtest.NoProducer, vals...)
		recordbatch.SetBaseOffset(b, int64(i*perChunk))
		inputs = append(inputs, segment.ChunkInput{TopicID: topic, Partition: 0, BaseOffset: int64(i * perChunk), Batches: 1, Records: int64(perChunk), Data: b})
		all = append(all, vals...)
	}
	obj, infos, err := segment.Encode(1, inputs)
	if err != nil {
		t.Fatal(err)
	}
	key := "l1/" + uuid.NewString()
	if err := s3.Put(context.Background(), key, obj); err != nil {
		t.Fatal(err)
	}
	end := int64(n * perChunk)
	store := &level1Store{part: metastore.Partition{TopicID: topic, LogStartOffset: 0, NextOffset: end, LeaderEpoch: 1}}
	for i, info := range infos {
		store.chunks = append(store.chunks, metastore.Chunk{
			TopicID: topic, BaseOffset: int64(i * perChunk), EndOffset: int64((i + 1) * perChunk),
			ObjectKey: key, ObjectSize: int64(len(obj)), Level: 1,
			Start: info.Start, Length: info.Length, RawLength: info.RawLength, BatchCount: info.Batches,
		})
	}
	return store, all
}

// readAll reads partition 0 from offset 0 to end, maxBytes at a time, and
// returns the record values in order.
func readAll(t *testing.T, r *Reader, topic uuid.UUID, end int64, maxBytes int) []string {
	t.Helper()
	var got []string
	for off := int64(0); off < end; {
		res, err := r.Read(context.Background(), topic, 0, off, maxBytes)
		if err != nil {
			t.Error(err)
			return got
		}
		bs := batchesOf(t, res.Records)
		if len(bs) == 0 {
			t.Errorf("read at %d: nothing", off)
			return got
		}
		for _, b := range bs {
			if b.h.BaseOffset < off {
				t.Errorf("read at %d served batch %d", off, b.h.BaseOffset)
				return got
			}
			got = append(got, b.values...)
			off = b.h.BaseOffset + int64(len(b.values))
		}
	}
	return got
}

// A catch-up read of a level-1 object fetches it a span of chunks per GET,
// not a GET per chunk, and readers that meet a span in flight wait for it
// instead of fetching their chunk again.
func TestLevel1SpanReads(t *testing.T) {
	s3 := newEnv(t, testConfig()).s3
	topic := uuid.New()
	const chunks, perChunk = 24, 100
	store, want := level1Object(t, s3, topic, chunks, perChunk)
	var compressed int64
	for _, c := range store.chunks {
		compressed += c.Length
	}
	raw := store.chunks[0].RawLength
	perSpan := min(spanMaxBytes/store.chunks[0].Length, spanMaxRawBytes/raw)
	if perSpan < 2 {
		t.Fatalf("test chunks too large: %d per span", perSpan)
	}

	// One GET per span, and at most one more.
	maxGets := float64((chunks+int(perSpan)-1)/int(perSpan) + 1)

	t.Run("sequential", func(t *testing.T) {
		r := New(testConfig(), store, s3, nil, prometheus.NewRegistry())
		got := readAll(t, r, topic, chunks*perChunk, int(raw)) // about one chunk per read
		if !slices.Equal(got, want) {
			t.Fatalf("read %d records, want %d (first %q)", len(got), len(want), got[:min(1, len(got))])
		}
		ranged := testutil.ToFloat64(r.metrics.objectGets.WithLabelValues("range"))
		if ranged > maxGets {
			t.Fatalf("%v ranged GETs for %d chunks (%d bytes compressed, %d chunks a span), want at most %v",
				ranged, chunks, compressed, perSpan, maxGets)
		}
		t.Logf("%v ranged GETs for %d chunks, %d chunks a span", ranged, chunks, perSpan)
		if d := testutil.ToFloat64(r.metrics.decodes); d != chunks {
			t.Fatalf("%v chunk decodes, want %d", d, chunks)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		r := New(testConfig(), store, s3, nil, prometheus.NewRegistry())
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if got := readAll(t, r, topic, chunks*perChunk, int(raw)); !slices.Equal(got, want) {
					t.Errorf("concurrent reader: %d records, want %d", len(got), len(want))
				}
			})
		}
		wg.Wait()
		ranged := testutil.ToFloat64(r.metrics.objectGets.WithLabelValues("range"))
		t.Logf("%v ranged GETs for %d chunks read by 4 readers", ranged, chunks)
		// Readers that start a span at different chunks may overlap a
		// little; without sharing spans in flight they would make 4×.
		if ranged > 2*maxGets {
			t.Fatalf("%v ranged GETs for %d chunks read by 4 readers, want at most %v: spans in flight were not shared", ranged, chunks, 2*maxGets)
		}
		r.spanMu.Lock()
		left := len(r.spans)
		r.spanMu.Unlock()
		if left != 0 {
			t.Fatalf("%d chunks still claimed by spans after every read returned", left)
		}
	})
}

// compressed rewrites an uncompressed test batch with its records
// compressed by codec.
func compressed(t testing.TB, batch []byte, codec kgo.CompressionCodec) []byte {
	t.Helper()
	comp, err := kgo.DefaultCompressor(codec)
	if err != nil {
		t.Fatal(err)
	}
	body, typ := comp.Compress(new(bytes.Buffer), batch[recordbatch.HeaderSize:])
	if typ == 0 {
		t.Fatal("batch not compressed")
	}
	out := append(bytes.Clone(batch[:recordbatch.HeaderSize]), body...)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	attrs := binary.BigEndian.Uint16(out[21:])
	binary.BigEndian.PutUint16(out[21:], attrs|uint16(typ))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	if _, err := recordbatch.Check(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOffsetForTimestamp(t *testing.T) {
	e := newEnv(t, testConfig())
	rec := func(ts int64, v string) batchtest.Record { return batchtest.Record{Value: []byte(v), Timestamp: ts} }
	o := func(base int64) batchtest.Options {
		opts := batchtest.NoProducer
		opts.BaseTimestamp = base
		return opts
	}
	// Offsets 0-2: ts 1000, 1500, 1200 (not monotonic). Offsets 3-5, zstd
	// compressed: ts 2000, 2600, 2400. Offsets 6-7, next object, gzip: 3000, 3100.
	e.commit(map[int32][][]byte{0: {
		batchtest.Batch(o(1000), rec(1000, "a"), rec(1500, "b"), rec(1200, "c")),
		compressed(t, batchtest.Batch(o(2000), rec(2000, "d"), rec(2600, "e"), rec(2400, "f")), kgo.ZstdCompression()),
	}})
	e.commit(map[int32][][]byte{0: {
		compressed(t, batchtest.Batch(o(3000), rec(3000, "g"), rec(3100, "h")), kgo.GzipCompression()),
	}})
	for _, tc := range []struct{ ts, offset, timestamp int64 }{
		{0, 0, 1000},
		{1000, 0, 1000},
		{1001, 1, 1500},
		{1300, 1, 1500},
		{1501, 3, 2000},
		{2100, 4, 2600},
		{2600, 4, 2600},
		{2601, 6, 3000},
		{3050, 7, 3100},
		{3101, -1, -1},
	} {
		off, ts, err := e.r.OffsetForTimestamp(context.Background(), e.topic.ID, 0, tc.ts)
		if err != nil {
			t.Fatalf("ts %d: %v", tc.ts, err)
		}
		if off != tc.offset || ts != tc.timestamp {
			t.Errorf("ts %d: offset %d timestamp %d, want %d %d", tc.ts, off, ts, tc.offset, tc.timestamp)
		}
	}
	// Compressed batches are served as stored.
	res := e.read(0, 4, 1<<20)
	var bases []int64
	recordbatch.Split(res.Records, func(b []byte, h recordbatch.Header) error {
		bases = append(bases, h.BaseOffset)
		if h.Compression() == 0 {
			t.Errorf("batch at %d served uncompressed", h.BaseOffset)
		}
		return nil
	})
	if fmt.Sprint(bases) != "[3 6]" {
		t.Fatalf("read at 4: batches at %v", bases)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (func() *Config { c := Defaults(); return &c })().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	for _, mut := range []func(*Config){
		func(c *Config) { c.CacheBytes = 0 },
		func(c *Config) { c.WholeObjectMaxBytes = -1 },
		func(c *Config) { c.MaxChunkRawBytes = 0 },
		func(c *Config) { c.PollInterval = 0 },
		func(c *Config) { c.ChunkLookupLimit = 0 },
		func(c *Config) { c.FetchTimeout = 0 },
	} {
		c := Defaults()
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("invalid config %+v accepted", c)
		}
	}
}

// BenchmarkReadCached measures a read served entirely from the cache: the
// partition row fresh, the chunk decoded.
func BenchmarkReadCached(b *testing.B) {
	cfg := testConfig()
	cfg.MetadataTTL = time.Hour
	e := newEnv(b, cfg)
	vals := values(strings.Repeat("x", 100), 100)
	var batches [][]byte
	for range 10 {
		batches = append(batches, batchtest.Values(batchtest.NoProducer, vals...)) // ~11 KiB each
	}
	e.commit(map[int32][][]byte{0: batches})
	ctx := context.Background()
	res := e.read(0, 0, 64<<10)
	b.SetBytes(int64(len(res.Records)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.r.Read(ctx, e.topic.ID, 0, 0, 64<<10); err != nil {
			b.Fatal(err)
		}
	}
}

// A later chunk whose index row is damaged (a length past the end of the
// object, which the row does not know the size of) makes its span's GET
// fail; the chunk read first is then fetched alone and served, and only
// the damaged chunk is an error.
func TestSpanFailureFallsBackToOneChunk(t *testing.T) {
	s3 := newEnv(t, testConfig()).s3
	topic := uuid.New()
	store, want := level1Object(t, s3, topic, 3, 10)
	for i := range store.chunks {
		store.chunks[i].ObjectSize = 0
	}
	store.chunks[1].Length += 512 << 10 // far past the end of the object
	r := New(testConfig(), store, s3, nil, prometheus.NewRegistry())
	res, err := r.Read(context.Background(), topic, 0, 0, int(store.chunks[0].RawLength))
	if err != nil {
		t.Fatalf("read of the good chunk: %v", err)
	}
	var got []string
	for _, b := range batchesOf(t, res.Records) {
		got = append(got, b.values...)
	}
	if !slices.Equal(got, want[:10]) {
		t.Fatalf("read %d records of the first chunk, want 10", len(got))
	}
	if _, err := r.Read(context.Background(), topic, 0, 10, 1<<20); err == nil {
		t.Fatal("read of the damaged chunk: no error")
	}
}

// TestIndexGapIsRefused: a partition's chunk rows tile its offsets; a
// missing row is corruption. Deleting one row once made consumers skip its
// offsets without a word. The reader serves up to the gap, refuses to read
// across it with ErrCorrupt, logs it and counts it.
func TestIndexGapIsRefused(t *testing.T) {
	e := newEnv(t, testConfig())
	threeSegments(e) // partition 0: [0,5) [5,6) [6,10)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, `DELETE FROM chunks WHERE topic_id = $1 AND partition = 0 AND base_offset = 5`, e.topic.ID)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("delete the chunk row at 5: %v, %d rows", err, tag.RowsAffected())
	}
	r := New(testConfig(), e.store, e.objects, e.logger, prometheus.NewRegistry())
	gaps := func() float64 { return testutil.ToFloat64(r.metrics.indexGaps) }

	res, err := r.Read(ctx, e.topic.ID, 0, 0, 1<<20)
	if err != nil {
		t.Fatalf("read up to the gap: %v", err)
	}
	got := batchesOf(t, res.Records)
	if len(got) != 2 || got[1].h.BaseOffset != 3 || got[1].h.LastOffsetDelta != 1 {
		t.Fatalf("read %d batches up to the gap at 5, want the two of [0,5)", len(got))
	}
	if _, err := r.Read(ctx, e.topic.ID, 0, 5, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read at the gap: %v, want ErrCorrupt", err)
	}
	if n := gaps(); n < 1 {
		t.Fatalf("strata_reader_index_gaps_total = %v after reading at a gap", n)
	}
	// Past the gap, reads go on.
	if res, err := r.Read(ctx, e.topic.ID, 0, 6, 1<<20); err != nil || len(batchesOf(t, res.Records)) != 1 {
		t.Fatalf("read past the gap: %v", err)
	}
}

// panickyStore panics in ChunksFrom, as a bug in a backend would.
type panickyStore struct{ Metastore }

func (panickyStore) ChunksFrom(context.Context, uuid.UUID, int32, int64, int) ([]metastore.Chunk, error) {
	panic("injected index panic")
}

// TestPanicInAReadFailsThatRead: a panic in a read's shared work (here the
// chunk index lookup) is that read's error; the node goes on.
func TestPanicInAReadFailsThatRead(t *testing.T) {
	e := newEnv(t, testConfig())
	threeSegments(e)
	r := New(testConfig(), panickyStore{e.store}, e.objects, e.logger, prometheus.NewRegistry())
	if _, err := r.Read(context.Background(), e.topic.ID, 0, 0, 1<<20); !errors.Is(err, errPanic) {
		t.Fatalf("read whose index lookup panics: %v, want errPanic", err)
	}
	if got := batchesOf(t, e.read(0, 0, 1<<20).Records); len(got) != 4 {
		t.Fatalf("another reader read %d batches after the panic", len(got))
	}
}

// Freshen reads the stale offsets of many partitions of a topic in one
// query, after which AtEnd answers a read at the end from the cache alone.
func TestFreshenOneQueryPerTopic(t *testing.T) {
	e := newEnv(t, testConfig())
	e.commit(map[int32][][]byte{1: {batchtest.Values(batchtest.Options{ProducerID: -1}, "a")}})
	watches := []Watch{{TopicID: e.topic.ID, Partition: 0}, {TopicID: e.topic.ID, Partition: 1}, {TopicID: e.topic.ID, Partition: 2}}
	before := e.counted.calls.Load()
	e.r.Freshen(context.Background(), watches)
	if n := e.counted.calls.Load() - before; n != 1 {
		t.Fatalf("Freshen of 3 partitions of one topic made %d metastore calls, want 1", n)
	}
	before = e.counted.calls.Load()
	for p, end := range map[int32]int64{0: 0, 1: 1, 2: 0} {
		res, ok := e.r.AtEnd(e.topic.ID, p, end)
		if !ok || res.HighWatermark != end {
			t.Errorf("partition %d: AtEnd(%d) = %+v, %v; want its high watermark from the cache", p, end, res, ok)
		}
	}
	// Not at the end: AtEnd cannot answer, a read must.
	if _, ok := e.r.AtEnd(e.topic.ID, 1, 0); ok {
		t.Error("AtEnd answered a read that has a record to return")
	}
	if n := e.counted.calls.Load() - before; n != 0 {
		t.Errorf("AtEnd made %d metastore calls, want none", n)
	}
}
