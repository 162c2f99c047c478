package compactor

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
)

// TestMergeKeepsEveryRecord produces to 20 partitions until there are
// hundreds of level-0 objects, merges, and reads everything again.
func TestMergeKeepsEveryRecord(t *testing.T) {
	e := newEnv(t)
	tp := e.topic("events", 20, nil)
	e.produce(tp, 4, 250)
	before := e.layout(tp)
	hash, n := e.hashTopic(tp)
	if before.level0Objects < 100 {
		t.Fatalf("only %d level-0 objects; the test needs hundreds", before.level0Objects)
	}

	skips := 0
	for p := range tp.Partitions {
		for _, c := range e.chunks(tp.ID, p) {
			skips += len(c.Skip)
		}
	}
	if skips == 0 {
		t.Fatal("no skipped batch in the level-0 chunks; the test needs some")
	}

	// Small objects and chunks, so that partitions get several of each.
	cfg := testConfig()
	cfg.TargetObjectBytes = 8 << 10
	cfg.ChunkRawBytes = 16 << 10
	c, reg := e.compactor(cfg, nil)
	st := runOnce(t, c)
	after := e.layout(tp)
	t.Logf("before: %d level-0 objects, %d chunk rows (max %d per partition, %d skipped batches); after: %d objects (%d level 0), %d chunk rows (max %d per partition); %d records; %v whole and %v ranged GETs; stats %+v",
		before.level0Objects, before.rows, before.maxRows, skips, after.objects, after.level0Objects, after.rows, after.maxRows, n,
		testutil.ToFloat64(c.m.gets.WithLabelValues("whole")), testutil.ToFloat64(c.m.gets.WithLabelValues("range")), st)

	if got, m := e.hashTopic(tp); got != hash || m != n {
		t.Fatalf("after the merge: %d records, hash %s; before: %d records, hash %s", m, got, n, hash)
	}
	if after.level0Rows != 0 || after.level0Objects != 0 || after.unknown != 0 {
		t.Errorf("after the merge: %d level-0 rows, %d level-0 objects, %d objects without a row; want none", after.level0Rows, after.level0Objects, after.unknown)
	}
	if after.objects <= 20 || after.objects > before.level0Objects/2 || after.rows > before.rows/10 {
		t.Errorf("after the merge: %d objects and %d rows; want several objects per partition, far fewer than %d objects and %d rows",
			after.objects, after.rows, before.level0Objects, before.rows)
	}
	if st.ChunksMerged != before.rows || st.PartitionsMerged != 20 || st.ObjectsDeleted != before.level0Objects {
		t.Errorf("stats %+v; want %d chunks merged in 20 partitions, %d objects deleted", st, before.rows, before.level0Objects)
	}
	// The level-1 objects alone give every offset of every partition.
	found := e.checkLevel1Objects(tp)
	for p := range tp.Partitions {
		part, _ := e.store.Partition(context.Background(), tp.ID, p)
		if int64(len(found[p])) != part.NextOffset || (len(found[p]) > 0 && found[p][len(found[p])-1] != part.NextOffset-1) {
			t.Errorf("partition %d: level-1 objects hold %d offsets, the partition %d", p, len(found[p]), part.NextOffset)
		}
	}
	if v := testutil.ToFloat64(c.m.objects.WithLabelValues("1")); int(v) != after.objects {
		t.Errorf("strata_compactor_objects{level=1} = %v, want %d", v, after.objects)
	}
	if v := testutil.ToFloat64(c.m.maxRows); int(v) != after.maxRows {
		t.Errorf("strata_compactor_partition_chunk_rows_max = %v, want %d", v, after.maxRows)
	}
	if v := testutil.ToFloat64(c.m.deletions.WithLabelValues("unreferenced")); int(v) != before.level0Objects {
		t.Errorf("unreferenced deletions = %v, want %d", v, before.level0Objects)
	}
	if n, err := testutil.GatherAndCount(reg, "strata_compactor_rewritten_bytes_total", "strata_compactor_lag_seconds"); err != nil || n != 2 {
		t.Errorf("metrics: %d, %v", n, err)
	}

	// Nothing left to do.
	if st := runOnce(t, c); st.ObjectsWritten != 0 || st.ObjectsDeleted != 0 {
		t.Errorf("second round did %+v", st)
	}
}

