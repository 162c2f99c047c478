package metastoretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// RunCluster runs the cluster suite: node registry, controller lease,
// leader moves and the leader epoch history. open returns a store over a
// fresh, empty metastore, once per subtest; it must also be a
// metastore.Store (topics and commits), and is closed by the suite.
//
// Leases in this suite are short (a few hundred milliseconds); waits poll.
func RunCluster(t *testing.T, open func(t *testing.T) metastore.ClusterStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, cs metastore.ClusterStore, s metastore.Store)
	}{
		{"RegisterAndList", testClusterRegister},
		{"LiveNodeIDRefused", testClusterLiveIDRefused},
		{"TakeoverAfterExpiry", testClusterTakeover},
		{"HeartbeatKeepsNodeLive", testClusterHeartbeat},
		{"Deregister", testClusterDeregister},
		{"ControllerLease", testClusterControllerLease},
		{"ControllerLeaseExpires", testClusterControllerExpiry},
		{"MoveLeaders", testClusterMoveLeaders},
		{"MoveLeadersFenced", testClusterMoveFenced},
		{"PartitionLeaders", testClusterPartitionLeaders},
		{"EpochHistory", testClusterEpochHistory},
		{"DeleteTopicDropsHistory", testClusterDeleteTopic},
		{"MovesConcurrentWithCommits", testClusterMovesAndCommits},
		{"NodeListeners", testClusterNodeListeners},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := open(t)
			s, ok := cs.(metastore.Store)
			if !ok {
				t.Fatalf("%T is not a metastore.Store", cs)
			}
			t.Cleanup(s.Close)
			tc.fn(t, cs, s)
		})
	}
}

const (
	shortLease = 400 * time.Millisecond
	longLease  = time.Minute
)

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clusterBG is the context of polls and of goroutines that outlive a
// call of ctx.
func clusterBG() context.Context { return context.Background() }

func node(id int32, rack string, roles ...string) metastore.NodeInfo {
	return metastore.NodeInfo{ID: id, Instance: uuid.New(), Host: fmt.Sprintf("node-%d.test", id), Port: 9092 + id, Rack: rack, Roles: roles}
}

func register(t *testing.T, cs metastore.ClusterStore, n metastore.NodeInfo, lease time.Duration) {
	t.Helper()
	if err := cs.RegisterNode(ctx(t), n, lease); err != nil {
		t.Fatalf("RegisterNode(%d): %v", n.ID, err)
	}
}

func clusterState(t *testing.T, cs metastore.ClusterStore) metastore.ClusterState {
	t.Helper()
	st, err := cs.ClusterState(ctx(t))
	if err != nil {
		t.Fatalf("ClusterState: %v", err)
	}
	return st
}

