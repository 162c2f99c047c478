package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/crc32c"
)

// spec describes a test batch. build encodes it the way a producer does and
// then applies raw, which may break the encoding on purpose.
type spec struct {
	values     []string
	payload    []byte // replaces the encoded records when non-nil (e.g. "compressed" bytes)
	attributes int16
	pid        int64
	epoch      int16
	seq        int32
	baseTS     int64
	// edit changes header fields before the length and CRC are computed.
	edit func(b *kmsg.RecordBatch)
	// raw changes the final bytes (after length and CRC).
	raw func(b []byte) []byte
}

func noProducer() spec { return spec{pid: -1, epoch: -1, seq: -1} }

func encodeRecords(values []string, baseTS int64) []byte {
	var body []byte
	for i, v := range values {
		rec := kmsg.Record{
			TimestampDelta64: int64(i),
			OffsetDelta:      int32(i),
			Key:              []byte(fmt.Sprintf("key-%d", i)),
			Value:            []byte(v),
		}
		// Length is the varint size of everything after the length itself.
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		for int32(len(rec.AppendTo(nil))-varintLen(rec.Length)) != rec.Length {
			rec.Length = int32(len(rec.AppendTo(nil)) - varintLen(rec.Length))
		}
		body = rec.AppendTo(body)
	}
	return body
}

func varintLen(v int32) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], int64(v))
}

func build(s spec) []byte {
	n := int32(len(s.values))
	kb := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           s.attributes,
		LastOffsetDelta:      n - 1,
		FirstTimestamp:       s.baseTS,
		MaxTimestamp:         s.baseTS + int64(n) - 1,
		ProducerID:           s.pid,
		ProducerEpoch:        s.epoch,
		FirstSequence:        s.seq,
		NumRecords:           n,
		Records:              encodeRecords(s.values, s.baseTS),
	}
	if s.payload != nil {
		kb.Records = s.payload
	}
	if s.edit != nil {
		s.edit(&kb)
	}
	b := kb.AppendTo(nil)
	fixup(b)
	if s.raw != nil {
		b = s.raw(b)
	}
	return b
}

// fixup sets the batch length and CRC of an encoded batch.
func fixup(b []byte) {
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-lengthOverhead))
	binary.BigEndian.PutUint32(b[offCRC:], crc32c.Checksum(b[offAttributes:]))
}

func values(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Repeat(string(rune('a'+i%26)), size)
	}
	return out
}

func with(s spec, f func(*spec)) spec {
	f(&s)
	return s
}

