package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/topicconfig"
	"github.com/stratalog/strata/metastore"
)

// topicLoadTimeout bounds one load of a topic, which may serve several
// requests.
const topicLoadTimeout = 15 * time.Second

// topicInfo is a cached topic with its partitions and its configs parsed
// for the data path. It is never modified once cached.
type topicInfo struct {
	metastore.Topic
	parts  []metastore.Partition // ordered by number: parts[i].Partition == i
	loaded time.Time
	policy topicconfig.Policy // the topic's configs over the node's defaults
}

// partition returns partition p, or false when the topic has no such
// partition.
func (t *topicInfo) partition(p int32) (metastore.Partition, bool) {
	if p < 0 || int(p) >= len(t.parts) || t.parts[p].Partition != p {
		return metastore.Partition{}, false
	}
	return t.parts[p], true
}

func newTopicInfo(t metastore.Topic, parts []metastore.Partition, at time.Time, defaults topicconfig.Defaults) *topicInfo {
	info := &topicInfo{Topic: t, loaded: at}
	// A stored value the front door would refuse (written around it)
	// keeps the default, as it did when the topic was created.
	info.policy, _ = defaults.Policy(t.Configs)
	// Index by number; a gap (never expected) leaves a zero entry that
	// partition() refuses.
	n := len(parts)
	for _, p := range parts {
		n = max(n, int(p.Partition)+1)
	}
	info.parts = make([]metastore.Partition, n)
	for i := range info.parts {
		info.parts[i].Partition = -1
	}
	for _, p := range parts {
		if p.Partition >= 0 {
			info.parts[p.Partition] = p
		}
	}
	return info
}

// topicCache keeps topics by name and by id for a short time, so that
// Produce, Fetch and Metadata do not query the metastore per request.
// Concurrent loads of one topic share one pair of queries. This node's
// changes to a topic invalidate its entry at once; other nodes' changes are
// seen after at most the TTL.
//
// Names and ids the metastore does not know are cached too, for the same
// TTL, so that a client asking again and again for topics that do not exist
// (or a request naming thousands of them) costs one query per name and TTL
// rather than one per request. Creating a topic on this node forgets its
// name's entry at once; a topic another node creates is found within the
// TTL. At most maxUnknownTopics such entries are kept.
//
// When a load fails for another reason (the metastore is down), a topic
// whose entry has expired is still served from it: Metadata and the data
// path go on answering for the topics they knew, as a Kafka broker answers
// from its metadata cache while the controller is away.
type topicCache struct {
	meta     MetaStore
	ttl      time.Duration
	defaults topicconfig.Defaults
	now      func() time.Time
	m        *metrics

	mu         sync.Mutex
	byName     map[string]*topicInfo
	byID       map[uuid.UUID]*topicInfo
	unknown    map[string]unknownTopic // by flight key: names and ids the metastore did not know
	maxUnknown int                     // bound of unknown: maxUnknownTopics
	// unknownSweep is when the next entry of a full unknown expires: no
	// sweep before it, so that a flood of unknown names costs no scan
	// per name.
	unknownSweep time.Time
	flights      map[string]*topicFlight
	gen          uint64 // bumped by every invalidation
	sweepSize    int    // sweep expired entries when the maps grow past this

	list       *topicList  // every topic, for requests naming many (allTopics)
	listFlight *listFlight // the load of list in progress
}

// topicList is every topic by name, as one ListTopics query returned it.
type topicList struct {
	byName map[string]metastore.Topic
	loaded time.Time
	gen    uint64 // c.gen when the load started
}

type listFlight struct {
	done   chan struct{}
	byName map[string]metastore.Topic
	err    error
}

// unknownTopic is a cached answer that a topic does not exist.
type unknownTopic struct {
	err    error // as the metastore answered it
	loaded time.Time
}

// maxUnknownTopics bounds the cached unknown names and ids: a client
// naming a million topics that do not exist must not grow the cache
// without bound. Beyond it, unknown names are looked up every time.
const maxUnknownTopics = 10000

