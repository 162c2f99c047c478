package recordbatch

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Two rules for the records of a batch, one for each side of the store:
//
//   - The produce rule, WalkRecords: what a Kafka broker asks of the
//     records a client sends. Every record's fields fill its length
//     exactly, and the offset deltas are 0, 1, 2, ... . Ingest admits a
//     batch only when it holds.
//   - The stored rule, DecodeRecords and EachRecord: what reading a
//     stored batch needs. Every record parses within its length, and the
//     offset deltas increase and stay within lastOffsetDelta, so that each
//     record's offset lies inside its batch and after the one before. A
//     record's fields need not fill its length, and a length below -1
//     reads as null. Batches stored before ingest walked their records
//     were checked by their headers only; the stored rule reads what the
//     compactor has always accepted of them, and refuses only records it
//     could not place at an offset.
//
// On a batch that passed Check, whose records count is lastOffsetDelta+1,
// offset deltas that increase within lastOffsetDelta can only be 0, 1,
// 2, ...: the two rules differ in how each record must parse, not in the
// offsets they allow.

// Record is one record of a stored batch, decoded by DecodeRecords or
// EachRecord. Its key, value and header values alias the batch's records
// section (decompressed, when the batch is compressed).
type Record struct {
	kmsg.Record
	Offset    int64 // absolute: the batch's first offset plus OffsetDelta
	Timestamp int64 // ms: BaseTimestamp plus TimestampDelta, or MaxTimestamp for LogAppendTime
}

// Tombstone reports whether the record's value is null: on a compacted
// topic, a delete marker for its key.
func (r *Record) Tombstone() bool { return r.Value == nil }

// DecodeRecords decompresses a stored batch with header h (the batch
// passed Check) and decodes all of its records by the stored rule; base is
// the batch's absolute first offset, which a level-0 batch does not carry.
// There must be exactly h.NumRecords records, filling the records section
// exactly. Every error wraps ErrRecords.
func DecodeRecords(dec kgo.Decompressor, batch []byte, h Header, base int64) ([]Record, error) {
	d, err := openRecords(dec, batch, h, base)
	if err != nil {
		return nil, err
	}
	// Allocate for the records the bytes can hold, not for what the
	// header claims.
	recs := make([]Record, 0, min(int(h.NumRecords), len(d.body)/minRecordSize+1))
	for d.i < h.NumRecords {
		recs = append(recs, Record{})
		if err := d.next(&recs[len(recs)-1]); err != nil {
			return nil, err
		}
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return recs, nil
}

// EachRecord is DecodeRecords one record at a time: fn sees each record in
// order and returns false to stop, and the checks stop with it. The record
// fn sees is overwritten after fn returns; a copy of it (r2 := *r) stays
// valid, since its fields alias the batch rather than r.
func EachRecord(dec kgo.Decompressor, batch []byte, h Header, base int64, fn func(r *Record) bool) error {
	d, err := openRecords(dec, batch, h, base)
	if err != nil {
		return err
	}
	var r Record
	for d.i < h.NumRecords {
		r = Record{}
		if err := d.next(&r); err != nil {
			return err
		}
		if !fn(&r) {
			return nil
		}
	}
	return d.end()
}

// recordDecoder decodes a batch's records section, one record at a time.
type recordDecoder struct {
	body []byte // the records section, decompressed
	h    Header
	base int64
	pos  int   // start of record i in body
	i    int32 // records decoded
	prev int32 // offset delta of the last record decoded, -1 before the first
}

func openRecords(dec kgo.Decompressor, batch []byte, h Header, base int64) (recordDecoder, error) {
	if len(batch) < HeaderSize {
		return recordDecoder{}, fmt.Errorf("%w: batch at %d: %d bytes", ErrRecords, base, len(batch))
	}
	body := batch[HeaderSize:]
	if h.Compression() != CompressionNone {
		var err error
		if body, err = dec.Decompress(body, kgo.CompressionCodecType(h.Compression())); err != nil {
			return recordDecoder{}, fmt.Errorf("%w: decompress batch at %d: %w", ErrRecords, base, err)
		}
	}
	if h.NumRecords < 0 || int64(h.NumRecords) > int64(len(body)) {
		return recordDecoder{}, fmt.Errorf("%w: batch at %d: %d records in %d bytes", ErrRecords, base, h.NumRecords, len(body))
	}
	return recordDecoder{body: body, h: h, base: base, prev: -1}, nil
}

// next decodes the next record into r, which must be zero: a record's
// headers reuse the slice they are decoded into.
func (d *recordDecoder) next(r *Record) error {
	if d.pos == len(d.body) {
		return fmt.Errorf("%w: batch at %d: %d records of the %d claimed", ErrRecords, d.base, d.i, d.h.NumRecords)
	}
	length, n := binary.Varint(d.body[d.pos:])
	if n <= 0 || length < 0 || length > int64(len(d.body)-d.pos-n) {
		return fmt.Errorf("%w: batch at %d: record %d: bad length", ErrRecords, d.base, d.i)
	}
	end := d.pos + n + int(length)
	if err := r.Record.ReadFrom(d.body[d.pos:end]); err != nil {
		return fmt.Errorf("%w: batch at %d: record %d: %w", ErrRecords, d.base, d.i, err)
	}
	if r.OffsetDelta <= d.prev || r.OffsetDelta > d.h.LastOffsetDelta {
		return fmt.Errorf("%w: batch at %d: record %d has offset delta %d after %d (last %d)", ErrRecords, d.base, d.i, r.OffsetDelta, d.prev, d.h.LastOffsetDelta)
	}
	d.prev = r.OffsetDelta
	r.Offset = d.base + int64(r.OffsetDelta)
	r.Timestamp = d.h.BaseTimestamp + r.TimestampDelta64
	if d.h.LogAppendTime() {
		r.Timestamp = d.h.MaxTimestamp
	}
	d.pos = end
	d.i++
	return nil
}

// end checks that nothing follows the last record.
func (d *recordDecoder) end() error {
	if d.pos != len(d.body) {
		return fmt.Errorf("%w: batch at %d: %d bytes after the last record", ErrRecords, d.base, len(d.body)-d.pos)
	}
	return nil
}
