package share

import (
	"slices"

	"github.com/google/uuid"
)

// TopicPartitions are the partitions of one topic, by topic id.
type TopicPartitions struct {
	TopicID    uuid.UUID
	Partitions []int32
}

// Assign spreads the partitions of the topics a group's members subscribe
// to over those members. Unlike a consumer group, a share group may give a
// partition to several members, since records, not partitions, are handed
// out: with fewer members than partitions each partition has one member
// and the members hold about as many partitions each; with more members
// each member has one partition and the partitions have about as many
// members each, so that every member has work and no partition is left
// unread. members maps a member id to its subscribed topic ids; topics
// gives each topic's partition count. The result depends only on its
// arguments, so that a member's assignment changes only when the group's
// members, subscriptions or partitions do.
func Assign(members map[string][]uuid.UUID, topics map[uuid.UUID]int32) map[string][]TopicPartitions {
	type tp struct {
		topic uuid.UUID
		part  int32
	}
	out := make(map[string][]TopicPartitions, len(members))
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
		out[id] = nil
	}
	slices.Sort(ids)
	// Each topic is assigned among its own subscribers.
	subs := map[uuid.UUID][]string{}
	for _, id := range ids {
		for _, t := range members[id] {
			if _, ok := topics[t]; ok && !slices.Contains(subs[t], id) {
				subs[t] = append(subs[t], id)
			}
		}
	}
	topicIDs := make([]uuid.UUID, 0, len(subs))
	for t := range subs {
		topicIDs = append(topicIDs, t)
	}
	slices.SortFunc(topicIDs, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	got := map[string]map[uuid.UUID][]int32{}
	add := func(m string, t uuid.UUID, p int32) {
		if got[m] == nil {
			got[m] = map[uuid.UUID][]int32{}
		}
		if !slices.Contains(got[m][t], p) {
			got[m][t] = append(got[m][t], p)
		}
	}
	for _, t := range topicIDs {
		ms, n := subs[t], int(topics[t])
		if n <= 0 {
			continue
		}
		for i := range max(n, len(ms)) {
			add(ms[i%len(ms)], t, int32(i%n))
		}
	}
	for _, id := range ids {
		for _, t := range topicIDs {
			ps := got[id][t]
			if len(ps) == 0 {
				continue
			}
			slices.Sort(ps)
			out[id] = append(out[id], TopicPartitions{TopicID: t, Partitions: ps})
		}
	}
	return out
}
