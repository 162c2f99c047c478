// Package recordbatch parses and checks Kafka v2 record batches: their
// headers without decompressing them (this file), and their records
// (records.go, the produce rule, read as a stream; decode.go, the rule of
// stored batches, decoded into kmsg.Record values).
//
// A v2 batch starts with a fixed 61-byte header (all integers big-endian):
//
//	offset size field
//	     0    8 baseOffset
//	     8    4 batchLength          bytes after this field: total size - 12
//	    12    4 partitionLeaderEpoch
//	    16    1 magic                2
//	    17    4 crc                  CRC32C (Castagnoli) of bytes 21..end
//	    21    2 attributes           bits 0-2 compression, 3 timestamp type,
//	                                 4 transactional, 5 control
//	    23    4 lastOffsetDelta
//	    27    8 baseTimestamp
//	    35    8 maxTimestamp
//	    43    8 producerId           -1: no idempotent producer
//	    51    2 producerEpoch
//	    53    4 baseSequence
//	    57    4 records count
//	    61      records
//
// The CRC does not cover baseOffset, batchLength or partitionLeaderEpoch, so
// SetBaseOffset and SetPartitionLeaderEpoch rewrite them without invalidating
// the batch.
//
// The checks are those a Kafka broker applies to a batch a client produces:
// magic 2, a length that fits, a matching CRC32C, a positive record count
// equal to lastOffsetDelta+1, and consistent producer fields. They are all
// header checks; the records are checked by WalkRecords.
package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/stratalog/strata/internal/crc32c"
)

// HeaderSize is the size of a v2 batch header, up to and including the
// records count.
const HeaderSize = 61

// MagicOffset is where the magic byte sits, in every message format.
const MagicOffset = offMagic

// Byte offsets of the header fields.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57
)

// lengthOverhead is the part of a batch not counted by batchLength:
// baseOffset and batchLength themselves.
const lengthOverhead = offLeaderEpoch

// MinBatchLength is the smallest valid batchLength: a header and no records.
const MinBatchLength = HeaderSize - lengthOverhead

// MaxBatchLength is the largest batchLength accepted, so that Size fits an
// int32 on every platform.
const MaxBatchLength = math.MaxInt32 - lengthOverhead

// minRecordSize is the smallest encoding of one record: length, attributes,
// timestampDelta, offsetDelta, key length, value length and header count,
// one byte each.
const minRecordSize = 7

// Magic is the only batch format version accepted.
const Magic = 2

// Compression codecs, the low three bits of the attributes.
const (
	CompressionNone   = 0
	CompressionGzip   = 1
	CompressionSnappy = 2
	CompressionLZ4    = 3
	CompressionZstd   = 4
)