func TestParseHeaderFields(t *testing.T) {
	b := build(spec{values: []string{"x", "y", "z"}, attributes: 0x10 | 0x08, pid: 42, epoch: 3, seq: 100, baseTS: 1_700_000_000_000})
	SetBaseOffset(b, 12345)
	SetPartitionLeaderEpoch(b, 7)
	h, err := Check(b)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	want := Header{
		BaseOffset:           12345,
		BatchLength:          int32(len(b) - 12),
		PartitionLeaderEpoch: 7,
		Magic:                2,
		CRC:                  crc32c.Checksum(b[21:]),
		Attributes:           0x18,
		LastOffsetDelta:      2,
		BaseTimestamp:        1_700_000_000_000,
		MaxTimestamp:         1_700_000_000_002,
		ProducerID:           42,
		ProducerEpoch:        3,
		BaseSequence:         100,
		NumRecords:           3,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Size() != len(b) {
		t.Errorf("Size() = %d, want %d", h.Size(), len(b))
	}
	if !h.IsTransactional() || !h.LogAppendTime() || h.IsControl() || h.Compression() != CompressionNone || !h.HasProducerID() {
		t.Errorf("attribute accessors wrong for %#x", h.Attributes)
	}
	if h.OffsetCount() != 3 {
		t.Errorf("OffsetCount() = %d, want 3", h.OffsetCount())
	}
	// The same bytes through franz-go's own decoder.
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	if kb.FirstOffset != h.BaseOffset || kb.PartitionLeaderEpoch != h.PartitionLeaderEpoch || uint32(kb.CRC) != h.CRC ||
		kb.ProducerID != h.ProducerID || kb.FirstSequence != h.BaseSequence || kb.NumRecords != h.NumRecords {
		t.Errorf("kmsg disagrees: %+v vs %+v", kb, h)
	}
}

func TestCompressionAccessor(t *testing.T) {
	for codec := int16(0); codec <= 4; codec++ {
		b := build(spec{values: []string{"v"}, payload: []byte("opaque compressed bytes"), attributes: codec | 0x20, pid: -1, epoch: -1, seq: -1})
		h, err := Check(b)
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		if h.Compression() != int8(codec) || !h.IsControl() {
			t.Errorf("codec %d: Compression()=%d IsControl()=%v", codec, h.Compression(), h.IsControl())
		}
	}
}

func TestCheck(t *testing.T) {
	base := with(noProducer(), func(s *spec) { s.values = []string{"hello", "world"} })
	tests := []struct {
		name  string
		spec  spec
		err   error  // nil: valid
		field string // Error.Field when err != nil
	}{
		{name: "one record", spec: with(noProducer(), func(s *spec) { s.values = []string{"v"} })},
		{name: "many records", spec: with(noProducer(), func(s *spec) { s.values = values(500, 20) })},
		{name: "empty values", spec: with(noProducer(), func(s *spec) { s.values = []string{"", ""} })},
		{name: "idempotent producer", spec: spec{values: []string{"a", "b"}, pid: 9, epoch: 0, seq: 0}},
		{name: "idempotent high sequence", spec: spec{values: []string{"a"}, pid: 9, epoch: 32767, seq: 2147483647}},
		{name: "transactional", spec: spec{values: []string{"a"}, pid: 9, epoch: 1, seq: 5, attributes: 0x10}},
		{name: "non idempotent with odd epoch and sequence", spec: spec{values: []string{"a"}, pid: -1, epoch: 5, seq: 3}},
		{name: "zstd payload with many claimed records", spec: with(base, func(s *spec) {
			s.attributes = CompressionZstd
			s.payload = []byte{1, 2, 3}
			s.edit = func(b *kmsg.RecordBatch) { b.NumRecords, b.LastOffsetDelta = 1000, 999 }
		})},
		{name: "base offset and leader epoch not covered by CRC", spec: with(base, func(s *spec) {
			s.raw = func(b []byte) []byte { SetBaseOffset(b, 1<<40); SetPartitionLeaderEpoch(b, 99); return b }
		})},

		{name: "magic 1", spec: with(base, func(s *spec) { s.edit = func(b *kmsg.RecordBatch) { b.Magic = 1 } }), err: ErrInvalid, field: "magic"},
		{name: "magic 0 short message", spec: with(base, func(s *spec) {
			s.raw = func(b []byte) []byte { b[offMagic] = 0; return b[:30] }
		}), err: ErrInvalid, field: "magic"},
		{name: "shorter than a header", spec: with(base, func(s *spec) { s.raw = func(b []byte) []byte { return b[:HeaderSize-1] } }), err: ErrTruncated, field: "length"},
		{name: "empty input", spec: with(base, func(s *spec) { s.raw = func(b []byte) []byte { return nil } }), err: ErrTruncated, field: "length"},
		{name: "batch cut short", spec: with(base, func(s *spec) { s.raw = func(b []byte) []byte { return b[:len(b)-1] } }), err: ErrTruncated, field: "batchLength"},
		{name: "trailing bytes", spec: with(base, func(s *spec) { s.raw = func(b []byte) []byte { return append(b, 0) } }), err: ErrInvalid, field: "batchLength"},
		{name: "batchLength below minimum", spec: with(base, func(s *spec) {
			s.raw = func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 48); return b }
		}), err: ErrInvalid, field: "batchLength"},
		{name: "batchLength negative", spec: with(base, func(s *spec) {
			s.raw = func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 0xffffffff); return b }
		}), err: ErrInvalid, field: "batchLength"},
		{name: "batchLength above maximum", spec: with(base, func(s *spec) {
			s.raw = func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], MaxBatchLength+1); return b }
		}), err: ErrInvalid, field: "batchLength"},
		{name: "batchLength beyond input", spec: with(base, func(s *spec) {
			s.raw = func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], uint32(len(b))); return b }
		}), err: ErrTruncated, field: "batchLength"},
		{name: "crc field flipped", spec: with(base, func(s *spec) { s.raw = func(b []byte) []byte { b[offCRC] ^= 1; return b } }), err: ErrCorrupt, field: "crc"},
		{name: "record byte flipped", spec: with(base, func(s *spec) { s.raw = func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b } }), err: ErrCorrupt, field: "crc"},
		{name: "attributes flipped", spec: with(base, func(s *spec) { s.raw = func(b []byte) []byte { b[offAttributes+1] ^= 0x10; return b } }), err: ErrCorrupt, field: "crc"},
		{name: "producer id flipped", spec: with(base, func(s *spec) { s.raw = func(b []byte) []byte { b[offProducerID+7] ^= 2; return b } }), err: ErrCorrupt, field: "crc"},
		{name: "unknown compression", spec: with(base, func(s *spec) { s.attributes = 5 }), err: ErrInvalid, field: "attributes"},
		{name: "zero records", spec: with(base, func(s *spec) {
			s.edit = func(b *kmsg.RecordBatch) { b.NumRecords, b.LastOffsetDelta, b.Records = 0, -1, nil }
		}), err: ErrInvalid, field: "recordsCount"},
		{name: "negative records", spec: with(base, func(s *spec) { s.edit = func(b *kmsg.RecordBatch) { b.NumRecords = -1 } }), err: ErrInvalid, field: "recordsCount"},
		{name: "negative lastOffsetDelta", spec: with(base, func(s *spec) { s.edit = func(b *kmsg.RecordBatch) { b.LastOffsetDelta = -1 } }), err: ErrInvalid, field: "lastOffsetDelta"},
		{name: "lastOffsetDelta below count", spec: with(base, func(s *spec) { s.edit = func(b *kmsg.RecordBatch) { b.LastOffsetDelta = 0 } }), err: ErrInvalid, field: "lastOffsetDelta"},
		{name: "lastOffsetDelta above count", spec: with(base, func(s *spec) { s.edit = func(b *kmsg.RecordBatch) { b.LastOffsetDelta = 5 } }), err: ErrInvalid, field: "lastOffsetDelta"},
		{name: "uncompressed count larger than bytes allow", spec: with(base, func(s *spec) {
			s.edit = func(b *kmsg.RecordBatch) { b.NumRecords, b.LastOffsetDelta = 1000, 999 }
		}), err: ErrInvalid, field: "recordsCount"},
		{name: "producer id below -1", spec: spec{values: []string{"a"}, pid: -2, epoch: 0, seq: 0}, err: ErrInvalid, field: "producerId"},
		{name: "producer with negative epoch", spec: spec{values: []string{"a"}, pid: 3, epoch: -1, seq: 0}, err: ErrInvalid, field: "producerEpoch"},
		{name: "producer with negative sequence", spec: spec{values: []string{"a"}, pid: 3, epoch: 0, seq: -1}, err: ErrInvalid, field: "baseSequence"},
		{name: "transactional without producer", spec: with(base, func(s *spec) { s.attributes = 0x10 }), err: ErrInvalid, field: "producerId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := build(tt.spec)
			h, err := Check(b)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if h.Size() != len(b) || h.Magic != 2 {
					t.Fatalf("header %+v for %d bytes", h, len(b))
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("Check error %v, want %v", err, tt.err)
			}
			for _, other := range []error{ErrTruncated, ErrCorrupt, ErrInvalid} {
				if other != tt.err && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *Error", err)
			}
			if fe.Field != tt.field {
				t.Errorf("error field %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("message %q does not name the field", err)
			}
		})
	}
}

