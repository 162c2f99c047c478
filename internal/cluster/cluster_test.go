package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
	"github.com/stratalog/strata/metastore/sqlite"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fastConfig has short leases so that failures are seen within a second.
func fastConfig() cluster.Config {
	return cluster.Config{Lease: 600 * time.Millisecond, ControllerInterval: 100 * time.Millisecond, RefreshInterval: 100 * time.Millisecond}
}

var errCut = errors.New("test: metastore unreachable")

// cutStore is a node's link to the metastore, which a test can cut to
// simulate a node that hangs or is partitioned away: every call fails.
type cutStore struct {
	metastore.ClusterStore
	cut atomic.Bool
}

func (s *cutStore) RegisterNode(ctx context.Context, n metastore.NodeInfo, lease time.Duration) error {
	if s.cut.Load() {
		return errCut
	}
	return s.ClusterStore.RegisterNode(ctx, n, lease)
}

func (s *cutStore) HeartbeatNode(ctx context.Context, id int32, inst uuid.UUID, lease time.Duration) error {
	if s.cut.Load() {
		return errCut
	}
	return s.ClusterStore.HeartbeatNode(ctx, id, inst, lease)
}

func (s *cutStore) DeregisterNode(ctx context.Context, id int32, inst uuid.UUID) error {
	if s.cut.Load() {
		return errCut
	}
	return s.ClusterStore.DeregisterNode(ctx, id, inst)
}

func (s *cutStore) ClusterState(ctx context.Context) (metastore.ClusterState, error) {
	if s.cut.Load() {
		return metastore.ClusterState{}, errCut
	}
	return s.ClusterStore.ClusterState(ctx)
}

func (s *cutStore) AcquireController(ctx context.Context, id int32, inst uuid.UUID, lease time.Duration) (int64, error) {
	if s.cut.Load() {
		return 0, errCut
	}
	return s.ClusterStore.AcquireController(ctx, id, inst, lease)
}

func (s *cutStore) ReleaseController(ctx context.Context, inst uuid.UUID) error {
	if s.cut.Load() {
		return errCut
	}
	return s.ClusterStore.ReleaseController(ctx, inst)
}

func (s *cutStore) PartitionLeaders(ctx context.Context) ([]metastore.PartitionLeader, error) {
	if s.cut.Load() {
		return nil, errCut
	}
	return s.ClusterStore.PartitionLeaders(ctx)
}

func (s *cutStore) MoveLeaders(ctx context.Context, inst uuid.UUID, term int64, moves []metastore.LeaderMove) ([]metastore.PartitionLeader, error) {
	if s.cut.Load() {
		return nil, errCut
	}
	return s.ClusterStore.MoveLeaders(ctx, inst, term, moves)
}

// testNode is one simulated node: a Member over a metastore connection of
// its own.
type testNode struct {
	*cluster.Member
	store *postgres.Store
	link  *cutStore
	reg   *prometheus.Registry
}