// TestCrashBeforeSwap fails the swap after the level-1 object was written:
// the index stays as it was, the object is an orphan, and the next round
// finishes the merge.
func TestCrashBeforeSwap(t *testing.T) {
	e := newEnv(t)
	tp := e.topic("t", 4, nil)
	e.produce(tp, 4, 10)
	hash, _ := e.hashTopic(tp)
	before := e.layout(tp)

	fs := &faultyStore{Store: e.store}
	fs.failSwap.Store(1000)
	cfg := testConfig()
	cfg.LeaseTTL = 50 * time.Millisecond // the crashed compactor's lease runs out
	c, _ := e.compactor(cfg, fs)
	if _, err := c.RunOnce(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("RunOnce with failing swaps = %v", err)
	}
	mid := e.layout(tp)
	if mid.rows != before.rows || mid.level0Rows != before.rows {
		t.Errorf("failed swaps changed the index: %+v, was %+v", mid, before)
	}
	if mid.unknown == 0 || mid.level0Objects != before.level0Objects {
		t.Errorf("after failed swaps: %+v; want the level-1 objects as orphans and every level-0 object", mid)
	}
	if got, _ := e.hashTopic(tp); got != hash {
		t.Fatal("data changed after failed swaps")
	}

	// The node comes back: the merge is done again, the orphans go once
	// they are old enough.
	fs.failSwap.Store(0)
	cfg = testConfig()
	c, _ = e.compactor(cfg, fs)
	c.now = func() time.Time { return time.Now().Add(2 * cfg.OrphanGrace) } // the orphans look old
	// The crashed compactor's lease runs out in the metastore's time: the
	// new one skips its rounds until then.
	var st Stats
	testenv.WaitFor(t, 10*time.Second, "the crashed compactor's lease to run out", func() bool {
		var err error
		if st, err = c.RunOnce(context.Background()); err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		return !st.Skipped
	})
	after := e.layout(tp)
	if after.level0Rows != 0 || after.level0Objects != 0 || after.unknown != 0 {
		t.Errorf("after recovery: %+v, stats %+v", after, st)
	}
	if st.OrphansDeleted != mid.unknown {
		t.Errorf("%d orphans deleted, want %d", st.OrphansDeleted, mid.unknown)
	}
	if got, _ := e.hashTopic(tp); got != hash {
		t.Fatal("data changed after recovery")
	}
}

// TestCrashBeforeDelete fails the deletions after the swap: the old objects
// stay, marked, until the next round deletes them.
func TestCrashBeforeDelete(t *testing.T) {
	e := newEnv(t)
	tp := e.topic("t", 4, nil)
	e.produce(tp, 4, 10)
	hash, _ := e.hashTopic(tp)
	before := e.layout(tp)

	c, _ := e.compactor(testConfig(), nil)
	e.faulty.Inject(objstore.OpDelete, func(string) error { return errors.New("connection reset") })
	if _, err := c.RunOnce(context.Background()); err == nil {
		t.Fatal("RunOnce with failing deletes succeeded")
	}
	mid := e.layout(tp)
	if mid.level0Rows != 0 || mid.level0Objects != before.level0Objects || mid.unknown != 0 {
		t.Errorf("after failed deletes: %+v; want the index swapped and the old objects kept", mid)
	}
	if got, _ := e.hashTopic(tp); got != hash {
		t.Fatal("data changed")
	}
	st, err := e.store.CompactionStats(context.Background())
	if err != nil || len(st.Levels) == 0 || st.Levels[0].Unreferenced != int64(before.level0Objects) {
		t.Fatalf("stats %+v, %v; want %d unreferenced level-0 objects", st, err, before.level0Objects)
	}

	e.faulty.Inject(objstore.OpDelete, nil)
	rs := runOnce(t, c)
	after := e.layout(tp)
	if after.level0Objects != 0 || rs.ObjectsDeleted != before.level0Objects || rs.ObjectsWritten != 0 {
		t.Errorf("after recovery: %+v, stats %+v", after, rs)
	}
	if got, _ := e.hashTopic(tp); got != hash {
		t.Fatal("data changed after recovery")
	}
}

// TestReadAcrossMerge: a reader that cached the index before a merge keeps
// reading after the old objects are deleted; it gets the same records.
func TestReadAcrossMerge(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Hour} {
		t.Run("grace="+grace.String(), func(t *testing.T) {
			e := newEnv(t)
			tp := e.topic("t", 2, nil)
			e.produce(tp, 4, 10)
			want := map[int32][]rec{}
			for p := range tp.Partitions {
				recs, err := e.readPartition(nil, tp.ID, p)
				if err != nil {
					t.Fatal(err)
				}
				want[p] = recs
			}
			// A reader that has read the first records of each partition:
			// it holds the old chunk rows in its index.
			objects := &missCounter{Store: e.s3}
			r := e.uncachedReader(objects)
			ctx := context.Background()
			for p := range tp.Partitions {
				if _, err := r.Read(ctx, tp.ID, p, 0, 1); err != nil {
					t.Fatal(err)
				}
			}
			cfg := testConfig()
			cfg.DeleteGrace = grace
			c, _ := e.compactor(cfg, nil)
			st := runOnce(t, c)
			if (grace == 0) != (st.ObjectsDeleted > 0) {
				t.Fatalf("stats %+v with grace %v", st, grace)
			}
			for p := range tp.Partitions {
				got, err := e.readPartition(r, tp.ID, p)
				if err != nil {
					// Allowed only as a retriable failure: never wrong data.
					if errors.Is(err, metastore.ErrOffsetOutOfRange) {
						t.Fatalf("partition %d: %v", p, err)
					}
					t.Logf("partition %d: retriable error %v; reading again", p, err)
					if got, err = e.readPartition(r, tp.ID, p); err != nil {
						t.Fatalf("partition %d: %v", p, err)
					}
				}
				if !sameRecords(got, want[p]) {
					t.Fatalf("partition %d: %d records read across the merge, want %d the same", p, len(got), len(want[p]))
				}
			}
			// With no grace the reader met deleted objects and recovered;
			// with a grace it read the old objects.
			if misses := objects.misses.Load(); (grace == 0) != (misses > 0) {
				t.Errorf("grace %v: %d reads of deleted objects", grace, misses)
			}
		})
	}
}

func sameRecords(a, b []rec) bool {
	return slices.EqualFunc(a, b, func(x, y rec) bool {
		return x.offset == y.offset && string(x.key) == string(y.key) && string(x.value) == string(y.value) &&
			len(x.headers) == len(y.headers)
	})
}
