package compactor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/metastore"
)

// TestRoundExpiresIdleProducers: a round forgets the idempotent producers
// idle for ProducerIDExpiration, so that their rows stay bounded; a busy
// one keeps its state, and its retries are still recognised.
func TestRoundExpiresIdleProducers(t *testing.T) {
	e := newEnv(t)
	tp := e.topic("producers", 1, nil)
	ctx := t.Context()
	idle, err := e.store.AllocateProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.appendOne(tp.ID, 0, batchtest.Values(batchtest.Options{ProducerID: idle, BaseSequence: 0}, "a", "b"))

	cfg := testConfig()
	noMerges(&cfg)
	cfg.ProducerIDExpiration = time.Hour
	c, _ := e.compactor(cfg, nil)
	if st := runOnce(t, c); st.ProducersExpired != 0 {
		t.Fatalf("expired %d producers that wrote a moment ago", st.ProducersExpired)
	}
	// The retry of the first batch is recognised: same offset, not stored.
	if off := e.appendOne(tp.ID, 0, batchtest.Values(batchtest.Options{ProducerID: idle, BaseSequence: 0}, "a", "b")); off != 0 {
		t.Fatalf("retry stored again at %d", off)
	}

	c.cfg.ProducerIDExpiration = time.Nanosecond
	if st := runOnce(t, c); st.ProducersExpired != 1 {
		t.Fatalf("expired %d producers, want the idle one", st.ProducersExpired)
	}
	// Forgotten: the same retry is now new records.
	if off := e.appendOne(tp.ID, 0, batchtest.Values(batchtest.Options{ProducerID: idle, BaseSequence: 0}, "a", "b")); off != 2 {
		t.Fatalf("after expiry the batch got offset %d, want 2", off)
	}
}

// panickyStore panics in ListTopics, as a bug in a round would.
type panickyStore struct{ Metastore }

func (panickyStore) ListTopics(context.Context) ([]metastore.Topic, error) { panic("injected") }

// TestPanickingRoundStopsRun: a round that panics makes Run return
// ErrPanicked, which stops the node cleanly, instead of taking the
// process down in the middle of its work.
func TestPanickingRoundStopsRun(t *testing.T) {
	e := newEnv(t)
	c, _ := e.compactor(testConfig(), panickyStore{e.store})
	if err := c.Run(t.Context()); !errors.Is(err, ErrPanicked) {
		t.Fatalf("Run after a panicking round: %v, want ErrPanicked", err)
	}
}
