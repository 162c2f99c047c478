package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/stratalog/strata/internal/crc32c"
)

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	large := append(randomBytes(1, 9<<20), bytes.Repeat([]byte("compressible "), 1<<20)...) // > window, many blocks
	tests := []struct {
		name   string
		level  uint8
		chunks []ChunkInput
	}{
		{name: "no chunks", level: Level0},
		{name: "one chunk", level: Level0, chunks: workload(1, 1, 20<<10)},
		{name: "many chunks", level: Level0, chunks: workload(2, 100, 400<<10)},
		{name: "several encoders", level: Level0, chunks: workload(5, 64, 6<<20)},
		{name: "empty data", level: Level0, chunks: []ChunkInput{
			{TopicID: topic(1), Partition: 0, BaseOffset: -1},
			{TopicID: topic(1), Partition: 1, BaseOffset: -1, Batches: 1, Records: 1, Data: bytes.Repeat([]byte{7}, 61)},
			{TopicID: topic(2), Partition: 0, BaseOffset: -1, Data: []byte{}},
		}},
		{name: "incompressible", level: Level0, chunks: []ChunkInput{
			{TopicID: topic(1), BaseOffset: -1, Batches: 3, Records: 3, Data: randomBytes(2, 300<<10)},
		}},
		{name: "large chunk", level: Level0, chunks: []ChunkInput{
			{TopicID: topic(1), BaseOffset: -1, Batches: 10, Records: 1000, Data: large},
			{TopicID: topic(1), Partition: 1, BaseOffset: -1, Batches: 1, Records: 1, Data: bytes.Repeat([]byte{0}, 5<<20)},
		}},
		{name: "level 1", level: Level1, chunks: []ChunkInput{
			{TopicID: topic(4), Partition: 7, BaseOffset: 0, Batches: 2, Records: 10, MinTimestamp: 5, MaxTimestamp: 9, Data: randomBytes(3, 1000)},
			{TopicID: topic(4), Partition: 7, BaseOffset: 10, Batches: 1, Records: 1, Data: randomBytes(4, 100)},
			{TopicID: topic(4), Partition: 7, BaseOffset: 11, Batches: 2, Records: 89, Data: large[8<<20:]},
			{TopicID: topic(4), Partition: 7, BaseOffset: 100, Batches: 1, Records: math.MaxInt64 - 100, Data: randomBytes(5, 61)},
		}},
		{name: "level 1 of several partitions", level: Level1, chunks: []ChunkInput{
			{TopicID: topic(4), Partition: 7, BaseOffset: 50, Batches: 2, Records: 10, Data: randomBytes(6, 500)},
			{TopicID: topic(4), Partition: 7, BaseOffset: 60, Batches: 1, Records: 1, Data: randomBytes(7, 100)},
			{TopicID: topic(4), Partition: 2, BaseOffset: 0, Batches: 1, Records: 3, Data: randomBytes(8, 200)},
			{TopicID: topic(5), Partition: 7, BaseOffset: 9, Batches: 1, Records: 1, Data: randomBytes(9, 80)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, infos, err := Encode(tt.level, tt.chunks)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if len(infos) != len(tt.chunks) {
				t.Fatalf("%d infos for %d chunks", len(infos), len(tt.chunks))
			}
			f, err := DecodeFooter(obj)
			if err != nil {
				t.Fatalf("DecodeFooter: %v", err)
			}
			if f.Level != tt.level || len(f.Chunks) != len(infos) {
				t.Fatalf("footer level %d with %d chunks", f.Level, len(f.Chunks))
			}
			for i, c := range f.Chunks {
				in := tt.chunks[i]
				if c != infos[i] {
					t.Errorf("chunk %d: footer %+v, Encode returned %+v", i, c, infos[i])
				}
				if c.TopicID != in.TopicID || c.Partition != in.Partition || c.BaseOffset != in.BaseOffset ||
					c.Batches != in.Batches || c.Records != in.Records || c.MinTimestamp != in.MinTimestamp ||
					c.MaxTimestamp != in.MaxTimestamp || c.RawLength != int64(len(in.Data)) {
					t.Errorf("chunk %d: footer %+v does not describe its input", i, c)
				}
				got, err := ReadChunk(c, obj[c.Start:c.End()])
				if err != nil {
					t.Fatalf("chunk %d: ReadChunk: %v", i, err)
				}
				if !bytes.Equal(got, in.Data) {
					t.Fatalf("chunk %d: decoded %d bytes differ from the %d encoded", i, len(got), len(in.Data))
				}
				if found, ok := f.Find(c.TopicID, c.Partition); !ok || found.Start > c.Start {
					t.Errorf("Find(chunk %d) = %+v, %v", i, found, ok)
				}
			}
			if want := f.DataLength() + int64(footerLength(len(infos))+TrailerSize); want != int64(len(obj)) {
				t.Errorf("object is %d bytes, data+footer+trailer %d", len(obj), want)
			}

			// A reader with only the object's size: trailer, then footer.
			n, err := FooterLength(obj[len(obj)-TrailerSize:])
			if err != nil {
				t.Fatalf("FooterLength: %v", err)
			}
			if n != int64(footerLength(len(infos))+TrailerSize) {
				t.Errorf("FooterLength = %d, want %d", n, footerLength(len(infos))+TrailerSize)
			}
			tail := obj[int64(len(obj))-n:]
			f2, err := DecodeFooterTail(tail, int64(len(obj)))
			if err != nil {
				t.Fatalf("DecodeFooterTail: %v", err)
			}
			if f2.Level != f.Level || len(f2.Chunks) != len(f.Chunks) || (len(f.Chunks) > 0 && f2.Chunks[0] != f.Chunks[0]) {
				t.Errorf("DecodeFooterTail differs from DecodeFooter")
			}
			if _, err := DecodeFooterTail(tail[1:], int64(len(obj))); !errors.Is(err, ErrTruncated) {
				t.Errorf("DecodeFooterTail with a byte too few: %v, want ErrTruncated", err)
			}
		})
	}
}

