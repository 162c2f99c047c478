// Package ingest is the produce path. Record batches from every connection
// and partition collect in one open segment per node; the segment is sealed
// by size or age, encoded, uploaded as one object, and committed to the
// metastore in seal order. Callers learn their offsets only after the commit.
// When a segment is sealed is the seal policy's (seal.go): as soon as no
// upload is in flight and the node's PUT budget allows, or when it is full.
//
// Concurrency: one mutex (Ingester.mu) guards the open segment, the budget
// and the queue of sealed segments. Uploads run in their own goroutines
// (at most Config.MaxUploads at once); one committer goroutine commits
// sealed segments strictly in seal order, which keeps every partition's
// batches in the order they were enqueued.
package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/bufpool"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/metastore"
)

// Errors returned in PartitionResult.Err or by Enqueue; they are the
// produce path's errors of roleapi, where the front door maps them.
var (
	ErrCorruptBatch     = roleapi.ErrCorruptBatch
	ErrUnsupportedBatch = roleapi.ErrUnsupportedBatch
	ErrUploadFailed     = roleapi.ErrUploadFailed
	ErrCommitFailed     = roleapi.ErrCommitFailed
	ErrClosed           = roleapi.ErrClosed
	// Admission's other errors are in admit.go.
)

// Committer commits a segment to the metastore.
type Committer interface {
	CommitSegment(ctx context.Context, seg metastore.SegmentSpec) ([]metastore.ChunkResult, error)
}

// Uploader writes objects.
type Uploader interface {
	Put(ctx context.Context, key string, data []byte) error
}

// Sink learns of every committed segment (the local reader's cache).
type Sink interface {
	Committed(chunks []metastore.Chunk, object []byte)
}

// PartitionRecords is one partition's records field of a Produce request.
type PartitionRecords = roleapi.PartitionRecords

// PartitionResult is the outcome of one PartitionRecords.
type PartitionResult = roleapi.PartitionResult

// Ingester is a node's produce path.
type Ingester struct {
	cfg     Config
	store   Committer
	objects Uploader
	sink    Sink
	logger  *slog.Logger
	m       *metrics

	uploadSem chan struct{}
	admitters chan *admitter
	since     func(time.Time) time.Duration // time.Since; tests move it on
	now       func() time.Time              // the seal policy's clock

	mu       sync.Mutex
	open     *openSegment
	used     int64         // bytes of the open segment and of sealed, uncommitted ones
	freed    chan struct{} // closed and replaced whenever used decreases
	sealed   []*sealedSegment
	queued   int // sealed segments whose commit has not started: uploading, or waiting for the committer
	policy   sealPolicy
	timer    *time.Timer // seals the open segment when the PUT budget allows
	timerOn  bool
	wake     chan struct{} // capacity 1: tells the committer there is work
	closed   bool
	finished chan struct{} // closed when the committer goroutine exits
}

type openSegment struct {
	parts    map[metastore.PartitionKey]*partBuf
	order    []*partBuf
	bytes    int
	pendings []*Pending
	opened   time.Time // first enqueue
	added    time.Time // last enqueue
}

type partBuf struct {
	key     metastore.PartitionKey
	index   int // chunk index in the segment
	data    []byte
	metas   []metastore.BatchMeta
	records int64
	minTS   int64
	maxTS   int64
}

type sealedSegment struct {
	seg      *openSegment
	uploaded chan struct{}
	// Set by the upload goroutine before uploaded is closed.
	object  []byte
	spec    metastore.SegmentSpec
	err     error
	started time.Time // when the upload began, with the monotonic reading
}

// Pending is a set of enqueued partitions waiting for their commit.
type Pending struct {
	done    chan struct{}
	results []PartitionResult
	refs    []batchRef
	bytes   int64
	start   time.Time
	// Throttle is how long Enqueue waited for the memory budget; Kafka
	// produce responses report it as throttle_time_ms.
	Throttle time.Duration
}

// batchRef places one PartitionRecords in its segment: chunk index and the
// range of batches it added. chunk < 0 means the result is already final.
type batchRef struct {
	chunk, first, count int
}

