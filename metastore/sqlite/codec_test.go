package sqlite

import (
	"reflect"
	"testing"

	"github.com/stratalog/strata/metastore"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, skip := range [][]int32{nil, {0}, {3, 7, 2147483647, -1}} {
		got, err := decodeSkip(encodeSkip(skip))
		if err != nil || !reflect.DeepEqual(got, skip) {
			t.Errorf("skip %v round-tripped to %v, %v", skip, got, err)
		}
	}
	for _, recent := range [][]metastore.RecentBatch{
		{},
		{{FirstSeq: 0, LastSeq: 4, BaseOffset: 10}},
		{{FirstSeq: 2147483640, LastSeq: 3, BaseOffset: 1 << 62}, {FirstSeq: 4, LastSeq: 4, BaseOffset: 0}},
	} {
		got, err := decodeRecent(encodeRecent(recent))
		if err != nil || !reflect.DeepEqual(got, recent) {
			t.Errorf("recent %v round-tripped to %v, %v", recent, got, err)
		}
	}
	for _, bad := range []string{"", "null", "{}", "[[1,2]]", "[[1,2,3,4]]", "[[1.5,2,3]]", "[[1,2147483648,3]]", "[1]"} {
		if _, err := decodeRecent([]byte(bad)); err == nil {
			t.Errorf("decodeRecent(%q) accepted", bad)
		}
	}
}

// FuzzDecodeRecent checks that whatever decodeRecent accepts re-encodes to
// a canonical form that decodes to the same batches.
func FuzzDecodeRecent(f *testing.F) {
	f.Add([]byte(`[[0,4,10],[5,9,15]]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[[2147483647,0,9223372036854775807]]`))
	f.Add([]byte(`[[1, 2, 3e2]]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recent, err := decodeRecent(b)
		if err != nil {
			return
		}
		enc := encodeRecent(recent)
		again, err := decodeRecent(enc)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(again, recent) {
			t.Fatalf("%q decoded to %v, re-encoded as %q, decoded to %v", b, recent, enc, again)
		}
	})
}

// FuzzDecodeSkip checks the same for chunk skip lists.
func FuzzDecodeSkip(f *testing.F) {
	f.Add([]byte(`[0,3]`))
	f.Add([]byte(``))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		skip, err := decodeSkip(b)
		if err != nil {
			return
		}
		again, err := decodeSkip(encodeSkip(skip))
		if err != nil || !reflect.DeepEqual(again, skip) {
			t.Fatalf("%q decoded to %v, round-tripped to %v, %v", b, skip, again, err)
		}
	})
}
