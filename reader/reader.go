// Package reader is the fetch path. It finds the chunks holding a partition's
// offsets through the metastore's chunk index (cached per partition), serves
// their record batches from a byte-bounded cache of decoded chunks, and
// otherwise fetches them from the object store: small objects whole, with one
// GET serving every partition in them, large ones by a ranged GET of the
// chunk. Concurrent misses for the same object or chunk share one request.
// Level-0 batches leave with their absolute base offset and the partition's
// leader epoch written into a copy of their header.
//
// Lock order: Reader.mu, then partState.mu. The cache's and the flight
// group's mutexes are leaves, never held while taking another lock, and no
// lock is held across a metastore or object store call.
package reader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/chunk"
	"github.com/stratalog/strata/internal/decompress"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/metastore"
)

// Metastore is what the reader needs from the metastore.
type Metastore interface {
	Partition(ctx context.Context, topicID uuid.UUID, partition int32) (metastore.Partition, error)
	// Partitions reads every partition of a topic in one query, for the
	// refresh of many partitions at once.
	Partitions(ctx context.Context, topicID uuid.UUID) ([]metastore.Partition, error)
	ChunksFrom(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, limit int) ([]metastore.Chunk, error)
	ChunkForTimestamp(ctx context.Context, topicID uuid.UUID, partition int32, ts int64) (metastore.Chunk, bool, error)
	// PartitionTxns reads a partition's transaction index, for
	// read_committed reads (txn.go).
	PartitionTxns(ctx context.Context, topicID uuid.UUID, partition int32, from int64, limit int) (metastore.PartitionTxns, error)
}

// Result is the outcome of one partition read.
type Result = roleapi.ReadResult

// Batches is what a read found, as references to the cached bytes.
type Batches = roleapi.Batches

// maxIndexChunks bounds the chunk rows cached per partition.
const maxIndexChunks = 1024

// Reader serves reads of committed records. It is safe for concurrent use.
type Reader struct {
	cfg     Config
	store   Metastore
	objects objstore.Store
	logger  *slog.Logger
	metrics *metrics
	cache   *cache
	flights flightGroup
	ahead   chan struct{}      // tokens of the loads ahead in flight
	spanMu  sync.Mutex         // guards spans; a leaf lock but for cache.mu
	spans   map[cacheKey]*span // the spans in flight, by the compressedKey of each of their chunks
	decomp  kgo.Decompressor
	now     func() time.Time

	mu    sync.Mutex
	parts map[metastore.PartitionKey]*partState
}

// partState is what the reader knows of one partition.
type partState struct {
	key metastore.PartitionKey

	mu       sync.Mutex
	loaded   bool      // the partition row was read at least once
	fetched  time.Time // when the row was last read from the metastore
	logStart int64
	hwm      int64
	epoch    int32
	// epochUpTo: every offset below it was committed in an epoch no higher
	// than epoch. Batches at or above it are not served before the
	// partition row is read again: the epoch may have gone up since, and a
	// batch must never carry an epoch lower than the one it was committed
	// in (consumers would take that for truncation).
	epochUpTo int64
	// chunks is a contiguous run of the partition's chunk index, in offset
	// order. Elements are never modified in place; readers copy them out.
	chunks  []metastore.Chunk
	waiters map[chan struct{}]struct{}
	txns    txnCache // the transaction index, for read_committed reads
}

type partSnapshot struct {
	logStart, hwm int64
	epoch         int32
	epochUpTo     int64
}

// New returns a Reader. cfg should have passed Validate.
func New(cfg Config, store Metastore, objects objstore.Store, logger *slog.Logger, reg prometheus.Registerer) *Reader {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := newMetrics(reg)
	logger = logger.With("component", "reader")
	return &Reader{
		cfg:     cfg,
		store:   store,
		objects: objects,
		logger:  logger,
		metrics: m,
		cache:   newCache(cfg.CacheBytes, func(n int64) { m.cacheBytes.Set(float64(n)) }),
		flights: flightGroup{timeout: cfg.FetchTimeout, onPanic: func(p any, stack []byte) {
			logger.Error("read panicked", "panic", p, "stack", string(stack))
		}},
		ahead:  make(chan struct{}, readAheadInFlight),
		spans:  make(map[cacheKey]*span),
		decomp: decompress.Shared(),
		now:    time.Now,
		parts:  make(map[metastore.PartitionKey]*partState),
	}
}