// New returns an Ingester and starts its committer goroutine. sink may be nil.
func New(cfg Config, store Committer, objects Uploader, sink Sink, logger *slog.Logger, reg prometheus.Registerer) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	i := &Ingester{
		cfg:       cfg,
		store:     store,
		objects:   objects,
		sink:      sink,
		logger:    logger.With("component", "ingest"),
		m:         newMetrics(reg),
		uploadSem: make(chan struct{}, cfg.MaxUploads),
		admitters: newAdmitters(cfg.MaxDecompressedBytes),
		since:     time.Since,
		now:       time.Now,
		policy:    sealPolicy{interval: cfg.SealInterval(), maxBytes: cfg.SegmentMaxBytes},
		freed:     make(chan struct{}),
		wake:      make(chan struct{}, 1),
		finished:  make(chan struct{}),
	}
	i.open = i.newOpen()
	go i.commitLoop()
	return i, nil
}

func (i *Ingester) newOpen() *openSegment {
	return &openSegment{parts: make(map[metastore.PartitionKey]*partBuf)}
}

// Append enqueues parts and waits for their commit.
func (i *Ingester) Append(ctx context.Context, parts []PartitionRecords) ([]PartitionResult, error) {
	p, err := i.Enqueue(ctx, parts)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx), nil
}

// Enqueue checks every batch of parts (see admit) and adds the valid ones
// to the open segment. Calls made one after another keep their order in
// every partition. It waits while the memory budget is spent; the error is
// ctx's or ErrClosed. Per-partition failures are reported by Wait.
func (i *Ingester) Enqueue(ctx context.Context, parts []PartitionRecords) (*Pending, error) {
	p := &Pending{
		done:    make(chan struct{}),
		results: make([]PartitionResult, len(parts)),
		refs:    make([]batchRef, len(parts)),
		start:   time.Now(),
	}
	valid := make([]checkedRecords, len(parts))
	for n, part := range parts {
		p.refs[n].chunk = -1
		c, err := i.admit(ctx, part.Records, part.Admission)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			p.results[n] = PartitionResult{Err: err, BaseOffset: -1}
			i.m.rejectedBatchs.WithLabelValues("invalid").Inc()
			continue
		}
		valid[n] = c
		p.bytes += int64(len(part.Records))
	}

	if err := i.reserve(ctx, p); err != nil {
		return nil, err
	}
	// reserve returns with i.mu held.
	seg := i.open
	for n, part := range parts {
		if p.results[n].Err != nil {
			continue
		}
		key := metastore.PartitionKey{TopicID: part.TopicID, Partition: part.Partition}
		pb := seg.parts[key]
		if pb == nil {
			pb = &partBuf{key: key, index: len(seg.order), minTS: math.MaxInt64, maxTS: math.MinInt64}
			seg.parts[key] = pb
			seg.order = append(seg.order, pb)
		}
		v := valid[n]
		p.refs[n] = batchRef{chunk: pb.index, first: len(pb.metas), count: len(v.metas)}
		pb.data = bufpool.Append(pb.data, part.Records)
		pb.metas = append(pb.metas, v.metas...)
		pb.records += v.records
		pb.minTS = min(pb.minTS, v.minTS)
		pb.maxTS = max(pb.maxTS, v.maxTS)
		seg.bytes += len(part.Records)
	}
	if p.bytes == 0 {
		// Nothing valid: the results are final.
		i.mu.Unlock()
		i.release(0)
		close(p.done)
		return p, nil
	}
	// p.start is before any wait for the memory budget: take the time
	// the batches were added.
	seg.added = time.Now()
	if seg.opened.IsZero() {
		seg.opened = seg.added
	}
	seg.pendings = append(seg.pendings, p)
	i.sealIfDueLocked(sealIdle)
	i.mu.Unlock()
	return p, nil
}

