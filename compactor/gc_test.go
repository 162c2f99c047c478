package compactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/sqlite"
	"github.com/stratalog/strata/reader"
)

// TestOrphansAndDeletedTopics: objects never committed are deleted once
// older than the grace period, a deleted topic's objects once unreferenced;
// committed objects and keys that are not segment objects stay.
func TestOrphansAndDeletedTopics(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kept := e.topic("kept", 2, nil)
	doomed := e.topic("doomed", 2, nil)
	for i := range 4 {
		e.appendOne(doomed.ID, int32(i%2), batchtest.Values(batchtest.NoProducer, "x"))
	}
	// One object shared by both topics: it stays while "kept" uses it.
	res, err := e.ing.Append(ctx, []ingest.PartitionRecords{
		{TopicID: kept.ID, Partition: 0, Records: batchtest.Values(batchtest.NoProducer, "shared")},
		{TopicID: doomed.ID, Partition: 0, Records: batchtest.Values(batchtest.NoProducer, "shared")},
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatal(err, res)
	}
	for i := range 3 {
		e.appendOne(kept.ID, int32(i%2), batchtest.Values(batchtest.NoProducer, "y"))
	}
	// Uploads whose commit never happened, and a file that is not ours.
	for i := range 3 {
		if err := e.s3.Put(ctx, fmt.Sprintf("00%02x/orphan-%d.seg", i, i), []byte("never committed")); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s3.Put(ctx, "notes/readme.txt", []byte("not a segment")); err != nil {
		t.Fatal(err)
	}
	hash, _ := e.hashTopic(kept)
	if err := e.store.DeleteTopic(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}

	// No merging here; a long orphan grace first.
	cfg := testConfig()
	noMerges(&cfg)
	c, _ := e.compactor(cfg, nil)
	st := runOnce(t, c)
	if st.ObjectsDeleted != 4 || st.OrphansDeleted != 0 {
		t.Errorf("stats %+v; want the 4 objects only the deleted topic used deleted, no orphan yet", st)
	}
	l := e.layout(kept)
	if l.objects != 4+3+1 || l.unknown != 4 {
		t.Errorf("bucket: %+v; want 4 committed objects, 3 orphans and the text file", l)
	}

	c.release()
	cfg.OrphanGrace = 0
	c, _ = e.compactor(cfg, nil)
	st = runOnce(t, c)
	if st.OrphansDeleted != 3 || st.ObjectsDeleted != 0 {
		t.Errorf("stats %+v; want the 3 orphans deleted", st)
	}
	l = e.layout(kept)
	if l.objects != 5 || l.unknown != 1 {
		t.Errorf("bucket: %+v; want the 4 committed objects and the text file", l)
	}
	if _, err := e.s3.Get(ctx, "notes/readme.txt"); err != nil {
		t.Errorf("a key that is no segment object: %v", err)
	}
	if got, _ := e.hashTopic(kept); got != hash {
		t.Error("the kept topic changed")
	}
}

// TestStrayObjects: an object committed with every chunk rejected has a row
// but no chunk; it is collected too.
func TestStrayObjects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tp := e.topic("t", 1, nil)
	res, err := e.ing.Append(ctx, []ingest.PartitionRecords{{TopicID: tp.ID, Partition: 3, Records: batchtest.Values(batchtest.NoProducer, "x")}})
	if err != nil || !errors.Is(res[0].Err, metastore.ErrUnknownPartition) {
		t.Fatalf("append to a missing partition: %v, %+v", err, res)
	}
	if l := e.layout(tp); l.objects != 1 || l.unknown != 0 {
		t.Fatalf("bucket: %+v", l)
	}
	cfg := testConfig()
	cfg.OrphanGrace = 0
	c, _ := e.compactor(cfg, nil)
	runOnce(t, c) // marks the row
	st := runOnce(t, c)
	if l := e.layout(tp); l.objects != 0 || st.ObjectsDeleted != 1 {
		t.Errorf("bucket %+v, stats %+v; want the stray object deleted", l, st)
	}
}

func TestOneCompactorAtATime(t *testing.T) {
	e := newEnv(t)
	tp := e.topic("t", 1, nil)
	e.appendOne(tp.ID, 0, batchtest.Values(batchtest.NoProducer, "x"))
	a, areg := e.compactor(testConfig(), nil)
	b, breg := e.compactor(testConfig(), nil)
	runOnce(t, a)
	st, err := b.RunOnce(context.Background())
	if err != nil || !st.Skipped {
		t.Fatalf("second compactor: %+v, %v; want skipped", st, err)
	}
	if g := gauge(t, areg, "strata_compactor_lease_held"); g != 1 {
		t.Errorf("lease_held of the active compactor = %v", g)
	}
	if g := gauge(t, breg, "strata_compactor_lease_held"); g != 0 {
		t.Errorf("lease_held of the waiting compactor = %v", g)
	}
	// Run gives the lease up when it stops.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st, err := b.RunOnce(context.Background()); err != nil || st.Skipped {
		t.Fatalf("after the first stopped: %+v, %v", st, err)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestCompactWhileProducing runs compaction rounds while records are
// produced; every acknowledged record is read back once, in order.
func TestCompactWhileProducing(t *testing.T) {
	e := newEnv(t)
	tp := e.topic("busy", 4, nil)
	cfg := testConfig()
	cfg.TargetObjectBytes = 4 << 10
	c, _ := e.compactor(cfg, nil)

	var acked sync.Map // "partition/offset" -> value
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				p := int32((g + i) % 4)
				v := fmt.Sprintf("g%d-%d", g, i)
				res, err := e.ing.Append(context.Background(), []ingest.PartitionRecords{{TopicID: tp.ID, Partition: p, Records: batchtest.Values(batchtest.NoProducer, v)}})
				if err != nil || res[0].Err != nil {
					t.Errorf("append: %v %v", err, res)
					return
				}
				acked.Store(fmt.Sprintf("%d/%d", p, res[0].BaseOffset), v)
			}
		})
	}
	rounds := 0
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.RunOnce(context.Background()); err != nil {
			t.Errorf("round %d: %v", rounds, err)
		}
		rounds++
	}
	stop.Store(true)
	wg.Wait()
	runOnce(t, c)

	n := 0
	for p := range tp.Partitions {
		recs, err := e.readPartition(nil, tp.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if r.offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d", p, i, r.offset)
			}
			v, ok := acked.Load(fmt.Sprintf("%d/%d", p, r.offset))
			if !ok || v.(string) != string(r.value) {
				t.Fatalf("partition %d offset %d: %q, acked %q", p, r.offset, r.value, v)
			}
		}
		n += len(recs)
	}
	total := 0
	acked.Range(func(_, _ any) bool { total++; return true })
	if n != total {
		t.Fatalf("read %d records, %d were acknowledged", n, total)
	}
	l := e.layout(tp)
	t.Logf("%d rounds during %d appends; %+v", rounds, total, l)
	if l.level0Rows != 0 || l.unknown != 0 {
		t.Errorf("after the last round: %+v", l)
	}
}