// Read returns whole record batches of a partition starting with the batch
// that contains offset: at least one batch, even when it is larger than
// maxBytes, then more while the total stays within maxBytes. At the high
// watermark Records is empty. Below the log start offset or above the high
// watermark the error is metastore.ErrOffsetOutOfRange, and the Result still
// carries both offsets.
func (r *Reader) Read(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, maxBytes int) (Result, error) {
	return r.read(ctx, topicID, partition, offset, maxBytes, false, nil)
}

// ReadBatches is Read, with the batches returned as Result.Batches instead
// of copied into Result.Records: a fetch writes them to the client straight
// from the cache.
func (r *Reader) ReadBatches(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, maxBytes int) (Result, error) {
	return r.read(ctx, topicID, partition, offset, maxBytes, true, nil)
}

// read serves a partition from offset. stable, when not nil, bounds what
// is served for a read_committed read: it is called once the offsets are
// known, with the high watermark the read serves up to, and returns the
// offset to stop before (txn.go).
func (r *Reader) read(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, maxBytes int, keep bool,
	stable func(st *partState, hwm int64) (int64, error)) (Result, error) {
	start := r.now()
	defer func() { r.metrics.readSeconds.Observe(time.Since(start).Seconds()) }()

	st := r.state(topicID, partition)
	snap, err := r.partition(ctx, st, offset)
	if err != nil {
		return Result{}, fmt.Errorf("read %s/%d: %w", topicID, partition, err)
	}
	res := Result{HighWatermark: snap.hwm, LogStartOffset: snap.logStart, LastStableOffset: snap.hwm}
	if offset < snap.logStart || offset > snap.hwm {
		return res, fmt.Errorf("read %s/%d at %d (log start %d, high watermark %d): %w",
			topicID, partition, offset, snap.logStart, snap.hwm, metastore.ErrOffsetOutOfRange)
	}

	if offset < snap.hwm && snap.epochUpTo < snap.hwm {
		// Records committed since the epoch was read (a local commit or
		// another node's notification): read the epoch again.
		if snap, err = r.refresh(ctx, st); err != nil {
			return res, fmt.Errorf("read %s/%d: %w", topicID, partition, err)
		}
	}
	// end bounds what is served: records whose epoch is known. It is
	// below the high watermark only when commits raced the refresh; the
	// high watermark reported is then end, as if read a moment earlier, so
	// that a long poll reads again at once rather than waiting past it.
	end := min(snap.hwm, snap.epochUpTo)
	res = Result{HighWatermark: max(end, offset), LogStartOffset: snap.logStart}
	res.LastStableOffset = res.HighWatermark
	if stable != nil {
		lso, err := stable(st, res.HighWatermark)
		if err != nil {
			return res, fmt.Errorf("read %s/%d: %w", topicID, partition, err)
		}
		res.LastStableOffset = lso
		end = min(end, lso)
	}

	var out Batches
	cur := offset
	retried := false
	full := false
	for cur < end && !full {
		chunks, err := r.chunksFor(ctx, st, cur)
		if err != nil {
			return r.partial(res, out, keep, fmt.Errorf("read %s/%d at %d: %w", topicID, partition, cur, err))
		}
		if len(chunks) == 0 {
			break
		}
		if out.Len() == 0 || out.Len() < maxBytes {
			r.readAhead(ctx, chunks, end, maxBytes-out.Len())
		}
		progressed := false
		for i := range chunks {
			c := &chunks[i]
			if c.BaseOffset >= end || (out.Len() > 0 && out.Len() >= maxBytes) {
				full = true
				break
			}
			if c.BaseOffset > cur {
				// The chunks of a partition tile [log start, high
				// watermark): a row that starts past the offset wanted
				// means the row holding it is missing. Serving on would
				// skip those offsets without a word.
				r.metrics.indexGaps.Inc()
				r.logger.Error("chunk index gap: refusing to read across it", "topic", topicID, "partition", partition, "offset", cur, "next_chunk", c.BaseOffset, "object", c.ObjectKey)
				st.dropIndex()
				return r.partial(res, out, keep, fmt.Errorf("read %s/%d at %d: %w: the chunk index has no row for offsets %d to %d", topicID, partition, cur, ErrCorrupt, cur, c.BaseOffset))
			}
			data, err := r.chunk(ctx, chunks[i:])
			if errors.Is(err, objstore.ErrNotFound) && !retried {
				// The object went away (compaction or retention) after
				// the index was cached: forget it and look again.
				retried = true
				st.dropIndex()
				snap2, err := r.refresh(ctx, st)
				if err != nil {
					return r.partial(res, out, keep, fmt.Errorf("read %s/%d: %w", topicID, partition, err))
				}
				if cur < snap2.logStart {
					if out.Len() > 0 {
						return with(res, out, keep), nil
					}
					res.LogStartOffset, res.HighWatermark = snap2.logStart, snap2.hwm
					return res, fmt.Errorf("read %s/%d at %d (log start %d): %w",
						topicID, partition, cur, snap2.logStart, metastore.ErrOffsetOutOfRange)
				}
				progressed = true
				break
			}
			if err != nil {
				return r.partial(res, out, keep, fmt.Errorf("read %s/%d at %d: %w", topicID, partition, cur, err))
			}
			mark := out.Mark()
			werr := walk(c, data, cur, func(b *chunk.Batch, bstart, bend int64) bool {
				if bstart >= end {
					full = true
					return false
				}
				if out.Len() > 0 && out.Len()+b.Size > maxBytes {
					full = true
					return false
				}
				out.Add(data.Bytes(b), bstart, snap.epoch, c.Level == 0)
				cur = bend
				return true
			})
			if werr != nil {
				out.Reset(mark) // serve nothing of a chunk that disagrees with its index
				return r.partial(res, out, keep, fmt.Errorf("read %s/%d object %s: %w", topicID, partition, c.ObjectKey, werr))
			}
			if cur >= c.EndOffset {
				// Read to its end: the consumer moves on, and a decoded
				// chunk is five times the compressed object that the
				// partition's neighbours still read their chunks from.
				// Evict it first.
				r.cache.demote(cacheKey{object: c.ObjectKey, start: c.Start})
			}
			if full {
				break
			}
			if c.EndOffset > cur {
				cur = c.EndOffset
			}
			progressed = true
		}
		if !progressed {
			break
		}
	}
	return with(res, out, keep), nil
}

