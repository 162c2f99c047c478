package share

import (
	"reflect"
	"testing"
)

// FuzzDecode: any stored value decodes or fails with ErrCorruptState,
// never panics, and what decodes encodes back to the same state.
func FuzzDecode(f *testing.F) {
	p := New(0)
	p.Acquire(1, "m", 0, 10, 5, DefaultLimits)
	_ = p.Acknowledge(2, "m", []Ack{{First: 0, Last: 1, Types: []AckType{AckAccept, AckRelease}}}, DefaultLimits)
	f.Add(p.Encode())
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decode(0, b)
		if err != nil {
			return
		}
		again, err := Decode(0, got.Encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(got.Records) == 0 && len(again.Records) == 0 {
			return
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v", got, again)
		}
	})
}
