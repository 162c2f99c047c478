package txn

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/crc32c"
)

// markerBatch is the control batch that ends a producer's transaction in
// one partition, in the wire format of the contract in
// docs/transactions.md: attributes transactional and control,
// uncompressed, one control record whose key is (version 0, type 0 abort
// or 1 commit) and whose value is (version 0, coordinator epoch), base
// sequence -1, base offset 0 (the commit assigns the real one).
//
// It stands in for recordbatch.Marker, which builds the same bytes, until
// both are on one branch; then this file goes.
func markerBatch(producerID int64, epoch int16, commit bool, coordinatorEpoch int32, timestampMs int64) []byte {
	key := make([]byte, 4)
	if commit {
		binary.BigEndian.PutUint16(key[2:], 1)
	}
	value := make([]byte, 6)
	binary.BigEndian.PutUint32(value[2:], uint32(coordinatorEpoch))
	rec := kmsg.Record{Key: key, Value: value}
	// The record's length varint counts what follows it; it is one byte
	// here, 0 on the first encoding as on the second.
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	records := rec.AppendTo(nil)
	b := kmsg.RecordBatch{
		Magic:                2,
		Attributes:           0x10 | 0x20, // transactional, control
		FirstTimestamp:       timestampMs,
		MaxTimestamp:         timestampMs,
		ProducerID:           producerID,
		ProducerEpoch:        epoch,
		FirstSequence:        -1,
		NumRecords:           1,
		Records:              records,
		PartitionLeaderEpoch: 0,
	}
	// Length counts from the leader epoch (byte 12) on.
	b.Length = int32(49 + len(records))
	out := b.AppendTo(nil)
	// The CRC covers everything from the attributes (byte 21) on.
	binary.BigEndian.PutUint32(out[17:], crc32c.Checksum(out[21:]))
	return out
}
