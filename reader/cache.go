package reader

import (
	"sync"
	"time"
)

// cacheKey names a cache entry: a decoded chunk by its object and byte
// offset, the compressed bytes of a chunk fetched ahead by a span
// (compressed), or a whole compressed object (start wholeObject).
type cacheKey struct {
	object     string
	start      int64
	compressed bool
}

const wholeObject = -1

// entryOverhead approximates the memory of an entry besides its value.
const entryOverhead = 128

type entry struct {
	key        cacheKey
	value      any // *chunk.Data or []byte (compressed bytes)
	size       int64
	expires    time.Time // zero: no expiry
	prev, next *entry
}

// cache is a byte-bounded LRU. One mutex guards it; it is a leaf lock:
// nothing else is locked while it is held, and no callback runs under it.
type cache struct {
	mu      sync.Mutex
	max     int64
	used    int64
	entries map[cacheKey]*entry
	head    entry // sentinel: head.next is the most recently used
	onSize  func(int64)
	now     func() time.Time
}

func newCache(max int64, onSize func(int64)) *cache {
	c := &cache{max: max, entries: make(map[cacheKey]*entry), onSize: onSize, now: time.Now}
	c.head.next, c.head.prev = &c.head, &c.head
	return c
}

// get returns the value under k, marking it recently used. Expired entries
// are dropped and reported missing.
func (c *cache) get(k cacheKey) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	if !e.expires.IsZero() && c.now().After(e.expires) {
		c.remove(e)
		c.report()
		return nil, false
	}
	c.unlink(e)
	c.pushFront(e)
	return e.value, true
}

// contains reports whether k is cached, without marking it used.
func (c *cache) contains(k cacheKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	return ok && (e.expires.IsZero() || !c.now().After(e.expires))
}

// add stores v under k, replacing any previous value, and evicts the least
// recently used entries until the cache fits its bound. A value larger than
// the whole bound is not stored. ttl 0 means no expiry.
func (c *cache) add(k cacheKey, v any, size int64, ttl time.Duration) {
	size += entryOverhead
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[k]; ok {
		c.remove(old)
	}
	e := &entry{key: k, value: v, size: size}
	if ttl > 0 {
		e.expires = c.now().Add(ttl)
	}
	c.entries[k] = e
	c.pushFront(e)
	c.used += size
	for c.used > c.max {
		c.remove(c.head.prev)
	}
	c.report()
}

// drop removes the entry under k, if any.
func (c *cache) drop(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		c.remove(e)
		c.report()
	}
}

// demote marks the entry under k, if any, as the first to evict.
func (c *cache) demote(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		c.unlink(e)
		e.prev = c.head.prev
		e.next = &c.head
		c.head.prev.next = e
		c.head.prev = e
	}
}

// bytes returns the bytes accounted to the cache's entries.
func (c *cache) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *cache) remove(e *entry) {
	c.unlink(e)
	delete(c.entries, e.key)
	c.used -= e.size
}

func (c *cache) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (c *cache) pushFront(e *entry) {
	e.prev = &c.head
	e.next = c.head.next
	c.head.next.prev = e
	c.head.next = e
}

func (c *cache) report() {
	if c.onSize != nil {
		c.onSize(c.used)
	}
}
