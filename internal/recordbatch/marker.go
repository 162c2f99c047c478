package recordbatch

import (
	"encoding/binary"
	"fmt"

	"github.com/stratalog/strata/internal/crc32c"
)

// A transaction marker is a control batch: attributes transactional and
// control, uncompressed, one control record, base sequence -1, and the
// producer id and epoch of the transaction it ends. Its record's key is
// (version int16 0, type int16: 0 abort, 1 commit) and its value is
// (version int16 0, coordinatorEpoch int32), as Kafka writes them.

// Control record types, the second field of a control record's key.
const (
	ControlTypeAbort  = 0
	ControlTypeCommit = 1
)

const (
	markerKeySize   = 4 // version, type
	markerValueSize = 6 // version, coordinator epoch
	// markerRecordBody is a marker record after its length varint:
	// attributes, timestampDelta 0, offsetDelta 0, keyLength, key,
	// valueLength, value, headersCount 0 (each varint one byte).
	markerRecordBody = 1 + 1 + 1 + 1 + markerKeySize + 1 + markerValueSize + 1
	// MarkerSize is the size of every marker batch.
	MarkerSize = HeaderSize + 1 + markerRecordBody
)

// Marker builds the control batch that ends producerID's transaction in a
// partition: a commit marker when commit, else an abort marker, with the
// decision's producer epoch, the coordinator's epoch and timestampMs. Its
// base offset is 0, as in a level-0 segment; the commit assigns the real
// one.
func Marker(producerID int64, epoch int16, commit bool, coordinatorEpoch int32, timestampMs int64) []byte {
	b := make([]byte, MarkerSize)
	be := binary.BigEndian
	be.PutUint32(b[offBatchLength:], uint32(MarkerSize-lengthOverhead))
	be.PutUint32(b[offLeaderEpoch:], 0)
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], attrTransactional|attrControl)
	be.PutUint32(b[offLastOffsetDelta:], 0)
	be.PutUint64(b[offBaseTimestamp:], uint64(timestampMs))
	be.PutUint64(b[offMaxTimestamp:], uint64(timestampMs))
	be.PutUint64(b[offProducerID:], uint64(producerID))
	be.PutUint16(b[offProducerEpoch:], uint16(epoch))
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offNumRecords:], 1)
	r := b[HeaderSize:]
	r[0] = zigzag(markerRecordBody)
	r[1] = 0 // attributes
	r[2] = 0 // timestampDelta
	r[3] = 0 // offsetDelta
	r[4] = zigzag(markerKeySize)
	typ := uint16(ControlTypeAbort)
	if commit {
		typ = ControlTypeCommit
	}
	be.PutUint16(r[5:], 0)
	be.PutUint16(r[7:], typ)
	r[9] = zigzag(markerValueSize)
	be.PutUint16(r[10:], 0)
	be.PutUint32(r[12:], uint32(coordinatorEpoch))
	r[16] = 0 // headersCount
	be.PutUint32(b[offCRC:], crc32c.Checksum(b[offAttributes:]))
	return b
}

// zigzag is the one-byte zigzag varint of a small non-negative n.
func zigzag(n int) byte { return byte(n << 1) }

// ParseControl reads what a checked control batch marks: the type of its
// first control record (ControlTypeAbort or ControlTypeCommit, or another
// value Kafka may define later). Kafka writes control batches uncompressed;
// a compressed one, or records that do not hold a control key, is an
// ErrRecords error.
func ParseControl(batch []byte, h Header) (int16, error) {
	if !h.IsControl() {
		return 0, fmt.Errorf("%w: not a control batch", ErrInvalid)
	}
	if h.Compression() != CompressionNone {
		return 0, fmt.Errorf("%w: compressed control batch", ErrRecords)
	}
	if len(batch) > h.Size() {
		batch = batch[:h.Size()]
	}
	if len(batch) < HeaderSize {
		return 0, fmt.Errorf("%w: control batch of %d bytes", ErrRecords, len(batch))
	}
	r := batch[HeaderSize:]
	length, n := binary.Varint(r)
	if n <= 0 || length < 0 || length > int64(len(r)-n) {
		return 0, fmt.Errorf("%w: control record length does not parse", ErrRecords)
	}
	r = r[n : n+int(length)]
	if len(r) == 0 {
		return 0, fmt.Errorf("%w: empty control record", ErrRecords)
	}
	r = r[1:] // attributes
	// timestampDelta, offsetDelta, keyLength.
	var vals [3]int64
	for i := range vals {
		v, n := binary.Varint(r)
		if n <= 0 {
			return 0, fmt.Errorf("%w: control record field %d does not parse", ErrRecords, i)
		}
		vals[i], r = v, r[n:]
	}
	if vals[2] < markerKeySize || int64(len(r)) < vals[2] {
		return 0, fmt.Errorf("%w: control record key of %d bytes", ErrRecords, vals[2])
	}
	return int16(binary.BigEndian.Uint16(r[2:])), nil
}