func TestParseHeaderNeedsOnlyTheHeader(t *testing.T) {
	b := build(spec{values: values(10, 100), pid: -1, epoch: -1, seq: -1})
	h, err := ParseHeader(b[:HeaderSize])
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	if h.Size() != len(b) || h.NumRecords != 10 {
		t.Errorf("header %+v, batch %d bytes", h, len(b))
	}
	// A corrupt CRC is not ParseHeader's business.
	b[offCRC] ^= 0xff
	if _, err := ParseHeader(b); err != nil {
		t.Errorf("ParseHeader with a bad CRC: %v", err)
	}
}

func TestSplit(t *testing.T) {
	var batches [][]byte
	var records []byte
	for i := range 4 {
		b := build(spec{values: values(i+1, 10*i), pid: int64(i), epoch: 0, seq: int32(10 * i)})
		batches = append(batches, b)
		records = append(records, b...)
	}

	t.Run("all", func(t *testing.T) {
		var got [][]byte
		err := Split(records, func(batch []byte, h Header) error {
			if h.Size() != len(batch) || int(h.NumRecords) != len(got)+1 {
				t.Errorf("batch %d: header %+v, %d bytes", len(got), h, len(batch))
			}
			if cap(batch) != len(batch) {
				t.Errorf("batch %d: capacity %d beyond its %d bytes", len(got), cap(batch), len(batch))
			}
			got = append(got, batch)
			return nil
		})
		if err != nil {
			t.Fatalf("Split: %v", err)
		}
		if len(got) != len(batches) {
			t.Fatalf("%d batches, want %d", len(got), len(batches))
		}
		for i := range got {
			if !bytes.Equal(got[i], batches[i]) {
				t.Errorf("batch %d differs", i)
			}
		}
	})

	t.Run("empty", func(t *testing.T) {
		calls := 0
		if err := Split(nil, func([]byte, Header) error { calls++; return nil }); err != nil || calls != 0 {
			t.Fatalf("Split(nil) = %v after %d calls", err, calls)
		}
	})

	t.Run("corrupt second batch", func(t *testing.T) {
		bad := bytes.Clone(records)
		pos := len(batches[0])
		bad[pos+len(batches[1])-1] ^= 1
		calls := 0
		err := Split(bad, func([]byte, Header) error { calls++; return nil })
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Split error %v, want ErrCorrupt", err)
		}
		if calls != 1 {
			t.Errorf("fn called %d times before the bad batch, want 1", calls)
		}
		if want := fmt.Sprintf("batch 1 at byte %d", pos); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	})

	t.Run("partial last batch", func(t *testing.T) {
		calls := 0
		err := Split(records[:len(records)-5], func([]byte, Header) error { calls++; return nil })
		if !errors.Is(err, ErrTruncated) || calls != 3 {
			t.Fatalf("Split = %v after %d calls, want ErrTruncated after 3", err, calls)
		}
		calls = 0
		err = Split(records[:len(records)-len(batches[3])+10], func([]byte, Header) error { calls++; return nil })
		if !errors.Is(err, ErrTruncated) || calls != 3 {
			t.Fatalf("Split with 10 trailing bytes = %v after %d calls, want ErrTruncated after 3", err, calls)
		}
	})

	t.Run("fn error stops and is returned", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := Split(records, func([]byte, Header) error {
			calls++
			if calls == 2 {
				return stop
			}
			return nil
		})
		if err != stop || calls != 2 {
			t.Fatalf("Split = %v after %d calls, want the fn error after 2", err, calls)
		}
	})
}

