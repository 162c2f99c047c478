package kafka

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/metastore"
)

// TestTopicCacheExpiry: entries serve until the TTL, other nodes' changes
// show after it, invalidation and refresh read again, concurrent misses
// share one load, and unknown topics are not cached.
func TestTopicCacheExpiry(t *testing.T) {
	ctx := testContext(t)
	store := newTestStore(t)
	counting := &countingStore{MetaStore: store}
	c := newTopicCache(counting, time.Second, newMetrics(nil))
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
	if len(info.parts) != 2 || info.maxMessageBytes != 500 || !info.logAppendTime {
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

	// Unknown topics are not cached.
	before = counting.lookups.Load()
	for range 3 {
		if _, err := c.topicByName(ctx, "nope"); !errors.Is(err, metastore.ErrUnknownTopic) {
			t.Fatalf("unknown topic: %v", err)
		}
	}
	if got := counting.lookups.Load() - before; got != 3 {
		t.Fatalf("3 lookups of an unknown topic made %d queries", got)
	}
	// A topic created meanwhile is found at once.
	if _, err := store.CreateTopic(ctx, "nope", 1, nil); err != nil {
		t.Fatal(err)
	}
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
