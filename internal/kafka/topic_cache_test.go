package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/topicconfig"
	"github.com/stratalog/strata/metastore"
)

// TestTopicCacheExpiry: entries serve until the TTL, other nodes' changes
// show after it, invalidation and refresh read again, and concurrent misses
// share one load.
func TestTopicCacheExpiry(t *testing.T) {
	ctx := testContext(t)
	store := newTestStore(t)
	counting := &countingStore{MetaStore: store}
	c := newTopicCache(counting, time.Second, topicconfig.Defaults{}, newMetrics(nil))
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c.now = func() time.Time { return time.Unix(0, now.Load()) }
	advance := func(d time.Duration) { now.Add(int64(d)) }

	topic, err := store.CreateTopic(ctx, "t", 2, map[string]string{"max.message.bytes": "500", "message.timestamp.type": "LogAppendTime"})
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent misses share one load.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.topicByName(ctx, "t"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := counting.lookups.Load(); got != 1 {
		t.Fatalf("20 concurrent lookups made %d metastore queries, want 1", got)
	}
	info, err := c.topicByID(ctx, topic.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.parts) != 2 || info.policy.MaxMessageBytes != 500 || !info.policy.LogAppendTime {
		t.Fatalf("cached %+v", info)
	}
	if _, ok := info.partition(2); ok {
		t.Fatal("partition 2 exists")
	}

	// Another node adds partitions: seen after the TTL.
	if err := store.CreatePartitions(ctx, "t", 4); err != nil {
		t.Fatal(err)
	}
	advance(500 * time.Millisecond)
	if info, _ := c.topicByName(ctx, "t"); len(info.parts) != 2 {
		t.Fatalf("%d partitions before the TTL", len(info.parts))
	}
	advance(600 * time.Millisecond)
	if info, _ := c.topicByName(ctx, "t"); len(info.parts) != 4 {
		t.Fatalf("%d partitions after the TTL, want 4", len(info.parts))
	}
	if got := counting.lookups.Load(); got != 2 {
		t.Fatalf("%d queries, want 2", got)
	}

	// refresh reads again only when the entry is old enough.
	info, _ = c.topicByName(ctx, "t")
	if again, _ := c.refresh(ctx, info, staleAfter); again != info {
		t.Fatal("refresh of a young entry read it again")
	}
	advance(staleAfter)
	if again, _ := c.refresh(ctx, info, staleAfter); again == info {
		t.Fatal("refresh of an old entry did not read it again")
	}

	// invalidate forgets at once.
	before := counting.lookups.Load()
	c.invalidate("t")
	if _, err := c.topicByName(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if got := counting.lookups.Load() - before; got != 1 {
		t.Fatalf("lookup after invalidate made %d queries, want 1", got)
	}

	// Unknown topics are cached for the TTL too: see
	// TestTopicCacheUnknownNames.
	before = counting.lookups.Load()
	for range 3 {
		if _, err := c.topicByName(ctx, "nope"); !errors.Is(err, metastore.ErrUnknownTopic) {
			t.Fatalf("unknown topic: %v", err)
		}
	}
	if got := counting.lookups.Load() - before; got != 1 {
		t.Fatalf("3 lookups of an unknown topic made %d queries, want 1", got)
	}
	// A topic another node creates meanwhile is found after the TTL.
	if _, err := store.CreateTopic(ctx, "nope", 1, nil); err != nil {
		t.Fatal(err)
	}
	advance(time.Second)
	if _, err := c.topicByName(ctx, "nope"); err != nil {
		t.Fatalf("topic created after a miss: %v", err)
	}

	// A deleted topic disappears after the TTL.
	if err := store.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	advance(time.Second)
	if _, err := c.topicByID(ctx, topic.ID); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Fatalf("deleted topic: %v", err)
	}
}

// TestTopicCacheUnknownNames: a name or id the metastore does not know is
// cached for the TTL, so that asking again costs no query; creating the
// topic on this node forgets the entry at once, another node's creation is
// seen within the TTL, and the entries are bounded.
func TestTopicCacheUnknownNames(t *testing.T) {
	ctx := testContext(t)
	store := newTestStore(t)
	counting := &countingStore{MetaStore: store}
	c := newTopicCache(counting, time.Second, topicconfig.Defaults{}, newMetrics(nil))
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c.now = func() time.Time { return time.Unix(0, now.Load()) }
	advance := func(d time.Duration) { now.Add(int64(d)) }
	queries := func(f func()) int64 {
		t.Helper()
		before := counting.lookups.Load()
		f()
		return counting.lookups.Load() - before
	}
	unknown := func(name string) {
		t.Helper()
		if _, err := c.topicByName(ctx, name); !errors.Is(err, metastore.ErrUnknownTopic) {
			t.Fatalf("%s: %v, want unknown topic", name, err)
		}
	}

	if n := queries(func() {
		for range 5 {
			unknown("missing")
		}
	}); n != 1 {
		t.Fatalf("5 lookups of an unknown name made %d queries, want 1", n)
	}
	if !c.cachedName("missing") || c.cachedName("never-asked") {
		t.Fatal("cachedName does not tell cached answers")
	}
	// Created on this node (which invalidates the name): found at once.
	if _, err := store.CreateTopic(ctx, "missing", 1, nil); err != nil {
		t.Fatal(err)
	}
	c.invalidate("missing")
	if _, err := c.topicByName(ctx, "missing"); err != nil {
		t.Fatalf("topic created on this node after a miss: %v", err)
	}

	// Created on another node: the cached miss holds until the TTL.
	unknown("elsewhere")
	if _, err := store.CreateTopic(ctx, "elsewhere", 1, nil); err != nil {
		t.Fatal(err)
	}
	advance(500 * time.Millisecond)
	unknown("elsewhere")
	advance(600 * time.Millisecond)
	if _, err := c.topicByName(ctx, "elsewhere"); err != nil {
		t.Fatalf("topic created elsewhere, after the TTL: %v", err)
	}

	// Unknown ids are cached as well.
	id := uuid.New()
	if n := queries(func() {
		for range 3 {
			if _, err := c.topicByID(ctx, id); !errors.Is(err, metastore.ErrUnknownTopic) {
				t.Fatalf("unknown id: %v", err)
			}
		}
	}); n != 1 {
		t.Fatalf("3 lookups of an unknown id made %d queries, want 1", n)
	}

	// A topic deleted by another node is unknown after the TTL, and its
	// old entry is gone: it is not served even when the metastore fails.
	if err := store.DeleteTopic(ctx, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	advance(time.Second)
	unknown("elsewhere")
	c.mu.Lock()
	_, kept := c.byName["elsewhere"]
	c.mu.Unlock()
	if kept {
		t.Fatal("deleted topic still cached")
	}

	// Bounded: beyond maxUnknown fresh entries, names are not cached.
	c.maxUnknown = 50
	advance(time.Second)
	for i := range c.maxUnknown + 10 {
		unknown(fmt.Sprintf("flood-%d", i))
	}
	c.mu.Lock()
	size := len(c.unknown)
	c.mu.Unlock()
	if size > c.maxUnknown {
		t.Fatalf("%d unknown entries cached, bound %d", size, c.maxUnknown)
	}
	// Once they expire, room is made again.
	advance(time.Second)
	unknown("after-flood")
	if !c.cachedName("after-flood") {
		t.Fatal("expired unknown entries not dropped when full")
	}
}

// failingStore fails every topic lookup while down is set.
type failingStore struct {
	MetaStore
	down atomic.Bool
}

func (f *failingStore) TopicByName(ctx context.Context, name string) (metastore.Topic, error) {
	if f.down.Load() {
		return metastore.Topic{}, errors.New("connection refused")
	}
	return f.MetaStore.TopicByName(ctx, name)
}

func (f *failingStore) TopicByID(ctx context.Context, id uuid.UUID) (metastore.Topic, error) {
	if f.down.Load() {
		return metastore.Topic{}, errors.New("connection refused")
	}
	return f.MetaStore.TopicByID(ctx, id)
}

// TestTopicCacheStaleWhileMetastoreFails: an expired entry is served when
// the metastore fails, and the next lookup after it is back reads again.
func TestTopicCacheStaleWhileMetastoreFails(t *testing.T) {
	ctx := testContext(t)
	store := newTestStore(t)
	failing := &failingStore{MetaStore: store}
	c := newTopicCache(failing, time.Second, topicconfig.Defaults{}, newMetrics(nil))
	var now atomic.Int64
	c.now = func() time.Time { return time.Unix(0, now.Load()) }
	topic, err := store.CreateTopic(ctx, "t", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.topicByName(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	failing.down.Store(true)
	now.Add(int64(time.Minute))
	for _, lookup := range []func() (*topicInfo, error){
		func() (*topicInfo, error) { return c.topicByName(ctx, "t") },
		func() (*topicInfo, error) { return c.topicByID(ctx, topic.ID) },
		func() (*topicInfo, error) { return c.refresh(ctx, info, 0) },
	} {
		if got, err := lookup(); err != nil || got != info {
			t.Fatalf("lookup while the metastore fails: %v, %v; want the expired entry", got, err)
		}
	}
	// A topic never loaded has nothing to fall back on.
	if _, err := c.topicByName(ctx, "other"); err == nil || errors.Is(err, metastore.ErrUnknownTopic) {
		t.Fatalf("uncached topic while the metastore fails: %v", err)
	}
	failing.down.Store(false)
	if got, err := c.topicByName(ctx, "t"); err != nil || got == info {
		t.Fatalf("after the metastore is back: %v, %v; want a new entry", got, err)
	}
}
