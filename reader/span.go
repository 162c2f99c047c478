package reader

import (
	"bytes"
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

// part returns the compressed bytes of c, one of the span's chunks. c's
// index row may be another reader's copy: a range outside the span is an
// error, not a panic.
func (sp *span) part(c *metastore.Chunk) ([]byte, error) {
	off := c.Start - sp.start
	if off < 0 || c.Length <= 0 || off+c.Length > int64(len(sp.data)) {
		return nil, fmt.Errorf("%w: object %s: chunk %d+%d outside the span %d+%d", ErrCorrupt, sp.key, c.Start, c.Length, sp.start, len(sp.data))
	}
	return sp.data[off : off+c.Length : off+c.Length], nil
}

// compressedKey names the cached compressed bytes of a chunk fetched by a
// span and not decoded yet.
func compressedKey(c *metastore.Chunk) cacheKey {
	return cacheKey{object: c.ObjectKey, start: c.Start, compressed: true}
}

// ranged reports whether c is read by ranged GETs: chunks of level-1
// objects, of which a partition needs only its own run, and of level-0
// objects too large to fetch whole.
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
// in flight that holds it, or by fetching a new span. When a span of
// several chunks fails, chunks[0] is fetched alone: a damaged index row of
// a later chunk must not make this one unreadable. The caller drops the
// cached compressed bytes once the chunk is decoded and cached.
func (r *Reader) rangedChunk(ctx context.Context, chunks []metastore.Chunk, sp *span) ([]byte, error) {
	c := &chunks[0]
	for sp == nil {
		if v, ok := r.cache.get(compressedKey(c)); ok {
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
		if pending.err == nil && pending.data == nil {
			continue // released without a GET: claim again
		}
		sp = pending
		break
	}
	if sp.done != nil && sp.data == nil && sp.err == nil {
		r.fetchSpan(ctx, sp) // owned, not fetched yet
	}
	if sp.err == nil {
		return sp.part(c)
	}
	if len(sp.chunks) == 1 {
		return nil, sp.err
	}
	return r.getRange(ctx, c)
}

// getRange fetches the compressed bytes of c alone.
func (r *Reader) getRange(ctx context.Context, c *metastore.Chunk) ([]byte, error) {
	r.metrics.objectGets.WithLabelValues("range").Inc()
	b, err := r.objects.GetRange(ctx, c.ObjectKey, c.Start, c.Length)
	if err != nil {
		return nil, fmt.Errorf("get object %s range %d+%d: %w", c.ObjectKey, c.Start, c.Length, err)
	}
	if int64(len(b)) != c.Length {
		return nil, fmt.Errorf("%w: object %s: ranged get returned %d bytes, want %d", ErrCorrupt, c.ObjectKey, len(b), c.Length)
	}
	return b, nil
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

// fetchSpan makes sp's GET, caches the compressed bytes of its chunks, and
// releases its waiters.
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
	// Every chunk's bytes wait in the cache until it is decoded (the
	// owner's too, so that a span claimed while it decodes stops before
	// it).
	for i := range sp.chunks {
		c := &sp.chunks[i]
		// A copy: a slice would keep the whole span alive while the
		// cache counts only the chunk.
		if part, err := sp.part(c); err == nil {
			r.cache.add(compressedKey(c), bytes.Clone(part), c.Length, 0)
		}
	}
}
