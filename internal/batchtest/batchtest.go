// Package batchtest builds valid, uncompressed Kafka v2 record batches for
// tests, the way a producer would send them.
package batchtest

import (
	"bytes"
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/crc32c"
)

// Record is one record of a test batch.
type Record struct {
	Key, Value []byte
	Headers    []kmsg.Header
	// Timestamp in ms; 0 means the batch's base timestamp.
	Timestamp int64
}

// Options are the producer fields of a batch.
type Options struct {
	BaseTimestamp int64 // ms
	ProducerID    int64 // -1 for a non-idempotent producer
	ProducerEpoch int16
	BaseSequence  int32
	Transactional bool // the transactional attribute (bit 4)
}

// NoProducer is the Options of a non-idempotent producer.
var NoProducer = Options{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}

// Batch encodes records as one v2 batch with base offset 0 and a valid CRC.
func Batch(o Options, recs ...Record) []byte {
	var body []byte
	maxTS := o.BaseTimestamp
	for n, r := range recs {
		ts := r.Timestamp
		if ts == 0 {
			ts = o.BaseTimestamp
		}
		maxTS = max(maxTS, ts)
		rec := kmsg.Record{
			TimestampDelta64: ts - o.BaseTimestamp,
			OffsetDelta:      int32(n),
			Key:              r.Key,
			Value:            r.Value,
			Headers:          r.Headers,
		}
		// Length is the varint-encoded size of everything after it.
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		for int32(len(rec.AppendTo(nil))-varintLen(rec.Length)) != rec.Length {
			rec.Length = int32(len(rec.AppendTo(nil)) - varintLen(rec.Length))
		}
		body = rec.AppendTo(body)
	}
	b := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       o.BaseTimestamp,
		MaxTimestamp:         maxTS,
		ProducerID:           o.ProducerID,
		ProducerEpoch:        o.ProducerEpoch,
		FirstSequence:        o.BaseSequence,
		NumRecords:           int32(len(recs)),
		Records:              body,
	}
	if o.Transactional {
		b.Attributes |= 0x10
	}
	return Reseal(b.AppendTo(nil))
}

// Values is a shorthand: one record per value, no keys.
func Values(o Options, values ...string) []byte {
	recs := make([]Record, len(values))
	for n, v := range values {
		recs[n] = Record{Value: []byte(v)}
	}
	return Batch(o, recs...)
}

// Decode returns the records of an uncompressed batch (test helper: panics
// on a malformed batch).
func Decode(batch []byte) (kmsg.RecordBatch, []kmsg.Record) {
	var b kmsg.RecordBatch
	if err := b.ReadFrom(batch); err != nil {
		panic(err)
	}
	recs := make([]kmsg.Record, b.NumRecords)
	rest := b.Records
	for n := range recs {
		l, sz := binary.Varint(rest)
		if sz <= 0 {
			panic("batchtest: bad record length")
		}
		if err := recs[n].ReadFrom(rest[:sz+int(l)]); err != nil {
			panic(err)
		}
		rest = rest[sz+int(l):]
	}
	return b, recs
}

func varintLen(v int32) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], int64(v))
}

// Compress returns batch with its records compressed with codec
// (1 gzip, 2 snappy, 3 lz4, 4 zstd) by franz-go's compressor, as a
// producer sends them, and its length, attributes and CRC updated.
func Compress(batch []byte, codec int8) []byte {
	var c kgo.CompressionCodec
	switch codec {
	case 1:
		c = kgo.GzipCompression()
	case 2:
		c = kgo.SnappyCompression()
	case 3:
		c = kgo.Lz4Compression()
	case 4:
		c = kgo.ZstdCompression()
	default:
		panic("batchtest: unknown codec")
	}
	comp, err := kgo.DefaultCompressor(c)
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	body, used := comp.Compress(&buf, batch[headerSize:])
	if int8(used) != codec {
		panic("batchtest: compressed with another codec")
	}
	out := append(append([]byte(nil), batch[:headerSize]...), body...)
	attrs := binary.BigEndian.Uint16(out[21:])&^0x07 | uint16(codec)
	binary.BigEndian.PutUint16(out[21:], attrs)
	return Reseal(out)
}

// Header fields a test may rewrite with SetCounts.
const (
	headerSize         = 61
	offLastOffsetDelta = 23
	offNumRecords      = 57
)

// SetCounts rewrites a batch's lastOffsetDelta and records count, as a
// client lying about its records would, and reseals it.
func SetCounts(batch []byte, lastOffsetDelta, numRecords int32) []byte {
	out := append([]byte(nil), batch...)
	binary.BigEndian.PutUint32(out[offLastOffsetDelta:], uint32(lastOffsetDelta))
	binary.BigEndian.PutUint32(out[offNumRecords:], uint32(numRecords))
	return Reseal(out)
}

// Reseal sets a batch's length field from its size and computes its CRC
// again, after a test changed its bytes.
func Reseal(batch []byte) []byte {
	binary.BigEndian.PutUint32(batch[8:12], uint32(len(batch)-12))
	binary.BigEndian.PutUint32(batch[17:21], crc32c.Checksum(batch[21:]))
	return batch
}
