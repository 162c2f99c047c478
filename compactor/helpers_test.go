package compactor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
	"github.com/stratalog/strata/metastore/sqlite"
	"github.com/stratalog/strata/reader"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a metastore on PostgreSQL, a bucket on MinIO, and an ingester
// writing level-0 objects into them.
type env struct {
	t      testing.TB
	store  *postgres.Store
	s3     objstore.Store   // the bucket, without faults
	faulty *objstore.Faulty // the compactor's view of the bucket
	ing    *ingest.Ingester
	logger *slog.Logger
}

func newEnv(t testing.TB) *env {
	t.Helper()
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
	store, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(t), MaxConns: 8}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	icfg := ingest.Defaults()
	icfg.FlushInterval = 3 * time.Millisecond
	ing, err := ingest.New(icfg, store, s3, nil, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = ing.Close(ctx)
	})
	return &env{t: t, store: store, s3: s3, faulty: objstore.NewFaulty(s3), ing: ing, logger: logger}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testConfig merges every level-0 chunk at once and deletes at once.
func testConfig() Config {
	cfg := Defaults()
	cfg.MinLevel0Bytes = 0
	cfg.MinLevel0Chunks = 0
	cfg.MaxLevel0Age = 0
	cfg.DeleteGrace = 0
	cfg.OrphanGrace = time.Hour
	cfg.OrphanInterval = 0
	cfg.StatsInterval = 0
	cfg.Retention = -1
	cfg.TargetObjectBytes = 1 << 20
	cfg.ChunkRawBytes = 256 << 10
	return cfg
}

// noMerges sets merge thresholds that the tests' partitions never reach.
func noMerges(cfg *Config) {
	cfg.MinLevel0Bytes = 1 << 40
	cfg.MinLevel0Chunks = 1000
	cfg.MaxLevel0Age = time.Hour
}

func (e *env) compactor(cfg Config, store Metastore) (*Compactor, *prometheus.Registry) {
	e.t.Helper()
	if store == nil {
		store = e.store
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, store, e.faulty, e.logger, reg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, reg
}

func (e *env) topic(name string, partitions int32, configs map[string]string) metastore.Topic {
	e.t.Helper()
	tp, err := e.store.CreateTopic(context.Background(), name, partitions, configs)
	if err != nil {
		e.t.Fatal(err)
	}
	return tp
}

func runOnce(t testing.TB, c *Compactor) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := c.RunOnce(ctx)
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if st.Skipped {
		t.Fatal("RunOnce skipped: lease held elsewhere")
	}
	return st
}

// appendOne appends batches to one partition and returns the first offset.
func (e *env) appendOne(topic uuid.UUID, p int32, batches ...[]byte) int64 {
	e.t.Helper()
	res, err := e.ing.Append(context.Background(), []ingest.PartitionRecords{{TopicID: topic, Partition: p, Records: bytes.Join(batches, nil)}})
	if err != nil {
		e.t.Fatal(err)
	}
	if res[0].Err != nil {
		e.t.Fatalf("append to %d: %v", p, res[0].Err)
	}
	return res[0].BaseOffset
}

