// Package decompress decompresses the records of Kafka record batches
// (gzip, snappy, lz4, zstd) with a bound on the output, so that a small
// hostile batch cannot make a node allocate gigabytes. It implements
// franz-go's kgo.Decompressor, whose default bounds a batch only at 2 GiB.
package decompress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrTooLarge is returned when a batch decompresses to more than the bound.
var ErrTooLarge = errors.New("decompressed batch exceeds the limit")

// Decompressor is a kgo.Decompressor that fails with ErrTooLarge rather
// than produce more than Max bytes. Safe for concurrent use.
type Decompressor struct {
	max  int
	zstd *zstd.Decoder
}

var _ kgo.Decompressor = (*Decompressor)(nil)

// New returns a Decompressor whose output is at most max bytes.
func New(max int) *Decompressor {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(uint64(max)),
	)
	if err != nil {
		panic(fmt.Sprintf("decompress: zstd decoder: %v", err)) // only on invalid options
	}
	return &Decompressor{max: max, zstd: dec}
}

// Default is the bound of the records of one batch used by the broker:
// Kafka's message.max.bytes default is 1 MB compressed, and JSON or logs
// rarely compress more than 20:1.
const Default = 256 << 20

var shared = sync.OnceValue(func() *Decompressor { return New(Default) })

// Shared returns a Decompressor bounded at Default, shared by its callers.
func Shared() *Decompressor { return shared() }

// Decompress implements kgo.Decompressor.
func (d *Decompressor) Decompress(src []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	switch codec {
	case kgo.CodecNone:
		return src, nil
	case kgo.CodecGzip:
		r, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if r == nil {
			r, err = gzip.NewReader(bytes.NewReader(src))
		} else {
			err = r.Reset(bytes.NewReader(src))
		}
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer func() {
			_ = r.Reset(bytes.NewReader(nil)) // drop src, a slice of a whole request
			gzipReaders.Put(r)
		}()
		return d.readBounded(r, "gzip")
	case kgo.CodecLz4:
		// A reader keeps its block buffers (up to 4 MiB) between batches.
		r, _ := lz4Readers.Get().(*lz4.Reader)
		if r == nil {
			r = lz4.NewReader(nil)
		}
		r.Reset(bytes.NewReader(src))
		defer func() {
			r.Reset(nil) // drop src, a slice of a whole request
			lz4Readers.Put(r)
		}()
		return d.readBounded(r, "lz4")
	case kgo.CodecSnappy:
		return d.snappy(src)
	case kgo.CodecZstd:
		// WithDecoderMaxMemory bounds a frame's declared size and what
		// its blocks decode to.
		out, err := d.zstd.DecodeAll(src, nil)
		if err != nil {
			if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
				err = ErrTooLarge
			}
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
}

// Readers are pooled: each allocates its window or block buffers.
var gzipReaders, lz4Readers sync.Pool

// readBounded reads r to its end, failing once it yields more than d.max
// bytes.
func (d *Decompressor) readBounded(r io.Reader, name string) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(min(d.max, 8<<10)) // ReadFrom grows it as the output comes
	n, err := buf.ReadFrom(io.LimitReader(r, int64(d.max)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if n > int64(d.max) {
		return nil, fmt.Errorf("%s: %w", name, ErrTooLarge)
	}
	return buf.Bytes(), nil
}

// xerialHeader starts snappy data framed the way Kafka's Java client
// writes it: the magic, a version and a compatible version, then blocks
// each behind a 4-byte big-endian length.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// snappy decodes raw or xerial-framed snappy, checking each block's declared
// length against the bound before decoding it.
func (d *Decompressor) snappy(src []byte) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialHeader) {
		return d.snappyBlock(nil, src)
	}
	if len(src) < 16 {
		return nil, errors.New("snappy: truncated xerial header")
	}
	var out []byte
	for rest := src[16:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, errors.New("snappy: truncated xerial block length")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, errors.New("snappy: xerial block past the end")
		}
		var err error
		if out, err = d.snappyBlock(out, rest[:n]); err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	return out, nil
}

// snappyBlock appends the decoding of one snappy block to out.
func (d *Decompressor) snappyBlock(out, block []byte) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	if n > d.max-len(out) {
		return nil, fmt.Errorf("snappy: %w", ErrTooLarge)
	}
	dst, err := s2.Decode(make([]byte, n), block)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	return append(out, dst...), nil
}
