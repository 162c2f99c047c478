// Package bufpool recycles byte buffers by power-of-two capacity, for the
// hot paths that would otherwise allocate, zero and regrow a buffer per
// request or per segment: request frames in internal/kafka, partition
// buffers of the open segment in ingest. A buffer given back must not be
// used again, nor any slice of it: whoever calls Put owns that promise.
package bufpool

import "sync"

const (
	minSize = 1 << 10 // the smallest pooled capacity
	classes = 22      // minSize << 21 = 2 GiB
)

var pools [classes]sync.Pool

// class returns the class of the smallest pooled capacity of at least n,
// or classes when n is larger than the largest.
func class(n int) int {
	c := 0
	for size := minSize; size < n; size <<= 1 {
		if c++; c == classes {
			break // before size overflows where int is 32 bits
		}
	}
	return c
}

// Get returns an empty buffer with room for at least n bytes. Its bytes
// are not zeroed: they may hold what its last user wrote.
func Get(n int) []byte {
	c := class(n)
	if c >= classes {
		return make([]byte, 0, n)
	}
	if b, ok := pools[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, minSize<<c)
}

// Put gives a buffer back for reuse. Buffers whose capacity is not one of
// the pool's (not from Get, or resliced from the front) are dropped.
func Put(b []byte) {
	c := class(cap(b))
	if c >= classes || minSize<<c != cap(b) {
		return
	}
	b = b[:0]
	pools[c].Put(&b)
}

// Append appends data to b, moving to a pooled buffer of twice the room
// when b is full and giving b back. b must be from Get (or nil).
func Append(b, data []byte) []byte {
	if len(b)+len(data) <= cap(b) {
		return append(b, data...)
	}
	nb := Get(max(2*cap(b), len(b)+len(data)))
	nb = append(append(nb, b...), data...)
	Put(b)
	return nb
}