func openPostgres(t *testing.T, url string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.New(ctx, postgres.Config{URL: url, MaxConns: 4}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("open metastore: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func newNode(t *testing.T, url string, cfg cluster.Config, id int32, port int32, rack string, roles cluster.Role) *testNode {
	t.Helper()
	s := openPostgres(t, url)
	n := &testNode{store: s, link: &cutStore{ClusterStore: s}, reg: prometheus.NewRegistry()}
	self := cluster.Node{ID: id, Host: "127.0.0.1", Port: port, Rack: rack, Roles: roles}
	m, err := cluster.New(cfg, self, n.link, slog.New(slog.DiscardHandler), n.reg)
	if err != nil {
		t.Fatal(err)
	}
	n.Member = m
	t.Cleanup(func() {
		n.link.cut.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("stop node %d: %v", id, err)
		}
	})
	return n
}

func startNodes(t *testing.T, url string, cfg cluster.Config, ids ...int32) []*testNode {
	t.Helper()
	var nodes []*testNode
	for _, id := range ids {
		n := newNode(t, url, cfg, id, 19000+id, fmt.Sprintf("zone-%d", id%2), cluster.AllRoles)
		if err := n.Start(t.Context()); err != nil {
			t.Fatalf("start node %d: %v", id, err)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, timeout, what, cond)
}

// leaders returns each partition of topic with its leader and epoch.
func leaders(t *testing.T, s metastore.Store, topic uuid.UUID) []metastore.Partition {
	t.Helper()
	ps, err := s.Partitions(t.Context(), topic)
	if err != nil {
		t.Fatalf("partitions: %v", err)
	}
	return ps
}

func leadCounts(ps []metastore.Partition) map[int32]int {
	c := map[int32]int{}
	for _, p := range ps {
		c[p.LeaderNode]++
	}
	return c
}

// balanced reports whether exactly the given nodes lead ps, each P/N or
// P/N+1 partitions.
func balanced(ps []metastore.Partition, nodes ...int32) bool {
	c := leadCounts(ps)
	lo := len(ps) / len(nodes)
	hi := (len(ps) + len(nodes) - 1) / len(nodes)
	total := 0
	for _, n := range nodes {
		if c[n] < lo || c[n] > hi {
			return false
		}
		total += c[n]
	}
	return total == len(ps)
}

func controllers(nodes []*testNode) []*testNode {
	var out []*testNode
	for _, n := range nodes {
		if n.IsController() {
			out = append(out, n)
		}
	}
	return out
}

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// passes is how many controller passes a node has made.
func passes(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "strata_cluster_controller_pass_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// commitRecords appends n records to every partition of topic in one
// segment.
func commitRecords(t *testing.T, s metastore.Store, topic uuid.UUID, partitions int32, n int32) {
	t.Helper()
	seg := metastore.SegmentSpec{ObjectKey: "test/" + uuid.NewString(), ObjectSize: int64(partitions) * 100}
	for p := range partitions {
		seg.Chunks = append(seg.Chunks, metastore.ChunkSpec{
			TopicID: topic, Partition: p, Start: int64(p) * 100, Length: 100, RawLength: 200,
			Batches: []metastore.BatchMeta{{OffsetCount: n, MaxTimestamp: 1, ProducerID: metastore.NoProducerID, ProducerEpoch: -1, BaseSequence: -1}},
		})
	}
	res, err := s.CommitSegment(t.Context(), seg)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("commit: %v", r.Err)
		}
	}
}

func TestNodeIDsAreUnique(t *testing.T) {
	url := testenv.PostgresURL(t)
	cfg := fastConfig()
	first := newNode(t, url, cfg, 1, 19001, "", cluster.AllRoles)
	if err := first.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := newNode(t, url, cfg, 1, 19101, "", cluster.AllRoles)
	err := second.Start(t.Context())
	if !errors.Is(err, cluster.ErrNodeIDInUse) {
		t.Fatalf("second process with live id 1 started: %v, want ErrNodeIDInUse", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:19001") {
		t.Errorf("error %q does not name the live holder's address", err)
	}
	select {
	case <-first.Done():
		t.Fatalf("refused claimant disturbed the holder: %v", first.Err())
	default:
	}

	// The first process hangs: once its lease has run out, a new process
	// takes the id over.
	first.link.cut.Store(true)
	cut := time.Now()
	var replacement *testNode
	waitFor(t, 10*time.Second, "a new process takes over id 1", func() bool {
		n := newNode(t, url, cfg, 1, 19201, "", cluster.AllRoles)
		if err := n.Start(t.Context()); err != nil {
			if !errors.Is(err, cluster.ErrNodeIDInUse) {
				t.Fatalf("takeover attempt: %v", err)
			}
			return false
		}
		replacement = n
		return true
	})
	if took := time.Since(cut); took < cfg.Lease/2 {
		t.Errorf("id taken over %v after the holder hung, before its %v lease could expire", took, cfg.Lease)
	}
	st, err := first.store.ClusterState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 1 || st.Nodes[0].Instance != replacement.Instance() || st.Nodes[0].Port != 19201 {
		t.Fatalf("registry after takeover: %+v", st.Nodes)
	}
	// The first process wakes up: it learns its id is gone and gives up.
	first.link.cut.Store(false)
	select {
	case <-first.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the replaced process did not notice the takeover")
	}
	if !errors.Is(first.Err(), cluster.ErrNodeIDInUse) {
		t.Fatalf("replaced process error %v, want ErrNodeIDInUse", first.Err())
	}
	// Its Stop must not deregister the replacement.
	if err := first.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	st, err = first.store.ClusterState(t.Context())
	if err != nil || len(st.Nodes) != 1 || st.Nodes[0].Instance != replacement.Instance() {
		t.Fatalf("after the replaced process stopped: %+v, %v", st.Nodes, err)
	}
}

func TestRegisterWaitsForAStaleInstance(t *testing.T) {
	url := testenv.PostgresURL(t)
	cfg := fastConfig()
	live := newNode(t, url, cfg, 5, 19005, "", cluster.AllRoles)
	if err := live.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A holder that keeps heartbeating outlasts the wait: refused.
	waiting := cfg
	waiting.RegisterWait = 2 * cfg.Lease
	dup := newNode(t, url, waiting, 5, 19105, "", cluster.AllRoles)
	start := time.Now()
	if err := dup.Start(t.Context()); !errors.Is(err, cluster.ErrNodeIDInUse) {
		t.Fatalf("claimant of a live, heartbeating id: %v, want ErrNodeIDInUse", err)
	}
	if waited := time.Since(start); waited < waiting.RegisterWait {
		t.Fatalf("gave up after %v, before the %v wait", waited, waiting.RegisterWait)
	}
	// The holder crashes: a restart started at once waits its lease out.
	live.link.cut.Store(true)
	restarted := newNode(t, url, waiting, 5, 19205, "", cluster.AllRoles)
	if err := restarted.Start(t.Context()); err != nil {
		t.Fatalf("restart after a crash with register wait %v: %v", waiting.RegisterWait, err)
	}
}

func TestOneControllerWithFailover(t *testing.T) {
	url := testenv.PostgresURL(t)
	nodes := startNodes(t, url, fastConfig(), 1, 2, 3)
	waitFor(t, 10*time.Second, "one controller, known to every view", func() bool {
		cs := controllers(nodes)
		if len(cs) != 1 {
			return false
		}
		for _, n := range nodes {
			if n.View().ControllerID() != cs[0].Self().ID {
				return false
			}
		}
		return true
	})

	// Sample all along: never two controllers at once.
	var overlap atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if len(controllers(nodes)) > 1 {
				overlap.Add(1)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	// The controller hangs: another node takes over after its lease.
	old := controllers(nodes)[0]
	old.link.cut.Store(true)
	var next *testNode
	waitFor(t, 10*time.Second, "another node becomes controller", func() bool {
		cs := controllers(nodes)
		if len(cs) == 1 && cs[0] != old {
			next = cs[0]
			return true
		}
		return false
	})
	// The old controller comes back: it stays a plain node.
	old.link.cut.Store(false)
	waitFor(t, 10*time.Second, "the old controller is live again", func() bool {
		_, ok := next.View().Node(old.Self().ID)
		return ok
	})
	// Checked all along five controller passes of each.
	oldPasses, nextPasses := passes(t, old.reg), passes(t, next.reg)
	waitFor(t, 10*time.Second, "five controller passes of both", func() bool {
		if old.IsController() || !next.IsController() {
			t.Fatalf("after the old controller came back: old %v, new %v; want the new one to keep the lease", old.IsController(), next.IsController())
		}
		return passes(t, old.reg) >= oldPasses+5 && passes(t, next.reg) >= nextPasses+5
	})

	// A graceful stop hands over without waiting for the lease.
	if err := next.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a remaining node becomes controller", func() bool {
		cs := controllers(nodes)
		return len(cs) == 1 && cs[0] != next
	})
	if n := overlap.Load(); n > 0 {
		t.Fatalf("two nodes claimed to be controller in %d samples", n)
	}
	total := 0.0
	for _, n := range nodes {
		total += metric(t, n.reg, "strata_cluster_is_controller")
	}
	if total != 1 {
		t.Fatalf("strata_cluster_is_controller sums to %v over the nodes, want 1", total)
	}
}

func TestLeadersBalanceAndMoveOnFailure(t *testing.T) {
	url := testenv.PostgresURL(t)
	nodes := startNodes(t, url, fastConfig(), 1, 2, 3)
	s := nodes[0].store
	waitFor(t, 10*time.Second, "every view sees three nodes", func() bool {
		for _, n := range nodes {
			if len(n.View().Brokers()) != 3 {
				return false
			}
		}
		return true
	})
	topic, err := s.CreateTopic(t.Context(), "thirty", 30, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "30 partitions led 10 by each of 3 nodes", func() bool {
		return balanced(leaders(t, s, topic.ID), 1, 2, 3)
	})
	before := leaders(t, s, topic.ID)
	for id, c := range leadCounts(before) {
		if c != 10 {
			t.Fatalf("node %d leads %d partitions, want 10", id, c)
		}
	}
	commitRecords(t, s, topic.ID, 30, 5)

	// Every view learns the leaders, and sends a client without a zone
	// to the leader.
	waitFor(t, 10*time.Second, "views know the leaders", func() bool {
		for _, n := range nodes {
			for _, p := range before {
				l, ok := n.View().LeaderFor(metastore.PartitionKey{TopicID: topic.ID, Partition: p.Partition}, "")
				if !ok || l.ID != p.LeaderNode {
					return false
				}
			}
		}
		return true
	})
	// Views agree on group coordinators and on the brokers.
	for i := range 100 {
		g := fmt.Sprintf("group-%d", i)
		c0, ok := nodes[0].View().CoordinatorFor(g)
		for _, n := range nodes[1:] {
			if c, _ := n.View().CoordinatorFor(g); !ok || !c.Equal(c0) {
				t.Fatalf("nodes disagree on the coordinator of %s", g)
			}
		}
	}
	for _, b := range nodes[2].View().Brokers() {
		if b.Host != "127.0.0.1" || b.Port != 19000+b.ID || b.Rack != fmt.Sprintf("zone-%d", b.ID%2) || b.Roles != cluster.AllRoles {
			t.Fatalf("broker %+v as seen by node 3", b)
		}
	}

	// A node that is not the controller dies.
	var victim *testNode
	for _, n := range nodes {
		if !n.IsController() {
			victim = n
			break
		}
	}
	victim.link.cut.Store(true)
	var survivors []int32
	for _, n := range nodes {
		if n != victim {
			survivors = append(survivors, n.Self().ID)
		}
	}
	waitFor(t, 10*time.Second, "the two survivors lead all 30", func() bool {
		return balanced(leaders(t, s, topic.ID), survivors...)
	})
	after := leaders(t, s, topic.ID)
	for i, p := range after {
		b := before[i]
		if b.LeaderNode == victim.Self().ID {
			if p.LeaderEpoch != b.LeaderEpoch+1 {
				t.Errorf("partition %d moved off the dead node: epoch %d -> %d, want +1", p.Partition, b.LeaderEpoch, p.LeaderEpoch)
			}
			// The old epoch ended at the offset the move happened at.
			end, err := s.OffsetForLeaderEpoch(t.Context(), topic.ID, p.Partition, b.LeaderEpoch)
			if err != nil || end != (metastore.EpochEnd{Epoch: b.LeaderEpoch, EndOffset: 5}) {
				t.Errorf("partition %d: epoch %d ends %+v (%v), want at offset 5", p.Partition, b.LeaderEpoch, end, err)
			}
		} else if p.LeaderNode != b.LeaderNode || p.LeaderEpoch != b.LeaderEpoch {
			t.Errorf("partition %d of a live node changed: leader %d epoch %d -> leader %d epoch %d",
				p.Partition, b.LeaderNode, b.LeaderEpoch, p.LeaderNode, p.LeaderEpoch)
		}
	}
	commitRecords(t, s, topic.ID, 30, 3)
	for _, p := range after {
		end, err := s.OffsetForLeaderEpoch(t.Context(), topic.ID, p.Partition, p.LeaderEpoch)
		if err != nil || end != (metastore.EpochEnd{Epoch: p.LeaderEpoch, EndOffset: 8}) {
			t.Errorf("partition %d current epoch %d ends %+v (%v), want the high watermark 8", p.Partition, p.LeaderEpoch, end, err)
		}
	}

	moves := 0.0
	for _, n := range nodes {
		moves += metric(t, n.reg, "strata_cluster_leader_moves_total")
	}
	if moves != 40 {
		t.Errorf("strata_cluster_leader_moves_total sums to %v, want 30 first assignments + 10 moves", moves)
	}
	waitFor(t, 10*time.Second, "survivors count two live nodes", func() bool {
		for _, n := range nodes {
			if n != victim && metric(t, n.reg, "strata_cluster_live_nodes") != 2 {
				return false
			}
		}
		return true
	})
}

func TestNewPartitionsGetLeaders(t *testing.T) {
	url := testenv.PostgresURL(t)
	nodes := startNodes(t, url, fastConfig(), 1, 2)
	s := nodes[1].store
	waitFor(t, 10*time.Second, "both nodes live", func() bool { return len(nodes[0].View().Brokers()) == 2 })
	topic, err := s.CreateTopic(t.Context(), "growing", 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new topic's partitions get leaders", func() bool {
		return balanced(leaders(t, s, topic.ID), 1, 2)
	})
	before := leaders(t, s, topic.ID)
	if err := s.CreatePartitions(t.Context(), "growing", 10); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the added partitions get leaders", func() bool {
		ps := leaders(t, s, topic.ID)
		return len(ps) == 10 && balanced(ps, 1, 2)
	})
	for i, p := range leaders(t, s, topic.ID)[:4] {
		if p.LeaderNode != before[i].LeaderNode || p.LeaderEpoch != before[i].LeaderEpoch {
			t.Errorf("existing partition %d moved when partitions were added", p.Partition)
		}
	}
}

