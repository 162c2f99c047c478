package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

// TestClaimNeverMarked: the schema itself refuses to mark a claimed
// orphan unreferenced, which would let the collection of unreferenced
// objects delete the row that makes a late commit fail.
func TestClaimNeverMarked(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(t), MaxConns: 2}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.ClaimOrphans(ctx, []string{"aa/orphan.seg"}); err != nil || len(got) != 1 {
		t.Fatalf("ClaimOrphans = %v, %v", got, err)
	}
	_, err = s.Pool().Exec(ctx, `UPDATE objects SET unreferenced_at = now() WHERE key = 'aa/orphan.seg'`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.CheckViolation || pgErr.ConstraintName != "objects_claim_unmarked_check" {
		t.Fatalf("marking a claim: %v, want a check violation", err)
	}
}

// BenchmarkCommitBacklogTriggers measures what the backlog triggers of
// migration 0003 add to a segment commit of 64 partitions.
func BenchmarkCommitBacklogTriggers(b *testing.B) {
	for _, triggers := range []bool{true, false} {
		b.Run(fmt.Sprintf("triggers=%v", triggers), func(b *testing.B) {
			ctx := context.Background()
			s, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(b), MaxConns: 4}, nil, prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if !triggers {
				if _, err := s.Pool().Exec(ctx, "DROP TRIGGER chunks_inserted ON chunks; DROP TRIGGER chunks_deleted ON chunks"); err != nil {
					b.Fatal(err)
				}
			}
			tp, err := s.CreateTopic(ctx, "bench", 64, nil)
			if err != nil {
				b.Fatal(err)
			}
			batches := []metastore.BatchMeta{
				{OffsetCount: 10, MaxTimestamp: 1, ProducerID: metastore.NoProducerID},
				{OffsetCount: 10, MaxTimestamp: 1, ProducerID: metastore.NoProducerID},
			}
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				n++
				seg := metastore.SegmentSpec{ObjectKey: fmt.Sprintf("bench/%d", n), ObjectSize: 64 * 1000}
				for p := range int32(64) {
					seg.Chunks = append(seg.Chunks, metastore.ChunkSpec{TopicID: tp.ID, Partition: p,
						Start: int64(p) * 1000, Length: 1000, RawLength: 4000, Batches: batches})
				}
				if _, err := s.CommitSegment(ctx, seg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
