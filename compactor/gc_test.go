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

	// No merging here; the orphans are younger than the grace first.
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
	c, _ = e.compactor(cfg, nil)
	c.now = func() time.Time { return time.Now().Add(2 * cfg.OrphanGrace) } // the orphans look old
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
	if ms, err := e.store.CompactionStats(ctx); err != nil || ms.OrphanClaims != 3 {
		t.Errorf("metastore stats %+v, %v; want the 3 orphans' claims kept", ms, err)
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
	cfg.OrphanGrace = time.Millisecond // the stray marking goes by the metastore's clock
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

// heldCommitter holds every segment commit until release is closed.
type heldCommitter struct {
	ingest.Committer
	entered chan string // the object key of each commit that arrives
	release chan struct{}
}

func (h *heldCommitter) CommitSegment(ctx context.Context, seg metastore.SegmentSpec) ([]metastore.ChunkResult, error) {
	h.entered <- seg.ObjectKey
	<-h.release
	return h.Committer.CommitSegment(ctx, seg)
}

// TestOrphanSweepLosesNoAckedRecord: a commit delayed past the orphan
// grace (a paused node, a skewed clock) lands after the orphan sweep chose
// its object and before the sweep deleted it. The record must not be
// acknowledged with its object gone: either the commit fails (the producer
// retries into a new object) or the object stays.
func TestOrphanSweepLosesNoAckedRecord(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tp := e.topic("t", 1, nil)
	held := &heldCommitter{Committer: e.store, entered: make(chan string, 1), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(held.release) }) }
	t.Cleanup(release)
	icfg := ingest.Defaults()
	icfg.FlushInterval = time.Millisecond
	ing, err := ingest.New(icfg, held, e.s3, nil, e.logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release(); _ = ing.Close(context.Background()) })
	results := make(chan ingest.PartitionResult, 1)
	go func() {
		res, err := ing.Append(ctx, []ingest.PartitionRecords{{TopicID: tp.ID, Partition: 0, Records: batchtest.Values(batchtest.NoProducer, "acked?")}})
		if err != nil {
			results <- ingest.PartitionResult{Err: err}
			return
		}
		results <- res[0]
	}()
	key := <-held.entered // uploaded; the commit waits

	// The compactor's clock runs two hours ahead: the object looks older
	// than the orphan grace. The commit lands when the sweep deletes.
	cfg := testConfig()
	noMerges(&cfg)
	c, _ := e.compactor(cfg, nil)
	c.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	var res ingest.PartitionResult
	var deletes atomic.Int32
	e.faulty.Inject(objstore.OpDelete, func(k string) error {
		if k == key && deletes.Add(1) == 1 {
			release()
			res = <-results
		}
		return nil
	})
	runOnce(t, c)
	if deletes.Load() == 0 {
		release()
		res = <-results
	}

	recs, rerr := e.readPartition(nil, tp.ID, 0)
	switch {
	case res.Err == nil && (rerr != nil || len(recs) != 1 || string(recs[0].value) != "acked?"):
		t.Fatalf("record acknowledged at offset %d, then read back as %v, %v: its object %s was deleted", res.BaseOffset, recs, rerr, key)
	case res.Err != nil && !errors.Is(res.Err, ingest.ErrCommitFailed):
		t.Fatalf("produce failed with %v; want the retriable ErrCommitFailed", res.Err)
	case res.Err != nil && (rerr != nil || len(recs) != 0):
		t.Fatalf("produce failed, yet the partition reads %v, %v", recs, rerr)
	}
	t.Logf("produce: %+v; object deleted by the sweep: %v", res, deletes.Load() > 0)
}

// TestOrphanClaimsOutliveTheirObjects: the claim of a deleted orphan keeps
// refusing a commit of its key after the object is gone, and goes after
// the tombstone retention.
func TestOrphanClaimsOutliveTheirObjects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tp := e.topic("t", 1, nil)
	const key = "00aa/late.seg"
	if err := e.s3.Put(ctx, key, []byte("uploaded, commit delayed")); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	noMerges(&cfg)
	c, _ := e.compactor(cfg, nil)
	c.now = func() time.Time { return time.Now().Add(2 * cfg.OrphanGrace) }
	if st := runOnce(t, c); st.OrphansDeleted != 1 || st.OrphanClaimsPruned != 0 {
		t.Fatalf("stats %+v; want the orphan deleted, its claim kept", st)
	}
	if _, err := e.s3.Get(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("orphan after the sweep: %v", err)
	}
	late := metastore.SegmentSpec{ObjectKey: key, ObjectSize: 24, Chunks: []metastore.ChunkSpec{{
		TopicID: tp.ID, Partition: 0, Length: 24, RawLength: 24,
		Batches: []metastore.BatchMeta{{OffsetCount: 1, MaxTimestamp: 1, ProducerID: metastore.NoProducerID, ProducerEpoch: -1, BaseSequence: -1}},
	}}}
	if _, err := e.store.CommitSegment(ctx, late); !errors.Is(err, metastore.ErrObjectClaimed) {
		t.Fatalf("late commit of the deleted orphan: %v, want ErrObjectClaimed", err)
	}
	runOnce(t, c) // another sweep leaves the claim
	if ms, err := e.store.CompactionStats(ctx); err != nil || ms.OrphanClaims != 1 {
		t.Fatalf("metastore stats %+v, %v; want the claim kept", ms, err)
	}

	// With a retention of milliseconds, a later sweep prunes it.
	c.release()
	cfg.OrphanGrace, cfg.OrphanTombstoneRetention = time.Millisecond, 2*time.Millisecond
	c, _ = e.compactor(cfg, nil)
	pruned := 0
	for deadline := time.Now().Add(30 * time.Second); pruned == 0 && time.Now().Before(deadline); {
		pruned += runOnce(t, c).OrphanClaimsPruned
	}
	if ms, err := e.store.CompactionStats(ctx); pruned != 1 || err != nil || ms.OrphanClaims != 0 {
		t.Errorf("%d claims pruned, metastore stats %+v, %v; want the claim pruned", pruned, ms, err)
	}
}

// TestOrphanSettingsValidated: an orphan grace of zero would claim every
// upload in flight, and a claim kept shorter than the grace would not
// outlive the delays the grace allows for.
func TestOrphanSettingsValidated(t *testing.T) {
	for _, tc := range []struct {
		grace, retention time.Duration
		ok               bool
	}{
		{time.Hour, 7 * 24 * time.Hour, true},
		{0, 7 * 24 * time.Hour, false},
		{-time.Second, 7 * 24 * time.Hour, false},
		{time.Hour, time.Hour, false},
		{time.Hour, 0, false},
	} {
		cfg := Defaults()
		cfg.OrphanGrace, cfg.OrphanTombstoneRetention = tc.grace, tc.retention
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("grace %s, retention %s: Validate() = %v", tc.grace, tc.retention, err)
		}
	}
}
