package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/internal/bench"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/metastore"
	mspg "github.com/stratalog/strata/metastore/postgres"
)

// putFloor is raw MinIO PUT performance for one object size.
type putFloor struct {
	SizeMiB     int           `json:"size_mib"`
	Concurrency int           `json:"concurrency"`
	PutsPerSec  float64       `json:"puts_per_sec"`
	MBPerSec    float64       `json:"mb_per_sec"`
	Latency     bench.Latency `json:"latency"`
}

// floor is the physical floor under Strata's produce path.
type floor struct {
	Puts []putFloor `json:"puts"`
	// Commit is the latency of metastore/postgres CommitSegment for a
	// segment of CommitPartitions chunks, one batch each, one at a time.
	CommitPartitions int           `json:"commit_partitions"`
	CommitsPerSec    float64       `json:"commits_per_sec"`
	Commit           bench.Latency `json:"commit_latency"`
}

func (e *env) measureFloor(ctx context.Context) (*floor, error) {
	logf("floor: raw MinIO PUTs and PostgreSQL commits")
	bucket, err := e.newBucket(ctx)
	if err != nil {
		return nil, err
	}
	st, err := objstore.NewS3(ctx, e.s3Config(bucket))
	if err != nil {
		return nil, err
	}
	fl := &floor{}
	for _, conc := range []int{1, 4} {
		for _, mib := range []int{1, 4, 8} {
			// Idle cores first: the floor runs after the last system,
			// whose shutdown (and MinIO's and PostgreSQL's catching up
			// with it) would otherwise land in the first measurement.
			settle(ctx, fmt.Sprintf("floor: PUT %d MiB x%d", mib, conc))
			pf, err := measurePuts(ctx, st, mib, conc, e.o.floor)
			if err != nil {
				return nil, err
			}
			logf("floor: PUT %d MiB x%d: %.1f PUTs/s, %.0f MB/s, p50 %.1f ms, p99 %.1f ms",
				mib, conc, pf.PutsPerSec, pf.MBPerSec, pf.Latency.P50, pf.Latency.P99)
			fl.Puts = append(fl.Puts, *pf)
		}
	}

	url, err := e.pg.createDB(ctx, "floor_commit")
	if err != nil {
		return nil, err
	}
	var pcfg mspg.Config
	pcfg.URL = url
	pcfg.MaxConns = mspg.DefaultMaxConns
	store, err := mspg.New(ctx, pcfg, e.logger, nil)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	fl.CommitPartitions = e.o.partitions
	topic, err := store.CreateTopic(ctx, "floor", int32(e.o.partitions), nil)
	if err != nil {
		return nil, err
	}
	var h bench.Histogram
	settle(ctx, "floor: commits")
	start := time.Now()
	n := 0
	for time.Since(start) < e.o.floor {
		seg := metastore.SegmentSpec{ObjectKey: fmt.Sprintf("floor/%s", uuid.NewString()), ObjectSize: 4 << 20}
		for p := range e.o.partitions {
			seg.Chunks = append(seg.Chunks, metastore.ChunkSpec{
				TopicID: topic.ID, Partition: int32(p), Start: int64(p) * 16384, Length: 16384, RawLength: 65536,
				Batches: []metastore.BatchMeta{{OffsetCount: 64, MaxTimestamp: time.Now().UnixMilli(), ProducerID: metastore.NoProducerID}},
			})
		}
		t0 := time.Now()
		if _, err := store.CommitSegment(ctx, seg); err != nil {
			return nil, fmt.Errorf("commit segment: %w", err)
		}
		h.Record(time.Since(t0))
		n++
	}
	fl.CommitsPerSec = float64(n) / time.Since(start).Seconds()
	fl.Commit = h.Summary()
	logf("floor: commit of %d chunks: %.0f/s, p50 %.2f ms, p99 %.2f ms", e.o.partitions, fl.CommitsPerSec, fl.Commit.P50, fl.Commit.P99)
	return fl, nil
}

func measurePuts(ctx context.Context, st objstore.Store, mib, conc int, d time.Duration) (*putFloor, error) {
	data := make([]byte, mib<<20)
	rand.Read(data) // segments are compressed: incompressible bytes
	var (
		h     bench.Histogram
		mu    sync.Mutex
		n     int
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			for i := 0; time.Since(start) < d; i++ {
				t0 := time.Now()
				err := st.Put(ctx, fmt.Sprintf("floor/%d/%d-%d", mib, w, i), data)
				h.Record(time.Since(t0))
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				n++
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, fmt.Errorf("put %d MiB: %w", mib, first)
	}
	secs := time.Since(start).Seconds()
	return &putFloor{SizeMiB: mib, Concurrency: conc, PutsPerSec: float64(n) / secs,
		MBPerSec: float64(n*len(data)) / secs / 1e6, Latency: h.Summary()}, nil
}
