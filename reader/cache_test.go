package reader

import (
	"testing"
	"time"
)

func TestCacheLRU(t *testing.T) {
	var reported int64
	c := newCache(3*(100+entryOverhead), func(n int64) { reported = n })
	key := func(i int) cacheKey { return cacheKey{object: "o", start: int64(i)} }
	for i := range 3 {
		c.add(key(i), i, 100, 0)
	}
	if _, ok := c.get(key(0)); !ok { // 0 becomes the most recently used
		t.Fatal("entry 0 missing")
	}
	c.add(key(3), 3, 100, 0) // evicts 1, the least recently used
	if _, ok := c.get(key(1)); ok {
		t.Fatal("least recently used entry not evicted")
	}
	for _, i := range []int{0, 2, 3} {
		if v, ok := c.get(key(i)); !ok || v.(int) != i {
			t.Fatalf("entry %d: %v %v", i, v, ok)
		}
	}
	if c.bytes() != 3*(100+entryOverhead) || reported != c.bytes() {
		t.Fatalf("bytes %d, reported %d", c.bytes(), reported)
	}

	// Replacing an entry does not count it twice; a value larger than the
	// bound is not stored and evicts nothing.
	c.add(key(2), 22, 100, 0)
	c.add(key(9), 9, 10_000, 0)
	if c.len() != 3 || c.bytes() != 3*(100+entryOverhead) {
		t.Fatalf("%d entries, %d bytes", c.len(), c.bytes())
	}
	// A big entry evicts as many as needed.
	c.add(key(4), 4, 400, 0)
	if c.len() != 1 || c.bytes() != 400+entryOverhead {
		t.Fatalf("after a large add: %d entries, %d bytes", c.len(), c.bytes())
	}
	c.drop(key(4))
	if c.len() != 0 || c.bytes() != 0 || reported != 0 {
		t.Fatalf("after drop: %d entries, %d bytes, reported %d", c.len(), c.bytes(), reported)
	}
}

func TestCacheTTL(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCache(1<<20, nil)
	c.now = func() time.Time { return now }
	c.add(cacheKey{object: "obj", start: wholeObject}, []byte("x"), 1, time.Second)
	c.add(cacheKey{object: "obj"}, []byte("y"), 1, 0)
	now = now.Add(999 * time.Millisecond)
	if _, ok := c.get(cacheKey{object: "obj", start: wholeObject}); !ok {
		t.Fatal("entry expired early")
	}
	now = now.Add(2 * time.Millisecond)
	if _, ok := c.get(cacheKey{object: "obj", start: wholeObject}); ok {
		t.Fatal("expired entry returned")
	}
	if _, ok := c.get(cacheKey{object: "obj"}); !ok {
		t.Fatal("entry without ttl expired")
	}
	if c.len() != 1 || c.bytes() != 1+entryOverhead {
		t.Fatalf("expired entry still accounted: %d entries %d bytes", c.len(), c.bytes())
	}
}
