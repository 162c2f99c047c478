package app

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/stratalog/strata/metastore"
)

// statusTimeout bounds the metastore reads of one GET /v1/status.
const statusTimeout = 3 * time.Second

// ClusterStatus is the body of GET /v1/status: the node registry, the
// partition leaders per node and the compaction figures, as the metastore
// tells them.
type ClusterStatus struct {
	Now            time.Time        `json:"now"` // the metastore's clock
	Controller     ControllerStatus `json:"controller"`
	LeadersVersion int64            `json:"leaders_version"`
	Nodes          []NodeStatus     `json:"nodes"` // ordered by id
	Partitions     int              `json:"partitions"`
	Leaderless     int              `json:"leaderless"` // partitions without a leader
	// LeadersByNode counts the partitions each node id leads, keyed by
	// the decimal node id; it includes ids of nodes that are not live.
	LeadersByNode map[string]int   `json:"leaders_by_node"`
	Compaction    CompactionStatus `json:"compaction"`
}

// ControllerStatus is the controller lease.
type ControllerStatus struct {
	NodeID    int32     `json:"node_id"` // -1 when no live holder
	Term      int64     `json:"term"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NodeStatus is one live node of the registry.
type NodeStatus struct {
	ID            int32     `json:"id"`
	Address       string    `json:"address"`
	Rack          string    `json:"rack"` // zone; "" when none
	Roles         []string  `json:"roles"`
	RegisteredAt  time.Time `json:"registered_at"`
	LastHeartbeat time.Time `json:"last_heartbeat"` // lease end minus the lease
	// HeartbeatAge is the seconds since LastHeartbeat, by the metastore's
	// clock.
	HeartbeatAge float64   `json:"heartbeat_age_seconds"`
	ExpiresAt    time.Time `json:"expires_at"`
	Live         bool      `json:"live"`
	Controller   bool      `json:"controller"`
	Leaders      int       `json:"leaders"`
}

// CompactionStatus is metastore.CompactionStats.
type CompactionStatus struct {
	Levels                []LevelStatus `json:"levels"` // ordered by level
	Objects               int64         `json:"objects"`
	Bytes                 int64         `json:"bytes"`
	ChunkRows             int64         `json:"chunk_rows"`
	MaxPartitionChunkRows int64         `json:"max_partition_chunk_rows"`
	Level0Chunks          int64         `json:"level0_chunks"` // the backlog
	// OldestLevel0 is the commit time of the oldest unmerged level-0 chunk,
	// and Lag its age in seconds; nil and 0 when there is none.
	OldestLevel0 *time.Time `json:"oldest_level0"`
	Lag          float64    `json:"lag_seconds"`
}

// LevelStatus counts the objects of one level.
type LevelStatus struct {
	Level        int16 `json:"level"`
	Objects      int64 `json:"objects"`
	Bytes        int64 `json:"bytes"`
	Unreferenced int64 `json:"unreferenced"`
}

// statusStore is what clusterStatus reads.
type statusStore interface {
	ClusterState(ctx context.Context) (metastore.ClusterState, error)
	PartitionLeaders(ctx context.Context) ([]metastore.PartitionLeader, error)
	CompactionStats(ctx context.Context) (metastore.CompactionStats, error)
}

// clusterStatus reads the status from the metastore; lease is the node
// lease, to tell the last heartbeat from a lease's end.
func clusterStatus(ctx context.Context, store statusStore, lease time.Duration) (*ClusterStatus, error) {
	cs, err := store.ClusterState(ctx)
	if err != nil {
		return nil, err
	}
	leaders, err := store.PartitionLeaders(ctx)
	if err != nil {
		return nil, err
	}
	stats, err := store.CompactionStats(ctx)
	if err != nil {
		return nil, err
	}
	now := cs.Now
	if now.IsZero() {
		now = time.Now()
	}
	st := &ClusterStatus{
		Now: now,
		Controller: ControllerStatus{
			NodeID: cs.Controller.NodeID, Term: cs.Controller.Term, ExpiresAt: cs.Controller.ExpiresAt,
		},
		LeadersVersion: cs.LeadersVersion,
		Nodes:          make([]NodeStatus, 0, len(cs.Nodes)),
		Partitions:     len(leaders),
		LeadersByNode:  make(map[string]int),
	}
	perNode := make(map[int32]int)
	for _, l := range leaders {
		if l.Leader < 0 {
			st.Leaderless++
			continue
		}
		perNode[l.Leader]++
		st.LeadersByNode[strconv.Itoa(int(l.Leader))]++
	}
	for _, n := range cs.Nodes {
		last := n.ExpiresAt.Add(-lease)
		if last.Before(n.RegisteredAt) {
			last = n.RegisteredAt
		}
		if last.After(now) {
			last = now
		}
		roles := n.Roles
		if roles == nil {
			roles = []string{}
		}
		st.Nodes = append(st.Nodes, NodeStatus{
			ID:            n.ID,
			Address:       net.JoinHostPort(n.Host, strconv.Itoa(int(n.Port))),
			Rack:          n.Rack,
			Roles:         roles,
			RegisteredAt:  n.RegisteredAt,
			LastHeartbeat: last,
			HeartbeatAge:  now.Sub(last).Seconds(),
			ExpiresAt:     n.ExpiresAt,
			Live:          n.ExpiresAt.After(now),
			Controller:    n.ID == cs.Controller.NodeID && cs.Controller.ExpiresAt.After(now),
			Leaders:       perNode[n.ID],
		})
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].ID < st.Nodes[j].ID })
	c := &st.Compaction
	c.Levels = make([]LevelStatus, 0, len(stats.Levels))
	for _, l := range stats.Levels {
		c.Levels = append(c.Levels, LevelStatus{Level: l.Level, Objects: l.Objects, Bytes: l.Bytes, Unreferenced: l.Unreferenced})
		c.Objects += l.Objects
		c.Bytes += l.Bytes
	}
	c.ChunkRows = stats.ChunkRows
	c.MaxPartitionChunkRows = stats.MaxPartitionChunkRows
	c.Level0Chunks = stats.Level0Chunks
	if !stats.OldestLevel0.IsZero() {
		t := stats.OldestLevel0
		c.OldestLevel0 = &t
		if lag := now.Sub(t); lag > 0 {
			c.Lag = lag.Seconds()
		}
	}
	return st, nil
}

// statusHandler serves GET /v1/status.
func statusHandler(store statusStore, lease time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), statusTimeout)
		defer cancel()
		st, err := clusterStatus(ctx, store, lease)
		if err != nil {
			http.Error(w, "metastore: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	}
}
