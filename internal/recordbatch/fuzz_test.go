package recordbatch

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func fuzzSeeds() [][]byte {
	one := build(spec{values: []string{"v"}, pid: -1, epoch: -1, seq: -1})
	many := build(spec{values: values(20, 30), pid: 5, epoch: 1, seq: 17, attributes: 0x10})
	zstd := build(spec{values: []string{"a", "b"}, payload: []byte("\x28\xb5\x2f\xfd opaque"), attributes: CompressionZstd, pid: -1, epoch: -1, seq: -1})
	return [][]byte{
		nil,
		one,
		many,
		zstd,
		append(bytes.Clone(one), many...),
		append(append(bytes.Clone(many), zstd...), one[:40]...),
		one[:HeaderSize],
		bytes.Repeat([]byte{0xff}, 80),
	}
}

// headerBytes re-encodes a header with franz-go's encoder.
func headerBytes(h Header) []byte {
	kb := kmsg.RecordBatch{
		FirstOffset: h.BaseOffset, Length: h.BatchLength, PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Magic: h.Magic, CRC: int32(h.CRC), Attributes: h.Attributes, LastOffsetDelta: h.LastOffsetDelta,
		FirstTimestamp: h.BaseTimestamp, MaxTimestamp: h.MaxTimestamp, ProducerID: h.ProducerID,
		ProducerEpoch: h.ProducerEpoch, FirstSequence: h.BaseSequence, NumRecords: h.NumRecords,
	}
	return kb.AppendTo(nil)
}

// kindOf returns the single sentinel an error wraps, failing otherwise.
func kindOf(t *testing.T, err error) error {
	t.Helper()
	var kinds []error
	for _, k := range []error{ErrTruncated, ErrCorrupt, ErrInvalid} {
		if errors.Is(err, k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		t.Fatalf("error %v wraps %d sentinels, want exactly 1", err, len(kinds))
	}
	return kinds[0]
}

// FuzzCheck feeds random bytes and mutations of valid batches to
// ParseHeader, Check and Split and checks their invariants.
func FuzzCheck(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)

		ph, perr := ParseHeader(data)
		h, err := Check(data)
		if err != nil {
			kindOf(t, err)
		} else {
			if perr != nil || ph != h {
				t.Fatalf("Check accepted what ParseHeader rejected: %v", perr)
			}
			if h.Size() != len(data) {
				t.Fatalf("Check accepted %d bytes for a %d-byte batch", len(data), h.Size())
			}
			if h.Magic != Magic || h.NumRecords <= 0 || int64(h.LastOffsetDelta) != int64(h.NumRecords)-1 {
				t.Fatalf("Check accepted header %+v", h)
			}
			if h.ProducerID >= 0 && (h.ProducerEpoch < 0 || h.BaseSequence < 0) || h.ProducerID < -1 {
				t.Fatalf("Check accepted producer fields %+v", h)
			}
			if enc := headerBytes(h); !bytes.Equal(enc, data[:HeaderSize]) {
				t.Fatalf("header re-encodes to %x, input %x", enc, data[:HeaderSize])
			}
		}
		if perr != nil && err == nil {
			t.Fatalf("ParseHeader failed (%v) but Check passed", perr)
		}

		// With length and CRC made right, only field checks can fail, and
		// they must fail with ErrInvalid.
		if len(data) >= HeaderSize {
			fixed := bytes.Clone(data)
			fixup(fixed)
			if _, err := Check(fixed); err != nil && kindOf(t, err) != ErrInvalid {
				t.Fatalf("batch with correct length and CRC failed with %v", err)
			}
		}

		// Split: batches tile a prefix of the input, each re-checks to the
		// header given, and the valid prefix re-splits the same.
		var got [][]byte
		var heads []Header
		consumed := 0
		serr := Split(data, func(batch []byte, h Header) error {
			if len(batch) > len(data)-consumed || !bytes.Equal(batch, data[consumed:consumed+len(batch)]) {
				t.Fatalf("batch %d is not the next %d input bytes", len(got), len(batch))
			}
			h2, err := Check(batch)
			if err != nil || h2 != h {
				t.Fatalf("batch %d does not re-check: %v", len(got), err)
			}
			consumed += len(batch)
			got = append(got, batch)
			heads = append(heads, h)
			return nil
		})
		if consumed > len(data) {
			t.Fatalf("Split yielded %d bytes of %d", consumed, len(data))
		}
		if serr == nil && consumed != len(data) {
			t.Fatalf("Split succeeded after %d of %d bytes", consumed, len(data))
		}
		if serr != nil {
			kindOf(t, serr)
			n := 0
			if err := Split(data[:consumed], func(batch []byte, h Header) error {
				if n >= len(got) || !bytes.Equal(batch, got[n]) || h != heads[n] {
					t.Fatalf("valid prefix re-splits differently at batch %d", n)
				}
				n++
				return nil
			}); err != nil || n != len(got) {
				t.Fatalf("valid prefix of %d bytes: %v after %d batches, want %d", consumed, err, n, len(got))
			}
		}
		if len(got) == 1 && consumed == len(data) && err != nil {
			t.Fatalf("Split accepted the input as one batch but Check said %v", err)
		}
		if !bytes.Equal(data, in) {
			t.Fatal("input modified")
		}
	})
}
