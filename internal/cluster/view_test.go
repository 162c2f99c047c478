package cluster

import (
	"fmt"
	"math"
	"testing"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// viewOf builds a view of self over nodes with the given leaders.
func viewOf(self Node, nodes []Node, leaders map[metastore.PartitionKey]leader) *View {
	v := &View{self: self}
	s := newSnapshot(nodes, -1)
	s.leaders, s.leadersLoaded = leaders, true
	v.snap.Store(s)
	return v
}

func coordinatorNodes(ids ...int32) []Node {
	var out []Node
	for _, id := range ids {
		out = append(out, Node{ID: id, Host: fmt.Sprintf("n%d", id), Port: 9092, Roles: AllRoles})
	}
	return out
}

func TestCoordinatorForSpreadsAndIsStable(t *testing.T) {
	nodes := coordinatorNodes(1, 2, 3, 4, 5, 6)
	// A live node without the coordinator role never coordinates.
	nodes = append(nodes, Node{ID: 7, Host: "n7", Port: 9092, Roles: RoleIngest | RoleReader})
	v := viewOf(nodes[0], nodes, nil)
	const groups = 6000
	owner := map[string]int32{}
	per := map[int32]int{}
	for i := range groups {
		g := fmt.Sprintf("group-%d", i)
		n, ok := v.CoordinatorFor(g)
		if !ok {
			t.Fatalf("no coordinator for %s", g)
		}
		owner[g] = n.ID
		per[n.ID]++
	}
	if per[7] != 0 {
		t.Fatalf("node without the coordinator role coordinates %d groups", per[7])
	}
	for id := int32(1); id <= 6; id++ {
		if c := per[id]; math.Abs(float64(c)-groups/6) > 0.15*groups/6 {
			t.Errorf("node %d coordinates %d of %d groups, want about %d", id, c, groups, groups/6)
		}
	}
	// Another node, listing the nodes in another order, agrees.
	reordered := []Node{nodes[5], nodes[2], nodes[6], nodes[0], nodes[4], nodes[1], nodes[3]}
	other := viewOf(nodes[3], reordered, nil)
	for g, id := range owner {
		if n, _ := other.CoordinatorFor(g); n.ID != id {
			t.Fatalf("views disagree on %s: %d and %d", g, id, n.ID)
		}
	}
	// Node 3 dies: only its groups move, and they spread over the rest.
	without3 := viewOf(nodes[0], append(coordinatorNodes(1, 2, 4, 5, 6), nodes[6]), nil)
	moved := map[int32]int{}
	for g, id := range owner {
		n, _ := without3.CoordinatorFor(g)
		switch {
		case id == 3 && n.ID == 3:
			t.Fatalf("%s still on dead node 3", g)
		case id == 3:
			moved[n.ID]++
		case n.ID != id:
			t.Fatalf("%s moved from live node %d to %d", g, id, n.ID)
		}
	}
	for _, id := range []int32{1, 2, 4, 5, 6} {
		if moved[id] == 0 {
			t.Errorf("none of node 3's groups went to node %d: %v", id, moved)
		}
	}
	// IsCoordinator agrees with CoordinatorFor from each node's side.
	for g, id := range owner {
		self := viewOf(nodes[id-1], nodes, nil)
		if !self.IsCoordinator(g) || v.IsCoordinator(g) != (id == 1) {
			t.Fatalf("IsCoordinator(%s) wrong; owner %d", g, id)
		}
	}
	if _, ok := viewOf(nodes[6], nodes[6:], nil).CoordinatorFor("g"); ok {
		t.Fatal("coordinator found with no coordinator-role node live")
	}
}

func zoneNodes() []Node {
	return []Node{
		{ID: 1, Host: "a1", Port: 1, Rack: "a", Roles: AllRoles},
		{ID: 2, Host: "a2", Port: 1, Rack: "a", Roles: RoleIngest},
		{ID: 3, Host: "b1", Port: 1, Rack: "b", Roles: RoleIngest | RoleReader},
		{ID: 4, Host: "b2", Port: 1, Rack: "b", Roles: RoleIngest | RoleReader},
		{ID: 5, Host: "c1", Port: 1, Rack: "c", Roles: RoleReader | RoleCoordinator}, // zone c: no ingest
		{ID: 6, Host: "x", Port: 1, Rack: "", Roles: RoleIngest},
	}
}

func TestLeaderForZones(t *testing.T) {
	topic := uuid.New()
	key := func(p int32) metastore.PartitionKey { return metastore.PartitionKey{TopicID: topic, Partition: p} }
	leaders := map[metastore.PartitionKey]leader{}
	for p := range int32(200) {
		leaders[key(p)] = leader{node: 1 + p%4, epoch: 7} // nodes 1-4
	}
	leaders[key(200)] = leader{node: 9, epoch: 3} // dead leader
	leaders[key(201)] = leader{node: 5, epoch: 1} // leader without ingest role
	v := viewOf(zoneNodes()[0], zoneNodes(), leaders)

	perNode := map[int32]int{}
	for p := range int32(200) {
		l := leaders[key(p)]
		if n, ok := v.LeaderFor(key(p), ""); !ok || n.ID != l.node {
			t.Fatalf("partition %d, no zone: %d, want its leader %d", p, n.ID, l.node)
		}
		if n, e, ok := v.Leader(key(p)); !ok || n != l.node || e != 7 {
			t.Fatalf("Leader(%d) = %d, %d, %v", p, n, e, ok)
		}
		// Zone a: own leaders stay, others go to node 1 or 2.
		n, ok := v.LeaderFor(key(p), "a")
		if !ok || n.Rack != "a" {
			t.Fatalf("partition %d, zone a: node %d in %q, want zone a", p, n.ID, n.Rack)
		}
		if (l.node == 1 || l.node == 2) && n.ID != l.node {
			t.Fatalf("partition %d led in zone a by %d: given %d", p, l.node, n.ID)
		}
		if l.node == 3 || l.node == 4 {
			perNode[n.ID]++
		}
		if again, _ := v.LeaderFor(key(p), "a"); !again.Equal(n) {
			t.Fatalf("partition %d: zone a answers differ: %d, %d", p, n.ID, again.ID)
		}
		// Zone c has no ingest node: the leader.
		if n, _ := v.LeaderFor(key(p), "c"); n.ID != l.node {
			t.Fatalf("partition %d, zone c without ingest nodes: %d, want leader %d", p, n.ID, l.node)
		}
		// Unknown zone: the leader.
		if n, _ := v.LeaderFor(key(p), "nowhere"); n.ID != l.node {
			t.Fatalf("partition %d, unknown zone: %d, want leader %d", p, n.ID, l.node)
		}
	}
	if perNode[1] < 30 || perNode[2] < 30 {
		t.Errorf("zone a clients of zone b partitions spread %v over nodes 1 and 2, want about half each", perNode)
	}
	// No live ingest leader: an ingest node by hash, in the client's zone
	// when it has one.
	for _, p := range []int32{200, 201, 999} {
		n, ok := v.LeaderFor(key(p), "")
		if !ok || !n.Roles.Has(RoleIngest) {
			t.Fatalf("partition %d without a live ingest leader: %+v, %v", p, n, ok)
		}
		if n, _ := v.LeaderFor(key(p), "b"); n.Rack != "b" {
			t.Fatalf("partition %d without leader, zone b: node %d in %q", p, n.ID, n.Rack)
		}
	}
	if _, _, ok := v.Leader(key(999)); ok {
		t.Fatal("Leader of an unknown partition reported")
	}
	// No ingest node at all.
	lone := viewOf(zoneNodes()[4], zoneNodes()[4:5], leaders)
	if n, ok := lone.LeaderFor(key(0), "c"); ok {
		t.Fatalf("LeaderFor with no ingest node: %+v", n)
	}
}

func TestPreferredReadReplica(t *testing.T) {
	topic := uuid.New()
	key := func(p int32) metastore.PartitionKey { return metastore.PartitionKey{TopicID: topic, Partition: p} }
	leaders := map[metastore.PartitionKey]leader{}
	for p := range int32(100) {
		leaders[key(p)] = leader{node: 1 + p%4}
	}
	v := viewOf(zoneNodes()[0], zoneNodes(), leaders)
	seen := map[int32]bool{}
	for p := range int32(100) {
		if r := v.PreferredReadReplica(key(p), ""); r != -1 {
			t.Fatalf("no zone: replica %d, want -1", r)
		}
		if r := v.PreferredReadReplica(key(p), "nowhere"); r != -1 {
			t.Fatalf("zone without nodes: replica %d, want -1", r)
		}
		// Zone a has one reader, node 1.
		if r := v.PreferredReadReplica(key(p), "a"); r != 1 {
			t.Fatalf("partition %d, zone a: replica %d, want its only reader 1", p, r)
		}
		// Zone b: readers 3 and 4; the zone's produce node when it reads.
		r := v.PreferredReadReplica(key(p), "b")
		if r != 3 && r != 4 {
			t.Fatalf("partition %d, zone b: replica %d", p, r)
		}
		if l, _ := v.LeaderFor(key(p), "b"); r != l.ID {
			t.Fatalf("partition %d, zone b: replica %d, but produce goes to %d, a reader in b", p, r, l.ID)
		}
		seen[r] = true
		// Zone c: reader 5, no ingest.
		if r := v.PreferredReadReplica(key(p), "c"); r != 5 {
			t.Fatalf("partition %d, zone c: replica %d, want 5", p, r)
		}
	}
	if !seen[3] || !seen[4] {
		t.Fatalf("zone b replicas: %v, want both readers used", seen)
	}
}

func TestBrokersIncludeSelf(t *testing.T) {
	self := Node{ID: 9, Host: "me", Port: 1, Roles: AllRoles}
	v := viewOf(self, zoneNodes(), nil)
	b := v.Brokers()
	if len(b) != 7 || !b[6].Equal(self) {
		t.Fatalf("Brokers() = %+v, want the 6 live nodes and self last (id order)", b)
	}
	if n, ok := v.Node(9); !ok || !n.Equal(self) {
		t.Fatal("Node(self) not found")
	}
	if _, ok := v.Node(42); ok {
		t.Fatal("Node(42) found")
	}
	s := NewStaticView(self, zoneNodes()[0], self)
	if got := s.Brokers(); len(got) != 2 || got[0].ID != 1 || got[1].ID != 9 {
		t.Fatalf("static view brokers %+v", got)
	}
	if s.ControllerID() != 9 {
		t.Fatalf("static view controller %d, want self", s.ControllerID())
	}
	if n, ok := s.CoordinatorFor("any"); !ok || (n.ID != 1 && n.ID != 9) || s.IsCoordinator("any") != (n.ID == 9) {
		t.Fatalf("static view coordinator %+v, %v", n, ok)
	}
	if n, ok := s.LeaderFor(metastore.PartitionKey{TopicID: uuid.New()}, ""); !ok || (n.ID != 1 && n.ID != 9) {
		t.Fatalf("static view LeaderFor: %+v %v", n, ok)
	}
}

func BenchmarkLeaderFor(b *testing.B) {
	topic := uuid.New()
	leaders := map[metastore.PartitionKey]leader{}
	for p := range int32(1000) {
		leaders[metastore.PartitionKey{TopicID: topic, Partition: p}] = leader{node: 1 + p%4}
	}
	v := viewOf(zoneNodes()[0], zoneNodes(), leaders)
	b.ReportAllocs()
	var p int32
	for b.Loop() {
		v.LeaderFor(metastore.PartitionKey{TopicID: topic, Partition: p % 1000}, "a")
		p++
	}
}

func BenchmarkCoordinatorFor(b *testing.B) {
	v := viewOf(coordinatorNodes(1)[0], coordinatorNodes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), nil)
	b.ReportAllocs()
	for b.Loop() {
		v.CoordinatorFor("a-consumer-group-name")
	}
}