// TestEncodeParallelSameBytes: an object compressed by several goroutines
// is byte for byte the object one goroutine writes.
func TestEncodeParallelSameBytes(t *testing.T) {
	chunks := workload(6, 64, 6<<20)
	prev := runtime.GOMAXPROCS(1)
	one, oneInfos, err := Encode(Level0, chunks)
	runtime.GOMAXPROCS(4)
	four, fourInfos, err2 := Encode(Level0, chunks)
	runtime.GOMAXPROCS(prev)
	if err != nil || err2 != nil {
		t.Fatalf("Encode: %v, %v", err, err2)
	}
	if !bytes.Equal(one, four) || !slices.Equal(oneInfos, fourInfos) {
		t.Fatalf("objects differ: %d bytes with 1 encoder, %d with 4", len(one), len(four))
	}
}

func TestEncodeOutputIsExact(t *testing.T) {
	obj, _, err := Encode(Level0, workload(3, 8, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	if cap(obj) != len(obj) {
		t.Errorf("object of %d bytes has capacity %d", len(obj), cap(obj))
	}
	obj2, _, _ := Encode(Level0, workload(3, 8, 64<<10))
	if !bytes.Equal(obj, obj2) {
		t.Error("Encode is not deterministic")
	}
}

func TestEncodeRejects(t *testing.T) {
	ok := func(p int32) ChunkInput {
		return ChunkInput{TopicID: topic(1), Partition: p, BaseOffset: -1, Batches: 1, Records: 1, Data: make([]byte, 100)}
	}
	l1 := func(base, records int64) ChunkInput {
		c := ok(0)
		c.BaseOffset, c.Records = base, records
		return c
	}
	edit := func(c ChunkInput, f func(*ChunkInput)) ChunkInput { f(&c); return c }
	tests := []struct {
		name   string
		level  uint8
		chunks []ChunkInput
		msg    string
	}{
		{"level 2", 2, nil, "level 2"},
		{"level 0 with a base offset", Level0, []ChunkInput{edit(ok(0), func(c *ChunkInput) { c.BaseOffset = 0 })}, "base offset 0"},
		{"level 0 partition twice", Level0, []ChunkInput{ok(0), ok(1), ok(0)}, "second chunk"},
		{"negative batches", Level0, []ChunkInput{edit(ok(0), func(c *ChunkInput) { c.Batches = -1 })}, "-1 batches"},
		{"fewer records than batches", Level0, []ChunkInput{edit(ok(0), func(c *ChunkInput) { c.Batches, c.Records = 2, 1 })}, "1 records in 2 batches"},
		{"batches larger than data", Level0, []ChunkInput{edit(ok(0), func(c *ChunkInput) { c.Batches, c.Records = 2, 2 })}, "cannot fit"},
		{"level 1 without base offset", Level1, []ChunkInput{l1(-1, 1)}, "base offset -1"},
		{"level 1 offset overflow", Level1, []ChunkInput{l1(math.MaxInt64-5, 10)}, "base offset"},
		{"level 1 overlapping offsets", Level1, []ChunkInput{l1(0, 10), l1(9, 1)}, "overlaps"},
		{"level 1 out of order", Level1, []ChunkInput{l1(10, 1), l1(0, 1)}, "overlaps"},
		{"level 1 partition in two runs", Level1, []ChunkInput{l1(0, 1), edit(l1(1, 1), func(c *ChunkInput) { c.Partition = 1 }), l1(5, 1)}, "second run"},
		{"level 1 overlap after another partition", Level1, []ChunkInput{l1(0, 1), edit(l1(0, 1), func(c *ChunkInput) { c.Partition = 1 }), edit(l1(0, 1), func(c *ChunkInput) { c.Partition = 1 })}, "overlaps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, infos, err := Encode(tt.level, tt.chunks)
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Encode = %d bytes, %v; want ErrInvalidInput", len(obj), err)
			}
			if obj != nil || infos != nil {
				t.Error("Encode returned output with an error")
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// TestFooterCorruptionDetected flips every bit of the footer and trailer,
// and truncates and extends the object: every change must be an error.
func TestFooterCorruptionDetected(t *testing.T) {
	obj, _, err := Encode(Level0, workload(4, 3, 3000))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := FooterLength(obj)
	for pos := len(obj) - int(n); pos < len(obj); pos++ {
		for bit := range 8 {
			bad := bytes.Clone(obj)
			bad[pos] ^= 1 << bit
			if f, err := DecodeFooter(bad); err == nil {
				t.Fatalf("flip of bit %d at byte %d (of %d) undetected: %+v", bit, pos, len(obj), f)
			} else {
				sentinel(t, err)
			}
		}
	}
	for cut := range len(obj) {
		if _, err := DecodeFooter(obj[:cut]); err == nil {
			t.Fatalf("object cut to %d of %d bytes decoded", cut, len(obj))
		}
	}
	if _, err := DecodeFooter(append([]byte{0}, obj...)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("byte prepended: %v, want ErrCorrupt", err)
	}
	if _, err := DecodeFooter(append(bytes.Clone(obj), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("byte appended: %v, want ErrCorrupt", err)
	}
}

// TestChunkCorruptionDetected flips every bit of a chunk: ReadChunk must
// fail each time, and DecodeChunk alone must never return different data.
func TestChunkCorruptionDetected(t *testing.T) {
	chunks := workload(5, 1, 2000)
	chunks = append(chunks, ChunkInput{TopicID: topic(9), BaseOffset: -1}) // empty chunk
	obj, infos, err := Encode(Level0, chunks)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range infos {
		orig := obj[c.Start:c.End()]
		undetected := 0
		for pos := range orig {
			for bit := range 8 {
				bad := bytes.Clone(orig)
				bad[pos] ^= 1 << bit
				if _, err := ReadChunk(c, bad); err == nil {
					t.Fatalf("chunk %d: flip of bit %d at byte %d passed ReadChunk", i, bit, pos)
				}
				out, err := DecodeChunk(bad, c.RawLength)
				if err == nil {
					if !bytes.Equal(out, chunks[i].Data) {
						t.Fatalf("chunk %d: flip of bit %d at byte %d decoded to different data", i, bit, pos)
					}
					undetected++
				} else {
					sentinel(t, err)
				}
			}
		}
		t.Logf("chunk %d: %d bytes, %d of %d bit flips harmless to the zstd frame alone", i, len(orig), undetected, 8*len(orig))
		for cut := range len(orig) {
			if _, err := DecodeChunk(orig[:cut], c.RawLength); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("chunk %d cut to %d of %d bytes: %v, want ErrCorrupt", i, cut, len(orig), err)
			}
		}
		if _, err := DecodeChunk(append(bytes.Clone(orig), 0), c.RawLength); !errors.Is(err, ErrCorrupt) {
			t.Errorf("chunk %d with a trailing byte: %v", i, err)
		}
		if _, err := ReadChunk(c, obj[c.Start:c.End()+1]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("chunk %d read one byte too long: %v", i, err)
		}
	}
}

// TestFooterRules rewrites valid footers (with valid CRCs) to break one rule
// of the format at a time.
func TestFooterRules(t *testing.T) {
	obj, infos, err := Encode(Level0, []ChunkInput{
		{TopicID: topic(1), Partition: 0, BaseOffset: -1, Batches: 1, Records: 1, Data: randomBytes(6, 500)},
		{TopicID: topic(1), Partition: 1, BaseOffset: -1, Batches: 1, Records: 1, Data: randomBytes(7, 500)},
	})
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(c []ChunkInfo) []ChunkInfo) []ChunkInfo {
		return f(append([]ChunkInfo(nil), infos...))
	}
	tests := []struct {
		name  string
		level uint8
		infos []ChunkInfo
		msg   string
	}{
		{"level 2", 2, infos, "level 2"},
		{"gap between chunks", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[0].Length--; return c }), "starts at"},
		{"overlapping chunks", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[1].Start--; c[1].Length++; return c }), "starts at"},
		{"chunks out of order", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[0], c[1] = c[1], c[0]; return c }), "starts at"},
		{"chunk past the data", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[1].Length += 10; return c }), "length"},
		{"chunk into the footer", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[1].Length = 1 << 40; return c }), "length"},
		{"negative length", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[1].Length = -c[1].Length; return c }), "length"},
		{"negative start", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[0].Start = -1; return c }), "starts at"},
		{"data not covered", Level0, mod(func(c []ChunkInfo) []ChunkInfo { return c[:1] }), "footer starts at"},
		{"no chunks but data", Level0, nil, "footer starts at"},
		{"raw length negative", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[0].RawLength = -1; return c }), "raw length"},
		{"raw length above limit", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[0].RawLength = MaxChunkRawLength + 1; return c }), "raw length"},
		{"duplicate partition", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[1].Partition = 0; return c }), "second chunk"},
		{"level 0 base offset", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[0].BaseOffset = 5; return c }), "base offset 5"},
		{"records below batches", Level0, mod(func(c []ChunkInfo) []ChunkInfo { c[0].Records = 0; return c }), "records in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := rewriteFooter(t, obj, tt.level, tt.infos)
			_, err := DecodeFooter(bad)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeFooter = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
	// Footer header fields, with both CRCs recomputed.
	n, _ := FooterLength(obj)
	fs := len(obj) - int(n) // footer start
	for _, tt := range []struct {
		name string
		pos  int
		val  byte
		msg  string
	}{
		{"footer magic", fs, 'X', "footer magic"},
		{"footer version", fs + 5, 2, "footer version 2"},
		{"level", fs + 6, 9, "level 9"},
		{"flags", fs + 7, 1, "flags"},
		{"chunk count", fs + 11, 3, "chunk count 3"},
	} {
		bad := bytes.Clone(obj)
		bad[tt.pos] = tt.val
		_, err := DecodeFooter(fixCRCs(bad))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: DecodeFooter = %v, want ErrCorrupt saying %q", tt.name, err, tt.msg)
		}
	}
	// A level 1 object may hold several partitions, each in one run.
	l1obj, l1infos, err := Encode(Level1, []ChunkInput{
		{TopicID: topic(1), Partition: 0, BaseOffset: 0, Batches: 1, Records: 1, Data: randomBytes(6, 500)},
		{TopicID: topic(1), Partition: 1, BaseOffset: 0, Batches: 1, Records: 1, Data: randomBytes(7, 500)},
		{TopicID: topic(1), Partition: 2, BaseOffset: 0, Batches: 1, Records: 1, Data: randomBytes(8, 500)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeFooter(l1obj); err != nil {
		t.Fatalf("level 1 object of three partitions: %v", err)
	}
	twoRuns := append([]ChunkInfo(nil), l1infos...)
	twoRuns[2].Partition, twoRuns[2].BaseOffset = 0, 5
	if _, err := DecodeFooter(rewriteFooter(t, l1obj, Level1, twoRuns)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "second run") {
		t.Errorf("level 1 partition in two runs: DecodeFooter = %v, want ErrCorrupt saying %q", err, "second run")
	}
	// The untouched rewrite decodes: the cases above fail for their rule only.
	if _, err := DecodeFooter(rewriteFooter(t, obj, Level0, infos)); err != nil {
		t.Fatalf("rewritten valid footer: %v", err)
	}
}

func TestTrailer(t *testing.T) {
	obj, _, err := Encode(Level0, workload(6, 2, 1000))
	if err != nil {
		t.Fatal(err)
	}
	trailer := bytes.Clone(obj[len(obj)-TrailerSize:])
	resum := func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], crc32c.Checksum(b[:8])); return b }
	tests := []struct {
		name    string
		trailer []byte
		err     error
	}{
		{"short", trailer[1:], ErrTruncated},
		{"empty", nil, ErrTruncated},
		{"bad magic", func() []byte { b := bytes.Clone(trailer); b[15]++; return b }(), ErrCorrupt},
		{"bad crc", func() []byte { b := bytes.Clone(trailer); b[0]++; return b }(), ErrCorrupt},
		{"future version", resum(func() []byte { b := bytes.Clone(trailer); b[5] = 2; return b }()), ErrUnsupported},
		{"reserved set", resum(func() []byte { b := bytes.Clone(trailer); b[7] = 1; return b }()), ErrCorrupt},
		{"footer length not whole entries", resum(func() []byte { b := bytes.Clone(trailer); b[3]++; return b }()), ErrCorrupt},
		{"footer length too small", resum(func() []byte { b := bytes.Clone(trailer); binary.BigEndian.PutUint32(b, 15); return b }()), ErrCorrupt},
		{"footer length above limit", resum(func() []byte {
			b := bytes.Clone(trailer)
			binary.BigEndian.PutUint32(b, MaxFooterLength+EntrySize)
			return b
		}()), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := FooterLength(tt.trailer); !errors.Is(err, tt.err) {
				t.Fatalf("FooterLength = %v, want %v", err, tt.err)
			}
		})
	}
	// A trailer that claims a footer longer than the object.
	big := resum(bytes.Clone(trailer))
	binary.BigEndian.PutUint32(big, uint32(footerFixedSize+EntrySize*1000))
	resum(big)
	bad := append(bytes.Clone(obj[:len(obj)-TrailerSize]), big...)
	if _, err := DecodeFooter(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("footer longer than the object: %v, want ErrCorrupt", err)
	}
	if _, err := DecodeFooterTail(obj, int64(len(obj)-1)); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("tail longer than the object: %v, want ErrInvalidInput", err)
	}
}

