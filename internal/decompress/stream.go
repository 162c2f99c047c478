package decompress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codecs, as the low three bits of a batch's attributes number them.
const (
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
)

// MaxZstdWindow is the largest zstd window a Stream accepts. A stream
// decoder allocates the window a frame declares before it decodes a byte,
// so the bound is what one Stream may allocate for zstd. Kafka clients
// compress one batch at a time, and a frame's window is at most its
// content (zstd at level 19 asks for 8 MiB at most).
const MaxZstdWindow = 64 << 20

// snappyMaxRatio bounds what a snappy block may decode to against its
// size: snappy's densest operation copies 64 bytes for 3, so a block that
// declares more than 32 times its size is not snappy.
const snappyMaxRatio = 32

// keepSnappy is the largest snappy block buffer a Stream keeps between
// batches.
const keepSnappy = 4 << 20

// Stream decompresses a batch's records as a stream, so that reading them
// costs memory in proportion to the codec's window (gzip 32 KiB, lz4 at
// most 4 MiB blocks, zstd its frame's window), not to what they decompress
// to; reading more than its bound fails with ErrTooLarge. Snappy, which
// has no streaming form, decodes one block at a time. A Stream keeps its
// decoders between batches; it is not safe for concurrent use.
type Stream struct {
	max    int64
	zstd   *zstd.Decoder
	gzip   *gzip.Reader
	lz4    *lz4.Reader
	snappy snappyReader
	src    bytes.Reader
	lim    boundedReader
}

// NewStream returns a Stream bounded at max decompressed bytes a batch.
func NewStream(max int64) *Stream {
	return &Stream{max: max}
}

// Open returns a reader of src, a batch's records compressed with codec (1
// gzip, 2 snappy, 3 lz4, 4 zstd), valid until the next Open or Release.
func (s *Stream) Open(src []byte, codec int8) (io.Reader, error) {
	s.src.Reset(src)
	var r io.Reader
	switch codec {
	case codecGzip:
		var err error
		if s.gzip == nil {
			s.gzip, err = gzip.NewReader(&s.src)
		} else {
			err = s.gzip.Reset(&s.src)
		}
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		r = s.gzip
	case codecSnappy:
		if err := s.snappy.reset(src, s.max); err != nil {
			return nil, err
		}
		r = &s.snappy
	case codecLZ4:
		if s.lz4 == nil {
			s.lz4 = lz4.NewReader(&s.src)
		} else {
			s.lz4.Reset(&s.src)
		}
		r = s.lz4
	case codecZstd:
		if s.zstd == nil {
			dec, err := zstd.NewReader(nil,
				zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(MaxZstdWindow),
				zstd.WithDecoderMaxMemory(uint64(s.max)),
			)
			if err != nil {
				return nil, fmt.Errorf("zstd: %w", err) // only on invalid options
			}
			s.zstd = dec
		}
		if err := s.zstd.Reset(&s.src); err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		r = zstdErrors{s.zstd}
	default:
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
	s.lim = boundedReader{r: r, left: s.max}
	return &s.lim, nil
}

// Release drops what the last Open referenced: the batch's bytes, and a
// snappy buffer larger than what a Stream keeps.
func (s *Stream) Release() {
	s.src.Reset(nil)
	s.lim = boundedReader{}
	s.snappy.release()
}

// zstdErrors reports zstd's size limits as ErrTooLarge.
type zstdErrors struct{ d *zstd.Decoder }

func (z zstdErrors) Read(p []byte) (int, error) {
	n, err := z.d.Read(p)
	if err != nil && (errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded)) {
		err = fmt.Errorf("zstd: %w", ErrTooLarge)
	}
	return n, err
}

// boundedReader fails with ErrTooLarge once r yields more than left bytes.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a stream that ends here from one that goes on.
		var one [1]byte
		if n, err := b.r.Read(one[:]); n > 0 {
			return 0, ErrTooLarge
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// snappyReader decodes raw snappy, or Kafka's xerial framing of snappy
// blocks, one block at a time.
type snappyReader struct {
	rest   []byte // xerial blocks not decoded yet; nil for raw snappy
	xerial bool
	buf    []byte // the decoded block
	out    []byte // unread part of buf
	max    int64  // bytes still allowed
}

func (s *snappyReader) reset(src []byte, max int64) error {
	s.max, s.out = max, nil
	if !bytes.HasPrefix(src, xerialHeader) {
		s.xerial, s.rest = false, nil
		return s.decode(src)
	}
	if len(src) < 16 {
		return errors.New("snappy: truncated xerial header")
	}
	s.xerial, s.rest = true, src[16:]
	return nil
}

// decode decodes one block into buf.
func (s *snappyReader) decode(block []byte) error {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return fmt.Errorf("snappy: %w", err)
	}
	switch {
	case int64(n) > s.max:
		return fmt.Errorf("snappy: %w", ErrTooLarge)
	case n > snappyMaxRatio*len(block)+64:
		return fmt.Errorf("snappy: a %d-byte block declares %d bytes", len(block), n)
	}
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	out, err := s2.Decode(s.buf[:n], block)
	if err != nil {
		return fmt.Errorf("snappy: %w", err)
	}
	s.max -= int64(len(out))
	s.out = out
	return nil
}

func (s *snappyReader) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if !s.xerial || len(s.rest) == 0 {
			return 0, io.EOF
		}
		if len(s.rest) < 4 {
			return 0, errors.New("snappy: truncated xerial block length")
		}
		n := binary.BigEndian.Uint32(s.rest)
		s.rest = s.rest[4:]
		if uint64(n) > uint64(len(s.rest)) {
			return 0, errors.New("snappy: xerial block past the end")
		}
		block := s.rest[:n]
		s.rest = s.rest[n:]
		if err := s.decode(block); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

func (s *snappyReader) release() {
	s.rest, s.out = nil, nil
	if cap(s.buf) > keepSnappy {
		s.buf = nil
	}
}
