package bufpool

import (
	"bytes"
	"testing"
)

func TestClasses(t *testing.T) {
	for _, tc := range []struct{ n, cap int }{
		{0, minSize}, {1, minSize}, {minSize, minSize}, {minSize + 1, 2 * minSize}, {64 << 10, 64 << 10}, {64<<10 + 1, 128 << 10},
	} {
		if b := Get(tc.n); len(b) != 0 || cap(b) != tc.cap {
			t.Errorf("Get(%d): len %d cap %d, want 0 and %d", tc.n, len(b), cap(b), tc.cap)
		}
	}
	// A capacity the pool does not make is not taken back.
	Put(make([]byte, 0, minSize+10))
	if b := Get(minSize + 10); cap(b) != 2*minSize {
		t.Errorf("Get returned a buffer of %d bytes", cap(b))
	}
}

func TestAppend(t *testing.T) {
	var b, want []byte
	for i := range 3000 {
		piece := bytes.Repeat([]byte{byte(i)}, i%50)
		b = Append(b, piece)
		want = append(want, piece...)
	}
	if !bytes.Equal(b, want) {
		t.Fatal("appended bytes differ")
	}
	if c := cap(b); c&(c-1) != 0 || c < len(b) {
		t.Fatalf("capacity %d for %d bytes: not a pooled size", c, len(b))
	}
	Put(b)
}
