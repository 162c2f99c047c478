// Package e2e holds tests that run several of Strata's parts together
// against real PostgreSQL and MinIO.
package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
	"github.com/stratalog/strata/reader"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type storage struct {
	store   *postgres.Store
	objects objstore.Store
	reader  *reader.Reader
	ingest  *ingest.Ingester
}

func newStorage(t *testing.T, flush time.Duration) *storage {
	t.Helper()
	ctx := context.Background()
	store, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(t), MaxConns: 16}, nil, prometheus.NewRegistry())
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
	rd := reader.New(reader.Defaults(), store, s3, nil, prometheus.NewRegistry())
	cfg := ingest.Defaults()
	cfg.FlushInterval = flush
	ing, err := ingest.New(cfg, store, s3, rd, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ing.Close(context.Background()) })
	return &storage{store: store, objects: s3, reader: rd, ingest: ing}
}

// TestConcurrentAppendReadBack is the storage core's acceptance test: 16
// goroutines append to 32 partitions of 3 topics for several seconds; then
// every partition is read back from offset 0, by a fresh reader that has
// nothing cached, and must hold every appended record exactly once, in
// append order, with contiguous offsets from 0, and chunk rows that tile
// [log start, high watermark).
func TestConcurrentAppendReadBack(t *testing.T) {
	s := newStorage(t, 50*time.Millisecond)
	ctx := context.Background()

	// 32 partitions spread over 3 topics: 11 + 11 + 10.
	type part struct {
		topic uuid.UUID
		num   int32
	}
	var parts []part
	for i, n := range []int32{11, 11, 10} {
		tp, err := s.store.CreateTopic(ctx, fmt.Sprintf("load-%d", i), n, nil)
		if err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < n; p++ {
			parts = append(parts, part{tp.ID, p})
		}
	}

	const writers = 16
	duration := 3 * time.Second
	if testing.Short() {
		duration = time.Second
	}
	// appended[p] lists the values acked for partition p in offset order,
	// as told by the offsets ingest returned.
	type acked struct {
		offset int64
		values []string
	}
	var mu sync.Mutex
	appended := make([][]acked, len(parts))
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for seq := 0; time.Now().Before(deadline); seq++ {
				// Each append covers 1-4 random partitions with 1-5 records.
				n := 1 + rng.IntN(4)
				idx := rng.Perm(len(parts))[:n]
				reqs := make([]ingest.PartitionRecords, n)
				vals := make([][]string, n)
				for k, pi := range idx {
					for r := 0; r < 1+rng.IntN(5); r++ {
						vals[k] = append(vals[k], fmt.Sprintf("w%d-s%d-p%d-r%d", w, seq, pi, r))
					}
					reqs[k] = ingest.PartitionRecords{TopicID: parts[pi].topic, Partition: parts[pi].num,
						Records: batchtest.Values(batchtest.NoProducer, vals[k]...)}
				}
				res, err := s.ingest.Append(ctx, reqs)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for k, pi := range idx {
					if res[k].Err != nil {
						mu.Unlock()
						errs <- fmt.Errorf("append to partition %d: %w", pi, res[k].Err)
						return
					}
					appended[pi] = append(appended[pi], acked{res[k].BaseOffset, vals[k]})
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Read back with a reader that has seen none of it.
	fresh := reader.New(reader.Defaults(), s.store, s.objects, nil, prometheus.NewRegistry())
	var total int
	for pi, p := range parts {
		want := map[int64]string{}
		var hw int64
		for _, a := range appended[pi] {
			for r, v := range a.values {
				if _, dup := want[a.offset+int64(r)]; dup {
					t.Fatalf("partition %d: offset %d acked twice", pi, a.offset+int64(r))
				}
				want[a.offset+int64(r)] = v
				hw = max(hw, a.offset+int64(r)+1)
			}
		}
		if int64(len(want)) != hw {
			t.Fatalf("partition %d: acked offsets are not contiguous from 0: %d records, high %d", pi, len(want), hw)
		}
		got := readAll(t, fresh, p.topic, p.num)
		if int64(len(got)) != hw {
			t.Fatalf("partition %d: read %d records, appended %d", pi, len(got), hw)
		}
		for off, v := range got {
			if want[int64(off)] != v {
				t.Fatalf("partition %d offset %d: read %q, appended %q", pi, off, v, want[int64(off)])
			}
		}
		checkTiling(t, s.store, p.topic, p.num, hw)
		total += len(got)
	}
	// Per-writer order within a partition follows from offsets: a writer's
	// appends are sequential, so its later append must get higher offsets.
	for pi := range parts {
		last := map[string]int64{}
		for _, a := range appended[pi] {
			if prev, ok := last[writerOf(a.values[0])]; ok && a.offset < prev {
				t.Fatalf("partition %d: writer %s appended out of order", pi, writerOf(a.values[0]))
			}
			last[writerOf(a.values[0])] = a.offset
		}
	}
	t.Logf("appended and read back %d records over %d partitions", total, len(parts))
	if total < 1000 {
		t.Fatalf("only %d records appended in %v: the load did not run", total, duration)
	}
}

func writerOf(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == '-' {
			return v[:i]
		}
	}
	return v
}

// readAll reads a partition from offset 0 to its high watermark and returns
// the record values by offset, checking that offsets are contiguous.
func readAll(t *testing.T, r *reader.Reader, topic uuid.UUID, partition int32) []string {
	t.Helper()
	var out []string
	var next int64
	for {
		res, err := r.Read(context.Background(), topic, partition, next, 64<<10)
		if err != nil {
			t.Fatalf("read partition %d at %d: %v", partition, next, err)
		}
		if len(res.Records) == 0 {
			if next != res.HighWatermark {
				t.Fatalf("partition %d: empty read at %d below high watermark %d", partition, next, res.HighWatermark)
			}
			return out
		}
		err = recordbatch.Split(res.Records, func(batch []byte, h recordbatch.Header) error {
			_, recs := batchtest.Decode(batch)
			for _, rec := range recs {
				off := h.BaseOffset + int64(rec.OffsetDelta)
				if off < next {
					continue // the batch holding next started before it
				}
				if off != next {
					return fmt.Errorf("offset %d follows %d", off, next-1)
				}
				out = append(out, string(rec.Value))
				next++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("partition %d: %v", partition, err)
		}
	}
}

// checkTiling walks the chunk index of a partition: chunks must tile
// [log start, high watermark) with no gap and no overlap.
func checkTiling(t *testing.T, store metastore.Store, topic uuid.UUID, partition int32, hw int64) {
	t.Helper()
	ctx := context.Background()
	p, err := store.Partition(ctx, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	if p.NextOffset != hw || p.LogStartOffset != 0 {
		t.Fatalf("partition %d: log start %d next %d, want 0 and %d", partition, p.LogStartOffset, p.NextOffset, hw)
	}
	at := p.LogStartOffset
	for at < p.NextOffset {
		cs, err := store.ChunksFrom(ctx, topic, partition, at, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			t.Fatalf("partition %d: no chunk at %d", partition, at)
		}
		for _, c := range cs {
			if c.BaseOffset != at {
				t.Fatalf("partition %d: chunk at %d, want %d", partition, c.BaseOffset, at)
			}
			at = c.EndOffset
		}
	}
	if at != p.NextOffset {
		t.Fatalf("partition %d: chunks end at %d, high watermark %d", partition, at, p.NextOffset)
	}
}