func liveIDs(st metastore.ClusterState) []int32 {
	ids := []int32{}
	for _, n := range st.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func isLive(cs metastore.ClusterStore, id int32) (bool, error) {
	st, err := cs.ClusterState(clusterBG())
	if err != nil {
		return false, err
	}
	return slices.Contains(liveIDs(st), id), nil
}

func testClusterRegister(t *testing.T, cs metastore.ClusterStore, _ metastore.Store) {
	if st := clusterState(t, cs); len(st.Nodes) != 0 || st.Controller.NodeID != -1 {
		t.Fatalf("fresh metastore: nodes %v, controller %d; want none, -1", liveIDs(st), st.Controller.NodeID)
	}
	n2 := node(2, "zone-b", "reader")
	n0 := node(0, "zone-a", "ingest", "coordinator", "controller")
	n1 := node(1, "", "ingest")
	for _, n := range []metastore.NodeInfo{n2, n0, n1} {
		register(t, cs, n, longLease)
	}
	st := clusterState(t, cs)
	if got := liveIDs(st); !slices.Equal(got, []int32{0, 1, 2}) {
		t.Fatalf("live nodes %v, want [0 1 2] in id order", got)
	}
	for i, want := range []metastore.NodeInfo{n0, n1, n2} {
		got := st.Nodes[i]
		if got.Instance != want.Instance || got.Host != want.Host || got.Port != want.Port || got.Rack != want.Rack ||
			!slices.Equal(got.Roles, want.Roles) {
			t.Errorf("node %d = %+v, want %+v", want.ID, got, want)
		}
		if !got.ExpiresAt.After(st.Now) || got.ExpiresAt.Sub(st.Now) > longLease+time.Second {
			t.Errorf("node %d expires at %v, state read at %v; want about a minute later", want.ID, got.ExpiresAt, st.Now)
		}
	}
	if len(st.Nodes[1].Roles) != 1 || st.Nodes[1].Rack != "" {
		t.Errorf("node 1: rack %q roles %q", st.Nodes[1].Rack, st.Nodes[1].Roles)
	}
	// A node with no roles round-trips with none.
	register(t, cs, node(3, ""), longLease)
	st = clusterState(t, cs)
	if n := st.Nodes[3]; n.ID != 3 || len(n.Roles) != 0 {
		t.Errorf("node without roles read back as %+v", n)
	}
}

func testClusterLiveIDRefused(t *testing.T, cs metastore.ClusterStore, _ metastore.Store) {
	first := node(7, "a", "ingest")
	register(t, cs, first, longLease)
	second := node(7, "b", "reader")
	err := cs.RegisterNode(ctx(t), second, longLease)
	if !errors.Is(err, metastore.ErrNodeIDInUse) {
		t.Fatalf("second instance registering live id 7: %v, want ErrNodeIDInUse", err)
	}
	st := clusterState(t, cs)
	if len(st.Nodes) != 1 || st.Nodes[0].Instance != first.Instance || st.Nodes[0].Rack != "a" {
		t.Fatalf("after refused claim, registry holds %+v; want the first instance untouched", st.Nodes)
	}
	if err := cs.HeartbeatNode(ctx(t), 7, second.Instance, longLease); !errors.Is(err, metastore.ErrNodeNotRegistered) {
		t.Fatalf("heartbeat of the refused instance: %v, want ErrNodeNotRegistered", err)
	}
	// The holder may register again (a restart of the same process), with
	// new details.
	first.Host = "moved.test"
	register(t, cs, first, longLease)
	if st := clusterState(t, cs); st.Nodes[0].Host != "moved.test" {
		t.Fatalf("re-registration by the holder: host %q, want moved.test", st.Nodes[0].Host)
	}
}

func testClusterTakeover(t *testing.T, cs metastore.ClusterStore, _ metastore.Store) {
	old := node(4, "", "ingest")
	register(t, cs, old, shortLease)
	eventually(t, "node 4's lease expires", func() (bool, error) {
		live, err := isLive(cs, 4)
		return !live, err
	})
	replacement := node(4, "", "ingest", "reader")
	register(t, cs, replacement, longLease)
	st := clusterState(t, cs)
	if len(st.Nodes) != 1 || st.Nodes[0].Instance != replacement.Instance {
		t.Fatalf("after takeover registry holds %+v, want the new instance", st.Nodes)
	}
	if err := cs.HeartbeatNode(ctx(t), 4, old.Instance, longLease); !errors.Is(err, metastore.ErrNodeNotRegistered) {
		t.Fatalf("heartbeat of the replaced instance: %v, want ErrNodeNotRegistered", err)
	}
	if err := cs.RegisterNode(ctx(t), old, longLease); !errors.Is(err, metastore.ErrNodeIDInUse) {
		t.Fatalf("replaced instance registering again: %v, want ErrNodeIDInUse", err)
	}
	// Deregistering with the old instance leaves the new one alone.
	if err := cs.DeregisterNode(ctx(t), 4, old.Instance); err != nil {
		t.Fatal(err)
	}
	if live, err := isLive(cs, 4); err != nil || !live {
		t.Fatalf("node 4 live = %v (%v) after the old instance deregistered; want the new one live", live, err)
	}
}

func testClusterHeartbeat(t *testing.T, cs metastore.ClusterStore, _ metastore.Store) {
	n := node(1, "", "ingest")
	register(t, cs, n, shortLease)
	// Heartbeats every lease/4 for three leases keep the node live.
	end := time.Now().Add(3 * shortLease)
	for time.Now().Before(end) {
		if err := cs.HeartbeatNode(ctx(t), 1, n.Instance, shortLease); err != nil {
			t.Fatalf("HeartbeatNode: %v", err)
		}
		if live, err := isLive(cs, 1); err != nil || !live {
			t.Fatalf("node 1 dead (%v) although it heartbeats every %v with a %v lease", err, shortLease/4, shortLease)
		}
		time.Sleep(shortLease / 4)
	}
	eventually(t, "node 1 dies once heartbeats stop", func() (bool, error) {
		live, err := isLive(cs, 1)
		return !live, err
	})
	// A heartbeat after expiry, with nobody having taken the id over,
	// revives the registration.
	if err := cs.HeartbeatNode(ctx(t), 1, n.Instance, longLease); err != nil {
		t.Fatalf("heartbeat after expiry: %v", err)
	}
	if live, err := isLive(cs, 1); err != nil || !live {
		t.Fatalf("node 1 live = %v (%v) after a late heartbeat", live, err)
	}
}

func testClusterDeregister(t *testing.T, cs metastore.ClusterStore, _ metastore.Store) {
	a, b := node(1, "", "ingest"), node(2, "", "ingest")
	register(t, cs, a, longLease)
	register(t, cs, b, longLease)
	if err := cs.DeregisterNode(ctx(t), 1, uuid.New()); err != nil {
		t.Fatal(err)
	}
	if got := liveIDs(clusterState(t, cs)); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("deregistering with a foreign instance removed a node: live %v", got)
	}
	if err := cs.DeregisterNode(ctx(t), 1, a.Instance); err != nil {
		t.Fatal(err)
	}
	if got := liveIDs(clusterState(t, cs)); !slices.Equal(got, []int32{2}) {
		t.Fatalf("after deregistering node 1: live %v, want [2]", got)
	}
	if err := cs.HeartbeatNode(ctx(t), 1, a.Instance, longLease); !errors.Is(err, metastore.ErrNodeNotRegistered) {
		t.Fatalf("heartbeat after deregistering: %v, want ErrNodeNotRegistered", err)
	}
	// The id is free at once for anyone.
	register(t, cs, node(1, "", "reader"), longLease)
}