func TestSetters(t *testing.T) {
	b := build(spec{values: []string{"a"}, pid: -1, epoch: -1, seq: -1})
	before := bytes.Clone(b)
	SetBaseOffset(b, -7)
	SetPartitionLeaderEpoch(b, 1<<30)
	h, err := Check(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != -7 || h.PartitionLeaderEpoch != 1<<30 {
		t.Errorf("header %+v", h)
	}
	if !bytes.Equal(b[offMagic:], before[offMagic:]) || !bytes.Equal(b[8:12], before[8:12]) {
		t.Error("setters changed bytes outside their fields")
	}
}

// bench16K is one uncompressed batch of 16 KiB of ~200-byte records.
func bench16K() []byte {
	var vals []string
	for size := HeaderSize; size < 16<<10-260; size += 220 {
		vals = append(vals, fmt.Sprintf(`{"id":%d,"user":"u-%06d","event":"click","path":"/a/b/c","ts":1700000000000,"pad":"%s"}`,
			len(vals), len(vals)*7919, strings.Repeat("x", 100)))
	}
	return build(spec{values: vals, pid: 1, epoch: 0, seq: 0})
}

func BenchmarkCheck(b *testing.B) {
	batch := bench16K()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Check(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplit(b *testing.B) {
	one := bench16K()
	records := bytes.Repeat(one, 64) // a 1 MiB produce records field
	b.SetBytes(int64(len(records)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := Split(records, func([]byte, Header) error { n++; return nil }); err != nil || n != 64 {
			b.Fatal(err, n)
		}
	}
}

func TestPrefixWithin(t *testing.T) {
	a := build(spec{values: []string{"a"}})
	b := build(spec{values: []string{"bb", "bbb"}})
	recs := append(append([]byte(nil), a...), b...)
	for _, tc := range []struct {
		limit int64
		want  int
	}{
		{0, 0},
		{int64(len(a)) - 1, 0},
		{int64(len(a)), len(a)},
		{int64(len(recs)) - 1, len(a)},
		{int64(len(recs)), len(recs)},
		{1 << 30, len(recs)},
	} {
		if got := PrefixWithin(recs, tc.limit); got != tc.want {
			t.Errorf("PrefixWithin(limit %d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
	// A truncated last batch is never counted.
	if got := PrefixWithin(recs[:len(recs)-1], 1<<30); got != len(a) {
		t.Errorf("PrefixWithin(truncated) = %d, want %d", got, len(a))
	}
}

func TestNextOffset(t *testing.T) {
	a := build(spec{values: []string{"a"}})
	b := build(spec{values: []string{"bb", "bbb", "c"}})
	SetBaseOffset(a, 40)
	SetBaseOffset(b, 41)
	recs := append(append([]byte(nil), a...), b...)
	if next, ok := NextOffset(recs); !ok || next != 44 {
		t.Errorf("NextOffset(two batches) = %d, %v; want 44", next, ok)
	}
	if next, ok := NextOffset(recs[:len(recs)-1]); !ok || next != 41 {
		t.Errorf("NextOffset(second batch truncated) = %d, %v; want 41", next, ok)
	}
	if _, ok := NextOffset(a[:HeaderSize-1]); ok {
		t.Error("NextOffset of a partial header is ok")
	}
	if _, ok := NextOffset(nil); ok {
		t.Error("NextOffset(nil) is ok")
	}
}
