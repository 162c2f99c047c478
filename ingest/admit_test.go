package ingest_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
)

// TestAdmissionRefusesWhatKafkaRefuses: each kind of bad batch fails its
// partition with the error the front door maps to Kafka's code, and
// nothing of it is stored.
func TestAdmissionRefusesWhatKafkaRefuses(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, nil)
	topic := e.topic(t, "admission", 1)
	keyed := batchtest.Batch(batchtest.NoProducer, batchtest.Record{Key: []byte("a"), Value: []byte("1")}, batchtest.Record{Key: []byte{}, Value: nil})
	keyless := batchtest.Batch(batchtest.NoProducer, batchtest.Record{Key: []byte("a")}, batchtest.Record{Value: []byte("no key")})
	old := append([]byte(nil), keyed...)
	old[recordbatch.MagicOffset] = 1
	compact := ingest.Admission{RequireKeys: true}
	cases := []struct {
		name    string
		records []byte
		adm     ingest.Admission
		want    error
	}{
		{"empty", nil, ingest.Admission{}, ingest.ErrInvalidRecords},
		{"old format", old, ingest.Admission{}, ingest.ErrOldFormat},
		{"larger than max.message.bytes", keyed, ingest.Admission{MaxBatchBytes: len(keyed) - 1}, ingest.ErrBatchTooLarge},
		{"zstd before Produce v7", batchtest.Compress(keyed, 4), ingest.Admission{NoZstd: true}, ingest.ErrUnsupportedCompression},
		{"keyless on a compacted topic", keyless, compact, ingest.ErrInvalidRecords},
		{"keyless in the second batch", append(append([]byte(nil), keyed...), keyless...), compact, ingest.ErrInvalidRecords},
		{"keyless, compressed", batchtest.Compress(keyless, 4), compact, ingest.ErrInvalidRecords},
		{"keyless, every codec", batchtest.Compress(keyless, 1), compact, ingest.ErrInvalidRecords},
		{"truncated", keyed[:len(keyed)-1], compact, ingest.ErrCorruptBatch},
		{"not zstd", withCodec(keyed, 4), ingest.Admission{}, ingest.ErrCorruptBatch},
		{"claims more records", batchtest.SetCounts(batchtest.Compress(keyed, 2), 2, 3), ingest.Admission{}, ingest.ErrInvalidRecords},
	}
	for _, tc := range cases {
		res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: tc.records, Admission: tc.adm})
		if !errors.Is(res[0].Err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, res[0].Err, tc.want)
		}
	}
	// A compacted topic takes keyed records, the empty key included, in
	// any codec.
	for _, codec := range []int8{0, 1, 2, 3, 4} {
		records := keyed
		if codec != 0 {
			records = batchtest.Compress(keyed, codec)
		}
		res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: records, Admission: compact})
		if res[0].Err != nil || res[0].BaseOffset != int64(2*codec) {
			t.Errorf("keyed batch, codec %d: %+v, want offset %d", codec, res[0], 2*codec)
		}
	}
	if next := chunkOffsets(t, e.store, topic, 0); next != 10 {
		t.Fatalf("next offset %d, want 10: a refused batch was stored", next)
	}
}

// withCodec marks an uncompressed batch as compressed with codec without
// compressing it.
func withCodec(batch []byte, codec int8) []byte {
	out := append([]byte(nil), batch...)
	attrs := binary.BigEndian.Uint16(out[21:]) | uint16(codec)
	binary.BigEndian.PutUint16(out[21:], attrs)
	return batchtest.Reseal(out)
}

// TestAdmissionBoundsDecompression: batches whose records decompress to
// more than the bound are refused with MESSAGE_TOO_LARGE in every codec,
// and reading them costs memory in proportion to the codecs' windows, not
// to their output. Snappy, which does not stream, refuses a block that
// declares more than snappy can encode in its size.
func TestAdmissionBoundsDecompression(t *testing.T) {
	e := newEnv(t)
	const bound = 4 << 20
	ing := e.ingester(t, func(c *ingest.Config) { c.MaxDecompressedBytes = bound })
	topic := e.topic(t, "bombs", 1)
	// A record of 12 MiB of zeros: three times the bound.
	big := batchtest.Batch(batchtest.NoProducer, batchtest.Record{Key: []byte("k"), Value: make([]byte, 3*bound)})
	small := batchtest.Batch(batchtest.NoProducer, batchtest.Record{Key: []byte("k"), Value: make([]byte, bound/2)})
	snappyLie := batchtest.Compress(small, 2)
	// The raw snappy block starts with its decoded length: claim just
	// under the bound, more than 32 times the block.
	lie := binary.AppendUvarint(nil, bound-1)
	n := binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(small)-recordbatch.HeaderSize))
	snappyLie = batchtest.Reseal(append(append(snappyLie[:recordbatch.HeaderSize:recordbatch.HeaderSize], lie...), snappyLie[recordbatch.HeaderSize+n:]...))

	cases := []struct {
		name    string
		records []byte
		want    error
	}{
		{"gzip", batchtest.Compress(big, 1), ingest.ErrBatchTooLarge},
		{"lz4", batchtest.Compress(big, 3), ingest.ErrBatchTooLarge},
		{"zstd", batchtest.Compress(big, 4), ingest.ErrBatchTooLarge},
		{"snappy", batchtest.Compress(big, 2), ingest.ErrBatchTooLarge},
		{"snappy declaring too much", snappyLie, ingest.ErrCorruptBatch},
	}
	for _, tc := range cases {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: tc.records, Admission: ingest.Admission{RequireKeys: true}})
		runtime.ReadMemStats(&after)
		if !errors.Is(res[0].Err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, res[0].Err, tc.want)
		}
		// gzip and zstd stream within a small window, lz4 within its
		// blocks (at most 4 MiB, two of them); snappy's block is its
		// output.
		limit := uint64(bound / 2)
		switch tc.name {
		case "lz4":
			limit = 10 << 20
		case "snappy":
			limit = 3 * bound
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit {
			t.Errorf("%s: refusing a %d-byte batch allocated %d KiB", tc.name, len(tc.records), alloc>>10)
		}
	}
	res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: batchtest.Compress(small, 4)})
	if res[0].Err != nil || res[0].BaseOffset != 0 {
		t.Fatalf("a batch within the bound: %+v", res[0])
	}
}

// TestAdmissionStampsLogAppendTime: with a log append time the batch's
// timestamp type and max timestamp carry it, under a valid CRC.
func TestAdmissionStampsLogAppendTime(t *testing.T) {
	e := newEnv(t)
	ing := e.ingester(t, nil)
	topic := e.topic(t, "append-time", 1)
	records := bytes.Clone(batchtest.Values(batchtest.Options{BaseTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, "a", "b"))
	res := mustAppend(t, ing, ingest.PartitionRecords{TopicID: topic, Records: records, Admission: ingest.Admission{LogAppendTime: 123456}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	h, err := recordbatch.Check(records)
	if err != nil {
		t.Fatalf("stamped batch: %v", err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != 123456 {
		t.Fatalf("stamped header: append time %v, max timestamp %d", h.LogAppendTime(), h.MaxTimestamp)
	}
}
