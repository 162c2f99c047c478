package compactor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/crc32c"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/metastore"
)

func mustCheck(t testing.TB, b []byte) recordbatch.Header {
	t.Helper()
	h, err := recordbatch.Check(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestChunkBatchesLevel0(t *testing.T) {
	b0 := batchtest.Values(batchtest.NoProducer, "a", "b", "c")
	b1 := batchtest.Values(batchtest.NoProducer, "d")
	b2 := batchtest.Values(batchtest.NoProducer, "e", "f")
	raw := bytes.Join([][]byte{b0, b1, b2}, nil)
	c := metastore.Chunk{BaseOffset: 100, EndOffset: 106, BatchCount: 3}
	bs, err := chunkBatches(&c, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 3 || bs[0].base != 100 || bs[1].base != 103 || bs[2].base != 104 || bs[2].end() != 106 {
		t.Fatalf("batches %+v", bs)
	}
	// The duplicate in the middle is not part of the log.
	c = metastore.Chunk{BaseOffset: 100, EndOffset: 105, BatchCount: 3, Skip: []int32{1}}
	bs, err = chunkBatches(&c, raw)
	if err != nil || len(bs) != 2 || bs[1].base != 103 || !bytes.Equal(bs[1].data, b2) {
		t.Fatalf("with a skip: %+v, %v", bs, err)
	}
	for name, c := range map[string]metastore.Chunk{
		"end too far":     {BaseOffset: 0, EndOffset: 7, BatchCount: 3},
		"end too near":    {BaseOffset: 0, EndOffset: 5, BatchCount: 3},
		"batch count":     {BaseOffset: 0, EndOffset: 6, BatchCount: 4},
		"skip past end":   {BaseOffset: 0, EndOffset: 6, BatchCount: 3, Skip: []int32{3}},
		"skip too much":   {BaseOffset: 0, EndOffset: 6, BatchCount: 3, Skip: []int32{0}},
		"skip negative":   {BaseOffset: 0, EndOffset: 6, BatchCount: 3, Skip: []int32{-1}},
		"garbage at end":  {BaseOffset: 0, EndOffset: 6, BatchCount: 3, ObjectKey: "trailing"},
		"truncated batch": {BaseOffset: 0, EndOffset: 6, BatchCount: 3, ObjectKey: "truncated"},
	} {
		in := raw
		switch c.ObjectKey {
		case "trailing":
			in = append(bytes.Clone(raw), 0, 0, 0)
		case "truncated":
			in = raw[:len(raw)-1]
		}
		if _, err := chunkBatches(&c, in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

func TestChunkBatchesLevel1(t *testing.T) {
	at := func(b []byte, off int64) []byte {
		b = bytes.Clone(b)
		recordbatch.SetBaseOffset(b, off)
		return b
	}
	b := batchtest.Values(batchtest.NoProducer, "a", "b")
	raw := bytes.Join([][]byte{at(b, 10), at(b, 15), at(b, 17)}, nil)
	c := metastore.Chunk{Level: 1, BaseOffset: 8, EndOffset: 20, BatchCount: 3}
	bs, err := chunkBatches(&c, raw)
	if err != nil || len(bs) != 3 || bs[0].base != 10 || bs[1].base != 15 || bs[2].end() != 19 {
		t.Fatalf("batches %+v, %v", bs, err)
	}
	for name, c := range map[string]metastore.Chunk{
		"starts after first batch": {Level: 1, BaseOffset: 11, EndOffset: 20},
		"ends before last batch":   {Level: 1, BaseOffset: 8, EndOffset: 18},
	} {
		if _, err := chunkBatches(&c, raw); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	overlap := bytes.Join([][]byte{at(b, 10), at(b, 11)}, nil)
	if _, err := chunkBatches(&metastore.Chunk{Level: 1, BaseOffset: 0, EndOffset: 20}, overlap); !errors.Is(err, ErrCorrupt) {
		t.Errorf("overlapping batches: %v, want ErrCorrupt", err)
	}
}

// records builds n keyed records, with headers on some; key i%keys.
func testRecords(n, keys int) []batchtest.Record {
	recs := make([]batchtest.Record, n)
	for i := range recs {
		recs[i] = batchtest.Record{Key: fmt.Appendf(nil, "k%d", i%keys), Value: fmt.Appendf(nil, "v%d", i), Timestamp: 1000 + int64(i)}
		if i%2 == 0 {
			recs[i].Headers = []kmsg.Header{{Key: "h", Value: []byte(strings.Repeat("x", i))}}
		}
		if i%5 == 4 {
			recs[i].Value = nil
		}
	}
	return recs
}

func TestFilterBatch(t *testing.T) {
	opts := batchtest.Options{BaseTimestamp: 1000, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 40}
	in := batchtest.Batch(opts, testRecords(200, 1000)...) // long records: multi-byte lengths
	for _, compressed := range []bool{false, true} {
		data := in
		if compressed {
			data = zstdBatch(t, in)
		}
		b := batch{data: data, base: 500, h: mustCheck(t, data)}
		b.count = b.h.OffsetCount()
		// Keep all: the batch is left as it is.
		out, removed, changed, err := filterBatch(nil, decompressor, &b, 3, func(*record) bool { return true })
		if err != nil || changed || removed != 0 || out != nil {
			t.Fatalf("keep all: %d bytes, %d removed, %v, %v", len(out), removed, changed, err)
		}
		// Drop offsets 502, 503 and 510..519: three runs are left.
		drop := func(off int64) bool { return off == 502 || off == 503 || (off >= 510 && off < 520) }
		out, removed, changed, err = filterBatch(nil, decompressor, &b, 3, func(r *record) bool { return !drop(r.Offset) })
		if err != nil || !changed || removed != 12 {
			t.Fatalf("filter: %d removed, %v, %v", removed, changed, err)
		}
		var got []rec
		var bases []int64
		err = recordbatch.Split(out, func(nb []byte, h recordbatch.Header) error {
			if h.Compression() != 0 || h.PartitionLeaderEpoch != 3 || h.ProducerID != 7 || h.ProducerEpoch != 2 {
				return fmt.Errorf("header %+v", h)
			}
			if want := int32(40 + h.BaseOffset - 500); h.BaseSequence != want {
				return fmt.Errorf("batch at %d: base sequence %d, want %d", h.BaseOffset, h.BaseSequence, want)
			}
			recs, _, err := decodeBatches(nb)
			if err != nil {
				return err
			}
			maxTS := int64(math.MinInt64)
			for _, r := range recs {
				maxTS = max(maxTS, r.timestamp)
			}
			if h.MaxTimestamp != maxTS || h.BaseTimestamp != 1000 {
				return fmt.Errorf("batch at %d: timestamps %d..%d, records up to %d", h.BaseOffset, h.BaseTimestamp, h.MaxTimestamp, maxTS)
			}
			bases = append(bases, h.BaseOffset)
			got = append(got, recs...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(bases) != 3 || bases[0] != 500 || bases[1] != 504 || bases[2] != 520 {
			t.Fatalf("batches at %v, want 500, 504, 520", bases)
		}
		want := testRecords(200, 1000)
		i := 0
		for off := int64(500); off < 700; off++ {
			if drop(off) {
				continue
			}
			w, g := want[off-500], got[i]
			if g.offset != off || !bytes.Equal(g.key, w.Key) || !bytes.Equal(g.value, w.Value) || (g.value == nil) != (w.Value == nil) ||
				len(g.headers) != len(w.Headers) || g.timestamp != w.Timestamp {
				t.Fatalf("record %d: %+v, want offset %d %+v", i, g, off, w)
			}
			if len(w.Headers) > 0 && !bytes.Equal(g.headers[0].Value, w.Headers[0].Value) {
				t.Fatalf("record %d: header %q", i, g.headers[0].Value)
			}
			i++
		}
		if i != len(got) {
			t.Fatalf("%d records, want %d", len(got), i)
		}
		// Drop all.
		out, removed, changed, err = filterBatch(nil, decompressor, &b, 3, func(*record) bool { return false })
		if err != nil || !changed || removed != 200 || len(out) != 0 {
			t.Fatalf("drop all: %d bytes, %d removed, %v, %v", len(out), removed, changed, err)
		}
	}
}

func TestEncodeRunLogAppendTime(t *testing.T) {
	in := batchtest.Batch(batchtest.Options{BaseTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, testRecords(3, 3)...)
	in[22] |= 0x08 // LogAppendTime
	recordbatch.SetBaseOffset(in, 0)
	h := mustCheckCRC(t, in)
	b := batch{data: in, base: 0, count: 3, h: h}
	out, _, _, err := filterBatch(nil, decompressor, &b, 0, func(r *record) bool { return r.Offset != 1 })
	if err != nil {
		t.Fatal(err)
	}
	err = recordbatch.Split(out, func(nb []byte, nh recordbatch.Header) error {
		if !nh.LogAppendTime() || nh.MaxTimestamp != h.MaxTimestamp || nh.BaseSequence != -1 {
			return fmt.Errorf("header %+v", nh)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mustCheckCRC recomputes the CRC of a batch edited by a test, then checks it.
func mustCheckCRC(t testing.TB, b []byte) recordbatch.Header {
	t.Helper()
	binary.BigEndian.PutUint32(b[17:], crc32c.Checksum(b[21:]))
	return mustCheck(t, b)
}

func TestAppendRecordLengths(t *testing.T) {
	for _, n := range []int{0, 1, 50, 60, 63, 64, 100, 200, 8000, 9000, 1 << 20} {
		r := kmsg.Record{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), n)}
		got := appendRecord([]byte("prefix"), &r)
		var back kmsg.Record
		if err := back.ReadFrom(got[len("prefix"):]); err != nil {
			t.Fatalf("value of %d bytes: %v", n, err)
		}
		if int(back.Length) != len(got)-len("prefix")-varintSize(back.Length) || !bytes.Equal(back.Value, r.Value) {
			t.Fatalf("value of %d bytes: length %d, %d bytes written", n, back.Length, len(got)-len("prefix"))
		}
	}
}

func varintSize(v int32) int {
	n := 1
	for u := uint32(v<<1) ^ uint32(v>>31); u >= 0x80; u >>= 7 {
		n++
	}
	return n
}

func TestConfig(t *testing.T) {
	d := Defaults()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if d.TargetObjectBytes != 64<<20 || d.DeleteGrace.Minutes() != 5 || d.Retention.Hours() != 168 || d.RetentionBytes != -1 {
		t.Errorf("defaults %+v", d)
	}
	if d.MinLevel0Bytes != 8<<20 || d.MaxLevel0Age.Minutes() != 10 || d.MinLevel0Chunks != 4096 ||
		d.WholeObjectMaxBytes != 16<<20 || d.ObjectCacheBytes != 128<<20 {
		t.Errorf("merge defaults %+v", d)
	}
	for name, edit := range map[string]func(*Config){
		"interval":    func(c *Config) { c.Interval = 0 },
		"target":      func(c *Config) { c.TargetObjectBytes = 0 },
		"chunk":       func(c *Config) { c.ChunkRawBytes = c.MaxMergeRawBytes + 1 },
		"grace":       func(c *Config) { c.DeleteGrace = -1 },
		"ratio":       func(c *Config) { c.MinCleanableDirtyRatio = 1.5 },
		"lease":       func(c *Config) { c.LeaseTTL = 0 },
		"concurrency": func(c *Config) { c.Concurrency = 0 },
		"per round":   func(c *Config) { c.PartitionsPerRound = 0 },
		"bytes":       func(c *Config) { c.MinLevel0Bytes = -1 },
		"cache":       func(c *Config) { c.ObjectCacheBytes = -1 },
		"whole":       func(c *Config) { c.WholeObjectMaxBytes = -1 },
	} {
		c := Defaults()
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
	if _, err := New(Config{}, nil, nil, nil, nil); err == nil {
		t.Error("New accepted a zero Config")
	}
}
