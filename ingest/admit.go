package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/stratalog/strata/internal/decompress"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
)

// Errors of admission, returned in PartitionResult.Err (see roleapi).
var (
	ErrOldFormat              = roleapi.ErrOldFormat
	ErrBatchTooLarge          = roleapi.ErrBatchTooLarge
	ErrUnsupportedCompression = roleapi.ErrUnsupportedCompression
	ErrInvalidRecords         = roleapi.ErrInvalidRecords
)

// Admission is what a topic asks of the batches produced to it.
type Admission = roleapi.Admission

// checkedRecords describes an admitted records field for the commit.
type checkedRecords struct {
	metas        []metastore.BatchMeta
	records      int64
	minTS, maxTS int64
}

// admitter is what one admission at a time needs: a decompression stream
// and a record walker, with their buffers.
type admitter struct {
	stream *decompress.Stream
	walker recordbatch.Walker
	max    int64 // the stream's bound
}

// admitters holds one admitter per core: reading compressed records is CPU
// work, so more at once would only hold more memory.
func newAdmitters(maxDecompressed int64) chan *admitter {
	n := runtime.GOMAXPROCS(0)
	ch := make(chan *admitter, n)
	for range n {
		ch <- &admitter{stream: decompress.NewStream(maxDecompressed), max: maxDecompressed}
	}
	return ch
}

// admit checks every batch of a records field in one pass and describes
// each for the commit: per batch, the header (magic, sizes, CRC32C,
// producer fields), the topic's bounds, then every record (framing, count,
// offset deltas, keys when required; compressed records are decompressed
// as a stream), and last the log append time is written in. The first
// failing batch fails the partition, as in Kafka.
func (i *Ingester) admit(ctx context.Context, records []byte, a Admission) (checkedRecords, error) {
	c := checkedRecords{minTS: math.MaxInt64, maxTS: math.MinInt64}
	if len(records) == 0 {
		return c, fmt.Errorf("%w: no record batch", ErrInvalidRecords)
	}
	var ad *admitter
	var plain admitter // for uncompressed batches: no stream, no buffer
	defer func() {
		if ad != nil {
			ad.stream.Release()
			i.admitters <- ad
		}
	}()
	for n, off := 0, 0; off < len(records); n++ {
		rest := records[off:]
		if len(rest) > recordbatch.MagicOffset {
			if m := int8(rest[recordbatch.MagicOffset]); m < recordbatch.Magic {
				return c, fmt.Errorf("%w: message format v%d; only v2 record batches (magic 2) are accepted", ErrOldFormat, m)
			}
		}
		h, err := recordbatch.ParseSize(rest)
		if err != nil {
			return c, fmt.Errorf("%w: batch %d at byte %d: %w", ErrCorruptBatch, n, off, err)
		}
		if a.MaxBatchBytes > 0 && h.Size() > a.MaxBatchBytes {
			return c, fmt.Errorf("%w: record batch of %d bytes is larger than the topic's max.message.bytes %d", ErrBatchTooLarge, h.Size(), a.MaxBatchBytes)
		}
		size := min(h.Size(), len(rest))
		batch := rest[:size:size]
		if err := recordbatch.Verify(batch, h); err != nil {
			return c, fmt.Errorf("%w: batch %d at byte %d: %w", ErrCorruptBatch, n, off, err)
		}
		switch {
		case a.NoZstd && h.Compression() == recordbatch.CompressionZstd:
			return c, fmt.Errorf("%w: zstd compression needs Produce v7 or later", ErrUnsupportedCompression)
		case h.IsControl():
			return c, fmt.Errorf("%w: control batch from a producer", ErrUnsupportedBatch)
		case h.IsTransactional() && !a.Transactional:
			return c, fmt.Errorf("%w: transactional batch outside a transaction", ErrUnsupportedBatch)
		}
		use := &plain
		if h.Compression() != recordbatch.CompressionNone {
			// Decompressing is CPU work and holds a stream's window: one
			// admitter per core. Uncompressed records are walked in place
			// and wait for nobody, so a client sending compressed bombs
			// does not delay those that do not compress.
			if ad == nil {
				select {
				case ad = <-i.admitters:
				case <-ctx.Done():
					return c, ctx.Err()
				}
			}
			use = ad
		}
		if err := use.records(batch, h, a.RequireKeys); err != nil {
			return c, fmt.Errorf("batch %d at byte %d: %w", n, off, err)
		}
		if a.LogAppendTime > 0 {
			recordbatch.SetLogAppendTime(batch, a.LogAppendTime)
			h.MaxTimestamp = a.LogAppendTime
		}
		m := metastore.BatchMeta{
			OffsetCount:  h.LastOffsetDelta + 1,
			MaxTimestamp: h.MaxTimestamp,
			ProducerID:   metastore.NoProducerID,
		}
		if h.ProducerID >= 0 {
			m.ProducerID, m.ProducerEpoch, m.BaseSequence = h.ProducerID, h.ProducerEpoch, h.BaseSequence
			m.Transactional = h.IsTransactional() // the header check requires a producer id
		}
		c.metas = append(c.metas, m)
		c.records += int64(m.OffsetCount)
		c.minTS = min(c.minTS, h.BaseTimestamp)
		c.maxTS = max(c.maxTS, h.MaxTimestamp)
		off += size
	}
	return c, nil
}

// records walks the records of one verified batch; ad.stream is used only
// for a compressed batch.
func (ad *admitter) records(batch []byte, h recordbatch.Header, requireKeys bool) error {
	var keys func(recordbatch.RecordInfo) error
	if requireKeys {
		keys = func(r recordbatch.RecordInfo) error {
			if r.KeyLength < 0 {
				return fmt.Errorf("%w: record %d has no key, and the topic is compacted", ErrInvalidRecords, r.Index)
			}
			return nil
		}
	}
	body := batch[recordbatch.HeaderSize:]
	if h.Compression() == recordbatch.CompressionNone {
		return ad.walkError(ad.walker.WalkRecords(h, body, nil, keys))
	}
	src, err := ad.stream.Open(body, h.Compression())
	if err != nil {
		return ad.walkError(err)
	}
	return ad.walkError(ad.walker.WalkRecords(h, nil, src, keys))
}

// walkError classifies an error of a records walk.
func (ad *admitter) walkError(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrInvalidRecords):
		return err
	case errors.Is(err, recordbatch.ErrRecords):
		return fmt.Errorf("%w: %w", ErrInvalidRecords, err)
	case errors.Is(err, decompress.ErrTooLarge):
		return fmt.Errorf("%w: records decompress to more than %d bytes", ErrBatchTooLarge, ad.max)
	default:
		return fmt.Errorf("%w: decompress: %w", ErrCorruptBatch, err)
	}
}
