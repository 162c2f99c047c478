package compactor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/metastore"
)

// appendAll appends a few records to every partition of tp in one call, so
// that ingest writes them into one level-0 object holding a chunk of each.
func (e *env) appendAll(tp metastore.Topic, round int) {
	e.t.Helper()
	var parts []ingest.PartitionRecords
	for p := range tp.Partitions {
		parts = append(parts, ingest.PartitionRecords{TopicID: tp.ID, Partition: p,
			Records: batchtest.Values(batchtest.NoProducer, fmt.Sprintf("r%d-p%d-a", round, p), fmt.Sprintf("r%d-p%d-b", round, p))})
	}
	res, err := e.ing.Append(context.Background(), parts)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			e.t.Fatalf("append: %v", r.Err)
		}
	}
}

// TestMergeSharesObjectGets merges N partitions whose chunks all live in the
// same M level-0 objects: the round GETs each object once, M GETs, where
// reading chunk by chunk takes N×M ranged GETs.
func TestMergeSharesObjectGets(t *testing.T) {
	const partitions, objects = 6, 5
	for _, tc := range []struct {
		name          string
		cacheBytes    int64
		whole, ranged int64
	}{
		{"shared", Defaults().ObjectCacheBytes, objects, 0},
		{"cache off", 0, 0, partitions * objects},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tp := e.topic("shared", partitions, nil)
			for i := range objects {
				e.appendAll(tp, i)
			}
			before := e.layout(tp)
			if before.level0Objects != objects || before.rows != partitions*objects {
				t.Fatalf("before the merge: %+v; want %d level-0 objects with a chunk of each of %d partitions", before, objects, partitions)
			}
			hash, n := e.hashTopic(tp)

			cfg := testConfig()
			cfg.ObjectCacheBytes = tc.cacheBytes
			c, _ := e.compactor(cfg, nil)
			gets, ranges := e.faulty.Calls(objstore.OpGet), e.faulty.Calls(objstore.OpGetRange)
			st := runOnce(t, c)
			gets, ranges = e.faulty.Calls(objstore.OpGet)-gets, e.faulty.Calls(objstore.OpGetRange)-ranges

			if st.PartitionsMerged != partitions || st.ChunksMerged != partitions*objects {
				t.Errorf("stats %+v; want %d chunks merged in %d partitions", st, partitions*objects, partitions)
			}
			if gets != tc.whole || ranges != tc.ranged {
				t.Errorf("the round made %d whole GETs and %d ranged GETs; want %d and %d", gets, ranges, tc.whole, tc.ranged)
			}
			if w, r := testutil.ToFloat64(c.m.gets.WithLabelValues("whole")), testutil.ToFloat64(c.m.gets.WithLabelValues("range")); int64(w) != gets || int64(r) != ranges {
				t.Errorf("strata_compactor_object_gets_total: whole %v, range %v; want %d and %d", w, r, gets, ranges)
			}
			after := e.layout(tp)
			if after.level0Rows != 0 || after.level0Objects != 0 || after.objects != 1 {
				t.Errorf("after the merge: %+v; want one level-1 object holding every partition and nothing else", after)
			}
			if got, m := e.hashTopic(tp); got != hash || m != n {
				t.Fatalf("after the merge: %d records, hash %s; before: %d records, hash %s", m, got, n, hash)
			}
		})
	}
}

