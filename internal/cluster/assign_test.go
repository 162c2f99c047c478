package cluster

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// topics returns the partitions of topics with the given partition counts,
// all unassigned.
func topics(counts ...int) []metastore.PartitionLeader {
	var out []metastore.PartitionLeader
	for _, n := range counts {
		id := uuid.New()
		for p := range n {
			out = append(out, metastore.PartitionLeader{TopicID: id, Partition: int32(p), Leader: -1})
		}
	}
	return out
}

// apply applies moves as the metastore would, checking each names the
// partition's current leader and epoch, and returns how many partitions
// changed.
func apply(t *testing.T, parts []metastore.PartitionLeader, moves []metastore.LeaderMove) int {
	t.Helper()
	at := map[metastore.PartitionKey]int{}
	for i, p := range parts {
		at[metastore.PartitionKey{TopicID: p.TopicID, Partition: p.Partition}] = i
	}
	seen := map[metastore.PartitionKey]bool{}
	for _, m := range moves {
		k := metastore.PartitionKey{TopicID: m.TopicID, Partition: m.Partition}
		i, ok := at[k]
		if !ok {
			t.Fatalf("move of unknown partition %v", k)
		}
		if seen[k] {
			t.Fatalf("partition %v moved twice in one plan", k)
		}
		seen[k] = true
		p := &parts[i]
		if m.From != p.Leader || m.FromEpoch != p.Epoch {
			t.Fatalf("move %+v does not name the current leader %d epoch %d", m, p.Leader, p.Epoch)
		}
		if m.To == p.Leader {
			t.Fatalf("move %+v to the current leader", m)
		}
		p.Leader, p.Epoch = m.To, p.Epoch+1
	}
	return len(moves)
}

func counts(parts []metastore.PartitionLeader) map[int32]int {
	c := map[int32]int{}
	for _, p := range parts {
		c[p.Leader]++
	}
	return c
}

// checkBalanced fails unless every partition is led by one of nodes and
// every node leads P/N or P/N+1 partitions.
func checkBalanced(t *testing.T, parts []metastore.PartitionLeader, nodes []int32) {
	t.Helper()
	c := counts(parts)
	lo := len(parts) / len(nodes)
	hi := lo
	if len(parts)%len(nodes) != 0 {
		hi++
	}
	total := 0
	for _, n := range nodes {
		if c[n] < lo || c[n] > hi {
			t.Fatalf("node %d leads %d partitions, want %d..%d (all: %v)", n, c[n], lo, hi, c)
		}
		total += c[n]
	}
	if total != len(parts) {
		t.Fatalf("live nodes lead %d of %d partitions: %v", total, len(parts), c)
	}
}

func TestPlanLeadersThreeNodesThirtyPartitions(t *testing.T) {
	parts := topics(10, 10, 10)
	nodes := []int32{1, 2, 3}
	if n := apply(t, parts, planLeaders(parts, nodes)); n != 30 {
		t.Fatalf("first plan moved %d partitions, want all 30", n)
	}
	checkBalanced(t, parts, nodes)
	for n, c := range counts(parts) {
		if c != 10 {
			t.Fatalf("node %d leads %d, want 10", n, c)
		}
	}
	// Each topic spreads over the three nodes.
	perTopic := map[uuid.UUID]map[int32]int{}
	for _, p := range parts {
		if perTopic[p.TopicID] == nil {
			perTopic[p.TopicID] = map[int32]int{}
		}
		perTopic[p.TopicID][p.Leader]++
	}
	for id, c := range perTopic {
		for _, n := range nodes {
			if c[n] < 3 || c[n] > 4 {
				t.Errorf("topic %s: node %d leads %d of its 10 partitions, want 3 or 4", id, n, c[n])
			}
		}
	}
	if moves := planLeaders(parts, nodes); len(moves) != 0 {
		t.Fatalf("balanced assignment planned %d moves", len(moves))
	}

	// Node 2 dies: only its partitions move, once each.
	before := slices.Clone(parts)
	if n := apply(t, parts, planLeaders(parts, []int32{1, 3})); n != 10 {
		t.Fatalf("after node 2 died, %d moves, want its 10", n)
	}
	checkBalanced(t, parts, []int32{1, 3})
	for i, p := range parts {
		b := before[i]
		if b.Leader == 2 && p.Epoch != b.Epoch+1 {
			t.Errorf("partition of node 2: epoch %d -> %d, want one move", b.Epoch, p.Epoch)
		}
		if b.Leader != 2 && p != b {
			t.Errorf("partition %+v of a live node moved to %+v", b, p)
		}
	}

	// Node 2 comes back: it takes 10, all from the others.
	if n := apply(t, parts, planLeaders(parts, nodes)); n != 10 {
		t.Fatalf("node 2 rejoining: %d moves, want 10", n)
	}
	checkBalanced(t, parts, nodes)
}

