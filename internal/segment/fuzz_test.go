package segment

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func fuzzObjects(f *testing.F) [][]byte {
	f.Helper()
	var objs [][]byte
	add := func(level uint8, chunks []ChunkInput) {
		obj, _, err := Encode(level, chunks)
		if err != nil {
			f.Fatal(err)
		}
		objs = append(objs, obj)
	}
	add(Level0, nil)
	// Small seeds keep the fuzzer's minimization fast.
	text := func(n int) []byte { return bytes.Repeat([]byte(`{"k":"v","n":12345}`), n) }
	add(Level0, []ChunkInput{{TopicID: topic(1), BaseOffset: -1, Batches: 1, Records: 2, Data: text(5)}})
	add(Level0, []ChunkInput{
		{TopicID: topic(1), Partition: 3, BaseOffset: -1, Batches: 1, Records: 1, Data: text(4)},
		{TopicID: topic(2), Partition: 0, BaseOffset: -1, Batches: 2, Records: 9, Data: randomBytes(9, 150)},
		{TopicID: topic(1), Partition: 1, BaseOffset: -1, Batches: 1, Records: 1, Data: text(40)},
	})
	add(Level0, []ChunkInput{{TopicID: topic(1), BaseOffset: -1}, {TopicID: topic(1), Partition: 1, BaseOffset: -1, Data: []byte("x")}})
	add(Level1, []ChunkInput{
		{TopicID: topic(2), BaseOffset: 0, Batches: 1, Records: 3, Data: bytes.Repeat([]byte("ab"), 40)},
		{TopicID: topic(2), BaseOffset: 3, Batches: 1, Records: 1, Data: bytes.Repeat([]byte("cd"), 40)},
	})
	add(Level1, []ChunkInput{
		{TopicID: topic(2), BaseOffset: 7, Batches: 1, Records: 2, Data: text(5)},
		{TopicID: topic(1), Partition: 4, BaseOffset: 0, Batches: 1, Records: 1, Data: text(4)},
	})
	return objs
}

// checkFooter verifies the invariants of a decoded footer of an object.
func checkFooter(t *testing.T, obj []byte, f Footer) {
	t.Helper()
	if f.Level > Level1 || len(f.Chunks) > MaxChunks {
		t.Fatalf("footer level %d with %d chunks", f.Level, len(f.Chunks))
	}
	n, err := FooterLength(obj)
	if err != nil {
		t.Fatalf("DecodeFooter passed but FooterLength failed: %v", err)
	}
	dataEnd := int64(len(obj)) - n
	var pos int64
	for i, c := range f.Chunks {
		if c.Start != pos || c.Length <= 0 || c.End() > dataEnd {
			t.Fatalf("chunk %d [%d, %d) out of place (previous end %d, data end %d)", i, c.Start, c.End(), pos, dataEnd)
		}
		if c.RawLength < 0 || c.RawLength > MaxChunkRawLength || c.Batches < 0 || c.Records < int64(c.Batches) {
			t.Fatalf("chunk %d: implausible counts %+v", i, c)
		}
		if (f.Level == Level0) != (c.BaseOffset == -1) {
			t.Fatalf("chunk %d: base offset %d at level %d", i, c.BaseOffset, f.Level)
		}
		pos = c.End()
	}
	if pos != dataEnd {
		t.Fatalf("chunks end at %d, footer at %d", pos, dataEnd)
	}
	// The footer is canonical: encoding it again gives the same bytes.
	if re := appendFooter(nil, f.Level, f.Chunks); !bytes.Equal(re, obj[dataEnd:]) {
		t.Fatalf("footer does not re-encode to its bytes")
	}
	// The footer's tail alone decodes the same.
	f2, err := DecodeFooterTail(obj[dataEnd:], int64(len(obj)))
	if err != nil || f2.Level != f.Level || len(f2.Chunks) != len(f.Chunks) {
		t.Fatalf("DecodeFooterTail disagrees: %v", err)
	}
	// Every chunk either reads back within its declared size or fails.
	for i, c := range f.Chunks {
		out, err := ReadChunk(c, obj[c.Start:c.End()])
		if err != nil {
			sentinel(t, err)
			continue
		}
		if int64(len(out)) != c.RawLength {
			t.Fatalf("chunk %d decoded to %d bytes, footer says %d", i, len(out), c.RawLength)
		}
	}
}

// FuzzDecodeFooter decodes random bytes and mutations of valid objects,
// both as they are and with their CRCs recomputed so that mutations reach
// the structural checks.
func FuzzDecodeFooter(f *testing.F) {
	for _, obj := range fuzzObjects(f) {
		f.Add(obj)
	}
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0}, TrailerSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, obj := range [][]byte{data, fixCRCs(data)} {
			in := bytes.Clone(obj)
			fo, err := DecodeFooter(obj)
			if err != nil {
				sentinel(t, err)
				if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalidInput) {
					t.Fatalf("DecodeFooter on a whole object: %v", err)
				}
			} else {
				checkFooter(t, obj, fo)
			}
			if !bytes.Equal(in, obj) {
				t.Fatal("DecodeFooter modified its input")
			}
		}
	})
}

// FuzzDecodeChunk decodes random bytes and mutations of valid chunks under a
// fuzzed limit.
func FuzzDecodeChunk(f *testing.F) {
	for _, obj := range fuzzObjects(f) {
		fo, err := DecodeFooter(obj)
		if err != nil {
			f.Fatal(err)
		}
		for _, c := range fo.Chunks {
			f.Add(obj[c.Start:c.End()], uint32(c.RawLength))
			f.Add(obj[c.Start:c.End()], uint32(c.RawLength/2))
		}
	}
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, uint32(1<<20))
	reference, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit uint32) {
		maxRaw := int64(limit % (4 << 20))
		in := bytes.Clone(data)
		out, err := DecodeChunk(data, maxRaw)
		if !bytes.Equal(in, data) {
			t.Fatal("DecodeChunk modified its input")
		}
		if err != nil {
			if s := sentinel(t, err); s != ErrCorrupt && s != ErrTooLarge {
				t.Fatalf("DecodeChunk error %v", err)
			}
			return
		}
		if int64(len(out)) > maxRaw {
			t.Fatalf("decoded %d bytes under a limit of %d", len(out), maxRaw)
		}
		var h zstd.Header
		if err := h.Decode(data); err != nil || !h.HasFCS || h.FrameContentSize != uint64(len(out)) {
			t.Fatalf("decoded %d bytes from a frame declaring %d (%v)", len(out), h.FrameContentSize, err)
		}
		// A decoder without this package's limits and checks agrees.
		want, err := reference.DecodeAll(data, nil)
		if err != nil || !bytes.Equal(want, out) {
			t.Fatalf("reference decoder: %v, %d bytes vs %d", err, len(want), len(out))
		}
		if len(out) > 0 {
			if _, err := DecodeChunk(data, int64(len(out))-1); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("a limit one byte short: %v, want ErrTooLarge", err)
			}
		}
	})
}