func TestGracefulStopMovesLeadersAtOnce(t *testing.T) {
	url := testenv.PostgresURL(t)
	cfg := fastConfig()
	cfg.Lease = 5 * time.Second // far longer than the waits below
	nodes := startNodes(t, url, cfg, 1, 2, 3)
	s := nodes[0].store
	waitFor(t, 10*time.Second, "three live nodes", func() bool { return len(nodes[0].View().Brokers()) == 3 })
	topic, err := s.CreateTopic(t.Context(), "handover", 30, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "balanced", func() bool { return balanced(leaders(t, s, topic.ID), 1, 2, 3) })

	var plain, ctrl *testNode
	for _, n := range nodes {
		if n.IsController() {
			ctrl = n
		} else if plain == nil {
			plain = n
		}
	}
	if ctrl == nil {
		t.Fatal("no controller")
	}
	stopped := time.Now()
	if err := plain.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	var rest []int32
	for _, n := range nodes {
		if n != plain {
			rest = append(rest, n.Self().ID)
		}
	}
	waitFor(t, 3*time.Second, "the stopped node's partitions move, well before its lease would expire", func() bool {
		return balanced(leaders(t, s, topic.ID), rest...)
	})
	t.Logf("leaders moved %v after a graceful stop (lease %v)", time.Since(stopped).Round(time.Millisecond), cfg.Lease)

	// The controller itself stops: it moves its partitions before it
	// gives the lease up, so they are gone from it when Stop returns.
	if err := ctrl.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := leadCounts(leaders(t, s, topic.ID)); c[ctrl.Self().ID] != 0 {
		t.Fatalf("the stopped controller still leads %d partitions", c[ctrl.Self().ID])
	}
	var last *testNode
	for _, n := range nodes {
		if n != plain && n != ctrl {
			last = n
		}
	}
	waitFor(t, 3*time.Second, "the last node becomes controller", last.IsController)
	if c := leadCounts(leaders(t, s, topic.ID)); c[last.Self().ID] != 30 {
		t.Fatalf("the last node leads %d of 30", c[last.Self().ID])
	}
}

