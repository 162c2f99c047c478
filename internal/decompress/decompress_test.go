package decompress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

var codecs = []struct {
	name  string
	codec kgo.CompressionCodec
	typ   kgo.CompressionCodecType
}{
	{"gzip", kgo.GzipCompression(), kgo.CodecGzip},
	{"snappy", kgo.SnappyCompression(), kgo.CodecSnappy},
	{"lz4", kgo.Lz4Compression(), kgo.CodecLz4},
	{"zstd", kgo.ZstdCompression(), kgo.CodecZstd},
}

// compress compresses data as a franz-go producer does.
func compress(t testing.TB, codec kgo.CompressionCodec, data []byte) ([]byte, kgo.CompressionCodecType) {
	t.Helper()
	c, err := kgo.DefaultCompressor(codec)
	if err != nil {
		t.Fatal(err)
	}
	out, typ := c.Compress(new(bytes.Buffer), data)
	return bytes.Clone(out), typ
}

func TestRoundTrip(t *testing.T) {
	data := []byte(strings.Repeat(`{"user":42,"action":"page_view","path":"/cart"}`, 2000))
	d := New(1 << 20)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			comp, typ := compress(t, c.codec, data)
			if typ != c.typ {
				t.Fatalf("compressed as %v", typ)
			}
			got, err := d.Decompress(comp, typ)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Decompress: %d bytes, %v; want %d bytes", len(got), err, len(data))
			}
		})
	}
	if got, err := d.Decompress(data, kgo.CodecNone); err != nil || &got[0] != &data[0] {
		t.Fatal("CodecNone must return its input")
	}
}

// TestBomb: a batch that decompresses to 64 MiB is refused with a limit of
// 1 MiB, whatever the codec, and without allocating the 64 MiB.
func TestBomb(t *testing.T) {
	zeros := make([]byte, 64<<20)
	d := New(1 << 20)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			comp, typ := compress(t, c.codec, zeros)
			var err error
			got := testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					_, err = d.Decompress(comp, typ)
				}
			})
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%d compressed bytes of zeros: %v, want ErrTooLarge", len(comp), err)
			}
			if per := got.AllocedBytesPerOp(); per > 16<<20 {
				t.Fatalf("refusing the bomb allocated %d bytes", per)
			}
		})
	}
}

// TestXerialSnappy decodes snappy framed as Kafka's Java client writes it,
// and bounds the sum of its blocks.
func TestXerialSnappy(t *testing.T) {
	block := []byte(strings.Repeat("abcdefgh", 4096)) // 32 KiB
	framed := append([]byte(nil), xerialHeader...)
	framed = binary.BigEndian.AppendUint32(framed, 1)
	framed = binary.BigEndian.AppendUint32(framed, 1)
	for range 3 {
		enc := s2.EncodeSnappy(nil, block)
		framed = binary.BigEndian.AppendUint32(framed, uint32(len(enc)))
		framed = append(framed, enc...)
	}
	got, err := New(1<<20).Decompress(framed, kgo.CodecSnappy)
	if err != nil || !bytes.Equal(got, bytes.Repeat(block, 3)) {
		t.Fatalf("xerial: %d bytes, %v", len(got), err)
	}
	if _, err := New(64<<10).Decompress(framed, kgo.CodecSnappy); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("3 blocks of 32 KiB with a limit of 64 KiB: %v", err)
	}
	if _, err := New(1<<20).Decompress(framed[:len(framed)-1], kgo.CodecSnappy); err == nil {
		t.Fatal("a truncated xerial block decoded")
	}
}

func FuzzDecompress(f *testing.F) {
	for _, c := range codecs {
		comp, typ := compress(f, c.codec, []byte(strings.Repeat("fuzz me ", 100)))
		f.Add(int8(typ), comp)
	}
	const limit = 64 << 10
	d := New(limit)
	f.Fuzz(func(t *testing.T, codec int8, data []byte) {
		out, err := d.Decompress(data, kgo.CompressionCodecType(codec&7))
		if err == nil && codec&7 != 0 && len(out) > limit {
			t.Fatalf("%d bytes out with a limit of %d", len(out), limit)
		}
	})
}

// BenchmarkDecompress: one 64 KiB batch body of JSON, per codec.
func BenchmarkDecompress(b *testing.B) {
	data := []byte(strings.Repeat(`{"user":42,"action":"page_view","path":"/cart"}`, 1400))
	d := New(Default)
	for _, c := range codecs {
		b.Run(c.name, func(b *testing.B) {
			comp, typ := compress(b, c.codec, data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decompress(comp, typ); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
