package reader

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/metastore"
)

// moveLeader moves partition p of the env's topic to node to, raising its
// leader epoch, as the controller does, and returns the new epoch.
func (e *env) moveLeader(p, to int32) int32 {
	e.t.Helper()
	ctx := context.Background()
	cs, ok := e.store.(metastore.ClusterStore)
	if !ok {
		e.t.Fatalf("%T is not a ClusterStore", e.store)
	}
	instance := uuid.New()
	term, err := cs.AcquireController(ctx, 1, instance, time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = cs.ReleaseController(ctx, instance) }()
	part, err := e.store.Partition(ctx, e.topic.ID, p)
	if err != nil {
		e.t.Fatal(err)
	}
	moved, err := cs.MoveLeaders(ctx, instance, term, []metastore.LeaderMove{{
		TopicID: e.topic.ID, Partition: p, From: part.LeaderNode, FromEpoch: part.LeaderEpoch, To: to,
	}})
	if err != nil || len(moved) != 1 {
		e.t.Fatalf("move leader of partition %d: %v (%d moved)", p, err, len(moved))
	}
	return moved[0].Epoch
}

// TestServedEpochNeverBelowCommitEpoch: a batch committed after a leader
// change is served with the new epoch even when the reader cached the
// partition before the change and learns of the batch from a wake-up
// (a local commit or another node's notification), not from the
// metastore. A lower epoch would look like truncation to a consumer
// checking with OffsetForLeaderEpoch.
func TestServedEpochNeverBelowCommitEpoch(t *testing.T) {
	cfg := testConfig()
	cfg.MetadataTTL = time.Hour // the cached row never expires by itself
	e := newEnv(t, cfg)
	ctx := context.Background()

	e.commit(map[int32][][]byte{0: {batchtest.Values(batchtest.NoProducer, "a")}, 1: {batchtest.Values(batchtest.NoProducer, "a")}})
	for _, p := range []int32{0, 1} {
		if got := batchesOf(t, e.read(p, 0, 1<<20).Records); len(got) != 1 || got[0].h.PartitionLeaderEpoch != 0 {
			t.Fatalf("partition %d before the move: %+v", p, got)
		}
	}

	epoch0 := e.moveLeader(0, 1)
	epoch1 := e.moveLeader(1, 2)
	if epoch0 < 1 || epoch1 < 1 {
		t.Fatalf("epochs after the moves: %d, %d", epoch0, epoch1)
	}
	chunks, obj := e.commit(map[int32][][]byte{0: {batchtest.Values(batchtest.NoProducer, "b")}, 1: {batchtest.Values(batchtest.NoProducer, "b")}})
	// Partition 0 learns of the commit as the ingest path of this node
	// reports it, partition 1 as another node's notification does.
	e.r.Committed(chunks[:1], obj)
	for _, c := range chunks[1:] {
		e.r.Notify(c.TopicID, c.Partition, c.EndOffset)
	}

	for p, want := range map[int32]int32{0: epoch0, 1: epoch1} {
		res, err := e.r.Read(ctx, e.topic.ID, p, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		got := batchesOf(t, res.Records)
		if len(got) != 2 || res.HighWatermark != 2 {
			t.Fatalf("partition %d: hwm %d, %d batches, want 2 and 2", p, res.HighWatermark, len(got))
		}
		if got[1].values[0] != "b" || got[1].h.PartitionLeaderEpoch != want {
			t.Errorf("partition %d: batch committed in epoch %d served with epoch %d", p, want, got[1].h.PartitionLeaderEpoch)
		}
		// Every batch carries the current epoch: never lower than the one
		// it was committed in, and the same across the response.
		if got[0].h.PartitionLeaderEpoch != want {
			t.Errorf("partition %d: first batch served with epoch %d, want %d", p, got[0].h.PartitionLeaderEpoch, want)
		}
	}
}
