package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

type fakeStatusStore struct {
	state   metastore.ClusterState
	leaders []metastore.PartitionLeader
	stats   metastore.CompactionStats
	err     error
	ctxOK   bool // every call had a deadline
}

func (f *fakeStatusStore) check(ctx context.Context) {
	if _, ok := ctx.Deadline(); !ok {
		f.ctxOK = false
	}
}

func (f *fakeStatusStore) ClusterState(ctx context.Context) (metastore.ClusterState, error) {
	f.check(ctx)
	return f.state, f.err
}

func (f *fakeStatusStore) PartitionLeaders(ctx context.Context) ([]metastore.PartitionLeader, error) {
	f.check(ctx)
	return f.leaders, nil
}

func (f *fakeStatusStore) CompactionStats(ctx context.Context) (metastore.CompactionStats, error) {
	f.check(ctx)
	return f.stats, nil
}

func TestStatusHandler(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	lease := 6 * time.Second
	topic := uuid.New()
	f := &fakeStatusStore{
		ctxOK: true,
		state: metastore.ClusterState{
			Now: now,
			Nodes: []metastore.NodeInfo{
				{ID: 2, Host: "10.0.0.2", Port: 9092, Rack: "zone-b", Roles: []string{"ingest"},
					RegisteredAt: now.Add(-time.Minute), ExpiresAt: now.Add(4 * time.Second)},
				{ID: 1, Host: "10.0.0.1", Port: 9092, Rack: "zone-a", Roles: []string{"ingest", "compactor"},
					RegisteredAt: now.Add(-time.Hour), ExpiresAt: now.Add(5 * time.Second)},
			},
			Controller:     metastore.ControllerLease{NodeID: 1, Term: 3, ExpiresAt: now.Add(5 * time.Second)},
			LeadersVersion: 7,
		},
		leaders: []metastore.PartitionLeader{
			{TopicID: topic, Partition: 0, Leader: 1, Epoch: 1},
			{TopicID: topic, Partition: 1, Leader: 2, Epoch: 1},
			{TopicID: topic, Partition: 2, Leader: 1, Epoch: 2},
			{TopicID: topic, Partition: 3, Leader: -1},
			{TopicID: topic, Partition: 4, Leader: 9, Epoch: 1}, // a node that is gone
		},
		stats: metastore.CompactionStats{
			Levels: []metastore.LevelStats{
				{Level: 0, Objects: 5, Bytes: 500, Unreferenced: 1},
				{Level: 1, Objects: 2, Bytes: 2000},
			},
			ChunkRows: 12, MaxPartitionChunkRows: 6, Level0Chunks: 4,
			OldestLevel0: now.Add(-90 * time.Second),
		},
	}
	srv := httptest.NewServer(statusHandler(f, lease))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var st ClusterStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if !f.ctxOK {
		t.Error("metastore read without a deadline")
	}
	if len(st.Nodes) != 2 || st.Nodes[0].ID != 1 || st.Nodes[1].ID != 2 {
		t.Fatalf("nodes %+v, want 1 and 2 in order", st.Nodes)
	}
	n := st.Nodes[0]
	if n.Address != "10.0.0.1:9092" || n.Rack != "zone-a" || len(n.Roles) != 2 || !n.Live || !n.Controller || n.Leaders != 2 {
		t.Errorf("node 1: %+v", n)
	}
	if n.HeartbeatAge != 1 || !n.LastHeartbeat.Equal(now.Add(-time.Second)) {
		t.Errorf("node 1 heartbeat %v, age %v; want 1s ago", n.LastHeartbeat, n.HeartbeatAge)
	}
	if n := st.Nodes[1]; n.Controller || n.Leaders != 1 || n.HeartbeatAge != 2 {
		t.Errorf("node 2: %+v", n)
	}
	if st.Controller.NodeID != 1 || st.Controller.Term != 3 || st.LeadersVersion != 7 {
		t.Errorf("controller %+v, version %d", st.Controller, st.LeadersVersion)
	}
	if st.Partitions != 5 || st.Leaderless != 1 {
		t.Errorf("partitions %d, leaderless %d", st.Partitions, st.Leaderless)
	}
	want := map[string]int{"1": 2, "2": 1, "9": 1}
	if len(st.LeadersByNode) != len(want) {
		t.Errorf("leaders by node %v, want %v", st.LeadersByNode, want)
	}
	for id, c := range want {
		if st.LeadersByNode[id] != c {
			t.Errorf("leaders by node %v, want %v", st.LeadersByNode, want)
		}
	}
	c := st.Compaction
	if len(c.Levels) != 2 || c.Levels[0].Unreferenced != 1 || c.Levels[1].Bytes != 2000 {
		t.Errorf("levels %+v", c.Levels)
	}
	if c.Objects != 7 || c.Bytes != 2500 || c.ChunkRows != 12 || c.MaxPartitionChunkRows != 6 || c.Level0Chunks != 4 {
		t.Errorf("compaction %+v", c)
	}
	if c.Lag != 90 || c.OldestLevel0 == nil || !c.OldestLevel0.Equal(now.Add(-90*time.Second)) {
		t.Errorf("lag %v, oldest %v; want 90s", c.Lag, c.OldestLevel0)
	}
}

func TestStatusHandlerEmptyAndErrors(t *testing.T) {
	f := &fakeStatusStore{ctxOK: true, state: metastore.ClusterState{Now: time.Now(), Controller: metastore.ControllerLease{NodeID: -1}}}
	h := statusHandler(f, time.Second)

	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/v1/status", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if nodes, ok := raw["nodes"].([]any); !ok || len(nodes) != 0 {
		t.Errorf("nodes %v, want []", raw["nodes"])
	}
	comp := raw["compaction"].(map[string]any)
	if comp["oldest_level0"] != nil || comp["lag_seconds"] != 0.0 {
		t.Errorf("compaction %v, want no lag", comp)
	}

	rec = httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodPost, "/v1/status", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", rec.Code)
	}

	f.err = errors.New("down")
	rec = httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/v1/status", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("metastore down: status %d", rec.Code)
	}
}
