package metastore

import (
	"slices"
	"testing"
)

func TestRecentRoundTrip(t *testing.T) {
	for _, recent := range [][]RecentBatch{
		{},
		{{FirstSeq: 0, LastSeq: 4, BaseOffset: 10}},
		{{FirstSeq: 0, LastSeq: 4, BaseOffset: 100}, {FirstSeq: 5, LastSeq: 5, BaseOffset: 105}, {FirstSeq: 2147483640, LastSeq: 2147483647, BaseOffset: 1 << 50}},
		{{FirstSeq: 2147483640, LastSeq: 3, BaseOffset: 1 << 62}, {FirstSeq: 4, LastSeq: 4, BaseOffset: 0}},
		{{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {3, 3, 3}, {4, 4, -1}},
	} {
		enc := AppendRecent(nil, recent)
		got, err := DecodeRecent(enc)
		if err != nil || got == nil || !slices.Equal(got, recent) {
			t.Errorf("recent %v encoded as %s decoded to %v, %v", recent, enc, got, err)
		}
	}
	// As PostgreSQL prints jsonb.
	got, err := DecodeRecent([]byte(" [[0, 4, 100], [5, 5, 105]]\n"))
	if want := []RecentBatch{{0, 4, 100}, {5, 5, 105}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("jsonb text decoded to %v, %v", got, err)
	}
	if got := string(AppendRecent([]byte("x"), []RecentBatch{{1, 2, 3}})); got != "x[[1,2,3]]" {
		t.Errorf("AppendRecent wrote %q", got)
	}
	for _, bad := range []string{
		"", "null", "{}", "[1]", "[[1,2]]", "[[1,2,3,4]]", "[[1.5,2,3]]", "[[1,2,3e2]]",
		"[[-1,2,3]]", "[[1,-2,3]]", "[[1,2147483648,3]]", "[[1,2,9223372036854775808]]",
		"[[0,0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0]]", "[[0,0,0]] x", "[[0,0,0],]", "[",
	} {
		if got, err := DecodeRecent([]byte(bad)); err == nil {
			t.Errorf("DecodeRecent(%q) = %v, want an error", bad, got)
		}
	}
}

// FuzzDecodeRecent checks that stored producer state that decodes holds at
// most MaxRecentBatches valid sequences and re-encodes to a canonical form
// that decodes to the same batches.
func FuzzDecodeRecent(f *testing.F) {
	f.Add([]byte(`[[0,4,100],[5,5,105]]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[[1,2,3.5]]`))
	f.Add([]byte(`[[2147483647,0,9223372036854775807]]`))
	f.Add([]byte(`[[1, 2, 3e2]]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recent, err := DecodeRecent(b)
		if err != nil {
			return
		}
		if len(recent) > MaxRecentBatches {
			t.Fatalf("%d recent batches", len(recent))
		}
		for _, r := range recent {
			if r.FirstSeq < 0 || r.LastSeq < 0 {
				t.Fatalf("negative sequence %+v", r)
			}
		}
		enc := AppendRecent(nil, recent)
		again, err := DecodeRecent(enc)
		if err != nil || !slices.Equal(again, recent) {
			t.Fatalf("%q decoded to %v, re-encoded as %q, decoded to %v, %v", b, recent, enc, again, err)
		}
	})
}
