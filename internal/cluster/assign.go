package cluster

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// planLeaders returns the leader moves that balance parts over nodes (the
// live ingest node ids) while moving as few partitions as possible.
//
// With P partitions and N nodes, P mod N nodes get a quota of P/N+1 and the
// others P/N; the larger quotas go to the nodes leading the most already.
// Each node keeps as many of its partitions as its quota allows, and the
// rest (partitions of dead or unknown nodes, unassigned ones, and a busy
// node's surplus) go to the nodes below their quota. No assignment with
// these quotas keeps more partitions in place. Surplus is shed from the
// topics a node leads most partitions of, and each moved partition goes to
// the node below quota that leads the fewest partitions of its topic, so
// that a topic's partitions spread over the nodes.
//
// parts may be in any order; the moves are ordered by (topic, partition).
// No nodes means no moves: leaders stay as they are until a node is live.
func planLeaders(parts []metastore.PartitionLeader, nodes []int32) []metastore.LeaderMove {
	if len(nodes) == 0 || len(parts) == 0 {
		return nil
	}
	nodes = slices.Clone(nodes)
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	n := len(nodes)
	idx := make(map[int32]int, n) // node id -> position in nodes
	for i, id := range nodes {
		idx[id] = i
	}
	held := make([][]int, n) // positions in parts, per node
	var orphans []int
	for i, p := range parts {
		if j, ok := idx[p.Leader]; ok {
			held[j] = append(held[j], i)
		} else {
			orphans = append(orphans, i)
		}
	}

	// Quotas: the nodes holding most get the larger ones.
	base, extra := len(parts)/n, len(parts)%n
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(len(held[b]), len(held[a])); c != 0 {
			return c
		}
		return cmp.Compare(nodes[a], nodes[b])
	})
	quota := make([]int, n)
	for rank, j := range order {
		quota[j] = base
		if rank < extra {
			quota[j]++
		}
	}

	// topicCount[t][j]: partitions of topic t that node j keeps.
	topicCount := map[uuid.UUID][]int{}
	count := func(t uuid.UUID) []int {
		c, ok := topicCount[t]
		if !ok {
			c = make([]int, n)
			topicCount[t] = c
		}
		return c
	}
	for j := range held {
		for _, i := range held[j] {
			count(parts[i].TopicID)[j]++
		}
	}
	for j := range held {
		surplus := len(held[j]) - quota[j]
		if surplus <= 0 {
			continue
		}
		// Shed from the topics this node leads most of, last partitions
		// first.
		mine := held[j]
		slices.SortFunc(mine, func(a, b int) int {
			pa, pb := parts[a], parts[b]
			if c := cmp.Compare(topicCount[pb.TopicID][j], topicCount[pa.TopicID][j]); c != 0 {
				return c
			}
			if c := bytes.Compare(pa.TopicID[:], pb.TopicID[:]); c != 0 {
				return c
			}
			return cmp.Compare(pb.Partition, pa.Partition)
		})
		for _, i := range mine[:surplus] {
			topicCount[parts[i].TopicID][j]--
			orphans = append(orphans, i)
		}
		held[j] = mine[surplus:]
	}

	slices.SortFunc(orphans, func(a, b int) int { return comparePartitions(parts[a], parts[b]) })
	deficit := make([]int, n)
	for j := range deficit {
		deficit[j] = quota[j] - len(held[j])
	}
	moves := make([]metastore.LeaderMove, 0, len(orphans))
	for _, i := range orphans {
		p := parts[i]
		tc := count(p.TopicID)
		best := -1
		for j := range n {
			if deficit[j] <= 0 {
				continue
			}
			if best < 0 || tc[j] < tc[best] || (tc[j] == tc[best] && deficit[j] > deficit[best]) {
				best = j
			}
		}
		// The deficits add up to the orphans: there is always a node.
		deficit[best]--
		tc[best]++
		moves = append(moves, metastore.LeaderMove{
			TopicID: p.TopicID, Partition: p.Partition,
			From: p.Leader, FromEpoch: p.Epoch, To: nodes[best],
		})
	}
	return moves
}

func comparePartitions(a, b metastore.PartitionLeader) int {
	ka := metastore.PartitionKey{TopicID: a.TopicID, Partition: a.Partition}
	kb := metastore.PartitionKey{TopicID: b.TopicID, Partition: b.Partition}
	switch {
	case ka.Less(kb):
		return -1
	case kb.Less(ka):
		return 1
	}
	return 0
}
