package segment

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/stratalog/strata/internal/crc32c"
)

// Offsets of the fields of a footer entry.
const (
	entTopicID      = 0
	entPartition    = 16
	entBaseOffset   = 20
	entBatches      = 28
	entRecords      = 32
	entMinTimestamp = 40
	entMaxTimestamp = 48
	entStart        = 56
	entLength       = 64
	entRawLength    = 72
	entCRC          = 80
)

// footerLength is the size of a footer (without trailer) of n chunks.
func footerLength(n int) int { return footerFixedSize + n*EntrySize }

// appendFooter appends the footer and trailer of an object.
func appendFooter(dst []byte, level uint8, infos []ChunkInfo) []byte {
	be := binary.BigEndian
	start := len(dst)
	dst = append(dst, footerMagic[:]...)
	dst = be.AppendUint16(dst, Version)
	dst = append(dst, level, 0)
	dst = be.AppendUint32(dst, uint32(len(infos)))
	for _, c := range infos {
		dst = append(dst, c.TopicID[:]...)
		dst = be.AppendUint32(dst, uint32(c.Partition))
		dst = be.AppendUint64(dst, uint64(c.BaseOffset))
		dst = be.AppendUint32(dst, uint32(c.Batches))
		dst = be.AppendUint64(dst, uint64(c.Records))
		dst = be.AppendUint64(dst, uint64(c.MinTimestamp))
		dst = be.AppendUint64(dst, uint64(c.MaxTimestamp))
		dst = be.AppendUint64(dst, uint64(c.Start))
		dst = be.AppendUint64(dst, uint64(c.Length))
		dst = be.AppendUint64(dst, uint64(c.RawLength))
		dst = be.AppendUint32(dst, c.CRC)
	}
	dst = be.AppendUint32(dst, crc32c.Checksum(dst[start:]))
	footerLen := len(dst) - start

	t := len(dst)
	dst = be.AppendUint32(dst, uint32(footerLen))
	dst = be.AppendUint16(dst, Version)
	dst = be.AppendUint16(dst, 0)
	dst = be.AppendUint32(dst, crc32c.Checksum(dst[t:]))
	dst = append(dst, trailerMagic[:]...)
	return dst
}

// FooterLength reads the trailer, the last TrailerSize bytes of trailer
// (which may be longer, e.g. the whole object), and returns the number of
// bytes at the end of the object that hold the footer and the trailer: a
// reader GETs that many bytes to decode the footer with DecodeFooterTail.
func FooterLength(trailer []byte) (int64, error) {
	if len(trailer) < TrailerSize {
		return 0, fmt.Errorf("%w: trailer needs %d bytes, have %d", ErrTruncated, TrailerSize, len(trailer))
	}
	t := trailer[len(trailer)-TrailerSize:]
	be := binary.BigEndian
	if [4]byte(t[12:16]) != trailerMagic {
		return 0, corruptf("trailer magic %q, want %q", t[12:16], trailerMagic[:])
	}
	if sum, want := crc32c.Checksum(t[:8]), be.Uint32(t[8:12]); sum != want {
		return 0, corruptf("trailer CRC32C %#08x, stored %#08x", sum, want)
	}
	if v := be.Uint16(t[4:6]); v != Version {
		return 0, fmt.Errorf("%w: version %d (this code reads %d)", ErrUnsupported, v, Version)
	}
	if r := be.Uint16(t[6:8]); r != 0 {
		return 0, corruptf("trailer reserved field %#04x, want 0", r)
	}
	n := int64(be.Uint32(t[0:4]))
	if n < footerFixedSize || n > MaxFooterLength || (n-footerFixedSize)%EntrySize != 0 {
		return 0, corruptf("footer length %d is not %d + a multiple of %d up to %d", n, footerFixedSize, EntrySize, int64(MaxFooterLength))
	}
	return n + TrailerSize, nil
}

// DecodeFooter decodes and checks the footer of a whole object.
func DecodeFooter(obj []byte) (Footer, error) {
	return DecodeFooterTail(obj, int64(len(obj)))
}

