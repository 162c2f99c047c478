package postgres_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

// BenchmarkCommitOffsets measures one OffsetCommit's write: 8 partitions.
func BenchmarkCommitOffsets(b *testing.B) {
	ctx := b.Context()
	s, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(b), MaxConns: 4}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if _, err := s.CreateTopic(ctx, "t", 8, nil); err != nil {
		b.Fatal(err)
	}
	lease, err := s.AcquireGroupLease(ctx, "g", 1, uuid.New(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	offsets := make([]metastore.GroupOffset, 8)
	var n int64
	for b.Loop() {
		n++
		for p := range offsets {
			offsets[p] = metastore.GroupOffset{Topic: "t", Partition: int32(p), Offset: n, LeaderEpoch: -1}
		}
		if err := s.CommitOffsets(ctx, lease, offsets); err != nil {
			b.Fatal(err)
		}
	}
}
