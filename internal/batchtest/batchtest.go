// Package batchtest builds valid, uncompressed Kafka v2 record batches for
// tests, the way a producer would send them.
package batchtest

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
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
}

// NoProducer is the Options of a non-idempotent producer.
var NoProducer = Options{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:12], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:21], crc32.Checksum(out[21:], castagnoli))
	return out
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
