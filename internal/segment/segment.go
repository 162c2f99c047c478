// Package segment encodes and decodes Strata's segment objects.
//
// An object is a sequence of chunks, each one zstd frame holding one
// partition's Kafka record batches, followed by a footer that indexes the
// chunks and a fixed-size trailer that locates the footer:
//
//	chunk 0 | chunk 1 | ... | chunk n-1 | footer | trailer (TrailerSize bytes)
//
// A reader that knows an object's size fetches the trailer, learns the
// footer's length from FooterLength, fetches footer and trailer with one
// ranged GET, and then fetches and decodes any chunk with one more ranged GET.
// The byte layout is specified in docs/segment-format.md.
//
// Level 0 objects are written by ingest: many partitions, at most one chunk
// each, batches with relative offsets (BaseOffset -1). Level 1 objects are
// written by the compactor: one or more partitions, each partition's chunks
// one run in offset order, absolute offsets.
//
// Every decoder here treats its input as hostile: malformed input gives an
// error wrapping ErrCorrupt, ErrTruncated, ErrUnsupported or ErrTooLarge,
// never a panic, and memory use is bounded by the input and the limits below.
// All functions are safe for concurrent use.
package segment

import (
	"errors"
	"fmt"
)

// Object levels.
const (
	Level0 uint8 = 0 // written by ingest: many partitions, relative offsets
	Level1 uint8 = 1 // written by the compactor: runs of partitions, absolute offsets
)

// Version is the format version this package writes and reads.
const Version = 1

// Limits. Encode refuses to exceed them and decoders reject objects that do.
const (
	// MaxChunks is the largest number of chunks in one object.
	MaxChunks = 1 << 20
	// MaxChunkRawLength is the largest uncompressed chunk.
	MaxChunkRawLength = 1 << 30
	// MaxWindowSize is the largest zstd window a chunk's frame may use.
	MaxWindowSize = 8 << 20
	// MaxFooterLength is the largest footer (without the trailer).
	MaxFooterLength = footerFixedSize + MaxChunks*EntrySize
)

// Sizes of the fixed parts of the format.
const (
	// TrailerSize is the size of the fixed trailer that ends every object.
	TrailerSize = 16
	// EntrySize is the size of one chunk entry in the footer.
	EntrySize = 84
	// footerHeaderSize is the footer's fixed header: magic, version, level,
	// flags, chunk count.
	footerHeaderSize = 12
	// footerFixedSize is a footer's size without entries: header and CRC.
	footerFixedSize = footerHeaderSize + 4
	// minBatchSize is the smallest Kafka v2 record batch (a header).
	minBatchSize = 61
)

// Magic numbers.
var (
	footerMagic  = [4]byte{'S', 'G', 'I', 'X'}
	trailerMagic = [4]byte{'S', 'G', 'M', 'T'}
)

// Sentinel errors; every error of this package wraps one of them.
var (
	// ErrCorrupt: the bytes are not a valid object, footer or chunk.
	ErrCorrupt = errors.New("segment: corrupt")
	// ErrTruncated: the input ends before the structure it describes. For
	// DecodeFooterTail it means the tail given does not hold the whole
	// footer.
	ErrTruncated = errors.New("segment: truncated")
	// ErrUnsupported: a well-formed object of a format version this code
	// does not read.
	ErrUnsupported = errors.New("segment: unsupported format version")
	// ErrTooLarge: a chunk would decode to more bytes than allowed.
	ErrTooLarge = errors.New("segment: chunk too large")
	// ErrInvalidInput: Encode was given chunks it cannot write, or a decoder
	// was called with inconsistent arguments.
	ErrInvalidInput = errors.New("segment: invalid input")
)

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// ChunkInput is one partition's chunk to encode.
type ChunkInput struct {
	TopicID   [16]byte
	Partition int32
	// BaseOffset is the absolute first offset in level 1 objects, and -1 in
	// level 0 objects (offsets are not known when they are written).
	BaseOffset int64
	// Batches is the number of record batches in Data; Records the number
	// of offsets they cover (the sum of lastOffsetDelta+1).
	Batches int32
	Records int64
	// MinTimestamp and MaxTimestamp are stored as given.
	MinTimestamp, MaxTimestamp int64
	// Data is the concatenated Kafka v2 record batches, as sent by the
	// producer.
	Data []byte
}

// ChunkInfo is a chunk's footer entry.
type ChunkInfo struct {
	TopicID                    [16]byte
	Partition                  int32
	BaseOffset                 int64
	Batches                    int32
	Records                    int64
	MinTimestamp, MaxTimestamp int64
	Start, Length              int64  // compressed byte range of the chunk in the object
	RawLength                  int64  // uncompressed length
	CRC                        uint32 // CRC32C of the compressed bytes
}

// End is one past the chunk's last byte in the object.
func (c ChunkInfo) End() int64 { return c.Start + c.Length }

// Footer is the decoded index of an object.
type Footer struct {
	Level  uint8
	Chunks []ChunkInfo
}

// Find returns the first chunk of a partition.
func (f Footer) Find(topicID [16]byte, partition int32) (ChunkInfo, bool) {
	for _, c := range f.Chunks {
		if c.TopicID == topicID && c.Partition == partition {
			return c, true
		}
	}
	return ChunkInfo{}, false
}

// DataLength is the number of bytes before the footer: the sum of the
// chunks' lengths.
func (f Footer) DataLength() int64 {
	if len(f.Chunks) == 0 {
		return 0
	}
	return f.Chunks[len(f.Chunks)-1].End()
}
