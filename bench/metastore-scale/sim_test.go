package main

import (
	"testing"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// The simulated leaders must be spread as the controller spreads them:
// every node leads as many partitions as any other, give or take one, and
// a topic's partitions go to distinct nodes while there are nodes left.
func TestAssignLeadersSpreadsTopicsOverNodes(t *testing.T) {
	var parts []metastore.PartitionKey
	topics := 7
	for range topics {
		id := uuid.New()
		for p := range 30 {
			parts = append(parts, metastore.PartitionKey{TopicID: id, Partition: int32(p)})
		}
	}
	const nodes = 20
	led := assignLeaders(parts, nodes)
	total, lo, hi := 0, len(parts), 0
	for _, l := range led {
		total += len(l)
		lo, hi = min(lo, len(l)), max(hi, len(l))
	}
	if total != len(parts) || hi-lo > 1 {
		t.Fatalf("%d partitions led, %d to %d per node; want all %d, balanced", total, lo, hi, len(parts))
	}
	for j, l := range led {
		perTopic := map[uuid.UUID]int{}
		for _, p := range l {
			perTopic[p.TopicID]++
		}
		for id, n := range perTopic {
			if n > 2 { // 30 partitions over 20 nodes: one or two each
				t.Errorf("node %d leads %d partitions of topic %s", j, n, id)
			}
		}
	}
}

func TestIntRanges(t *testing.T) {
	got, err := intRanges("1-500, 20")
	if err != nil || len(got) != 2 || got[0] != [2]int{1, 500} || got[1] != [2]int{20, 20} {
		t.Fatalf("intRanges = %v, %v", got, err)
	}
	for _, bad := range []string{"0-5", "5-1", "a-b", ""} {
		if _, err := intRanges(bad); err == nil {
			t.Errorf("intRanges(%q) took it", bad)
		}
	}
}
