package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

// BenchmarkPartitionLeaders measures the controller's per-pass read of
// every partition's leader, over 10,000 partitions.
func BenchmarkPartitionLeaders(b *testing.B) {
	s := benchClusterStore(b)
	for i := range 10 {
		if _, err := s.CreateTopic(b.Context(), fmt.Sprintf("bench-%d", i), 1000, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		ls, err := s.PartitionLeaders(b.Context())
		if err != nil || len(ls) != 10000 {
			b.Fatalf("%d leaders, %v", len(ls), err)
		}
	}
}

// BenchmarkClusterState measures the poll every node makes each refresh
// interval, with 20 live nodes.
func BenchmarkClusterState(b *testing.B) {
	s := benchClusterStore(b)
	for id := range int32(20) {
		n := metastore.NodeInfo{ID: id, Instance: uuid.New(), Host: "h", Port: 9092, Roles: []string{"ingest", "reader"}}
		if err := s.RegisterNode(b.Context(), n, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		st, err := s.ClusterState(b.Context())
		if err != nil || len(st.Nodes) != 20 {
			b.Fatalf("%d nodes, %v", len(st.Nodes), err)
		}
	}
}

func benchClusterStore(b *testing.B) *postgres.Store {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(b), MaxConns: 4}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}
