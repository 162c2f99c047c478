package compactor

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/crc32c"
	"github.com/stratalog/strata/internal/recordbatch"
)

// record is one record of a batch, decoded by the rule of stored batches
// (recordbatch.DecodeRecords): the records must be exactly NumRecords,
// with offset deltas increasing and within lastOffsetDelta, and fill the
// records section exactly.
type record = recordbatch.Record

const attrCompressionMask = 0x07

// encodeRun writes records of consecutive offsets, taken from the batch
// with header h, as one uncompressed v2 batch: the same producer, epoch and
// attributes (less the compression), base timestamp and, for records that
// carry their own times, the largest of them as max timestamp. Its base
// sequence is that of the first record. The offsets and the leader epoch
// are written in.
func encodeRun(dst []byte, h recordbatch.Header, recs []record, leaderEpoch int32) []byte {
	start := len(dst)
	first := recs[0]
	maxTS := h.MaxTimestamp
	if !h.LogAppendTime() {
		maxTS = first.Timestamp
		for _, r := range recs[1:] {
			maxTS = max(maxTS, r.Timestamp)
		}
	}
	seq := h.BaseSequence
	if h.ProducerID >= 0 && seq >= 0 {
		// Sequences wrap from the largest int32 to 0.
		seq = int32((int64(seq) + int64(first.OffsetDelta)) % (1 << 31))
	}
	be := binary.BigEndian
	dst = be.AppendUint64(dst, uint64(first.Offset))
	dst = be.AppendUint32(dst, 0) // batch length, below
	dst = be.AppendUint32(dst, uint32(leaderEpoch))
	dst = append(dst, recordbatch.Magic)
	dst = be.AppendUint32(dst, 0) // CRC, below
	dst = be.AppendUint16(dst, uint16(h.Attributes&^attrCompressionMask))
	dst = be.AppendUint32(dst, uint32(len(recs)-1))
	dst = be.AppendUint64(dst, uint64(h.BaseTimestamp))
	dst = be.AppendUint64(dst, uint64(maxTS))
	dst = be.AppendUint64(dst, uint64(h.ProducerID))
	dst = be.AppendUint16(dst, uint16(h.ProducerEpoch))
	dst = be.AppendUint32(dst, uint32(seq))
	dst = be.AppendUint32(dst, uint32(len(recs)))
	for i := range recs {
		r := recs[i].Record
		r.OffsetDelta = int32(i)
		r.TimestampDelta = int32(r.TimestampDelta64)
		dst = appendRecord(dst, &r)
	}
	b := dst[start:]
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[17:], crc32c.Checksum(b[21:]))
	return dst
}

// appendRecord appends r with its length prefix computed.
func appendRecord(dst []byte, r *kmsg.Record) []byte {
	r.Length = 0
	mark := len(dst)
	dst = r.AppendTo(dst)
	body := len(dst) - mark - 1 // AppendTo wrote a one-byte length 0
	var lb [binary.MaxVarintLen32]byte
	n := binary.PutVarint(lb[:], int64(body))
	if n == 1 {
		dst[mark] = lb[0]
		return dst
	}
	dst = append(dst, lb[:n-1]...)
	copy(dst[mark+n:], dst[mark+1:mark+1+body])
	copy(dst[mark:], lb[:n])
	return dst
}

// filterBatch applies keep to the records of b. It returns b's bytes as
// they are (nil, false) when every record stays, and otherwise the kept
// records rewritten as uncompressed batches, one per run of consecutive
// offsets (a v2 batch's offsets have no gaps), appended to dst, and how
// many records went.
func filterBatch(dst []byte, dec kgo.Decompressor, b *batch, leaderEpoch int32, keep func(*record) bool) (out []byte, removed int, changed bool, err error) {
	recs, err := recordbatch.DecodeRecords(dec, b.data, b.h, b.base)
	if err != nil {
		return dst, 0, false, err
	}
	kept := recs[:0:0]
	keptAll := true
	for i := range recs {
		if keep(&recs[i]) {
			kept = append(kept, recs[i])
		} else {
			keptAll = false
			removed++
		}
	}
	if keptAll {
		return dst, 0, false, nil
	}
	for i := 0; i < len(kept); {
		j := i + 1
		for j < len(kept) && kept[j].Offset == kept[j-1].Offset+1 {
			j++
		}
		dst = encodeRun(dst, b.h, kept[i:j], leaderEpoch)
		i = j
	}
	return dst, removed, true, nil
}