// sealIfDueLocked seals the open segment if the seal policy says so now,
// for reason (sealIdle's stand-in) or for size; if the PUT budget holds it
// back, it sets the timer for when the budget allows. i.mu must be held.
func (i *Ingester) sealIfDueLocked(reason string) {
	why, wait := i.policy.decide(i.now(), i.open.bytes, i.queued)
	switch {
	case why == sealSize || why == sealHalf:
		i.sealLocked(why)
	case why != "":
		i.sealLocked(reason)
	case wait > 0 && !i.timerOn:
		i.timerOn = true
		if i.timer == nil {
			i.timer = time.AfterFunc(wait, i.onTimer)
		} else {
			i.timer.Reset(wait)
		}
	}
}

// onTimer is the end of a wait for the PUT budget.
func (i *Ingester) onTimer() {
	i.mu.Lock()
	i.timerOn = false
	if !i.closed {
		i.sealIfDueLocked(sealBudget)
	}
	i.mu.Unlock()
}

// reserve waits until p.bytes fit in the memory budget and returns with
// i.mu held. A request larger than the whole budget proceeds alone.
func (i *Ingester) reserve(ctx context.Context, p *Pending) error {
	var waited time.Time
	for {
		i.mu.Lock()
		if i.closed {
			i.mu.Unlock()
			return ErrClosed
		}
		if i.used == 0 || i.used+p.bytes <= i.cfg.MemoryBudget {
			i.used += p.bytes
			i.m.bufferedBytes.Set(float64(i.used))
			if !waited.IsZero() {
				p.Throttle = time.Since(waited)
				i.m.throttleSecs.Add(p.Throttle.Seconds())
			}
			return nil
		}
		freed := i.freed
		// The open segment may be what holds the budget: seal it so that
		// its upload and commit can free memory.
		if i.open.bytes > 0 {
			i.sealLocked(sealMemory)
		}
		i.mu.Unlock()
		if waited.IsZero() {
			waited = time.Now()
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (i *Ingester) release(n int64) {
	i.mu.Lock()
	i.used -= n
	i.m.bufferedBytes.Set(float64(i.used))
	close(i.freed)
	i.freed = make(chan struct{})
	i.mu.Unlock()
}

// Wait blocks until the commit of p's segment and returns one result per
// PartitionRecords given to Enqueue. If ctx ends first, the results say so,
// but the records may still be committed.
func (p *Pending) Wait(ctx context.Context) []PartitionResult {
	select {
	case <-p.done:
		return p.results
	case <-ctx.Done():
		out := make([]PartitionResult, len(p.results))
		for n := range out {
			out[n] = PartitionResult{Err: ctx.Err(), BaseOffset: -1}
		}
		return out
	}
}

// ThrottleTime implements roleapi.Pending.
func (p *Pending) ThrottleTime() time.Duration { return p.Throttle }

// Produce is Enqueue for the front door: roleapi's produce path.
func (i *Ingester) Produce(ctx context.Context, parts []PartitionRecords) (roleapi.Pending, error) {
	p, err := i.Enqueue(ctx, parts)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Done is closed when the results are final.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Why a segment is sealed: the strata_ingest_seals_total reasons.
const (
	sealSize   = "size"   // it reached Config.SegmentMaxBytes
	sealIdle   = "idle"   // nothing was in flight and the PUT budget allowed it
	sealBudget = "budget" // it waited for the PUT budget
	sealHalf   = "half"   // at least half full, and nothing in flight
	sealMemory = "memory" // a produce waited for the memory budget
	sealFlush  = "flush"  // Flush or Close
)

// sealLocked moves the open segment to the upload queue. i.mu must be held.
func (i *Ingester) sealLocked(reason string) {
	seg := i.open
	i.open = i.newOpen()
	if i.timerOn {
		i.timer.Stop()
		i.timerOn = false
	}
	i.policy.sealed(i.now())
	i.m.seals.WithLabelValues(reason).Inc()
	i.m.openSeconds.Observe(time.Since(seg.opened).Seconds())
	s := &sealedSegment{seg: seg, uploaded: make(chan struct{})}
	i.sealed = append(i.sealed, s)
	i.queued++
	select {
	case i.wake <- struct{}{}:
	default:
	}
	go i.upload(s)
}

// upload encodes and PUTs one sealed segment.
func (i *Ingester) upload(s *sealedSegment) {
	defer close(s.uploaded)
	i.uploadSem <- struct{}{}
	defer func() { <-i.uploadSem }()
	// A bug here fails this segment's produces, not the node.
	defer func() {
		if p := recover(); p != nil {
			i.logger.Error("segment upload panicked", "panic", p, "stack", string(debug.Stack()))
			s.err = fmt.Errorf("%w: panic: %v", ErrUploadFailed, p)
		}
	}()
	start := time.Now()
	s.started = start

	inputs := make([]segment.ChunkInput, len(s.seg.order))
	for n, pb := range s.seg.order {
		inputs[n] = segment.ChunkInput{
			TopicID:      pb.key.TopicID,
			Partition:    pb.key.Partition,
			BaseOffset:   -1,
			Batches:      int32(len(pb.metas)),
			Records:      pb.records,
			MinTimestamp: pb.minTS,
			MaxTimestamp: pb.maxTS,
			Data:         pb.data,
		}
	}
	obj, infos, err := segment.Encode(0, inputs)
	for _, pb := range s.seg.order {
		bufpool.Put(pb.data) // the object holds the chunks now
		pb.data = nil
	}
	if err != nil {
		s.err = fmt.Errorf("%w: encode: %v", ErrUploadFailed, err)
		return
	}
	key := segment.Level0Key(i.cfg.KeyPrefix, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), i.cfg.UploadTimeout)
	defer cancel()
	if err := i.objects.Put(ctx, key, obj); err != nil {
		s.err = fmt.Errorf("%w: put %s: %v", ErrUploadFailed, key, err)
		return
	}
	spec := metastore.SegmentSpec{ObjectKey: key, ObjectSize: int64(len(obj)), Chunks: make([]metastore.ChunkSpec, len(infos))}
	for n, info := range infos {
		spec.Chunks[n] = metastore.ChunkSpec{
			TopicID:   s.seg.order[n].key.TopicID,
			Partition: s.seg.order[n].key.Partition,
			Start:     info.Start,
			Length:    info.Length,
			RawLength: info.RawLength,
			Batches:   s.seg.order[n].metas,
		}
	}
	s.object, s.spec = obj, spec
	i.m.uploadSeconds.Observe(time.Since(start).Seconds())
	i.m.segmentBytes.Observe(float64(len(obj)))
	i.m.segmentChunks.Observe(float64(len(infos)))
}

// commitStarts counts a segment as out of the queue: its upload is done
// and its commit begins. The segment that filled meanwhile is sealed now,
// if the seal policy allows.
func (i *Ingester) commitStarts() {
	i.mu.Lock()
	i.queued--
	if !i.closed {
		i.sealIfDueLocked(sealIdle)
	}
	i.mu.Unlock()
}

// commitLoop commits sealed segments in seal order until Close.
func (i *Ingester) commitLoop() {
	defer close(i.finished)
	for {
		i.mu.Lock()
		if len(i.sealed) == 0 {
			closed := i.closed
			i.mu.Unlock()
			if closed {
				return
			}
			<-i.wake
			continue
		}
		s := i.sealed[0]
		i.sealed[0] = nil
		i.sealed = i.sealed[1:]
		i.mu.Unlock()

		<-s.uploaded
		i.commitStarts()
		i.finish(s)
	}
}

// finish commits one uploaded segment and answers its callers.
func (i *Ingester) finish(s *sealedSegment) {
	var held int64
	for _, p := range s.seg.pendings {
		held += p.bytes
	}
	defer i.release(held)

	if s.err != nil {
		i.logger.Warn("segment upload failed", "err", s.err)
		i.m.segments.WithLabelValues("upload_failed").Inc()
		i.fail(s, s.err)
		return
	}
	start := time.Now()
	results, err := i.commit(s.spec, s.started)
	i.m.commitSeconds.Observe(time.Since(start).Seconds())
	if err == nil && len(results) != len(s.spec.Chunks) {
		err = fmt.Errorf("commit returned %d results for %d chunks", len(results), len(s.spec.Chunks))
	}
	if err != nil {
		// The object stays behind unreferenced; the compactor deletes it.
		err = fmt.Errorf("%w: %s: %v", ErrCommitFailed, s.spec.ObjectKey, err)
		i.logger.Warn("segment commit failed", "key", s.spec.ObjectKey, "err", err)
		i.m.segments.WithLabelValues("commit_failed").Inc()
		i.fail(s, err)
		return
	}
	i.m.segments.WithLabelValues("committed").Inc()
	if i.sink != nil {
		if chunks := metastore.ChunksFromResults(s.spec, results); len(chunks) > 0 {
			i.toSink(chunks, s.object)
		}
	}
	for _, p := range s.seg.pendings {
		for n, ref := range p.refs {
			if ref.chunk < 0 {
				continue
			}
			p.results[n] = partitionResult(results[ref.chunk], ref)
			if p.results[n].Err != nil {
				i.m.rejectedBatchs.WithLabelValues("commit").Inc()
			}
		}
		i.m.appendSeconds.Observe(time.Since(p.start).Seconds())
		close(p.done)
	}
}

// commit commits one segment; a panic of the metastore's code is an error
// of this commit, not the end of the node. It refuses to start a commit
// more than MaxCommitDelay after the upload began: the compactor may have
// claimed and deleted the object meanwhile, and keeps the claim that makes
// the commit fail only for its tombstone retention (docs/compaction.md).
// The age is the longer of the monotonic clock's, which a wall clock set
// back cannot shorten, and the wall clock's, which counts the time a
// suspended machine stood still (Linux's monotonic clock does not).
func (i *Ingester) commit(spec metastore.SegmentSpec, started time.Time) (results []metastore.ChunkResult, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), i.cfg.CommitTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			i.logger.Error("segment commit panicked", "key", spec.ObjectKey, "panic", p, "stack", string(debug.Stack()))
			results, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	if age := max(i.since(started), time.Now().Round(0).Sub(started.Round(0))); age > i.cfg.MaxCommitDelay {
		return nil, fmt.Errorf("upload began %s ago, more than the max commit delay %s", age.Round(time.Millisecond), i.cfg.MaxCommitDelay)
	}
	return i.store.CommitSegment(ctx, spec)
}

// toSink hands a committed segment to the sink; the segment is committed
// whatever the sink does, so a panic there is only logged.
func (i *Ingester) toSink(chunks []metastore.Chunk, object []byte) {
	defer func() {
		if p := recover(); p != nil {
			i.logger.Error("segment sink panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	i.sink.Committed(chunks, object)
}

func partitionResult(cr metastore.ChunkResult, ref batchRef) PartitionResult {
	if cr.Err != nil {
		return PartitionResult{Err: cr.Err, BaseOffset: -1}
	}
	if ref.first+ref.count > len(cr.Batches) || ref.count == 0 {
		return PartitionResult{Err: fmt.Errorf("%w: batch results missing", ErrCommitFailed), BaseOffset: -1}
	}
	bs := cr.Batches[ref.first : ref.first+ref.count]
	for _, b := range bs {
		if b.Err != nil {
			return PartitionResult{Err: b.Err, BaseOffset: -1}
		}
	}
	return PartitionResult{BaseOffset: bs[0].BaseOffset, LogAppendTime: cr.LogAppendTime}
}

func (i *Ingester) fail(s *sealedSegment, err error) {
	for _, p := range s.seg.pendings {
		for n, ref := range p.refs {
			if ref.chunk >= 0 {
				p.results[n] = PartitionResult{Err: err, BaseOffset: -1}
			}
		}
		close(p.done)
	}
}

// Flush seals the open segment now, if it holds anything.
func (i *Ingester) Flush() {
	i.mu.Lock()
	if i.open.bytes > 0 {
		i.sealLocked(sealFlush)
	}
	i.mu.Unlock()
}

// Close stops accepting batches, uploads and commits what was accepted, and
// returns when every caller has its answer or ctx ends.
func (i *Ingester) Close(ctx context.Context) error {
	i.mu.Lock()
	if !i.closed {
		i.closed = true
		if i.open.bytes > 0 {
			i.sealLocked(sealFlush)
		}
		select {
		case i.wake <- struct{}{}:
		default:
		}
	}
	i.mu.Unlock()
	select {
	case <-i.finished:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ingest: close: %w", ctx.Err())
	}
}