type topicFlight struct {
	done chan struct{}
	info *topicInfo
	err  error
}

const minSweepSize = 1024

func newTopicCache(meta MetaStore, ttl time.Duration, defaults topicconfig.Defaults, m *metrics) *topicCache {
	return &topicCache{
		meta:       meta,
		ttl:        ttl,
		defaults:   defaults,
		now:        time.Now,
		m:          m,
		byName:     map[string]*topicInfo{},
		byID:       map[uuid.UUID]*topicInfo{},
		unknown:    map[string]unknownTopic{},
		maxUnknown: maxUnknownTopics,
		flights:    map[string]*topicFlight{},
		sweepSize:  minSweepSize,
	}
}

// topicByName returns the topic named name: cached when fresh, otherwise
// loaded. The error wraps metastore.ErrUnknownTopic when there is none.
func (c *topicCache) topicByName(ctx context.Context, name string) (*topicInfo, error) {
	key := "n" + name
	c.mu.Lock()
	info, ok := c.byName[name]
	if hit, err, cached := c.cachedLocked(key, info, ok); cached {
		c.mu.Unlock()
		return hit, err
	}
	c.mu.Unlock()
	c.m.topicCache.WithLabelValues("miss").Inc()
	got, err := c.load(ctx, key, func(ctx context.Context) (metastore.Topic, error) {
		return c.meta.TopicByName(ctx, name)
	})
	return c.orStale(ctx, got, err, info, ok)
}

// topicByID is topicByName for a topic id.
func (c *topicCache) topicByID(ctx context.Context, id uuid.UUID) (*topicInfo, error) {
	key := "i" + id.String()
	c.mu.Lock()
	info, ok := c.byID[id]
	if hit, err, cached := c.cachedLocked(key, info, ok); cached {
		c.mu.Unlock()
		return hit, err
	}
	c.mu.Unlock()
	c.m.topicCache.WithLabelValues("miss").Inc()
	got, err := c.loadByID(ctx, id)
	return c.orStale(ctx, got, err, info, ok)
}

// cachedName reports whether a lookup of name would be answered from the
// cache, without a metastore query.
func (c *topicCache) cachedName(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	info, known := c.byName[name]
	u, unknown := c.unknown["n"+name]
	if !known && !unknown || c.ttl <= 0 {
		return false
	}
	now := c.now()
	return known && now.Sub(info.loaded) < c.ttl || unknown && now.Sub(u.loaded) < c.ttl
}