// with returns res carrying out: as Batches when keep, else as Records.
func with(res Result, out Batches, keep bool) Result {
	if keep {
		res.Batches = out
	} else {
		res.Records = out.Bytes()
	}
	return res
}

// partial returns what was read before err, if anything, and err otherwise.
// The consumer's next fetch starts after the returned batches and meets the
// error then.
func (r *Reader) partial(res Result, out Batches, keep bool, err error) (Result, error) {
	if out.Len() == 0 {
		return res, err
	}
	r.logger.Warn("read stopped early", "err", err)
	return with(res, out, keep), nil
}

// state returns the partition's state, creating it empty.
func (r *Reader) state(topicID uuid.UUID, partition int32) *partState {
	k := metastore.PartitionKey{TopicID: topicID, Partition: partition}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.parts[k]
	if !ok {
		st = &partState{key: k}
		r.parts[k] = st
	}
	return st
}

// existing returns the partition's state or nil.
func (r *Reader) existing(topicID uuid.UUID, partition int32) *partState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.parts[metastore.PartitionKey{TopicID: topicID, Partition: partition}]
}

// partition returns the partition's offsets, from the cache when they are
// fresh and offset is not above the cached high watermark.
func (r *Reader) partition(ctx context.Context, st *partState, offset int64) (partSnapshot, error) {
	st.mu.Lock()
	snap := st.snapshot()
	fresh := st.loaded && r.now().Sub(st.fetched) < r.cfg.MetadataTTL
	st.mu.Unlock()
	if fresh && offset <= snap.hwm {
		return snap, nil
	}
	return r.refresh(ctx, st)
}

