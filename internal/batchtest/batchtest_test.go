package batchtest

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	b := Batch(Options{BaseTimestamp: 1000, ProducerID: 5, ProducerEpoch: 1, BaseSequence: 7}, Record{Key: []byte("k"), Value: make([]byte, 300)}, Record{Value: []byte("v2"), Timestamp: 1500})
	if crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)) != binary.BigEndian.Uint32(b[17:21]) {
		t.Fatal("crc")
	}
	h, recs := Decode(b)
	if len(recs) != 2 || string(recs[1].Value) != "v2" || len(recs[0].Value) != 300 || h.MaxTimestamp != 1500 || recs[1].OffsetDelta != 1 {
		t.Fatalf("%+v %+v", h, recs)
	}
}
