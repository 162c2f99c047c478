package compactor

import (
	"context"
	"testing"

	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/metastore"
)

// level1Keys returns the distinct objects holding the topics' level-1
// chunk rows, with the partitions each holds.
func (e *env) level1Keys(topics ...metastore.Topic) map[string]int {
	e.t.Helper()
	keys := map[string]int{}
	for _, tp := range topics {
		for p := range tp.Partitions {
			seen := map[string]bool{}
			for _, c := range e.chunks(tp.ID, p) {
				if c.Level == 1 && !seen[c.ObjectKey] {
					seen[c.ObjectKey] = true
					keys[c.ObjectKey]++
				}
			}
		}
	}
	return keys
}

// TestPackSmallPartitions merges 150 partitions of two topics with a few
// small chunks each: one round writes one level-1 object holding them all,
// with one PUT, and every record reads back the same.
func TestPackSmallPartitions(t *testing.T) {
	e := newEnv(t)
	a := e.topic("packed-a", 100, nil)
	b := e.topic("packed-b", 50, nil)
	for i := range 3 {
		e.appendAll(a, i)
		e.appendAll(b, i)
	}
	hashA, nA := e.hashTopic(a)
	hashB, nB := e.hashTopic(b)

	c, _ := e.compactor(testConfig(), nil)
	puts := e.faulty.Calls(objstore.OpPut)
	st := runOnce(t, c)
	puts = e.faulty.Calls(objstore.OpPut) - puts

	if st.PartitionsMerged != 150 || st.ChunksMerged != 450 || st.ObjectsWritten != 1 || puts != 1 {
		t.Errorf("stats %+v, %d PUTs; want 450 chunks of 150 partitions merged into 1 object with 1 PUT", st, puts)
	}
	keys := e.level1Keys(a, b)
	if len(keys) != 1 {
		t.Fatalf("level-1 rows point at %d objects; want 1", len(keys))
	}
	for key, n := range keys {
		if n != 150 {
			t.Errorf("object %s holds %d partitions; want 150", key, n)
		}
		obj, err := e.s3.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		f, err := segment.DecodeFooter(obj)
		if err != nil || f.Level != segment.Level1 || len(f.Chunks) != 150 {
			t.Fatalf("object %s: level %d, %d chunks, %v; want a level-1 footer of 150 chunks", key, f.Level, len(f.Chunks), err)
		}
	}
	after := e.layout(a, b)
	if after.level0Rows != 0 || after.level0Objects != 0 || after.unknown != 0 {
		t.Errorf("after the merge: %+v; want no level-0 row or object left and no object without a row", after)
	}
	if got, n := e.hashTopic(a); got != hashA || n != nA {
		t.Fatalf("topic a after the merge: %d records, hash %s; before: %d, %s", n, got, nA, hashA)
	}
	if got, n := e.hashTopic(b); got != hashB || n != nB {
		t.Fatalf("topic b after the merge: %d records, hash %s; before: %d, %s", n, got, nB, hashB)
	}
	for p, offsets := range e.checkLevel1Objects(a) {
		if len(offsets) != 6 || offsets[0] != 0 || offsets[5] != 5 {
			t.Errorf("partition %d: the level-1 object holds offsets %v; want 0 to 5", p, offsets)
		}
	}
}

// TestPackLimits cuts packs at the target object size, and swaps an
// object in by several transactions when its merges replace more rows than
// one may.
func TestPackLimits(t *testing.T) {
	for _, tc := range []struct {
		name           string
		set            func(c *Compactor, perPartition int64)
		minObj, maxObj int
		swaps          int32
	}{
		// Each object takes about 10 partitions' bytes.
		{"target bytes", func(c *Compactor, perPartition int64) { c.cfg.TargetObjectBytes = 10 * perPartition }, 9, 12, 0},
		// 4 rows a partition, at most 30 per transaction: 7 partitions a
		// transaction, 15 transactions for the one object.
		{"rows", func(c *Compactor, _ int64) { c.swapRows = 30 }, 1, 1, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tp := e.topic("limits", 100, nil)
			for i := range 4 {
				e.appendAll(tp, i)
			}
			compressed, _ := rowBytes(e.chunks(tp.ID, 0))
			hash, n := e.hashTopic(tp)
			fs := &faultyStore{Store: e.store}
			c, _ := e.compactor(testConfig(), fs)
			tc.set(c, compressed)
			puts := e.faulty.Calls(objstore.OpPut)
			st := runOnce(t, c)
			puts = e.faulty.Calls(objstore.OpPut) - puts
			keys := e.level1Keys(tp)
			if st.PartitionsMerged != 100 || len(keys) < tc.minObj || len(keys) > tc.maxObj || int(puts) != len(keys) || st.ObjectsWritten != len(keys) {
				t.Errorf("stats %+v, %d PUTs, %d level-1 objects; want 100 partitions in %d to %d objects, one PUT each", st, puts, len(keys), tc.minObj, tc.maxObj)
			}
			if tc.swaps > 0 && fs.swaps.Load() != tc.swaps {
				t.Errorf("%d swap transactions; want %d", fs.swaps.Load(), tc.swaps)
			}
			if got, m := e.hashTopic(tp); got != hash || m != n {
				t.Fatalf("after the merge: %d records, hash %s; before: %d, %s", m, got, n, hash)
			}
		})
	}
}

// TestPackPartitionChanged deletes one of two topics while their partitions
// are being swapped into one object: the deleted topic's swaps are left out,
// the other topic's are applied, and the object holds the partitions left.
func TestPackPartitionChanged(t *testing.T) {
	e := newEnv(t)
	keep := e.topic("kept", 5, nil)
	gone := e.topic("gone", 5, nil)
	for i := range 2 {
		e.appendAll(keep, i)
		e.appendAll(gone, i)
	}
	hash, n := e.hashTopic(keep)
	fs := &faultyStore{Store: e.store}
	fs.beforeSwap = func() {
		fs.beforeSwap = nil
		if err := e.store.DeleteTopic(context.Background(), "gone"); err != nil {
			t.Error(err)
		}
	}
	c, _ := e.compactor(testConfig(), fs)
	st, err := c.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if st.PartitionsMerged != 5 || st.SwapsAborted != 5 || st.ObjectsWritten != 1 {
		t.Errorf("stats %+v; want 5 partitions merged, 5 swaps left out, 1 object", st)
	}
	keys := e.level1Keys(keep)
	if len(keys) != 1 {
		t.Fatalf("the kept topic's level-1 rows point at %d objects; want 1", len(keys))
	}
	known, err := e.store.KnownObjects(context.Background(), []string{firstKey(keys)})
	if err != nil || len(known) != 1 {
		t.Errorf("the object has no objects row: %v", err)
	}
	if got, m := e.hashTopic(keep); got != hash || m != n {
		t.Fatalf("after the merge: %d records, hash %s; before: %d, %s", m, got, n, hash)
	}
}

func firstKey(keys map[string]int) string {
	for k := range keys {
		return k
	}
	return ""
}