func acquire(t *testing.T, cs metastore.ClusterStore, id int32, inst uuid.UUID, lease time.Duration) int64 {
	t.Helper()
	term, err := cs.AcquireController(ctx(t), id, inst, lease)
	if err != nil {
		t.Fatalf("AcquireController(node %d): %v", id, err)
	}
	return term
}

func testClusterControllerLease(t *testing.T, cs metastore.ClusterStore, _ metastore.Store) {
	a, b := uuid.New(), uuid.New()
	t1 := acquire(t, cs, 1, a, longLease)
	if st := clusterState(t, cs); st.Controller.NodeID != 1 || st.Controller.Instance != a || st.Controller.Term != t1 {
		t.Fatalf("controller %+v, want node 1, instance %s, term %d", st.Controller, a, t1)
	}
	if _, err := cs.AcquireController(ctx(t), 2, b, longLease); !errors.Is(err, metastore.ErrNotController) {
		t.Fatalf("second instance acquiring a held lease: %v, want ErrNotController", err)
	}
	if got := acquire(t, cs, 1, a, longLease); got != t1 {
		t.Fatalf("renewal changed the term from %d to %d", t1, got)
	}
	if err := cs.ReleaseController(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	if st := clusterState(t, cs); st.Controller.NodeID != 1 {
		t.Fatalf("release by a non-holder dropped the lease: %+v", st.Controller)
	}
	if err := cs.ReleaseController(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	if st := clusterState(t, cs); st.Controller.NodeID != -1 {
		t.Fatalf("after release, controller %d, want -1", st.Controller.NodeID)
	}
	t2 := acquire(t, cs, 2, b, longLease)
	if t2 <= t1 {
		t.Fatalf("takeover term %d, want above %d", t2, t1)
	}
	if _, err := cs.AcquireController(ctx(t), 1, a, longLease); !errors.Is(err, metastore.ErrNotController) {
		t.Fatalf("former holder acquiring: %v, want ErrNotController", err)
	}
}

func testClusterControllerExpiry(t *testing.T, cs metastore.ClusterStore, _ metastore.Store) {
	a, b := uuid.New(), uuid.New()
	t1 := acquire(t, cs, 1, a, shortLease)
	eventually(t, "the controller lease expires", func() (bool, error) {
		st, err := cs.ClusterState(clusterBG())
		return err == nil && st.Controller.NodeID == -1, err
	})
	t2 := acquire(t, cs, 2, b, longLease)
	if t2 <= t1 {
		t.Fatalf("term after expiry and takeover %d, want above %d", t2, t1)
	}
	// An expired lease renewed by its holder before anyone took it keeps
	// its term.
	c := uuid.New()
	if err := cs.ReleaseController(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	t3 := acquire(t, cs, 3, c, shortLease)
	eventually(t, "the controller lease expires", func() (bool, error) {
		st, err := cs.ClusterState(clusterBG())
		return err == nil && st.Controller.NodeID == -1, err
	})
	if got := acquire(t, cs, 3, c, longLease); got != t3 {
		t.Fatalf("holder renewing its own expired lease got term %d, want %d", got, t3)
	}
}

func testClusterMoveLeaders(t *testing.T, cs metastore.ClusterStore, s metastore.Store) {
	tp := mustTopic(t, s, "moves", 3)
	inst := uuid.New()
	term := acquire(t, cs, 1, inst, longLease)
	v0 := clusterState(t, cs).LeadersVersion
	commit(t, s, segment(chunk(tp.ID, 0, plain(5, 1))))

	got, err := cs.MoveLeaders(ctx(t), inst, term, []metastore.LeaderMove{
		{TopicID: tp.ID, Partition: 1, From: -1, FromEpoch: 0, To: 2},
		{TopicID: tp.ID, Partition: 0, From: -1, FromEpoch: 0, To: 1},
		{TopicID: tp.ID, Partition: 2, From: 5, FromEpoch: 0, To: 1},       // wrong leader: skipped
		{TopicID: tp.ID, Partition: 9, From: -1, FromEpoch: 0, To: 1},      // no such partition: skipped
		{TopicID: uuid.New(), Partition: 0, From: -1, FromEpoch: 0, To: 1}, // no such topic: skipped
	})
	if err != nil {
		t.Fatalf("MoveLeaders: %v", err)
	}
	want := []metastore.PartitionLeader{
		{TopicID: tp.ID, Partition: 0, Leader: 1, Epoch: 1},
		{TopicID: tp.ID, Partition: 1, Leader: 2, Epoch: 1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("applied moves %+v, want %+v", got, want)
	}
	for _, w := range []metastore.PartitionLeader{want[0], want[1], {TopicID: tp.ID, Partition: 2, Leader: -1, Epoch: 0}} {
		p := partition(t, s, tp.ID, w.Partition)
		if p.LeaderNode != w.Leader || p.LeaderEpoch != w.Epoch {
			t.Errorf("partition %d: leader %d epoch %d, want %d, %d", w.Partition, p.LeaderNode, p.LeaderEpoch, w.Leader, w.Epoch)
		}
	}
	v1 := clusterState(t, cs).LeadersVersion
	if v1 <= v0 {
		t.Fatalf("leaders version %d after moves, was %d: want it raised", v1, v0)
	}
	// A move planned from an outdated epoch is skipped and changes nothing.
	got, err = cs.MoveLeaders(ctx(t), inst, term, []metastore.LeaderMove{
		{TopicID: tp.ID, Partition: 0, From: -1, FromEpoch: 0, To: 3},
		{TopicID: tp.ID, Partition: 0, From: 1, FromEpoch: 0, To: 3},
	})
	if err != nil || len(got) != 0 {
		t.Fatalf("stale moves: applied %+v, err %v; want none", got, err)
	}
	if v := clusterState(t, cs).LeadersVersion; v != v1 {
		t.Fatalf("leaders version moved from %d to %d although nothing moved", v1, v)
	}
	// The same partition twice in one call moves once.
	got, err = cs.MoveLeaders(ctx(t), inst, term, []metastore.LeaderMove{
		{TopicID: tp.ID, Partition: 0, From: 1, FromEpoch: 1, To: 3},
		{TopicID: tp.ID, Partition: 0, From: 1, FromEpoch: 1, To: 4},
	})
	if err != nil || len(got) != 1 || got[0].Epoch != 2 {
		t.Fatalf("duplicate moves of one partition: applied %+v, err %v; want one, to epoch 2", got, err)
	}
	if p := partition(t, s, tp.ID, 0); p.LeaderEpoch != 2 || p.LeaderNode != got[0].Leader {
		t.Fatalf("partition 0 leader %d epoch %d, want %d epoch 2", p.LeaderNode, p.LeaderEpoch, got[0].Leader)
	}
}

func testClusterMoveFenced(t *testing.T, cs metastore.ClusterStore, s metastore.Store) {
	tp := mustTopic(t, s, "fenced", 1)
	a, b := uuid.New(), uuid.New()
	move := []metastore.LeaderMove{{TopicID: tp.ID, Partition: 0, From: -1, FromEpoch: 0, To: 1}}

	// Nobody holds the lease.
	if _, err := cs.MoveLeaders(ctx(t), a, 1, move); !errors.Is(err, metastore.ErrNotController) {
		t.Fatalf("move without lease: %v, want ErrNotController", err)
	}
	ta := acquire(t, cs, 1, a, shortLease)
	// Wrong term.
	if _, err := cs.MoveLeaders(ctx(t), a, ta+1, move); !errors.Is(err, metastore.ErrNotController) {
		t.Fatalf("move with a wrong term: %v, want ErrNotController", err)
	}
	// Expired lease.
	eventually(t, "the controller lease expires", func() (bool, error) {
		st, err := cs.ClusterState(clusterBG())
		return err == nil && st.Controller.NodeID == -1, err
	})
	if _, err := cs.MoveLeaders(ctx(t), a, ta, move); !errors.Is(err, metastore.ErrNotController) {
		t.Fatalf("move with an expired lease: %v, want ErrNotController", err)
	}
	// Another instance took over: the former holder's term is stale.
	tb := acquire(t, cs, 2, b, longLease)
	if _, err := cs.MoveLeaders(ctx(t), a, ta, move); !errors.Is(err, metastore.ErrNotController) {
		t.Fatalf("move by a deposed controller: %v, want ErrNotController", err)
	}
	if p := partition(t, s, tp.ID, 0); p.LeaderNode != -1 || p.LeaderEpoch != 0 {
		t.Fatalf("refused moves changed partition 0: leader %d epoch %d", p.LeaderNode, p.LeaderEpoch)
	}
	if got, err := cs.MoveLeaders(ctx(t), b, tb, move); err != nil || len(got) != 1 {
		t.Fatalf("move by the controller: applied %+v, err %v", got, err)
	}
}

func testClusterPartitionLeaders(t *testing.T, cs metastore.ClusterStore, s metastore.Store) {
	if ls, err := cs.PartitionLeaders(ctx(t)); err != nil || len(ls) != 0 {
		t.Fatalf("PartitionLeaders of an empty metastore: %v, %v", ls, err)
	}
	x := mustTopic(t, s, "leaders-x", 2)
	y := mustTopic(t, s, "leaders-y", 3)
	gone := mustTopic(t, s, "leaders-gone", 2)
	if err := s.CreatePartitions(ctx(t), "leaders-x", 4); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopic(ctx(t), "leaders-gone"); err != nil {
		t.Fatal(err)
	}
	inst := uuid.New()
	term := acquire(t, cs, 1, inst, longLease)
	if _, err := cs.MoveLeaders(ctx(t), inst, term, []metastore.LeaderMove{{TopicID: y.ID, Partition: 2, From: -1, To: 6}}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.PartitionLeaders(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var want []metastore.PartitionLeader
	for p := range int32(4) {
		want = append(want, metastore.PartitionLeader{TopicID: x.ID, Partition: p, Leader: -1})
	}
	for p := range int32(3) {
		w := metastore.PartitionLeader{TopicID: y.ID, Partition: p, Leader: -1}
		if p == 2 {
			w.Leader, w.Epoch = 6, 1
		}
		want = append(want, w)
	}
	slices.SortFunc(want, func(a, b metastore.PartitionLeader) int {
		if (metastore.PartitionKey{TopicID: a.TopicID, Partition: a.Partition}).Less(metastore.PartitionKey{TopicID: b.TopicID, Partition: b.Partition}) {
			return -1
		}
		return 1
	})
	if !slices.Equal(got, want) {
		t.Fatalf("PartitionLeaders = %+v\nwant %+v (deleted topic %s absent)", got, want, gone.ID)
	}
}

func epochEnd(t *testing.T, cs metastore.ClusterStore, topic uuid.UUID, p, epoch int32) metastore.EpochEnd {
	t.Helper()
	e, err := cs.OffsetForLeaderEpoch(ctx(t), topic, p, epoch)
	if err != nil {
		t.Fatalf("OffsetForLeaderEpoch(%d, epoch %d): %v", p, epoch, err)
	}
	return e
}

func testClusterEpochHistory(t *testing.T, cs metastore.ClusterStore, s metastore.Store) {
	tp := mustTopic(t, s, "epochs", 2)
	inst := uuid.New()
	term := acquire(t, cs, 1, inst, longLease)
	moveTo := func(to int32) {
		t.Helper()
		p := partition(t, s, tp.ID, 0)
		got, err := cs.MoveLeaders(ctx(t), inst, term, []metastore.LeaderMove{
			{TopicID: tp.ID, Partition: 0, From: p.LeaderNode, FromEpoch: p.LeaderEpoch, To: to}})
		if err != nil || len(got) != 1 {
			t.Fatalf("move partition 0 to %d: %+v, %v", to, got, err)
		}
	}
	if e := epochEnd(t, cs, tp.ID, 0, 0); e != (metastore.EpochEnd{Epoch: 0, EndOffset: 0}) {
		t.Fatalf("epoch 0 of an empty, never moved partition: %+v, want {0 0}", e)
	}
	commit(t, s, segment(chunk(tp.ID, 0, plain(5, 1)))) // epoch 0: [0, 5)
	if e := epochEnd(t, cs, tp.ID, 0, 0); e != (metastore.EpochEnd{Epoch: 0, EndOffset: 5}) {
		t.Fatalf("current epoch 0: %+v, want end at the high watermark 5", e)
	}
	moveTo(1)                                           // epoch 1 starts at 5
	commit(t, s, segment(chunk(tp.ID, 0, plain(3, 2)))) // [5, 8)
	moveTo(2)                                           // epoch 2 starts at 8
	moveTo(3)                                           // epoch 3 starts at 8: empty epoch 2
	commit(t, s, segment(chunk(tp.ID, 0, plain(2, 3)))) // [8, 10)

	for _, c := range []struct {
		asked int32
		want  metastore.EpochEnd
	}{
		{0, metastore.EpochEnd{Epoch: 0, EndOffset: 5}},
		{1, metastore.EpochEnd{Epoch: 1, EndOffset: 8}},
		{2, metastore.EpochEnd{Epoch: 2, EndOffset: 8}},
		{3, metastore.EpochEnd{Epoch: 3, EndOffset: 10}}, // current: high watermark
		{4, metastore.UndefinedEpochEnd},
		{-1, metastore.UndefinedEpochEnd},
	} {
		if got := epochEnd(t, cs, tp.ID, 0, c.asked); got != c.want {
			t.Errorf("OffsetForLeaderEpoch(epoch %d) = %+v, want %+v", c.asked, got, c.want)
		}
	}
	// Partition 1 never moved: its history is its own.
	if e := epochEnd(t, cs, tp.ID, 1, 1); e != metastore.UndefinedEpochEnd {
		t.Errorf("epoch 1 of never-moved partition 1: %+v, want undefined", e)
	}
	if _, err := cs.OffsetForLeaderEpoch(ctx(t), tp.ID, 2, 0); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("unknown partition: %v, want ErrUnknownPartition", err)
	}
	if _, err := cs.OffsetForLeaderEpoch(ctx(t), uuid.New(), 0, 0); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("unknown topic: %v, want ErrUnknownPartition", err)
	}
}

func testClusterDeleteTopic(t *testing.T, cs metastore.ClusterStore, s metastore.Store) {
	tp := mustTopic(t, s, "doomed", 1)
	inst := uuid.New()
	term := acquire(t, cs, 1, inst, longLease)
	if _, err := cs.MoveLeaders(ctx(t), inst, term, []metastore.LeaderMove{{TopicID: tp.ID, Partition: 0, From: -1, To: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopic(ctx(t), "doomed"); err != nil {
		t.Fatalf("DeleteTopic of a topic with epoch history: %v", err)
	}
	if _, err := cs.OffsetForLeaderEpoch(ctx(t), tp.ID, 0, 1); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Fatalf("deleted topic: %v, want ErrUnknownPartition", err)
	}
	// A new topic of the same name starts with a history of its own.
	again := mustTopic(t, s, "doomed", 1)
	if e := epochEnd(t, cs, again.ID, 0, 1); e != metastore.UndefinedEpochEnd {
		t.Fatalf("recreated topic, epoch 1: %+v, want undefined", e)
	}
}

// testClusterMovesAndCommits moves a partition's leadership while commits
// run: every epoch's start offset must be a committed offset boundary, the
// starts must not decrease, and no commit may fail or deadlock.
func testClusterMovesAndCommits(t *testing.T, cs metastore.ClusterStore, s metastore.Store) {
	tp := mustTopic(t, s, "busy", 2)
	inst := uuid.New()
	term := acquire(t, cs, 1, inst, longLease)
	const commits, moves = 40, 15
	var mu sync.Mutex
	ends := map[int64]bool{0: true} // offset boundaries of partition 0
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range commits {
			seg := segment(chunk(tp.ID, 1, plain(1, int64(i))), chunk(tp.ID, 0, plain(int32(1+i%3), int64(i))))
			res, err := s.CommitSegment(clusterBG(), seg)
			if err != nil {
				errc <- fmt.Errorf("commit %d: %w", i, err)
				return
			}
			b := res[1].Batches[0]
			mu.Lock()
			ends[b.BaseOffset+int64(1+i%3)] = true
			mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for i := range moves {
			var lm []metastore.LeaderMove
			for p := range int32(2) {
				cur, err := s.Partition(clusterBG(), tp.ID, p)
				if err != nil {
					errc <- err
					return
				}
				lm = append(lm, metastore.LeaderMove{TopicID: tp.ID, Partition: p, From: cur.LeaderNode, FromEpoch: cur.LeaderEpoch, To: int32(i % 3)})
			}
			got, err := cs.MoveLeaders(clusterBG(), inst, term, lm)
			if err != nil {
				errc <- fmt.Errorf("move %d: %w", i, err)
				return
			}
			if len(got) != 2 {
				errc <- fmt.Errorf("move %d applied %d of 2 moves without competition", i, len(got))
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	p := partition(t, s, tp.ID, 0)
	if p.LeaderEpoch != moves {
		t.Fatalf("epoch %d after %d moves", p.LeaderEpoch, moves)
	}
	prev := int64(0)
	for e := int32(0); e < moves; e++ {
		end := epochEnd(t, cs, tp.ID, 0, e)
		if end.Epoch != e {
			t.Fatalf("epoch %d answered as epoch %d", e, end.Epoch)
		}
		if end.EndOffset < prev || end.EndOffset > p.NextOffset || !ends[end.EndOffset] {
			t.Fatalf("epoch %d ends at %d: previous end %d, high watermark %d, must be a batch boundary", e, end.EndOffset, prev, p.NextOffset)
		}
		prev = end.EndOffset
	}
	if end := epochEnd(t, cs, tp.ID, 0, moves); end.EndOffset != p.NextOffset {
		t.Fatalf("current epoch ends at %d, want the high watermark %d", end.EndOffset, p.NextOffset)
	}
}