// refresh reads the partition row from the metastore, merging it into the
// cached state; concurrent refreshes of one partition share one query.
func (r *Reader) refresh(ctx context.Context, st *partState) (partSnapshot, error) {
	key := "p" + st.key.TopicID.String() + "/" + strconv.Itoa(int(st.key.Partition))
	v, err := r.flights.do(ctx, key, func(ctx context.Context) (any, error) {
		p, err := r.store.Partition(ctx, st.key.TopicID, st.key.Partition)
		if err != nil {
			return nil, err
		}
		return st.update(p, r.now()), nil
	})
	if err != nil {
		return partSnapshot{}, err
	}
	return v.(partSnapshot), nil
}

// update merges a partition row read at time at. Offsets never move back:
// a local commit may have raised them after the row was read.
func (st *partState) update(p metastore.Partition, at time.Time) partSnapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.loaded = true
	st.fetched = at
	st.logStart = max(st.logStart, p.LogStartOffset)
	if p.LeaderEpoch >= st.epoch {
		// Offsets below the row's next offset were committed in its
		// epoch or earlier ones. A row older than the cached epoch
		// (read before a concurrent one) tells nothing new.
		st.epoch = p.LeaderEpoch
		st.epochUpTo = max(st.epochUpTo, p.NextOffset)
	}
	st.raise(p.NextOffset)
	// Forget index rows wholly below the log start offset.
	i := 0
	for i < len(st.chunks) && st.chunks[i].EndOffset <= st.logStart {
		i++
	}
	st.chunks = st.chunks[i:]
	return st.snapshot()
}

// snapshot copies the offsets and epoch. st.mu must be held.
func (st *partState) snapshot() partSnapshot {
	return partSnapshot{logStart: st.logStart, hwm: st.hwm, epoch: st.epoch, epochUpTo: st.epochUpTo}
}

