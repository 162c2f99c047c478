package ingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

type countingCommitter struct {
	metastore.Store
	n atomic.Int64
}

func (c *countingCommitter) CommitSegment(ctx context.Context, seg metastore.SegmentSpec) ([]metastore.ChunkResult, error) {
	c.n.Add(1)
	return c.Store.CommitSegment(ctx, seg)
}

// jsonRecord returns a ~1 KiB JSON event that compresses like real data.
func jsonRecord(rng *rand.Rand, i int) []byte {
	actions := []string{"page_view", "add_to_cart", "checkout", "search", "login"}
	pad := make([]byte, 0, 1024)
	pad = fmt.Appendf(pad, `{"event_id":"%016x","user_id":%d,"action":%q,"ts":"2026-11-24T%02d:%02d:%02d.%03dZ",`,
		rng.Uint64(), rng.IntN(100000), actions[rng.IntN(len(actions))], rng.IntN(24), rng.IntN(60), rng.IntN(60), i%1000)
	pad = fmt.Appendf(pad, `"session":{"id":"%08x","device":"mobile","os":"android","app_version":"5.%d.%d"},`, rng.Uint32(), rng.IntN(20), rng.IntN(10))
	pad = append(pad, `"items":[`...)
	for len(pad) < 960 {
		pad = fmt.Appendf(pad, `{"sku":"SKU-%05d","qty":%d,"price_cents":%d},`, rng.IntN(50000), 1+rng.IntN(4), rng.IntN(100000))
	}
	pad = append(pad[:len(pad)-1], "]}"...)
	return pad
}

// BenchmarkIngestAppend measures the produce path end to end in process:
// 1 KiB JSON records in batches of 16 over 64 partitions, from 1, 64 or
// 1024 concurrent Append calls, against local MinIO and PostgreSQL, at PUT
// budgets of 4 (the default), 20 and 100 PUTs/s and none. It reports
// records/s, MB/s (b.SetBytes), the latency of Append (p50, p99), PUTs/s
// and commits/s.
func BenchmarkIngestAppend(b *testing.B) {
	for _, budget := range []float64{ingest.DefaultPutBudget, 20, 100, 0} {
		for _, producers := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("budget=%g/inflight=%d", budget, producers), func(b *testing.B) { benchIngest(b, budget, producers) })
		}
	}
}

// benchIngest runs one load at a PUT budget (0: none).
func benchIngest(b *testing.B, budget float64, producers int) {
	ctx := context.Background()
	store, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(b), MaxConns: 8}, nil, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	s3env := testenv.S3(b)
	s3, err := objstore.NewS3(ctx, objstore.S3Config{
		Endpoint: s3env.Endpoint, Region: s3env.Region, Bucket: s3env.Bucket,
		AccessKeyID: s3env.AccessKeyID, SecretAccessKey: s3env.SecretAccessKey, PathStyle: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	puts := objstore.NewFaulty(s3)
	commits := &countingCommitter{Store: store}
	cfg := ingest.Defaults()
	cfg.PutBudget = budget
	ing, err := ingest.New(cfg, commits, puts, nil, nil, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer ing.Close(ctx)
	const partitions, perBatch = 64, 16
	tp, err := store.CreateTopic(ctx, "bench", partitions, nil)
	if err != nil {
		b.Fatal(err)
	}
	// Pre-built batches: the benchmark measures ingest, not encoding.
	rng := rand.New(rand.NewPCG(1, 2))
	batches := make([][]byte, 256)
	var batchBytes int64
	for i := range batches {
		recs := make([]batchtest.Record, perBatch)
		for r := range recs {
			recs[r] = batchtest.Record{Value: jsonRecord(rng, i*perBatch+r)}
		}
		batches[i] = batchtest.Batch(batchtest.Options{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs...)
		batchBytes += int64(len(batches[i]))
	}
	b.SetBytes(batchBytes / int64(len(batches)))

	var (
		next      atomic.Int64
		latMu     sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			var local []time.Duration
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					break
				}
				t0 := time.Now()
				res, err := ing.Append(ctx, []ingest.PartitionRecords{{
					TopicID: tp.ID, Partition: int32(i % partitions), Records: batches[i%int64(len(batches))],
				}})
				if err != nil || res[0].Err != nil {
					b.Errorf("append: %v %v", err, res[0].Err)
					return
				}
				local = append(local, time.Since(t0))
			}
			latMu.Lock()
			latencies = append(latencies, local...)
			latMu.Unlock()
		}(p)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	if len(latencies) > 0 {
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(b.N*perBatch)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(puts.Calls(objstore.OpPut))/elapsed.Seconds(), "PUTs/s")
	b.ReportMetric(float64(commits.n.Load())/elapsed.Seconds(), "commits/s")
}