func TestSQLiteSingleNode(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.New(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "metastore.db")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	self := cluster.Node{ID: 0, Host: "127.0.0.1", Port: 9092, Roles: cluster.AllRoles}
	reg := prometheus.NewRegistry()
	m, err := cluster.New(fastConfig(), self, s, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !m.IsController() || m.View().ControllerID() != 0 {
		t.Fatalf("single node after Start: controller %v, view says %d", m.IsController(), m.View().ControllerID())
	}
	if got := metric(t, reg, "strata_cluster_is_controller"); got != 1 {
		t.Fatalf("strata_cluster_is_controller = %v", got)
	}
	topic, err := s.CreateTopic(ctx, "dev", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the dev node leads every partition", func() bool {
		ps := leaders(t, s, topic.ID)
		return leadCounts(ps)[0] == 3
	})
	waitFor(t, 10*time.Second, "the view knows", func() bool {
		_, e, ok := m.View().Leader(metastore.PartitionKey{TopicID: topic.ID, Partition: 2})
		return ok && e == 1
	})
	if n, ok := m.View().LeaderFor(metastore.PartitionKey{TopicID: topic.ID, Partition: 2}, "some-zone"); !ok || !n.Equal(self) {
		t.Fatalf("LeaderFor = %+v, %v; want self", n, ok)
	}
	if n, ok := m.View().CoordinatorFor("g"); !ok || !n.Equal(self) {
		t.Fatalf("CoordinatorFor = %+v, %v; want self", n, ok)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.ClusterState(ctx)
	if err != nil || len(st.Nodes) != 0 || st.Controller.NodeID != -1 {
		t.Fatalf("after Stop: nodes %+v, controller %d, %v; want none", st.Nodes, st.Controller.NodeID, err)
	}
}