func TestPlanLeadersNewTopicSpreads(t *testing.T) {
	parts := topics(9)
	nodes := []int32{4, 5, 6}
	apply(t, parts, planLeaders(parts, nodes))
	newTopic := topics(3)
	parts = append(parts, newTopic...)
	moves := planLeaders(parts, nodes)
	if len(moves) != 3 {
		t.Fatalf("new 3-partition topic: %d moves, want 3", len(moves))
	}
	var to []int32
	for _, m := range moves {
		if m.TopicID != newTopic[0].TopicID || m.From != -1 {
			t.Fatalf("move of an existing partition: %+v", m)
		}
		to = append(to, m.To)
	}
	slices.Sort(to)
	if !slices.Equal(to, nodes) {
		t.Fatalf("new topic's partitions went to %v, want one on each of %v", to, nodes)
	}
}

func TestPlanLeadersNoNodes(t *testing.T) {
	parts := topics(3)
	parts[0].Leader = 7
	if moves := planLeaders(parts, nil); len(moves) != 0 {
		t.Fatalf("no live nodes: %d moves, want none", len(moves))
	}
	if moves := planLeaders(nil, []int32{1}); len(moves) != 0 {
		t.Fatalf("no partitions: %d moves", len(moves))
	}
}

// bestKept is the most partitions any balanced assignment can leave in
// place, by trying every choice of which nodes get the larger quota.
func bestKept(parts []metastore.PartitionLeader, nodes []int32) int {
	c := counts(parts)
	n := len(nodes)
	base, extra := len(parts)/n, len(parts)%n
	best := 0
	for mask := 0; mask < 1<<n; mask++ {
		if popcount(mask) != extra {
			continue
		}
		kept := 0
		for j, id := range nodes {
			q := base
			if mask&(1<<j) != 0 {
				q++
			}
			kept += min(c[id], q)
		}
		best = max(best, kept)
	}
	return best
}

func popcount(x int) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// TestPlanLeadersRandom checks on random clusters that a plan balances the
// live nodes, moves no more partitions than the best balanced assignment
// must, and that planning again moves nothing.
func TestPlanLeadersRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 500 {
		var parts []metastore.PartitionLeader
		for range 1 + rng.IntN(4) {
			parts = append(parts, topics(1+rng.IntN(12))...)
		}
		universe := int32(2 + rng.IntN(7))
		for i := range parts {
			parts[i].Leader = int32(rng.IntN(int(universe)+1)) - 1 // -1 .. universe-1
			parts[i].Epoch = int32(rng.IntN(5))
		}
		var nodes []int32
		for id := range universe {
			if rng.IntN(3) > 0 {
				nodes = append(nodes, id)
			}
		}
		if len(nodes) == 0 {
			nodes = []int32{universe + 1} // a brand new node alone
		}
		moves := planLeaders(parts, nodes)
		wantMoves := len(parts) - bestKept(parts, nodes)
		apply(t, parts, moves)
		if len(moves) != wantMoves {
			t.Fatalf("iteration %d: %d moves, the best balanced assignment needs %d", iter, len(moves), wantMoves)
		}
		checkBalanced(t, parts, nodes)
		if again := planLeaders(parts, nodes); len(again) != 0 {
			t.Fatalf("iteration %d: second plan moved %d more", iter, len(again))
		}
	}
}

func BenchmarkPlanLeaders(b *testing.B) {
	// 10,000 partitions over 10 nodes, one of which has just died.
	parts := topics(slices.Repeat([]int{100}, 100)...)
	nodes := make([]int32, 10)
	for i := range nodes {
		nodes[i] = int32(i)
	}
	for i := range parts {
		parts[i].Leader = int32(i % 10)
	}
	b.ReportAllocs()
	for b.Loop() {
		if moves := planLeaders(parts, nodes[1:]); len(moves) != 1000 {
			b.Fatalf("%d moves", len(moves))
		}
	}
}

func BenchmarkPlanLeadersBalanced(b *testing.B) {
	parts := topics(slices.Repeat([]int{100}, 100)...)
	nodes := []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for i := range parts {
		parts[i].Leader = int32(i % 10)
	}
	b.ReportAllocs()
	for b.Loop() {
		if moves := planLeaders(parts, nodes); len(moves) != 0 {
			b.Fatalf("%d moves", len(moves))
		}
	}
}