const (
	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// NoProducerID is the producerId of a batch from a non-idempotent producer.
const NoProducerID = -1

// Sentinel errors; every error of this package wraps exactly one of them.
var (
	// ErrTruncated: the input ends before the batch does.
	ErrTruncated = errors.New("recordbatch: truncated batch")
	// ErrCorrupt: the CRC32C does not match the bytes.
	ErrCorrupt = errors.New("recordbatch: corrupt batch")
	// ErrInvalid: a field holds a value Kafka does not accept (magic,
	// lengths, counts, producer fields, compression codec).
	ErrInvalid = errors.New("recordbatch: invalid batch")
)

// Error describes which field of a batch failed which check.
type Error struct {
	Field  string // header field, e.g. "magic", "batchLength", "crc"
	Value  int64  // the value found
	Reason string // what was expected
	Err    error  // ErrTruncated, ErrCorrupt or ErrInvalid
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v: %s %d: %s", e.Err, e.Field, e.Value, e.Reason)
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

func fieldErr(kind error, field string, value int64, format string, args ...any) error {
	return &Error{Field: field, Value: value, Reason: fmt.Sprintf(format, args...), Err: kind}
}

// Header is the fixed part of a v2 record batch.
type Header struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the number of bytes of the whole batch: BatchLength + 12.
func (h Header) Size() int { return int(h.BatchLength) + lengthOverhead }

// Compression is the compression codec: CompressionNone .. CompressionZstd.
func (h Header) Compression() int8 { return int8(h.Attributes & attrCompressionMask) }

// IsTransactional reports whether the batch belongs to a transaction.
func (h Header) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports whether the batch holds control records (transaction
// markers).
func (h Header) IsControl() bool { return h.Attributes&attrControl != 0 }

// LogAppendTime reports whether the batch's timestamps are the broker's
// append time rather than the producer's create time.
func (h Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// HasProducerID reports whether the batch comes from an idempotent producer.
func (h Header) HasProducerID() bool { return h.ProducerID >= 0 }

// OffsetCount is the number of offsets the batch occupies: LastOffsetDelta+1.
func (h Header) OffsetCount() int64 { return int64(h.LastOffsetDelta) + 1 }

// ParseHeader decodes the header at the start of b and checks its fields.
// It reads only the first HeaderSize bytes: it neither requires the rest of
// the batch to be present nor verifies the CRC (see Check).
func ParseHeader(b []byte) (Header, error) {
	h, err := parse(b)
	if err != nil {
		return h, err
	}
	return h, h.validateFields()
}

// ParseSize decodes the header at the start of b and checks what is
// needed to find the batch's end: the magic, the header length and
// batchLength. Verify checks the rest.
func ParseSize(b []byte) (Header, error) { return parse(b) }

// parse is ParseSize.
func parse(b []byte) (Header, error) {
	var h Header
	// Report a wrong magic before a short input, so that an old-format
	// message set shorter than a v2 header gets the clearer error.
	if len(b) > offMagic {
		if m := int8(b[offMagic]); m != Magic {
			return h, fieldErr(ErrInvalid, "magic", int64(m), "only magic %d record batches are supported", Magic)
		}
	}
	if len(b) < HeaderSize {
		return h, fieldErr(ErrTruncated, "length", int64(len(b)), "a batch header needs %d bytes", HeaderSize)
	}
	be := binary.BigEndian
	h = Header{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(be.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}
	switch {
	case h.BatchLength < MinBatchLength:
		return h, fieldErr(ErrInvalid, "batchLength", int64(h.BatchLength), "below the minimum %d", MinBatchLength)
	case h.BatchLength > MaxBatchLength:
		return h, fieldErr(ErrInvalid, "batchLength", int64(h.BatchLength), "above the maximum %d", MaxBatchLength)
	}
	return h, nil
}

// validateFields checks the fields that do not locate the batch.
func (h Header) validateFields() error {
	switch {
	case h.Compression() > CompressionZstd:
		return fieldErr(ErrInvalid, "attributes", int64(h.Attributes), "unknown compression codec %d", h.Compression())
	case h.NumRecords <= 0:
		return fieldErr(ErrInvalid, "recordsCount", int64(h.NumRecords), "a batch must hold at least one record")
	case h.LastOffsetDelta < 0:
		return fieldErr(ErrInvalid, "lastOffsetDelta", int64(h.LastOffsetDelta), "must not be negative")
	case int64(h.LastOffsetDelta) != int64(h.NumRecords)-1:
		return fieldErr(ErrInvalid, "lastOffsetDelta", int64(h.LastOffsetDelta),
			"inconsistent with recordsCount %d (want recordsCount-1)", h.NumRecords)
	case h.Compression() == CompressionNone &&
		int64(h.NumRecords)*minRecordSize > int64(h.BatchLength)-MinBatchLength:
		return fieldErr(ErrInvalid, "recordsCount", int64(h.NumRecords),
			"%d bytes of uncompressed records cannot hold that many records", int64(h.BatchLength)-MinBatchLength)
	case h.ProducerID < NoProducerID:
		return fieldErr(ErrInvalid, "producerId", h.ProducerID, "must be %d (none) or non-negative", NoProducerID)
	case h.ProducerID >= 0 && h.ProducerEpoch < 0:
		return fieldErr(ErrInvalid, "producerEpoch", int64(h.ProducerEpoch), "must not be negative with producerId %d", h.ProducerID)
	case h.ProducerID >= 0 && h.BaseSequence < 0 && !(h.IsControl() && h.BaseSequence == -1):
		// A transaction marker carries no sequence: Kafka writes -1.
		return fieldErr(ErrInvalid, "baseSequence", int64(h.BaseSequence), "must not be negative with producerId %d", h.ProducerID)
	case h.IsTransactional() && h.ProducerID < 0:
		return fieldErr(ErrInvalid, "producerId", h.ProducerID, "a transactional batch needs a producer id")
	}
	return nil
}

// Check verifies that batch holds exactly one whole v2 batch: a length equal
// to len(batch), the CRC32C, and the field checks of ParseHeader. The CRC is
// verified before the other fields, so damaged bytes report ErrCorrupt and
// ErrInvalid means a well-formed batch that Kafka would refuse.
func Check(batch []byte) (Header, error) {
	h, err := parse(batch)
	if err != nil {
		return h, err
	}
	return h, verify(batch, h)
}

// Verify checks the length, CRC and fields of batch, whose header h
// ParseSize returned.
func Verify(batch []byte, h Header) error { return verify(batch, h) }

// verify is Verify.
func verify(batch []byte, h Header) error {
	switch size := h.Size(); {
	case len(batch) < size:
		return fieldErr(ErrTruncated, "batchLength", int64(h.BatchLength), "batch needs %d bytes, have %d", size, len(batch))
	case len(batch) > size:
		return fieldErr(ErrInvalid, "batchLength", int64(h.BatchLength), "batch is %d bytes but %d were given", size, len(batch))
	}
	if sum := crc32c.Checksum(batch[offAttributes:]); sum != h.CRC {
		return fieldErr(ErrCorrupt, "crc", int64(h.CRC), "computed CRC32C is %d", sum)
	}
	return h.validateFields()
}

// Split calls fn for every batch of a Produce request's records field, in
// order, after checking it with Check. batch is a sub-slice of records
// (capacity limited to the batch). It stops at the first error: a batch that
// fails its checks (wrapped with its index and byte position) or an error
// from fn (returned unchanged). Bytes at the end that do not make a whole
// batch are an ErrTruncated error. An empty records field calls fn never
// and returns nil.
func Split(records []byte, fn func(batch []byte, h Header) error) error {
	for i, off := 0, 0; off < len(records); i++ {
		rest := records[off:]
		h, err := parse(rest)
		if err != nil {
			return fmt.Errorf("batch %d at byte %d: %w", i, off, err)
		}
		size := min(h.Size(), len(rest))
		batch := rest[:size:size]
		if err := verify(batch, h); err != nil {
			return fmt.Errorf("batch %d at byte %d: %w", i, off, err)
		}
		if err := fn(batch, h); err != nil {
			return err
		}
		off += size
	}
	return nil
}

// PrefixWithin returns the length of the longest run of whole batches at
// the start of records that fits in limit bytes. It reads only the length
// fields: records must be batches already checked.
func PrefixWithin(records []byte, limit int64) int {
	n := 0
	for n+lengthOverhead <= len(records) {
		size := lengthOverhead + int(binary.BigEndian.Uint32(records[n+offBatchLength:]))
		if size < HeaderSize || n+size > len(records) || int64(n+size) > limit {
			break
		}
		n += size
	}
	return n
}

// NextOffset returns the offset after the last whole batch of records:
// its base offset plus its last offset delta plus one. It reads only the
// headers' offset fields: records must be batches already checked. ok is
// false when records holds no whole batch.
func NextOffset(records []byte) (next int64, ok bool) {
	n := PrefixWithin(records, int64(len(records)))
	last := -1
	for off := 0; off < n; {
		last = off
		off += lengthOverhead + int(binary.BigEndian.Uint32(records[off+offBatchLength:]))
	}
	if last < 0 {
		return 0, false
	}
	b := records[last:]
	return int64(binary.BigEndian.Uint64(b[offBaseOffset:])) + int64(int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))) + 1, true
}

// SetLogAppendTime marks a checked batch's timestamps as the broker's log
// append time ts, as a Kafka broker does for topics whose
// message.timestamp.type is LogAppendTime: the timestamp type attribute
// and MaxTimestamp change, and the CRC, which covers both, is computed
// again. Readers then take ts as every record's timestamp.
func SetLogAppendTime(batch []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[offAttributes:]) | attrLogAppendTime
	binary.BigEndian.PutUint16(batch[offAttributes:], attrs)
	binary.BigEndian.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(batch[offCRC:], crc32c.Checksum(batch[offAttributes:]))
}

// SetBaseOffset writes the base offset into a batch's header. The CRC does
// not cover it. batch must hold at least 8 bytes.
func SetBaseOffset(batch []byte, off int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch writes the partition leader epoch into a batch's
// header. The CRC does not cover it. batch must hold at least 16 bytes.
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(epoch))
}
