package ingest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

// countingCommitter counts the commits that reach the metastore.
type countingCommitter struct {
	Committer
	n atomic.Int32
}

func (c *countingCommitter) CommitSegment(ctx context.Context, seg metastore.SegmentSpec) ([]metastore.ChunkResult, error) {
	c.n.Add(1)
	return c.Committer.CommitSegment(ctx, seg)
}

// TestCommitRefusedLongAfterUpload: a commit that would start more than
// MaxCommitDelay after its upload began (the node was paused, the metastore
// unreachable) is refused before it reaches the metastore, with the
// retriable ErrCommitFailed: the compactor may have deleted the object,
// and keeps what makes such a commit fail only for a bounded time.
func TestCommitRefusedLongAfterUpload(t *testing.T) {
	ctx := context.Background()
	store, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(t), MaxConns: 4}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	s3env := testenv.S3(t)
	s3, err := objstore.NewS3(ctx, objstore.S3Config{
		Endpoint: s3env.Endpoint, Region: s3env.Region, Bucket: s3env.Bucket,
		AccessKeyID: s3env.AccessKeyID, SecretAccessKey: s3env.SecretAccessKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := store.CreateTopic(ctx, "late", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.FlushInterval = time.Millisecond
	commits := &countingCommitter{Committer: store}
	i, err := New(cfg, commits, s3, nil, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = i.Close(context.Background()) })
	var paused atomic.Bool // the clock jumps past the bound after each upload
	i.since = func(t0 time.Time) time.Duration {
		d := time.Since(t0)
		if paused.Load() {
			d += cfg.MaxCommitDelay
		}
		return d
	}
	appendOne := func(v string) PartitionResult {
		t.Helper()
		res, err := i.Append(ctx, []PartitionRecords{{TopicID: tp.ID, Partition: 0, Records: batchtest.Values(batchtest.NoProducer, v)}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}

	paused.Store(true)
	if res := appendOne("late"); !errors.Is(res.Err, ErrCommitFailed) {
		t.Fatalf("produce whose commit starts too late: %+v, want ErrCommitFailed", res)
	}
	if n := commits.n.Load(); n != 0 {
		t.Errorf("%d commits reached the metastore, want none", n)
	}
	if p, err := store.Partition(ctx, tp.ID, 0); err != nil || p.NextOffset != 0 {
		t.Errorf("partition after the refused commit: %+v, %v", p, err)
	}
	paused.Store(false)
	if res := appendOne("retried"); res.Err != nil || res.BaseOffset != 0 {
		t.Fatalf("retry: %+v, want offset 0", res)
	}
}

// TestMaxCommitDelayValidated: a bound below the upload timeout would
// refuse the commit of every slow upload that succeeded.
func TestMaxCommitDelayValidated(t *testing.T) {
	cfg := Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg.MaxCommitDelay = cfg.UploadTimeout - time.Second
	if cfg.Validate() == nil {
		t.Error("a max commit delay below the upload timeout was accepted")
	}
}