// raise sets the high watermark to hwm if that is higher, and wakes the
// long polls on the partition. st.mu must be held.
func (st *partState) raise(hwm int64) {
	if hwm <= st.hwm {
		return
	}
	st.hwm = hwm
	for ch := range st.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (st *partState) dropIndex() {
	st.mu.Lock()
	st.chunks = nil
	st.mu.Unlock()
}

// chunksFor returns index rows starting with the one holding offset, from
// the cached run when it holds offset and from the metastore otherwise.
func (r *Reader) chunksFor(ctx context.Context, st *partState, offset int64) ([]metastore.Chunk, error) {
	if cs := st.cachedChunks(offset); cs != nil {
		return cs, nil
	}
	key := "c" + st.key.TopicID.String() + "/" + strconv.Itoa(int(st.key.Partition)) + "/" + strconv.FormatInt(offset, 10)
	v, err := r.flights.do(ctx, key, func(ctx context.Context) (any, error) {
		cs, err := r.store.ChunksFrom(ctx, st.key.TopicID, st.key.Partition, offset, r.cfg.ChunkLookupLimit)
		if err != nil {
			return nil, fmt.Errorf("chunk index: %w", err)
		}
		st.mergeIndex(cs)
		return cs, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]metastore.Chunk), nil
}

// chunksPerRead bounds the rows copied out of the cached index per lookup.
const chunksPerRead = 16

func (st *partState) cachedChunks(offset int64) []metastore.Chunk {
	st.mu.Lock()
	defer st.mu.Unlock()
	cs := st.chunks
	lo, hi := 0, len(cs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cs[m].EndOffset <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(cs) || cs[lo].BaseOffset > offset {
		return nil
	}
	end := min(len(cs), lo+chunksPerRead)
	return append([]metastore.Chunk(nil), cs[lo:end]...)
}

// mergeIndex adds rows read from the metastore to the cached run: appended
// when they continue it, replacing it otherwise.
func (st *partState) mergeIndex(cs []metastore.Chunk) {
	if len(cs) == 0 {
		return
	}
	for i := 1; i < len(cs); i++ {
		if cs[i].BaseOffset != cs[i-1].EndOffset {
			cs = cs[:i] // keep the run contiguous
			break
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	run := st.chunks
	// Keep the rows that end exactly where the new ones begin.
	keep := 0
	for keep < len(run) && run[keep].EndOffset <= cs[0].BaseOffset {
		keep++
	}
	merged := make([]metastore.Chunk, 0, keep+len(cs))
	if keep > 0 && run[keep-1].EndOffset == cs[0].BaseOffset {
		merged = append(merged, run[:keep]...)
	}
	merged = append(merged, cs...)
	if len(merged) > maxIndexChunks {
		merged = merged[len(merged)-maxIndexChunks:]
	}
	st.chunks = merged
}

// chunk returns the decoded chunk chunks[0], from the cache or the object
// store. The chunks after it are those that follow in the partition: a
// ranged GET also fetches those of them in the same object (see span).
func (r *Reader) chunk(ctx context.Context, chunks []metastore.Chunk) (*chunk.Data, error) {
	c := &chunks[0]
	k := cacheKey{object: c.ObjectKey, start: c.Start}
	if v, ok := r.cache.get(k); ok {
		r.metrics.cacheHits.Inc()
		return v.(*chunk.Data), nil
	}
	r.metrics.cacheMisses.Inc()
	call, _ := r.startLoad(ctx, k, chunks, nil)
	select {
	case <-call.done:
		if call.err != nil {
			return nil, call.err
		}
		return call.val.(*chunk.Data), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func chunkFlight(c *metastore.Chunk) string {
	return "k" + c.ObjectKey + "\x00" + strconv.FormatInt(c.Start, 10)
}

// startLoad starts the flight that loads chunks[0], cached under k, unless
// one is running; started says whether this call started it. A chunk read
// by ranged GETs claims its span first, so that the loads started after it
// find their chunks in that span. done, when not nil, runs at the end of
// the flight it starts.
func (r *Reader) startLoad(ctx context.Context, k cacheKey, chunks []metastore.Chunk, done func()) (call *flightCall, started bool) {
	cs := chunks[:len(chunks):len(chunks)] // elements are never modified in place
	var sp *span
	if c := &cs[0]; r.ranged(c) && r.checkRange(c) == nil {
		var owned bool
		if sp, owned = r.claimSpan(cs); !owned {
			sp = nil // held by a span in flight, or cached: the flight finds it
		}
	}
	call, started = r.flights.start(ctx, chunkFlight(&cs[0]), func(ctx context.Context) (any, error) {
		if done != nil {
			defer done()
		}
		// A flight for this chunk may have finished just before this one.
		if v, ok := r.cache.get(k); ok {
			r.releaseSpan(sp)
			return v, nil
		}
		return r.loadChunk(ctx, cs, sp)
	})
	if !started {
		r.releaseSpan(sp) // the running flight loads the chunk
	}
	return call, started
}

// readAheadInFlight bounds the chunk loads started ahead, over all reads of
// the node: each is a GET and a decode that no read waits for yet, and
// their memory is outside the cache until they land in it.
const readAheadInFlight = 16

// startReadAhead starts loading chunks[0] unless readAheadInFlight loads
// ahead are running already.
func (r *Reader) startReadAhead(ctx context.Context, k cacheKey, chunks []metastore.Chunk) {
	select {
	case r.ahead <- struct{}{}:
	default:
		return
	}
	if _, started := r.startLoad(ctx, k, chunks, func() { <-r.ahead }); !started {
		<-r.ahead // the chunk is loading already
		return
	}
	r.metrics.readAheads.Inc()
}

// readAheadChunks bounds the chunks one read loads ahead of itself.
const readAheadChunks = 4

// readAhead starts loading, without waiting, the chunks of chunks below end
// that a read of maxBytes will need, and the one after those, when they are
// not cached: the first one for the read itself, which claims the span of
// a ranged GET before the others do, the next ones ahead of it. A catch-up
// read then waits for about one object store round trip instead of one per
// object (level 0) or per span (level 1), and its next read finds the
// following chunk loaded.
func (r *Reader) readAhead(ctx context.Context, chunks []metastore.Chunk, end int64, maxBytes int) {
	var need int64
	for i := range chunks {
		c := &chunks[i]
		if i > readAheadChunks || c.BaseOffset >= end {
			return
		}
		k := cacheKey{object: c.ObjectKey, start: c.Start}
		if !r.cache.contains(k) {
			if i == 0 {
				r.startLoad(ctx, k, chunks, nil)
			} else {
				r.startReadAhead(ctx, k, chunks[i:])
			}
		}
		if need >= int64(maxBytes) {
			return // this chunk is the one after those the read needs
		}
		need += c.RawLength
	}
}

// loadChunk fetches, decodes, checks and caches chunks[0]. sp, when not
// nil, is the span that the caller claimed for it.
func (r *Reader) loadChunk(ctx context.Context, chunks []metastore.Chunk, sp *span) (*chunk.Data, error) {
	c := &chunks[0]
	if err := r.checkRange(c); err != nil {
		r.releaseSpan(sp)
		return nil, err
	}
	var compressed []byte
	whole := !r.ranged(c)
	if whole {
		obj, err := r.object(ctx, c.ObjectKey, c.ObjectSize)
		if err != nil {
			return nil, err
		}
		compressed = obj[c.Start : c.Start+c.Length]
	} else {
		b, err := r.rangedChunk(ctx, chunks, sp)
		if err != nil {
			return nil, err
		}
		compressed = b
	}
	maxRaw := r.cfg.MaxChunkRawBytes
	if c.RawLength > 0 {
		maxRaw = c.RawLength
	}
	r.metrics.decodes.Inc()
	data, err := decodeChunk(compressed, c.RawLength, maxRaw)
	if err != nil {
		if whole {
			// Fetch the object again next time rather than keep bytes
			// that may have been damaged on the way.
			r.cache.drop(cacheKey{object: c.ObjectKey, start: wholeObject})
		}
		return nil, fmt.Errorf("object %s chunk at %d: %w", c.ObjectKey, c.Start, err)
	}
	r.cache.add(cacheKey{object: c.ObjectKey, start: c.Start}, data, data.MemSize(), 0)
	if !whole {
		// Decoded and cached: the compressed bytes a span left are not
		// needed any more. Dropped only now, so that a span claimed
		// meanwhile stops before this chunk instead of fetching it again.
		r.cache.drop(compressedKey(c))
	}
	return data, nil
}

// decodeChunk decompresses and indexes one chunk. rawLength is the decoded
// size the chunk index records, or 0 when unknown.
func decodeChunk(compressed []byte, rawLength, maxRaw int64) (*chunk.Data, error) {
	raw, err := segment.DecodeChunk(compressed, maxRaw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if rawLength > 0 && int64(len(raw)) != rawLength {
		return nil, fmt.Errorf("%w: decoded %d bytes, index says %d", ErrCorrupt, len(raw), rawLength)
	}
	d, err := chunk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return d, nil
}

// object returns a whole object, from the cache or with one GET shared by
// concurrent callers. The object stays cached for Config.ObjectTTL.
func (r *Reader) object(ctx context.Context, key string, size int64) ([]byte, error) {
	k := cacheKey{object: key, start: wholeObject}
	if v, ok := r.cache.get(k); ok {
		return v.([]byte), nil
	}
	v, err := r.flights.do(ctx, "o"+key, func(ctx context.Context) (any, error) {
		if v, ok := r.cache.get(k); ok {
			return v, nil
		}
		r.metrics.objectGets.WithLabelValues("whole").Inc()
		obj, err := r.objects.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("get object %s: %w", key, err)
		}
		if int64(len(obj)) != size {
			return nil, fmt.Errorf("%w: object %s is %d bytes, index says %d", ErrCorrupt, key, len(obj), size)
		}
		if r.cfg.ObjectTTL > 0 {
			r.cache.add(k, obj, int64(cap(obj)), r.cfg.ObjectTTL)
		}
		return obj, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// Offsets returns a partition's high watermark and log start offset, from
// the cached state when it is fresh, without reading records: what a
// fetch reports for a partition it had no room to read.
func (r *Reader) Offsets(ctx context.Context, topicID uuid.UUID, partition int32) (hwm, logStart int64, err error) {
	snap, err := r.partition(ctx, r.state(topicID, partition), 0)
	if err != nil {
		return 0, 0, fmt.Errorf("offsets of %s/%d: %w", topicID, partition, err)
	}
	return snap.hwm, snap.logStart, nil
}

// AtEnd reports, from the cached state alone, whether a read at offset
// would find nothing: the partition's high watermark is offset and the
// state is fresh. It then returns the offsets a read would, without a
// query and without the work of a read: a consumer at the end of many
// quiet partitions costs a map lookup per partition.
func (r *Reader) AtEnd(topicID uuid.UUID, partition int32, offset int64) (Result, bool) {
	st := r.existing(topicID, partition)
	if st == nil {
		return Result{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.loaded || r.now().Sub(st.fetched) >= r.cfg.MetadataTTL || st.hwm != offset || st.epochUpTo < st.hwm || offset < st.logStart {
		return Result{}, false
	}
	return Result{HighWatermark: st.hwm, LogStartOffset: st.logStart, LastStableOffset: st.hwm}, true
}

// Committed tells the reader about chunks this node has just committed,
// and the object holding them (object may be nil; it must not be modified
// afterwards). The object is cached for Config.ObjectTTL and its chunks are
// decoded when first read; the partitions' cached high watermarks and chunk
// indexes are updated and their long polls woken.
func (r *Reader) Committed(chunks []metastore.Chunk, object []byte) {
	if len(chunks) == 0 {
		return
	}
	if len(object) > 0 && r.cfg.ObjectTTL > 0 && int64(len(object)) <= r.cfg.WholeObjectMaxBytes &&
		chunks[0].ObjectSize == int64(len(object)) {
		r.cache.add(cacheKey{object: chunks[0].ObjectKey, start: wholeObject}, object, int64(cap(object)), r.cfg.ObjectTTL)
	}
	for _, c := range chunks {
		st := r.existing(c.TopicID, c.Partition)
		if st == nil {
			continue // nobody reads it here yet: nothing to update
		}
		st.mu.Lock()
		if n := len(st.chunks); n > 0 && st.chunks[n-1].EndOffset == c.BaseOffset {
			st.chunks = append(st.chunks, c)
			if len(st.chunks) > maxIndexChunks {
				st.chunks = st.chunks[len(st.chunks)-maxIndexChunks:]
			}
		}
		st.raise(c.EndOffset)
		st.mu.Unlock()
	}
}

// Notify tells the reader that a partition's high watermark reached hwm,
// for commits made by other nodes. It wakes the partition's long polls.
func (r *Reader) Notify(topicID uuid.UUID, partition int32, hwm int64) {
	st := r.existing(topicID, partition)
	if st == nil {
		return
	}
	st.mu.Lock()
	st.raise(hwm)
	st.mu.Unlock()
}
