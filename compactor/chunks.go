package compactor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stratalog/strata/internal/chunk"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/metastore"
)

// ErrCorrupt means a chunk's bytes disagree with their checks or with the
// chunk index. The compactor never rewrites such a chunk: the partition is
// left as it is and the error reported.
var ErrCorrupt = errors.New("compactor: corrupt chunk")

// batch is one record batch of a chunk, as it is part of the log.
type batch struct {
	data  []byte // the whole batch, as stored; never modified
	base  int64  // absolute first offset
	count int64  // offsets it occupies: lastOffsetDelta + 1
	h     recordbatch.Header
}

// end is one past the batch's last offset.
func (b *batch) end() int64 { return b.base + b.count }

// chunkBatches returns the batches of chunk c that are part of the log, in
// offset order, with absolute offsets, from the chunk's decoded bytes raw,
// by the strict form of the offset rule (chunk.Data.Strict): the compactor
// rewrites what it reads, so it refuses a chunk that disagrees with its
// index instead of skipping parts.
func chunkBatches(c *metastore.Chunk, raw []byte) ([]batch, error) {
	d, err := chunk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: object %s at %d: %w", ErrCorrupt, c.ObjectKey, c.Start, err)
	}
	out := make([]batch, 0, len(d.Batches))
	err = d.Strict(c, func(b *chunk.Batch, start int64) error {
		data := d.Bytes(b)
		h, err := recordbatch.ParseHeader(data)
		if err != nil {
			return err
		}
		out = append(out, batch{data: data, base: start, count: b.Count, h: h})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: object %s at %d: %w", ErrCorrupt, c.ObjectKey, c.Start, err)
	}
	return out, nil
}

// chunkData is a fetched and decoded chunk.
type chunkData struct {
	batches []batch
	raw     int64 // decoded bytes
}

// readChunks fetches and decodes chunks with at most Config.Concurrency
// requests in flight, and returns their batches in the order of chunks.
func (c *Compactor) readChunks(ctx context.Context, chunks []metastore.Chunk) ([]chunkData, error) {
	out := make([]chunkData, len(chunks))
	errs := make([]error, len(chunks))
	sem := make(chan struct{}, c.cfg.Concurrency)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := range chunks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = c.readChunk(ctx, &chunks[i])
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Compactor) readChunk(ctx context.Context, ch *metastore.Chunk) (chunkData, error) {
	if ch.Start < 0 || ch.Length <= 0 || ch.RawLength < 0 || ch.RawLength > c.cfg.MaxMergeRawBytes ||
		(ch.ObjectSize > 0 && ch.Start+ch.Length > ch.ObjectSize) {
		return chunkData{}, fmt.Errorf("%w: object %s of %d bytes: chunk of %d bytes at %d, %d decoded", ErrCorrupt, ch.ObjectKey, ch.ObjectSize, ch.Length, ch.Start, ch.RawLength)
	}
	compressed, err := c.fetchChunk(ctx, ch)
	if err != nil {
		return chunkData{}, err
	}
	raw, err := segment.DecodeChunk(compressed, ch.RawLength)
	if err != nil {
		return chunkData{}, fmt.Errorf("%w: object %s at %d: %w", ErrCorrupt, ch.ObjectKey, ch.Start, err)
	}
	if int64(len(raw)) != ch.RawLength {
		return chunkData{}, fmt.Errorf("%w: object %s at %d: decoded %d bytes, index says %d", ErrCorrupt, ch.ObjectKey, ch.Start, len(raw), ch.RawLength)
	}
	bs, err := chunkBatches(ch, raw)
	if err != nil {
		return chunkData{}, err
	}
	return chunkData{batches: bs, raw: int64(len(raw))}, nil
}

// fetchChunk returns a chunk's compressed bytes: kept by the round's shared
// reads, cut from its whole level-0 object, or from a ranged GET.
func (c *Compactor) fetchChunk(ctx context.Context, ch *metastore.Chunk) ([]byte, error) {
	sr := c.shared
	if sr == nil || ch.Level != 0 {
		return c.getRange(ctx, ch)
	}
	for {
		data, h, wait := sr.lookup(ch)
		switch {
		case data != nil:
			return data, nil
		case wait != nil:
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case h == byWhole:
			return c.getWhole(ctx, sr, ch)
		default:
			return c.getRange(ctx, ch)
		}
	}
}

// getRange reads one chunk with a ranged GET.
func (c *Compactor) getRange(ctx context.Context, ch *metastore.Chunk) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	compressed, err := c.objects.GetRange(rctx, ch.ObjectKey, ch.Start, ch.Length)
	cancel()
	c.m.gets.WithLabelValues("range").Inc()
	if err != nil {
		if errors.Is(err, objstore.ErrNotFound) || errors.Is(err, objstore.ErrInvalidRange) {
			// A committed chunk whose bytes are gone: never rewrite around it.
			return nil, fmt.Errorf("%w: object %s range %d+%d: %w", ErrCorrupt, ch.ObjectKey, ch.Start, ch.Length, err)
		}
		return nil, fmt.Errorf("get object %s range %d+%d: %w", ch.ObjectKey, ch.Start, ch.Length, err)
	}
	c.m.readBytes.Add(float64(len(compressed)))
	return compressed, nil
}

// getWhole GETs ch's whole object, hands the chunks other partitions of the
// wave need to sr, and returns ch's bytes. The footer only says which bytes
// to keep: every chunk is still checked by DecodeChunk when it is decoded.
func (c *Compactor) getWhole(ctx context.Context, sr *sharedReads, ch *metastore.Chunk) ([]byte, error) {
	var obj []byte
	var footer *segment.Footer
	defer func() { sr.landed(ch, obj, footer) }()
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	got, err := c.objects.Get(rctx, ch.ObjectKey)
	cancel()
	c.m.gets.WithLabelValues("whole").Inc()
	if err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return nil, fmt.Errorf("%w: object %s: %w", ErrCorrupt, ch.ObjectKey, err)
		}
		return nil, fmt.Errorf("get object %s: %w", ch.ObjectKey, err)
	}
	c.m.readBytes.Add(float64(len(got)))
	if int64(len(got)) != ch.ObjectSize {
		return nil, fmt.Errorf("%w: object %s is %d bytes, index says %d", ErrCorrupt, ch.ObjectKey, len(got), ch.ObjectSize)
	}
	obj = got
	if f, err := segment.DecodeFooter(obj); err != nil {
		// The chunk asked for does not need the footer; the others are
		// read with ranged GETs, and checked then.
		c.logger.Warn("level-0 object footer unreadable", "object", ch.ObjectKey, "err", err)
	} else {
		footer = &f
	}
	return obj[ch.Start : ch.Start+ch.Length], nil
}