// TestSharedReadsCorruptChunk damages the chunk of the last partition merged
// in a level-0 object that an earlier partition fetched whole: the damaged
// partition is refused with ErrCorrupt and left as it was, the others are
// merged.
func TestSharedReadsCorruptChunk(t *testing.T) {
	const partitions, objects = 4, 3
	e := newEnv(t)
	tp := e.topic("damaged", partitions, nil)
	for i := range objects {
		e.appendAll(tp, i)
	}
	ctx := context.Background()
	victim := partitions - 1 // merged last: its chunks come from the others' GETs
	rows := e.chunks(tp.ID, int32(victim))
	bad := rows[1]
	obj, err := e.s3.Get(ctx, bad.ObjectKey)
	if err != nil {
		t.Fatal(err)
	}
	obj[bad.Start+bad.Length/2] ^= 0xff
	if err := e.s3.Put(ctx, bad.ObjectKey, obj); err != nil {
		t.Fatal(err)
	}

	c, _ := e.compactor(testConfig(), nil)
	gets := e.faulty.Calls(objstore.OpGet)
	st, err := c.RunOnce(ctx)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("RunOnce over a damaged chunk = %v; want ErrCorrupt", err)
	}
	if n := e.faulty.Calls(objstore.OpGet) - gets; n != objects {
		t.Errorf("%d whole GETs; want %d, the damaged chunk read from a shared GET", n, objects)
	}
	if st.PartitionsMerged != partitions-1 {
		t.Errorf("stats %+v; want the %d undamaged partitions merged", st, partitions-1)
	}
	for p := range int32(partitions) {
		for _, ch := range e.chunks(tp.ID, p) {
			if (p == int32(victim)) != (ch.Level == 0) {
				t.Errorf("partition %d has a level-%d chunk at %d", p, ch.Level, ch.BaseOffset)
			}
		}
	}
}

// TestSharedReadsSkipLargeObjects merges partitions whose chunks are a tiny
// part of large level-0 objects (the rest belonged to a deleted topic):
// after one whole GET shows how little of an object the others need, the
// round reads chunks with ranged GETs instead of downloading every object.
func TestSharedReadsSkipLargeObjects(t *testing.T) {
	const partitions, objects = 3, 4
	e := newEnv(t)
	small := e.topic("small", partitions, nil)
	large := e.topic("large", 1, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	filler := make([]byte, 1<<20) // incompressible: the objects stay about 1 MiB
	for i := range objects {
		for j := range filler {
			filler[j] = byte(rng.Uint32())
		}
		parts := []ingest.PartitionRecords{{TopicID: large.ID, Partition: 0, Records: batchtest.Values(batchtest.NoProducer, string(filler))}}
		for p := range small.Partitions {
			parts = append(parts, ingest.PartitionRecords{TopicID: small.ID, Partition: p,
				Records: batchtest.Values(batchtest.NoProducer, fmt.Sprintf("r%d-p%d", i, p))})
		}
		res, err := e.ing.Append(context.Background(), parts)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	if err := e.store.DeleteTopic(context.Background(), "large"); err != nil {
		t.Fatal(err)
	}
	rows := e.chunks(small.ID, 0)
	if len(rows) != objects || rows[0].ObjectSize < 1<<20 {
		t.Fatalf("partition 0 has %d chunks in objects of %d bytes; want %d in objects over 1 MiB", len(rows), rows[0].ObjectSize, objects)
	}
	hash, n := e.hashTopic(small)

	cfg := testConfig()
	cfg.Concurrency = 1 // the first whole GET lands before the next chunk is looked up
	c, _ := e.compactor(cfg, nil)
	gets, ranges := e.faulty.Calls(objstore.OpGet), e.faulty.Calls(objstore.OpGetRange)
	st := runOnce(t, c)
	gets, ranges = e.faulty.Calls(objstore.OpGet)-gets, e.faulty.Calls(objstore.OpGetRange)-ranges
	read := testutil.ToFloat64(c.m.readBytes)
	t.Logf("%d whole GETs, %d ranged GETs, %.0f bytes read; stats %+v", gets, ranges, read, st)
	if st.PartitionsMerged != partitions {
		t.Errorf("stats %+v; want %d partitions merged", st, partitions)
	}
	// One whole GET finds two small chunks in a 1 MiB object; every other
	// chunk (but the two kept) is worth a ranged GET.
	if gets != 1 || ranges != partitions*objects-partitions {
		t.Errorf("%d whole and %d ranged GETs; want 1 and %d", gets, ranges, partitions*objects-partitions)
	}
	if read > 1.5*float64(rows[0].ObjectSize) {
		t.Errorf("read %.0f bytes to merge a few hundred; want little more than the one object of %d bytes", read, rows[0].ObjectSize)
	}
	if got, m := e.hashTopic(small); got != hash || m != n {
		t.Fatalf("after the merge: %d records, hash %s; before: %d records, hash %s", m, got, n, hash)
	}
}