// allTopics returns every topic by name, from one ListTopics query kept
// for the TTL (and dropped by any change on this node), so that a
// Metadata request naming thousands of topics the cache does not know
// learns which exist with one query rather than one per name. Concurrent
// calls share the query.
func (c *topicCache) allTopics(ctx context.Context) (map[string]metastore.Topic, error) {
	c.mu.Lock()
	if l := c.list; l != nil && l.gen == c.gen && c.freshAt(l.loaded) {
		c.mu.Unlock()
		return l.byName, nil
	}
	f := c.listFlight
	if f == nil {
		f = &listFlight{done: make(chan struct{})}
		c.listFlight = f
		gen := c.gen
		go func() {
			defer close(f.done)
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), topicLoadTimeout)
			defer cancel()
			start := c.now()
			topics, err := c.meta.ListTopics(ctx)
			byName := make(map[string]metastore.Topic, len(topics))
			for _, t := range topics {
				byName[t.Name] = t
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.listFlight == f {
				c.listFlight = nil
			}
			f.byName, f.err = byName, err
			if err == nil && gen == c.gen && c.ttl > 0 {
				c.list = &topicList{byName: byName, loaded: start, gen: gen}
			}
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.byName, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// unknownName is the error of a name missing from the list of every
// topic: metastore.ErrUnknownTopic, with its text made only when asked
// for, since a request may name thousands.
type unknownName string

func (n unknownName) Error() string {
	return fmt.Sprintf("topic %q: %v", string(n), metastore.ErrUnknownTopic)
}
func (n unknownName) Unwrap() error { return metastore.ErrUnknownTopic }

// markUnknown caches that no topic is named name, as a lookup that found
// none would, and returns the error such a lookup returns.
func (c *topicCache) markUnknown(name string) error {
	err := unknownName(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ttl > 0 {
		c.cacheUnknownLocked("n"+name, err, c.now())
	}
	return err
}

// cachedID is cachedName for a topic id.
func (c *topicCache) cachedID(id uuid.UUID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if info, ok := c.byID[id]; ok && c.fresh(info) {
		return true
	}
	u, ok := c.unknown["i"+id.String()]
	return ok && c.freshAt(u.loaded)
}

// cachedLocked answers a lookup from the cache: info (the entry under the
// lookup's name or id, when ok) when fresh, or the cached error of an
// unknown topic. cached is false when the metastore must be asked. c.mu
// must be held.
func (c *topicCache) cachedLocked(key string, info *topicInfo, ok bool) (_ *topicInfo, _ error, cached bool) {
	if ok && c.fresh(info) {
		c.m.topicCache.WithLabelValues("hit").Inc()
		return info, nil, true
	}
	if u, ok := c.unknown[key]; ok && c.freshAt(u.loaded) {
		c.m.topicCache.WithLabelValues("unknown_hit").Inc()
		return nil, u.err, true
	}
	return nil, nil, false
}

// orStale returns a load's result, or, when the load failed because the
// metastore did (not because the topic is unknown), the expired entry old
// when there is one.
func (c *topicCache) orStale(ctx context.Context, got *topicInfo, err error, old *topicInfo, ok bool) (*topicInfo, error) {
	if err == nil || !ok || errors.Is(err, metastore.ErrUnknownTopic) || ctx.Err() != nil {
		return got, err
	}
	c.m.topicCache.WithLabelValues("stale").Inc()
	return old, nil
}

// listed returns a topic that ListTopics has just returned: cached when
// fresh, otherwise with its partitions read (the topic row is not read
// again).
func (c *topicCache) listed(ctx context.Context, t metastore.Topic) (*topicInfo, error) {
	c.mu.Lock()
	info, ok := c.byID[t.ID]
	if ok && c.fresh(info) {
		c.mu.Unlock()
		c.m.topicCache.WithLabelValues("hit").Inc()
		return info, nil
	}
	c.mu.Unlock()
	c.m.topicCache.WithLabelValues("miss").Inc()
	got, err := c.load(ctx, "i"+t.ID.String(), func(context.Context) (metastore.Topic, error) { return t, nil })
	return c.orStale(ctx, got, err, info, ok)
}

func (c *topicCache) loadByID(ctx context.Context, id uuid.UUID) (*topicInfo, error) {
	return c.load(ctx, "i"+id.String(), func(ctx context.Context) (metastore.Topic, error) {
		return c.meta.TopicByID(ctx, id)
	})
}

// refresh reloads info when it is older than minAge, for callers that have
// reason to believe it is out of date (a partition or a leader epoch they
// do not know). The bound keeps such callers from querying the metastore
// on every request. When the metastore fails, info is kept.
func (c *topicCache) refresh(ctx context.Context, info *topicInfo, minAge time.Duration) (*topicInfo, error) {
	if c.now().Sub(info.loaded) < minAge {
		return info, nil
	}
	c.mu.Lock()
	if cur, ok := c.byID[info.ID]; ok && cur != info {
		c.mu.Unlock()
		return cur, nil // reloaded meanwhile
	}
	c.mu.Unlock()
	got, err := c.loadByID(ctx, info.ID)
	return c.orStale(ctx, got, err, info, true)
}

// invalidate forgets the topic named name, so that the next lookup reads
// it again. Loads in flight are not used by later lookups.
func (c *topicCache) invalidate(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if info, ok := c.byName[name]; ok {
		c.dropLocked(info)
	}
	delete(c.byName, name)
	delete(c.unknown, "n"+name)
	clear(c.flights) // a load that started before the change must not serve after it
	c.listFlight = nil
}

func (c *topicCache) dropLocked(info *topicInfo) {
	if c.byName[info.Name] == info {
		delete(c.byName, info.Name)
	}
	if c.byID[info.ID] == info {
		delete(c.byID, info.ID)
	}
}

// fresh reports whether info may still be used. c.mu must be held.
func (c *topicCache) fresh(info *topicInfo) bool { return c.freshAt(info.loaded) }

// freshAt reports whether what was loaded at t may still be used.
func (c *topicCache) freshAt(t time.Time) bool {
	return c.ttl > 0 && c.now().Sub(t) < c.ttl
}

// load reads a topic and its partitions, sharing the queries with
// concurrent loads under the same key, and caches the result.
func (c *topicCache) load(ctx context.Context, key string, get func(context.Context) (metastore.Topic, error)) (*topicInfo, error) {
	c.mu.Lock()
	f, ok := c.flights[key]
	if !ok {
		f = &topicFlight{done: make(chan struct{})}
		c.flights[key] = f
		gen := c.gen
		c.mu.Unlock()
		go c.run(context.WithoutCancel(ctx), key, gen, f, get)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-f.done:
		return f.info, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *topicCache) run(ctx context.Context, key string, gen uint64, f *topicFlight, get func(context.Context) (metastore.Topic, error)) {
	defer close(f.done)
	ctx, cancel := context.WithTimeout(ctx, topicLoadTimeout)
	defer cancel()
	start := c.now()
	t, err := get(ctx)
	var parts []metastore.Partition
	if err == nil {
		parts, err = c.meta.Partitions(ctx, t.ID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	if err != nil {
		f.err = err
		if errors.Is(err, metastore.ErrUnknownTopic) && gen == c.gen && c.ttl > 0 {
			c.cacheUnknownLocked(key, err, start)
		}
		return
	}
	// Stamped with the time the load started: the data is at least that old.
	f.info = newTopicInfo(t, parts, start, c.defaults)
	if gen != c.gen || c.ttl <= 0 {
		return // invalidated meanwhile: serve the waiters, cache nothing
	}
	delete(c.unknown, "n"+t.Name)
	if old, ok := c.byName[t.Name]; ok && old.ID != t.ID {
		delete(c.byID, old.ID) // the name now belongs to a new topic
	}
	c.byName[t.Name] = f.info
	c.byID[t.ID] = f.info
	if len(c.byID) > c.sweepSize {
		c.sweepLocked()
	}
}

// cacheUnknownLocked records that the topic of a flight key does not
// exist, and forgets what the cache held under that name or id: the topic
// has been deleted. c.mu must be held.
func (c *topicCache) cacheUnknownLocked(key string, err error, at time.Time) {
	switch key[0] {
	case 'n':
		if info, ok := c.byName[key[1:]]; ok {
			c.dropLocked(info)
		}
	case 'i':
		if id, perr := uuid.Parse(key[1:]); perr == nil {
			if info, ok := c.byID[id]; ok {
				c.dropLocked(info)
			}
		}
	}
	if len(c.unknown) >= c.maxUnknown {
		now := c.now()
		if now.Before(c.unknownSweep) {
			return // full, and nothing has expired since the last sweep
		}
		oldest := now
		for k, u := range c.unknown {
			if !c.freshAt(u.loaded) {
				delete(c.unknown, k)
			} else if u.loaded.Before(oldest) {
				oldest = u.loaded
			}
		}
		c.unknownSweep = oldest.Add(c.ttl)
		if len(c.unknown) >= c.maxUnknown {
			return
		}
	}
	c.unknown[key] = unknownTopic{err: err, loaded: at}
}

// sweepLocked drops expired entries. c.mu must be held.
func (c *topicCache) sweepLocked() {
	for _, info := range c.byID {
		if !c.fresh(info) {
			c.dropLocked(info)
		}
	}
	for name, info := range c.byName {
		if !c.fresh(info) {
			delete(c.byName, name)
		}
	}
	c.sweepSize = max(minSweepSize, 2*len(c.byID))
}