// DecodeFooterTail decodes and checks the footer of an object of objectSize
// bytes from tail, the object's last len(tail) bytes. tail must hold at
// least FooterLength bytes; otherwise the error wraps ErrTruncated.
//
// On success the chunks tile the object's data: the first starts at 0, each
// starts where the previous ends, the last ends where the footer begins.
func DecodeFooterTail(tail []byte, objectSize int64) (Footer, error) {
	if int64(len(tail)) > objectSize {
		return Footer{}, fmt.Errorf("%w: tail of %d bytes from an object of %d", ErrInvalidInput, len(tail), objectSize)
	}
	total, err := FooterLength(tail)
	if err != nil {
		return Footer{}, err
	}
	if total > objectSize {
		return Footer{}, corruptf("footer and trailer of %d bytes in an object of %d", total, objectSize)
	}
	if total > int64(len(tail)) {
		return Footer{}, fmt.Errorf("%w: footer and trailer need the last %d bytes, have %d", ErrTruncated, total, len(tail))
	}
	footer := tail[int64(len(tail))-total : int64(len(tail))-TrailerSize]
	be := binary.BigEndian
	body, sum := footer[:len(footer)-4], be.Uint32(footer[len(footer)-4:])
	if got := crc32c.Checksum(body); got != sum {
		return Footer{}, corruptf("footer CRC32C %#08x, stored %#08x", got, sum)
	}
	if [4]byte(body[0:4]) != footerMagic {
		return Footer{}, corruptf("footer magic %q, want %q", body[0:4], footerMagic[:])
	}
	if v := be.Uint16(body[4:6]); v != Version {
		return Footer{}, corruptf("footer version %d differs from trailer version %d", v, Version)
	}
	level, flags := body[6], body[7]
	if level > Level1 {
		return Footer{}, corruptf("level %d", level)
	}
	if flags != 0 {
		return Footer{}, corruptf("footer flags %#02x, want 0", flags)
	}
	n := int(be.Uint32(body[8:12]))
	if want := (len(footer) - footerFixedSize) / EntrySize; n != want {
		return Footer{}, corruptf("chunk count %d, footer length says %d", n, want)
	}
	f := Footer{Level: level, Chunks: make([]ChunkInfo, n)}
	for i := range f.Chunks {
		e := body[footerHeaderSize+i*EntrySize:][:EntrySize]
		f.Chunks[i] = ChunkInfo{
			TopicID:      [16]byte(e[entTopicID:]),
			Partition:    int32(be.Uint32(e[entPartition:])),
			BaseOffset:   int64(be.Uint64(e[entBaseOffset:])),
			Batches:      int32(be.Uint32(e[entBatches:])),
			Records:      int64(be.Uint64(e[entRecords:])),
			MinTimestamp: int64(be.Uint64(e[entMinTimestamp:])),
			MaxTimestamp: int64(be.Uint64(e[entMaxTimestamp:])),
			Start:        int64(be.Uint64(e[entStart:])),
			Length:       int64(be.Uint64(e[entLength:])),
			RawLength:    int64(be.Uint64(e[entRawLength:])),
			CRC:          be.Uint32(e[entCRC:]),
		}
	}
	if err := checkChunks(level, f.Chunks, corruptf); err != nil {
		return Footer{}, err
	}
	if err := checkLayout(f.Chunks, objectSize-total); err != nil {
		return Footer{}, err
	}
	return f, nil
}

// checkChunks applies the per-chunk and per-level rules shared by Encode
// (for its inputs) and DecodeFooter. fail builds the error.
func checkChunks(level uint8, chunks []ChunkInfo, fail func(string, ...any) error) error {
	if len(chunks) > MaxChunks {
		return fail("%d chunks, at most %d", len(chunks), MaxChunks)
	}
	type key struct {
		topic     [16]byte
		partition int32
	}
	// seen holds the partitions met so far: every chunk's in level 0, the
	// first chunk of each run in level 1.
	var seen map[key]struct{}
	if len(chunks) > 1 {
		seen = make(map[key]struct{})
	}
	for i, c := range chunks {
		switch {
		case c.RawLength < 0 || c.RawLength > MaxChunkRawLength:
			return fail("chunk %d: raw length %d outside [0, %d]", i, c.RawLength, MaxChunkRawLength)
		case c.Batches < 0:
			return fail("chunk %d: %d batches", i, c.Batches)
		case c.Records < int64(c.Batches):
			return fail("chunk %d: %d records in %d batches", i, c.Records, c.Batches)
		case int64(c.Batches)*minBatchSize > c.RawLength:
			return fail("chunk %d: %d batches cannot fit in %d bytes", i, c.Batches, c.RawLength)
		}
		switch level {
		case Level0:
			if c.BaseOffset != -1 {
				return fail("chunk %d: base offset %d in a level 0 object, want -1", i, c.BaseOffset)
			}
			if seen != nil {
				k := key{c.TopicID, c.Partition}
				if _, dup := seen[k]; dup {
					return fail("chunk %d: second chunk of partition %x/%d in a level 0 object", i, c.TopicID, c.Partition)
				}
				seen[k] = struct{}{}
			}
		case Level1:
			if c.BaseOffset < 0 || c.BaseOffset > math.MaxInt64-c.Records {
				return fail("chunk %d: base offset %d with %d records in a level 1 object", i, c.BaseOffset, c.Records)
			}
			k := key{c.TopicID, c.Partition}
			if i == 0 || c.TopicID != chunks[i-1].TopicID || c.Partition != chunks[i-1].Partition {
				// The first chunk of a partition's run.
				if seen != nil {
					if _, dup := seen[k]; dup {
						return fail("chunk %d: partition %x/%d has a second run of chunks in a level 1 object", i, c.TopicID, c.Partition)
					}
					seen[k] = struct{}{}
				}
				continue
			}
			if p := chunks[i-1]; c.BaseOffset < p.BaseOffset+p.Records {
				return fail("chunk %d: base offset %d overlaps chunk %d ending at %d", i, c.BaseOffset, i-1, p.BaseOffset+p.Records)
			}
		default:
			return fail("level %d", level)
		}
	}
	return nil
}

// checkLayout verifies that the chunks tile [0, dataEnd).
func checkLayout(chunks []ChunkInfo, dataEnd int64) error {
	var pos int64
	for i, c := range chunks {
		if c.Start != pos {
			return corruptf("chunk %d starts at %d, want %d", i, c.Start, pos)
		}
		if c.Length <= 0 || c.Length > dataEnd-pos {
			return corruptf("chunk %d: length %d at %d in %d bytes of data", i, c.Length, c.Start, dataEnd)
		}
		pos += c.Length
	}
	if pos != dataEnd {
		return corruptf("chunks end at %d, footer starts at %d", pos, dataEnd)
	}
	return nil
}
