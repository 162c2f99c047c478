package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
)

// boundedMoves is a metastore that cannot move more than limit partition
// leaders in one transaction before the controller pass's deadline: a
// large cluster's database under load (100,000 partitions in one
// MoveLeaders timed out pass after pass in bench/metastore-scale).
type boundedMoves struct {
	metastore.ClusterStore
	limit int
}

func (s *boundedMoves) MoveLeaders(ctx context.Context, inst uuid.UUID, term int64, moves []metastore.LeaderMove) ([]metastore.PartitionLeader, error) {
	if len(moves) > s.limit {
		return nil, fmt.Errorf("move leaders: %d moves in one transaction: %w", len(moves), context.DeadlineExceeded)
	}
	return s.ClusterStore.MoveLeaders(ctx, inst, term, moves)
}

// A new cluster with more partitions than its database can move in one
// controller pass still gives every partition a leader, pass after pass.
func TestLeadersAssignedWhenOnePassCannotMoveThemAll(t *testing.T) {
	url := testenv.PostgresURL(t)
	s := openPostgres(t, url)
	const partitions = 25_000
	topic, err := s.CreateTopic(t.Context(), "wide", partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cluster.Config{Lease: 6 * time.Second, ControllerInterval: 100 * time.Millisecond, RefreshInterval: 100 * time.Millisecond}
	self := cluster.Node{ID: 1, Host: "127.0.0.1", Port: 19001, Roles: cluster.AllRoles}
	m, err := cluster.New(cfg, self, &boundedMoves{ClusterStore: s, limit: 10_000}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	waitFor(t, 2*time.Minute, "every partition has a leader", func() bool {
		for _, p := range leaders(t, s, topic.ID) {
			if p.LeaderNode != 1 {
				return false
			}
		}
		return true
	})
}
