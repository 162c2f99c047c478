package reader

import (
	"context"
	"fmt"

	"github.com/stratalog/strata/metastore"
)

// Chunks read by ranged GETs (those of level-1 objects, and of level-0
// objects too large to fetch whole) are fetched a span at a time: one GET
// covers the chunk wanted and the chunks of the same partition that follow
// it in the same object. The compressed bytes of the following chunks stay
// in the cache until a read or a read-ahead decodes them. A catch-up read of
// a level-1 object then makes one GET per span instead of one per chunk:
// the object store's cost per request, in money on S3 and in CPU on MinIO,
// dominates at chunk sizes.
const (
	// spanMaxBytes bounds the compressed bytes of one span.
	spanMaxBytes = 1 << 20
	// spanMaxRawBytes bounds the decoded bytes of the chunks of one span:
	// what a consumer has to read before the span's bytes are used up.
	spanMaxRawBytes = 8 << 20
)

// span is one ranged GET in flight or done.
type span struct {
	key           string
	start, length int64
	chunks        []metastore.Chunk // chunks[0] is the chunk its owner reads
	done          chan struct{}     // closed when data or err is set
	data          []byte
	err           error
}

// part returns the compressed bytes of c, one of the span's chunks.
func (sp *span) part(c *metastore.Chunk) []byte {
	off := c.Start - sp.start
	return sp.data[off : off+c.Length : off+c.Length]
}

// compressedKey names the cached compressed bytes of a chunk fetched by a
// span and not decoded yet.
func compressedKey(c *metastore.Chunk) cacheKey {
	return cacheKey{object: c.ObjectKey, start: c.Start, compressed: true}
}

// ranged reports whether c is read by ranged GETs: chunks of level-1
// objects, which hold one partition, and of level-0 objects too large to
// fetch whole.
func (r *Reader) ranged(c *metastore.Chunk) bool {
	return c.Level != 0 || c.ObjectSize <= 0 || c.ObjectSize > r.cfg.WholeObjectMaxBytes
}

// checkRange refuses a chunk whose index entry cannot be right.
func (r *Reader) checkRange(c *metastore.Chunk) error {
	if c.RawLength < 0 || c.RawLength > r.cfg.MaxChunkRawBytes {
		return fmt.Errorf("object %s chunk at %d: %d bytes decoded exceeds the limit %d", c.ObjectKey, c.Start, c.RawLength, r.cfg.MaxChunkRawBytes)
	}
	if c.Start < 0 || c.Length <= 0 || (c.ObjectSize > 0 && c.Start+c.Length > c.ObjectSize) {
		return fmt.Errorf("%w: object %s: bad chunk range %d+%d of %d", ErrCorrupt, c.ObjectKey, c.Start, c.Length, c.ObjectSize)
	}
	return nil
}

// rangedChunk returns the compressed bytes of chunks[0]: by fetching sp,
// the span the caller claimed for it, or else from the cache, from a span
// in flight that holds it, or by fetching a new span.
func (r *Reader) rangedChunk(ctx context.Context, chunks []metastore.Chunk, sp *span) ([]byte, error) {
	c := &chunks[0]
	ck := compressedKey(c)
	for sp == nil {
		if v, ok := r.cache.get(ck); ok {
			r.cache.drop(ck) // decoded from now on
			return v.([]byte), nil
		}
		pending, owned := r.claimSpan(chunks)
		if owned {
			sp = pending
			break
		}
		if pending == nil {
			continue // cached in the meantime
		}
		select {
		case <-pending.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if pending.err != nil {
			return nil, pending.err
		}
		if pending.data != nil {
			r.cache.drop(ck)
			return pending.part(c), nil
		}
		// Released without a GET: claim again.
	}
	r.fetchSpan(ctx, sp)
	if sp.err != nil {
		return nil, sp.err
	}
	return sp.part(c), nil
}

// claimSpan returns the span in flight that holds chunks[0] (not owned), or
// nil when its compressed bytes are cached, or else a new span that the
// caller owns and must fetch or release. A new span holds chunks[0] and the
// chunks after it that are contiguous with it in the same object and not
// cached or claimed, within spanMaxBytes and spanMaxRawBytes. chunks[0]
// must be ranged and pass checkRange.
func (r *Reader) claimSpan(chunks []metastore.Chunk) (sp *span, owned bool) {
	first := &chunks[0]
	r.spanMu.Lock()
	defer r.spanMu.Unlock()
	k := compressedKey(first)
	if sp, ok := r.spans[k]; ok {
		return sp, false
	}
	if r.cache.contains(k) {
		return nil, false
	}
	sp = &span{key: first.ObjectKey, start: first.Start, length: first.Length, done: make(chan struct{})}
	raw := first.RawLength
	n := 1
	for ; n < len(chunks); n++ {
		c := &chunks[n]
		if c.ObjectKey != first.ObjectKey || c.Start != sp.start+sp.length || r.checkRange(c) != nil ||
			sp.length+c.Length > spanMaxBytes || raw+c.RawLength > spanMaxRawBytes {
			break
		}
		k := compressedKey(c)
		if _, ok := r.spans[k]; ok || r.cache.contains(k) || r.cache.contains(cacheKey{object: c.ObjectKey, start: c.Start}) {
			break
		}
		sp.length += c.Length
		raw += c.RawLength
	}
	sp.chunks = chunks[:n:n]
	for i := range sp.chunks {
		r.spans[compressedKey(&sp.chunks[i])] = sp
	}
	return sp, true
}

// releaseSpan gives up an owned span without fetching it: its waiters
// claim their chunks again. sp may be nil.
func (r *Reader) releaseSpan(sp *span) {
	if sp == nil {
		return
	}
	r.unregister(sp)
	close(sp.done)
}

func (r *Reader) unregister(sp *span) {
	r.spanMu.Lock()
	defer r.spanMu.Unlock()
	for i := range sp.chunks {
		delete(r.spans, compressedKey(&sp.chunks[i]))
	}
}

// fetchSpan makes sp's GET, caches the compressed bytes of its chunks but
// the first (which its owner decodes), and releases its waiters.
func (r *Reader) fetchSpan(ctx context.Context, sp *span) {
	defer func() {
		r.unregister(sp)
		close(sp.done)
	}()
	r.metrics.objectGets.WithLabelValues("range").Inc()
	b, err := r.objects.GetRange(ctx, sp.key, sp.start, sp.length)
	if err != nil {
		sp.err = fmt.Errorf("get object %s range %d+%d: %w", sp.key, sp.start, sp.length, err)
		return
	}
	if int64(len(b)) != sp.length {
		sp.err = fmt.Errorf("%w: object %s: ranged get returned %d bytes, want %d", ErrCorrupt, sp.key, len(b), sp.length)
		return
	}
	sp.data = b
	for i := 1; i < len(sp.chunks); i++ {
		c := &sp.chunks[i]
		r.cache.add(compressedKey(c), sp.part(c), c.Length, 0)
	}
}
