package decompress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// read reads a Stream of data to its end.
func read(s *Stream, data []byte, codec int8) ([]byte, error) {
	r, err := s.Open(data, codec)
	if err != nil {
		return nil, err
	}
	defer s.Release()
	return io.ReadAll(r)
}

func TestStreamRoundTrip(t *testing.T) {
	data := []byte(strings.Repeat(`{"user":42,"action":"page_view","path":"/cart"}`, 2000))
	s := NewStream(1 << 20)
	for _, c := range codecs {
		comp, typ := compress(t, c.codec, data)
		// Twice: the second time with the decoders the first one left.
		for range 2 {
			got, err := read(s, comp, int8(typ))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: %d bytes, %v; want %d bytes", c.name, len(got), err, len(data))
			}
		}
	}
	// Xerial-framed snappy, block by block.
	block := []byte(strings.Repeat("abcdefgh", 4096))
	framed := append([]byte(nil), xerialHeader...)
	framed = binary.BigEndian.AppendUint32(framed, 1)
	framed = binary.BigEndian.AppendUint32(framed, 1)
	for range 3 {
		enc := s2.EncodeSnappy(nil, block)
		framed = binary.BigEndian.AppendUint32(framed, uint32(len(enc)))
		framed = append(framed, enc...)
	}
	if got, err := read(s, framed, 2); err != nil || !bytes.Equal(got, bytes.Repeat(block, 3)) {
		t.Fatalf("xerial: %d bytes, %v", len(got), err)
	}
	if _, err := read(NewStream(64<<10), framed, 2); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("xerial past the bound: %v", err)
	}
}

// TestStreamBomb: 64 MiB of zeros with a bound of 1 MiB fails with
// ErrTooLarge in every codec; the streaming codecs allocate far less than
// their output.
func TestStreamBomb(t *testing.T) {
	zeros := make([]byte, 64<<20)
	for _, c := range codecs {
		comp, typ := compress(t, c.codec, zeros)
		s := NewStream(1 << 20)
		var err error
		got := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				_, err = read(s, comp, int8(typ))
			}
		})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%s: %v, want ErrTooLarge", c.name, err)
		}
		if per := got.AllocedBytesPerOp(); per > 8<<20 {
			t.Fatalf("%s: refusing the bomb allocated %d bytes", c.name, per)
		}
	}
}

// FuzzStream: a Stream never panics, never yields more than its bound, and
// agrees with Decompress on what decodes.
func FuzzStream(f *testing.F) {
	for _, c := range codecs {
		comp, typ := compress(f, c.codec, []byte(strings.Repeat("fuzz me ", 100)))
		f.Add(int8(typ), comp)
	}
	const limit = 64 << 10
	d, s := New(limit), NewStream(limit)
	f.Fuzz(func(t *testing.T, codec int8, data []byte) {
		codec = codec&3 + 1
		got, err := read(s, data, codec)
		if len(got) > limit {
			t.Fatalf("%d bytes out with a bound of %d", len(got), limit)
		}
		want, werr := d.Decompress(data, kgo.CompressionCodecType(codec))
		if err == nil && werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("codec %d: stream and Decompress disagree", codec)
		}
	})
}