// TestSQLiteAndLocalDirectory runs a merge, retention and collection on
// the backends of strata dev.
func TestSQLiteAndLocalDirectory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.New(ctx, sqlite.Config{Path: filepath.Join(dir, "meta.db")}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	objects, err := objstore.NewLocal(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	icfg := ingest.Defaults()
	icfg.FlushInterval = time.Millisecond
	ing, err := ingest.New(icfg, store, objects, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer ing.Close(ctx)
	tp, err := store.CreateTopic(ctx, "dev", 2, map[string]string{"retention.ms": "3600000"})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	var want []string
	for i := range 30 {
		ts := time.Now().UnixMilli()
		if i < 10 {
			ts = old
		} else {
			want = append(want, fmt.Sprint(i))
		}
		b := batchtest.Batch(batchtest.Options{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, batchtest.Record{Value: fmt.Append(nil, i)})
		res, err := ing.Append(ctx, []ingest.PartitionRecords{{TopicID: tp.ID, Partition: 0, Records: b}, {TopicID: tp.ID, Partition: 1, Records: b}})
		if err != nil || res[0].Err != nil || res[1].Err != nil {
			t.Fatal(err, res)
		}
	}
	c, err := New(testConfig(), store, objects, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := runOnce(t, c)
	if st.LogStartsAdvanced != 2 || st.PartitionsMerged != 2 || st.ObjectsDeleted != 30 {
		t.Errorf("stats %+v", st)
	}
	r := reader.New(reader.Defaults(), store, objects, nil, nil)
	for p := range int32(2) {
		res, err := r.Read(ctx, tp.ID, p, 10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		recs, _, err := decodeBatches(res.Records)
		if err != nil || len(recs) != 20 {
			t.Fatalf("partition %d: %d records, %v", p, len(recs), err)
		}
		for i, x := range recs {
			if x.offset != int64(10+i) || string(x.value) != want[i] {
				t.Fatalf("partition %d: record %d is %d %q", p, i, x.offset, x.value)
			}
		}
	}
	var keys []string
	if err := objects.List(ctx, "", func(o objstore.ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Errorf("objects left: %v; want one level-1 object holding both partitions", keys)
	}
}
