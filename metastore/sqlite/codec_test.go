package sqlite

import (
	"reflect"
	"testing"
)

func TestSkipRoundTrip(t *testing.T) {
	for _, skip := range [][]int32{nil, {0}, {3, 7, 2147483647, -1}} {
		got, err := decodeSkip(encodeSkip(skip))
		if err != nil || !reflect.DeepEqual(got, skip) {
			t.Errorf("skip %v round-tripped to %v, %v", skip, got, err)
		}
	}
}

// FuzzDecodeSkip checks that whatever decodeSkip accepts round-trips to
// the same skip list.
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
