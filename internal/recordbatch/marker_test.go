package recordbatch_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/recordbatch"
)

// TestMarkerDecodesAsKafkaControlBatch decodes a marker with kmsg, as a
// client does, and checks every field a client's read_committed logic
// reads: the control and transactional attributes, the producer, the
// control record's key (version 0, type) and value (version 0,
// coordinator epoch).
func TestMarkerDecodesAsKafkaControlBatch(t *testing.T) {
	for _, commit := range []bool{false, true} {
		b := recordbatch.Marker(7001, 3, commit, 42, 1_700_000_000_123)
		if len(b) != recordbatch.MarkerSize {
			t.Fatalf("marker of %d bytes, MarkerSize %d", len(b), recordbatch.MarkerSize)
		}
		h, err := recordbatch.Check(b)
		if err != nil {
			t.Fatalf("commit=%v: Check: %v", commit, err)
		}
		if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 7001 || h.ProducerEpoch != 3 || h.BaseSequence != -1 {
			t.Fatalf("commit=%v: header %+v", commit, h)
		}
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil {
			t.Fatalf("kmsg: %v", err)
		}
		if kb.Attributes&0x30 != 0x30 || kb.Attributes&0x07 != 0 || kb.NumRecords != 1 || kb.LastOffsetDelta != 0 ||
			kb.FirstTimestamp != 1_700_000_000_123 || kb.MaxTimestamp != 1_700_000_000_123 {
			t.Fatalf("kmsg batch %+v", kb)
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(kb.Records); err != nil {
			t.Fatalf("kmsg record: %v", err)
		}
		if int(rec.Length) != len(kb.Records)-1 {
			t.Fatalf("record length %d of %d bytes", rec.Length, len(kb.Records))
		}
		var key kmsg.ControlRecordKey
		if err := key.ReadFrom(rec.Key); err != nil {
			t.Fatalf("control key: %v", err)
		}
		want := kmsg.ControlRecordKeyTypeAbort
		if commit {
			want = kmsg.ControlRecordKeyTypeCommit
		}
		if key.Version != 0 || key.Type != want {
			t.Fatalf("commit=%v: control key %+v", commit, key)
		}
		if len(rec.Value) != 6 || binary.BigEndian.Uint16(rec.Value) != 0 || int32(binary.BigEndian.Uint32(rec.Value[2:])) != 42 {
			t.Fatalf("control value %x", rec.Value)
		}
		typ, err := recordbatch.ParseControl(b, h)
		if err != nil || typ != int16(want) {
			t.Fatalf("ParseControl = %d, %v; want %d", typ, err, want)
		}
	}
}

// TestParseControlRefusesWhatIsNotAMarker: a batch of records, a
// compressed control batch and a truncated record are errors, not a type.
func TestParseControlRefusesWhatIsNotAMarker(t *testing.T) {
	b := recordbatch.Marker(1, 0, true, 0, 0)
	h, err := recordbatch.Check(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recordbatch.ParseControl(b[:recordbatch.HeaderSize+3], h); !errors.Is(err, recordbatch.ErrRecords) {
		t.Errorf("truncated: %v", err)
	}
	hc := h
	hc.Attributes |= recordbatch.CompressionGzip
	if _, err := recordbatch.ParseControl(b, hc); !errors.Is(err, recordbatch.ErrRecords) {
		t.Errorf("compressed: %v", err)
	}
	hd := h
	hd.Attributes &^= 0x20
	if _, err := recordbatch.ParseControl(b, hd); !errors.Is(err, recordbatch.ErrInvalid) {
		t.Errorf("records: %v", err)
	}
}
