package segment

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/stratalog/strata/internal/crc32c"
)

// decoder is shared: DecodeAll is safe for concurrent use and keeps a pool of
// GOMAXPROCS decoder states. With the cap limit, DecodeAll never writes more
// than cap(dst) bytes, which DecodeChunk sets to the checked content size.
var decoder = sync.OnceValue(func() *zstd.Decoder {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0), // GOMAXPROCS
		zstd.WithDecoderMaxMemory(MaxChunkRawLength),
		zstd.WithDecoderMaxWindow(MaxWindowSize),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		panic(fmt.Sprintf("segment: zstd decoder: %v", err)) // only on invalid options
	}
	return dec
})

// zstd block constants (RFC 8878, section 3.1.1.2).
const (
	blockHeaderSize = 3
	maxBlockSize    = 128 << 10
	blockRaw        = 0
	blockRLE        = 1
	blockCompressed = 2
	checksumSize    = 4
)

// frameInfo is what scanFrame learns about a chunk's zstd frame without
// decoding it.
type frameInfo struct {
	contentSize uint64 // declared decoded size
	maxOutput   uint64 // the most the blocks can decode to
}

// scanFrame checks that b is exactly one zstd frame of the kind Encode
// writes: a content size declared, a content checksum (unless empty), no
// dictionary, a window within MaxWindowSize, and blocks that end exactly at
// the end of b.
func scanFrame(b []byte) (frameInfo, error) {
	var h zstd.Header
	if err := h.Decode(b); err != nil {
		return frameInfo{}, corruptf("zstd frame header: %v", err)
	}
	switch {
	case h.Skippable:
		return frameInfo{}, corruptf("skippable zstd frame")
	case !h.HasFCS:
		return frameInfo{}, corruptf("zstd frame without a content size")
	case !h.HasCheckSum && h.FrameContentSize > 0:
		return frameInfo{}, corruptf("zstd frame without a content checksum")
	case h.DictionaryID != 0:
		return frameInfo{}, corruptf("zstd frame needs dictionary %d", h.DictionaryID)
	}
	window := h.WindowSize
	if h.SingleSegment {
		window = h.FrameContentSize
	}
	if window > MaxWindowSize {
		return frameInfo{}, corruptf("zstd window of %d bytes, at most %d", window, MaxWindowSize)
	}
	// Block_Maximum_Size is min(window, 128 KiB); a single-segment frame's
	// window is its content size, but at least zstd's 1 KiB minimum.
	blockMax := min(uint64(maxBlockSize), max(window, zstd.MinWindowSize))

	var out uint64
	pos := h.HeaderSize
	for {
		if len(b)-pos < blockHeaderSize {
			return frameInfo{}, corruptf("zstd block header at %d past the end (%d bytes)", pos, len(b))
		}
		bh := uint32(b[pos]) | uint32(b[pos+1])<<8 | uint32(b[pos+2])<<16
		pos += blockHeaderSize
		last, typ, size := bh&1 == 1, (bh>>1)&3, uint64(bh>>3)
		if size > blockMax {
			return frameInfo{}, corruptf("zstd block of %d bytes, at most %d", size, blockMax)
		}
		var stored uint64
		switch typ {
		case blockRaw:
			stored, out = size, out+size
		case blockRLE:
			stored, out = 1, out+size
		case blockCompressed:
			stored, out = size, out+blockMax
		default:
			return frameInfo{}, corruptf("reserved zstd block type")
		}
		if stored > uint64(len(b)-pos) {
			return frameInfo{}, corruptf("zstd block of %d bytes at %d past the end (%d bytes)", stored, pos, len(b))
		}
		pos += int(stored)
		if last {
			break
		}
	}
	if h.HasCheckSum {
		pos += checksumSize
	}
	if pos != len(b) {
		return frameInfo{}, corruptf("zstd frame ends at %d, chunk is %d bytes", pos, len(b))
	}
	return frameInfo{contentSize: h.FrameContentSize, maxOutput: out}, nil
}

// DecodeChunk decompresses one chunk, the compressed bytes of a single zstd
// frame, verifying the frame's content checksum. It fails with ErrTooLarge,
// without decompressing, when the frame declares more than maxRaw bytes
// (capped at MaxChunkRawLength), and with ErrCorrupt on any malformed input.
// It allocates at most the declared size, which it first checks against
// what the frame's blocks can hold.
func DecodeChunk(compressed []byte, maxRaw int64) ([]byte, error) {
	if maxRaw < 0 {
		return nil, fmt.Errorf("%w: maxRaw %d", ErrInvalidInput, maxRaw)
	}
	maxRaw = min(maxRaw, MaxChunkRawLength)
	fi, err := scanFrame(compressed)
	if err != nil {
		return nil, err
	}
	if fi.contentSize > uint64(maxRaw) {
		return nil, fmt.Errorf("%w: chunk declares %d bytes, limit %d", ErrTooLarge, fi.contentSize, maxRaw)
	}
	if fi.contentSize > fi.maxOutput {
		return nil, corruptf("zstd frame declares %d bytes but its blocks hold at most %d", fi.contentSize, fi.maxOutput)
	}
	out, err := decoder().DecodeAll(compressed, make([]byte, 0, int(fi.contentSize)))
	if err != nil {
		return nil, corruptf("zstd: %v", err)
	}
	if uint64(len(out)) != fi.contentSize {
		return nil, corruptf("zstd frame decoded to %d bytes, declared %d", len(out), fi.contentSize)
	}
	return out, nil
}

// VerifyChunk checks compressed bytes against their footer entry: length
// and CRC32C, without decompressing.
func VerifyChunk(c ChunkInfo, compressed []byte) error {
	if int64(len(compressed)) != c.Length {
		return corruptf("chunk of %d bytes, footer says %d", len(compressed), c.Length)
	}
	if sum := crc32c.Checksum(compressed); sum != c.CRC {
		return corruptf("chunk CRC32C %#08x, footer says %#08x", sum, c.CRC)
	}
	return nil
}

// ReadChunk verifies a chunk's compressed bytes against its footer entry
// (VerifyChunk) and decodes them to exactly RawLength bytes.
func ReadChunk(c ChunkInfo, compressed []byte) ([]byte, error) {
	if err := VerifyChunk(c, compressed); err != nil {
		return nil, err
	}
	out, err := DecodeChunk(compressed, c.RawLength)
	if err != nil {
		return nil, err
	}
	if int64(len(out)) != c.RawLength {
		return nil, corruptf("chunk decoded to %d bytes, footer says %d", len(out), c.RawLength)
	}
	return out, nil
}
