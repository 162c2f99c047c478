package segment

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/stratalog/strata/internal/crc32c"
)

// Compression levels. Level 0 objects are written on the produce path,
// where compression time is produce latency and ingest CPU, and live only
// until the compactor merges them: they use SpeedFastest. Level 1 objects
// are written in the background and kept for the retention period: they use
// SpeedDefault, 7-8% smaller on repetitive text for 1.1 to 1.9 times the CPU.
// BenchmarkEncoderLevel measures both; the numbers are in
// docs/segment-format.md.
const (
	level0Compression = zstd.SpeedFastest
	level1Compression = zstd.SpeedDefault
)

// Chunks up to MaxWindowSize are single-segment frames: the frame header
// always carries the content size (zstd omits it for small multi-segment
// frames) and the decoder's window is the content itself. Larger chunks use
// a window of MaxWindowSize; their content size is large enough to be
// always written.
var encoders = [2][2]func() *zstd.Encoder{
	{
		sync.OnceValue(func() *zstd.Encoder { return newEncoder(level0Compression, false) }),
		sync.OnceValue(func() *zstd.Encoder { return newEncoder(level0Compression, true) }),
	},
	{
		sync.OnceValue(func() *zstd.Encoder { return newEncoder(level1Compression, false) }),
		sync.OnceValue(func() *zstd.Encoder { return newEncoder(level1Compression, true) }),
	},
}

// newEncoder returns a zstd encoder for chunks. EncodeAll is safe for
// concurrent use and keeps a pool of GOMAXPROCS encoder states.
func newEncoder(level zstd.EncoderLevel, singleSegment bool) *zstd.Encoder {
	opts := []zstd.EOption{
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderCRC(true),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithWindowSize(MaxWindowSize),
		zstd.WithZeroFrames(true), // an empty chunk is still a frame
	}
	if singleSegment {
		opts = append(opts, zstd.WithSingleSegment(true))
	}
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		panic(fmt.Sprintf("segment: zstd encoder: %v", err)) // only on invalid options
	}
	return enc
}

// compress appends the frame of one chunk of an object of the given level
// (Level0 or Level1) to dst.
func compress(dst []byte, level uint8, data []byte) []byte {
	return encoders[level][b2i(len(data) <= MaxWindowSize)]().EncodeAll(data, dst)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// maxPooledScratch bounds the scratch buffers kept between calls.
const maxPooledScratch = 64 << 20

// scratch holds compressed chunks until the object's size is known, so that
// the object is allocated once at its exact size.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// Encode compresses each chunk as one zstd frame, in the order given, and
// appends the footer and trailer. infos[i] describes chunks[i]. It fails with
// ErrInvalidInput when the chunks break the rules of the level (see
// docs/segment-format.md). Safe for concurrent use.
func Encode(level uint8, chunks []ChunkInput) (obj []byte, infos []ChunkInfo, err error) {
	if level > Level1 {
		return nil, nil, fmt.Errorf("%w: level %d", ErrInvalidInput, level)
	}
	infos = make([]ChunkInfo, len(chunks))
	for i, c := range chunks {
		infos[i] = ChunkInfo{
			TopicID:      c.TopicID,
			Partition:    c.Partition,
			BaseOffset:   c.BaseOffset,
			Batches:      c.Batches,
			Records:      c.Records,
			MinTimestamp: c.MinTimestamp,
			MaxTimestamp: c.MaxTimestamp,
			RawLength:    int64(len(c.Data)),
		}
	}
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
	}
	if err := checkChunks(level, infos, invalid); err != nil {
		return nil, nil, err
	}

	obj = encodeChunks(level, chunks, infos, footerLength(len(infos))+TrailerSize)
	obj = appendFooter(obj, level, infos)
	return obj, infos, nil
}

// parallelMinBytes is the raw size of chunks that is worth one more encoding
// goroutine: below it the hand-off costs more than it saves.
const parallelMinBytes = 1 << 20

// encodeChunks compresses the chunks into an object body with room for
// extra bytes after it, and sets the Start, Length and CRC of infos. A
// large object is split into runs of chunks of about equal raw size,
// compressed by up to GOMAXPROCS goroutines: on an idle core the upload of
// a sealed segment then starts sooner, which is produce latency.
func encodeChunks(level uint8, chunks []ChunkInput, infos []ChunkInfo, extra int) []byte {
	var raw int
	for _, c := range chunks {
		raw += len(c.Data)
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), len(chunks), raw/parallelMinBytes))
	// bounds[w] is the first chunk of run w; runs cut at multiples of raw/workers.
	bounds := make([]int, 0, workers+1)
	bounds = append(bounds, 0)
	var acc int
	for i, c := range chunks {
		if len(bounds) < workers && acc >= raw/workers*len(bounds) {
			bounds = append(bounds, i)
		}
		acc += len(c.Data)
	}
	bounds = append(bounds, len(chunks))

	bufs := make([]*[]byte, len(bounds)-1)
	run := func(w int) {
		bufp := scratch.Get().(*[]byte)
		buf := (*bufp)[:0]
		for i := bounds[w]; i < bounds[w+1]; i++ {
			start := len(buf)
			buf = compress(buf, level, chunks[i].Data)
			infos[i].Start = int64(start) // relative to the run; shifted below
			infos[i].Length = int64(len(buf) - start)
			infos[i].CRC = crc32c.Checksum(buf[start:])
		}
		*bufp = buf
		bufs[w] = bufp
	}
	if len(bufs) == 1 {
		run(0)
	} else {
		var wg sync.WaitGroup
		for w := range bufs {
			wg.Go(func() { run(w) })
		}
		wg.Wait()
	}

	size := extra
	for _, b := range bufs {
		size += len(*b)
	}
	obj := make([]byte, 0, size)
	for w, bufp := range bufs {
		base := int64(len(obj))
		obj = append(obj, *bufp...)
		for i := bounds[w]; i < bounds[w+1]; i++ {
			infos[i].Start += base
		}
		if cap(*bufp) <= maxPooledScratch {
			scratch.Put(bufp)
		}
	}
	return obj
}