// produce appends records to the topic's partitions from several goroutines
// until it has made at least objects level-0 objects (the ingester flushes
// every few milliseconds). Every tenth append repeats an idempotent
// producer's batch, which the commit records as a skipped duplicate.
func (e *env) produce(tp metastore.Topic, appenders, perAppender int) {
	e.t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed atomic.Value
	for g := range appenders {
		pid, err := e.store.AllocateProducerID(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			seqs := map[int32]int32{}
			for i := range perAppender {
				var parts []ingest.PartitionRecords
				for _, p := range rng.Perm(int(tp.Partitions))[:min(3, tp.Partitions)] {
					n := 1 + rng.IntN(8)
					recs := make([]batchtest.Record, n)
					for r := range recs {
						recs[r] = batchtest.Record{
							Key:   fmt.Appendf(nil, "key-%d-%d-%d-%d", g, i, p, r),
							Value: bytes.Repeat(fmt.Appendf(nil, "value %d %d %d;", g, i, r), 1+rng.IntN(20)),
						}
						if r%3 == 0 {
							recs[r].Headers = []kmsg.Header{{Key: "h", Value: fmt.Appendf(nil, "%d", r)}}
						}
					}
					opts := batchtest.Options{BaseTimestamp: time.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: 0, BaseSequence: seqs[int32(p)]}
					seqs[int32(p)] += int32(n)
					b := batchtest.Batch(opts, recs...)
					parts = append(parts, ingest.PartitionRecords{TopicID: tp.ID, Partition: int32(p), Records: b})
					if i%10 == 9 {
						// A retry of the same batch: a duplicate, skipped.
						parts = append(parts, ingest.PartitionRecords{TopicID: tp.ID, Partition: int32(p), Records: b})
					}
				}
				res, err := e.ing.Append(ctx, parts)
				if err != nil {
					failed.Store(err)
					return
				}
				for _, r := range res {
					if r.Err != nil {
						failed.Store(r.Err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
}

// rec is a record as a consumer sees it.
type rec struct {
	offset    int64
	key       []byte
	value     []byte
	headers   []kmsg.Header
	timestamp int64
}

// readPartition reads a partition from start to its high watermark with a
// fresh reader (or r) and returns its records.
func (e *env) readPartition(r *reader.Reader, topic uuid.UUID, p int32) ([]rec, error) {
	ctx := context.Background()
	if r == nil {
		r = e.reader()
	}
	part, err := e.store.Partition(ctx, topic, p)
	if err != nil {
		return nil, err
	}
	var out []rec
	off := part.LogStartOffset
	for off < part.NextOffset {
		res, err := r.Read(ctx, topic, p, off, 64<<10)
		if err != nil {
			return out, err
		}
		if len(res.Records) == 0 {
			return out, fmt.Errorf("read %d at %d: nothing below the high watermark %d", p, off, part.NextOffset)
		}
		recs, next, err := decodeBatches(res.Records)
		if err != nil {
			return out, err
		}
		for _, x := range recs {
			if x.offset < off {
				continue // the first batch may start before the offset asked
			}
			out = append(out, x)
		}
		if next <= off {
			return out, fmt.Errorf("read %d at %d: no progress", p, off)
		}
		off = next
	}
	return out, nil
}

func (e *env) reader() *reader.Reader {
	cfg := reader.Defaults()
	cfg.CacheBytes = 16 << 20
	return reader.New(cfg, e.store, e.s3, e.logger, prometheus.NewRegistry())
}

// uncachedReader caches nothing but its chunk index, so that every read
// goes to the object store, through objects.
func (e *env) uncachedReader(objects objstore.Store) *reader.Reader {
	cfg := reader.Defaults()
	cfg.CacheBytes = 1
	cfg.ObjectTTL = 0
	cfg.MetadataTTL = time.Hour
	return reader.New(cfg, e.store, objects, e.logger, prometheus.NewRegistry())
}

// missCounter counts the reads of objects that are gone.
type missCounter struct {
	objstore.Store
	misses atomic.Int64
}

func (m *missCounter) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := m.Store.Get(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		m.misses.Add(1)
	}
	return b, err
}

func (m *missCounter) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	b, err := m.Store.GetRange(ctx, key, off, n)
	if errors.Is(err, objstore.ErrNotFound) {
		m.misses.Add(1)
	}
	return b, err
}

var decompressor = kgo.DefaultDecompressor()

// decodeBatches decodes fetched record batches, checking their CRCs, and
// returns their records and the offset after the last batch.
func decodeBatches(data []byte) ([]rec, int64, error) {
	var out []rec
	var next int64 = -1
	err := recordbatch.Split(data, func(b []byte, h recordbatch.Header) error {
		body := b[recordbatch.HeaderSize:]
		if h.Compression() != 0 {
			var err error
			if body, err = decompressor.Decompress(body, kgo.CompressionCodecType(h.Compression())); err != nil {
				return err
			}
		}
		for range h.NumRecords {
			l, n := binary.Varint(body)
			if n <= 0 || int(l) > len(body)-n {
				return errors.New("bad record length")
			}
			var r kmsg.Record
			if err := r.ReadFrom(body[:n+int(l)]); err != nil {
				return err
			}
			body = body[n+int(l):]
			out = append(out, rec{offset: h.BaseOffset + int64(r.OffsetDelta), key: r.Key, value: r.Value,
				headers: r.Headers, timestamp: h.BaseTimestamp + r.TimestampDelta64})
		}
		if len(body) != 0 {
			return errors.New("bytes after the records")
		}
		next = h.BaseOffset + h.OffsetCount()
		return nil
	})
	return out, next, err
}

// hashTopic reads every partition and hashes topic, partition, offset, key,
// value and headers of every record. It also returns the record count.
func (e *env) hashTopic(tp metastore.Topic) (string, int) {
	e.t.Helper()
	h := sha256.New()
	n := 0
	for p := range tp.Partitions {
		recs, err := e.readPartition(nil, tp.ID, p)
		if err != nil {
			e.t.Fatalf("read partition %d: %v", p, err)
		}
		for _, r := range recs {
			hashRecord(h, tp.ID, p, r)
		}
		n += len(recs)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), n
}

func hashRecord(h hash.Hash, topic uuid.UUID, p int32, r rec) {
	fmt.Fprintf(h, "%s/%d/%d/%q/%q/%d", topic, p, r.offset, r.key, r.value, len(r.headers))
	for _, hd := range r.headers {
		fmt.Fprintf(h, "/%q=%q", hd.Key, hd.Value)
	}
	h.Write([]byte{'\n'})
}

// layout counts what the metastore and the bucket hold.
type layout struct {
	rows, level0Rows, maxRows int
	objects                   int // objects in the bucket
	level0Objects             int // objects in the bucket written by ingest
	unknown                   int // objects in the bucket without an objects row
}

func (e *env) layout(topics ...metastore.Topic) layout {
	e.t.Helper()
	ctx := context.Background()
	var l layout
	for _, tp := range topics {
		for p := range tp.Partitions {
			cs := e.chunks(tp.ID, p)
			l.rows += len(cs)
			l.maxRows = max(l.maxRows, len(cs))
			for _, c := range cs {
				if c.Level == 0 {
					l.level0Rows++
				}
			}
		}
	}
	var keys []string
	err := e.s3.List(ctx, "", func(o objstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		l.objects++
		level1 := false // level-1 keys name their topic
		for _, tp := range topics {
			level1 = level1 || strings.Contains(o.Key, tp.ID.String())
		}
		if !level1 {
			l.level0Objects++
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	known, err := e.store.KnownObjects(ctx, keys)
	if err != nil {
		e.t.Fatal(err)
	}
	l.unknown = len(keys) - len(known)
	return l
}

// chunks returns a partition's chunk rows from its log start.
func (e *env) chunks(topic uuid.UUID, p int32) []metastore.Chunk {
	e.t.Helper()
	ctx := context.Background()
	part, err := e.store.Partition(ctx, topic, p)
	if err != nil {
		e.t.Fatal(err)
	}
	cs, err := e.store.ChunksFrom(ctx, topic, p, part.LogStartOffset, 1<<20)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 1; i < len(cs); i++ {
		if cs[i].BaseOffset != cs[i-1].EndOffset {
			e.t.Fatalf("partition %d: chunk [%d, %d) after one ending at %d", p, cs[i].BaseOffset, cs[i].EndOffset, cs[i-1].EndOffset)
		}
	}
	if n := len(cs); n > 0 && cs[n-1].EndOffset != part.NextOffset {
		e.t.Fatalf("partition %d: chunks end at %d, next offset %d", p, cs[n-1].EndOffset, part.NextOffset)
	}
	return cs
}

// checkLevel1Objects reads every level-1 object of the topic from the
// bucket, without the metastore, and checks it describes itself: a level-1
// footer (of one or more partitions), batches with absolute offsets inside
// their chunk, in order. It returns the offsets it found per partition.
func (e *env) checkLevel1Objects(tp metastore.Topic) map[int32][]int64 {
	e.t.Helper()
	ctx := context.Background()
	found := map[int32][]int64{}
	seen := map[string]bool{}
	for p := range tp.Partitions {
		for _, c := range e.chunks(tp.ID, p) {
			if c.Level != 1 || seen[c.ObjectKey] {
				continue
			}
			seen[c.ObjectKey] = true
			obj, err := e.s3.Get(ctx, c.ObjectKey)
			if err != nil {
				e.t.Fatal(err)
			}
			f, err := segment.DecodeFooter(obj)
			if err != nil {
				e.t.Fatalf("object %s: %v", c.ObjectKey, err)
			}
			if f.Level != 1 {
				e.t.Fatalf("object %s has level %d", c.ObjectKey, f.Level)
			}
			for _, ci := range f.Chunks {
				if ci.TopicID != tp.ID {
					continue // packed with a partition of another topic
				}
				p := ci.Partition
				raw, err := segment.ReadChunk(ci, obj[ci.Start:ci.End()])
				if err != nil {
					e.t.Fatal(err)
				}
				prev := ci.BaseOffset
				err = recordbatch.Split(raw, func(b []byte, h recordbatch.Header) error {
					if h.BaseOffset < prev {
						return fmt.Errorf("batch at %d after %d", h.BaseOffset, prev)
					}
					prev = h.BaseOffset + h.OffsetCount()
					for i := range h.OffsetCount() {
						found[p] = append(found[p], h.BaseOffset+i)
					}
					return nil
				})
				if err != nil {
					e.t.Fatalf("object %s chunk at %d: %v", c.ObjectKey, ci.Start, err)
				}
			}
		}
	}
	for p := range found {
		slices.Sort(found[p])
	}
	return found
}

// faultyStore fails chosen metastore calls.
type faultyStore struct {
	*postgres.Store
	failSwap   atomic.Int32 // fail this many SwapObject calls
	swaps      atomic.Int32
	beforeSwap func() // when set, runs before each SwapObject
}

var errInjected = errors.New("injected metastore failure")

func (f *faultyStore) SwapObject(ctx context.Context, s []metastore.ChunkSwap) ([]error, error) {
	f.swaps.Add(1)
	if f.failSwap.Add(-1) >= 0 {
		return nil, errInjected
	}
	if f.beforeSwap != nil {
		f.beforeSwap()
	}
	return f.Store.SwapObject(ctx, s)
}

// Both metastore backends serve the compactor.
var (
	_ Metastore = (*postgres.Store)(nil)
	_ Metastore = (*sqlite.Store)(nil)
)