func TestDecodeChunkLimits(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	obj, infos, err := Encode(Level0, []ChunkInput{{TopicID: topic(1), BaseOffset: -1, Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	frame := obj[infos[0].Start:infos[0].End()]
	if out, err := DecodeChunk(frame, int64(len(data))); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("DecodeChunk at the exact limit: %v", err)
	}
	if _, err := DecodeChunk(frame, int64(len(data))-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("DecodeChunk one byte over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := DecodeChunk(frame, -1); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("negative limit: %v, want ErrInvalidInput", err)
	}
	if _, err := ReadChunk(ChunkInfo{Length: infos[0].Length, CRC: infos[0].CRC, RawLength: 10}, frame); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadChunk with a smaller RawLength: %v, want ErrTooLarge", err)
	}
}

// TestDecodeChunkHostileFrames feeds frames Encode never writes.
func TestDecodeChunkHostileFrames(t *testing.T) {
	data := bytes.Repeat([]byte("hostile "), 4000)
	enc := func(opts ...zstd.EOption) []byte {
		e, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return e.EncodeAll(data, nil)
	}
	good := enc()
	var goodHeader zstd.Header
	if err := goodHeader.Decode(good); err != nil {
		t.Fatal(err)
	}
	// A frame with no content size: descriptor with only the checksum flag,
	// a 1 KiB window, one last raw block "hello", a checksum.
	noSize := []byte{0x28, 0xb5, 0x2f, 0xfd, 0b00_0_0_0_1_00, 0, 5<<3 | 1, 'h', 'e', 'l', 'l', 'o', 1, 2, 3, 4}
	skippable := append([]byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4}, good...)
	tests := []struct {
		name  string
		frame []byte
		msg   string
	}{
		{"empty", nil, "frame header"},
		{"not zstd", []byte("definitely not a zstd frame"), "frame header"},
		{"no checksum", enc(zstd.WithEncoderCRC(false)), "checksum"},
		{"no content size", noSize, "content size"},
		{"two frames", append(bytes.Clone(good), good...), "frame ends at"},
		{"skippable frame first", skippable, "skippable"},
		{"trailing bytes", append(bytes.Clone(good), 0, 0, 0, 0), "frame ends at"},
		{"dictionary", enc(zstd.WithEncoderDictRaw(1234, []byte(strings.Repeat("dictionary ", 100)))), "dictionary 1234"},
		{"window above limit", func() []byte {
			e, _ := zstd.NewWriter(nil, zstd.WithWindowSize(16<<20))
			return e.EncodeAll(randomBytes(8, 9<<20), nil)
		}(), "window"},
		{"reserved block type", func() []byte {
			b := bytes.Clone(good)
			b[goodHeader.HeaderSize] |= 3 << 1
			return b
		}(), "reserved zstd block type"},
		{"block larger than allowed", func() []byte {
			b := bytes.Clone(good)
			b[goodHeader.HeaderSize+2] = 0xff
			return b
		}(), "at most"},
		{"block past the end", func() []byte {
			b := bytes.Clone(good)
			return b[:goodHeader.HeaderSize+10]
		}(), "past the end"},
		{"bad checksum", func() []byte {
			b := bytes.Clone(good)
			b[len(b)-1] ^= 1
			return b
		}(), "zstd:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeChunk(tt.frame, MaxChunkRawLength)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeChunk = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
	if out, err := DecodeChunk(good, int64(len(data))); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("the well-formed frame: %v", err)
	}
}

// TestDecodeChunkBoundedAllocation: a tiny frame that declares a huge
// content size must be refused without allocating that size.
func TestDecodeChunkBoundedAllocation(t *testing.T) {
	// Frame header: magic, descriptor (8-byte content size, checksum),
	// window descriptor (1 MiB), content size 1 GiB; then one last RLE
	// block of 100 bytes and a checksum.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0b11_0_0_0_1_00, 10 << 3}
	frame = binary.LittleEndian.AppendUint64(frame, 1<<30)
	bh := uint32(1) | blockRLE<<1 | 100<<3
	frame = append(frame, byte(bh), byte(bh>>8), byte(bh>>16), 'x', 0, 0, 0, 0)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := DecodeChunk(frame, MaxChunkRawLength)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("DecodeChunk = %v, want ErrCorrupt", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("refusing a %d-byte frame allocated %d bytes", len(frame), grew)
	}
	// The same frame under a small limit: ErrTooLarge, nothing decoded.
	if _, err := DecodeChunk(frame, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("DecodeChunk under a 1 MiB limit = %v, want ErrTooLarge", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	inputs := workload(7, 16, 256<<10)
	want, _, err := Encode(Level0, inputs)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for range 4 {
				obj, _, err := Encode(Level0, inputs)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(obj, want) {
					errs <- errors.New("concurrent Encode produced different bytes")
					return
				}
				f, err := DecodeFooter(obj)
				if err != nil {
					errs <- err
					return
				}
				c := f.Chunks[g%len(f.Chunks)]
				out, err := ReadChunk(c, obj[c.Start:c.End()])
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(out, inputs[g%len(inputs)].Data) {
					errs <- errors.New("concurrent ReadChunk returned different bytes")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
