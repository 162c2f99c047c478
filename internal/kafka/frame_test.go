package kafka

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/stratalog/strata/internal/bufpool"
)

// TestFramesRecycled: frames read one after another into recycled buffers
// hold exactly their own bytes, whatever the previous frame left there.
func TestFramesRecycled(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var stream bytes.Buffer
	var want [][]byte
	for _, n := range []int{3 << 20, 100, 70 << 10, 3<<20 - 5, 0, 1 << 20} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		want = append(want, body)
		stream.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
		stream.Write(body)
	}
	r := iotest.HalfReader(&stream) // short reads, as from a socket
	head := make([]byte, 4+headerSize)
	for i, w := range want {
		frame, n, err := readFrame(r, head, 8<<20, nil, nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if n != 4+len(w) || !bytes.Equal(frame, w) {
			t.Fatalf("frame %d: read %d bytes, content equal %v", i, n, bytes.Equal(frame, w))
		}
		bufpool.Put(frame)
	}
	if _, _, err := readFrame(r, head, 8<<20, nil, nil); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}
