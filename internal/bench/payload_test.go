package bench

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func compressRatio(t testing.TB, values [][]byte) float64 {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	raw := bytes.Join(values, nil)
	return float64(len(raw)) / float64(len(enc.EncodeAll(raw, nil)))
}

func TestPayloads(t *testing.T) {
	for _, size := range []int{1024, 4096, 700} {
		vals := Payloads(PayloadJSON, size, 1)
		if len(vals) != poolSize {
			t.Fatalf("%d values, want %d", len(vals), poolSize)
		}
		seen := map[string]bool{}
		for i, v := range vals {
			if len(v) != size {
				t.Fatalf("size %d: value %d has %d bytes", size, i, len(v))
			}
			if !json.Valid(v) {
				t.Fatalf("size %d: value %d is not JSON: %s", size, i, v)
			}
			seen[string(v)] = true
		}
		if len(seen) != len(vals) {
			t.Errorf("size %d: only %d distinct values of %d", size, len(seen), len(vals))
		}
		// Event streams compress several times with zstd, not 100 times
		// (which would flatter the object store side of a benchmark).
		if r := compressRatio(t, vals); r < 2.5 || r > 8 {
			t.Errorf("size %d: JSON values compress %.2f:1, want between 2.5:1 and 8:1", size, r)
		}
	}
	rnd := Payloads(PayloadRandom, 1024, 1)
	if r := compressRatio(t, rnd); r > 1.05 {
		t.Errorf("random values compress %.2f:1, want about 1:1", r)
	}
	if !bytes.Equal(Payloads(PayloadJSON, 1024, 7)[3], Payloads(PayloadJSON, 1024, 7)[3]) {
		t.Error("the same seed gave different values")
	}
}

func BenchmarkPayloadsJSON(b *testing.B) {
	for b.Loop() {
		Payloads(PayloadJSON, 1024, 1)
	}
}
