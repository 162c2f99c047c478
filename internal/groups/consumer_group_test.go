package groups

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cgClient is a consumer-protocol member talking to a coordinator, as a
// client does: it applies each assignment at once.
type cgClient struct {
	e     *env
	id    string
	epoch int32
	owned []kmsg.ConsumerGroupHeartbeatRequestTopic
}

func (e *env) cgHeartbeat(r *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	e.t.Helper()
	ctx := WithClient(ctxFor(e.t), Client{ID: "client", Host: "/192.0.2.1"})
	return e.c.ConsumerGroupHeartbeat(ctx, r)
}

func cgReq(group, memberID string, epoch int32, topics ...string) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group, r.MemberID, r.MemberEpoch = group, memberID, epoch
	r.RebalanceTimeoutMillis = 60_000
	r.SubscribedTopicNames = topics
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return r
}

// beat sends a full heartbeat and applies the response.
func (m *cgClient) beat(group string) *kmsg.ConsumerGroupHeartbeatResponse {
	m.e.t.Helper()
	r := cgReq(group, m.id, m.epoch, "orders")
	r.Topics = m.owned
	resp := m.e.cgHeartbeat(r)
	wantCode(m.e.t, "heartbeat of "+m.id, resp.ErrorCode, nil)
	m.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		m.owned = nil
		for _, t := range resp.Assignment.Topics {
			m.owned = append(m.owned, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t.TopicID, Partitions: t.Partitions})
		}
	}
	return resp
}

func (m *cgClient) count() int {
	n := 0
	for _, t := range m.owned {
		n += len(t.Partitions)
	}
	return n
}

func (e *env) cgJoin(group, id string) *cgClient {
	e.t.Helper()
	m := &cgClient{e: e, id: id}
	m.beat(group)
	return m
}

func settleClients(t *testing.T, group string, ms ...*cgClient) {
	t.Helper()
	for range 10 {
		changed := false
		for _, m := range ms {
			before, n := m.epoch, m.count()
			m.beat(group)
			changed = changed || m.epoch != before || m.count() != n
		}
		if !changed {
			return
		}
	}
	t.Fatal("the group did not settle")
}

func TestConsumerGroupCoordinatorJoinAndCommit(t *testing.T) {
	e := newEnv(t)
	a := e.cgJoin("g", "a")
	if a.epoch < 1 || a.count() != 4 {
		t.Fatalf("a at epoch %d owns %v", a.epoch, a.owned)
	}
	resp := a.beat("g")
	if resp.HeartbeatIntervalMillis != int32(DefaultConsumerHeartbeatInterval.Milliseconds()) {
		t.Fatalf("heartbeat interval %d", resp.HeartbeatIntervalMillis)
	}
	// Offsets are committed at the member's epoch, and not at another.
	wantCode(t, "commit", e.commit("g", "a", a.epoch, map[string]map[int32]int64{"orders": {0: 10}}), nil)
	wantCode(t, "commit ahead", e.commit("g", "a", a.epoch+1, map[string]map[int32]int64{"orders": {0: 11}}), kerr.FencedMemberEpoch)
	wantCode(t, "commit of a stranger", e.commit("g", "zz", a.epoch, map[string]map[int32]int64{"orders": {0: 12}}), kerr.UnknownMemberID)
	wantCode(t, "commit outside the group", e.commit("g", "", -1, map[string]map[int32]int64{"orders": {0: 13}}), kerr.UnknownMemberID)
	if got := e.committed("g")["orders/0"]; got != 10 {
		t.Fatalf("committed %d, want 10", got)
	}
	b := e.cgJoin("g", "b")
	settleClients(t, "g", a, b)
	if a.count() != 2 || b.count() != 2 {
		t.Fatalf("a owns %v, b %v", a.owned, b.owned)
	}
	// OffsetFetch v9 checks the member's epoch.
	fetch := func(member string, epoch int32) int16 {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 9
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group, g.MemberID, g.MemberEpoch = "g", kmsg.StringPtr(member), epoch
		r.Groups = append(r.Groups, g)
		return e.c.OffsetFetch(ctxFor(t), r).Groups[0].ErrorCode
	}
	wantCode(t, "fetch", fetch("a", a.epoch), nil)
	wantCode(t, "stale fetch", fetch("a", a.epoch-1), kerr.StaleMemberEpoch)
	wantCode(t, "fetch of a stranger", fetch("zz", 1), kerr.UnknownMemberID)
}

func TestConsumerGroupCoordinatorKinds(t *testing.T) {
	e := newEnv(t)
	e.cgJoin("cg", "a")
	// A consumer group with members refuses classic members.
	resp := e.c.JoinGroup(ctxFor(t), joinReq("cg", ""))
	wantCode(t, "classic join of a consumer group", resp.ErrorCode, kerr.InconsistentGroupProtocol)
	// And DescribeGroups does not describe it; ConsumerGroupDescribe does.
	dgr := kmsg.NewPtrDescribeGroupsRequest()
	dgr.Version = 6
	dgr.Groups = []string{"cg"}
	wantCode(t, "DescribeGroups", e.c.DescribeGroups(ctxFor(t), dgr).Groups[0].ErrorCode, kerr.GroupIDNotFound)
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Version = 1
	d.Groups = []string{"cg", "classic", "none"}
	id, _ := e.joinAlone("classic")
	dr := e.c.ConsumerGroupDescribe(ctxFor(t), d)
	if len(dr.Groups) != 3 {
		t.Fatalf("described %+v", dr.Groups)
	}
	g := dr.Groups[0]
	if g.ErrorCode != 0 || g.State != cgStateStable || len(g.Members) != 1 || g.AssignorName != assignorUniform || g.Epoch < 1 {
		t.Fatalf("described %+v", g)
	}
	m := g.Members[0]
	if m.MemberID != "a" || m.ClientID != "client" || len(m.Assignment.TopicPartitions) != 1 ||
		m.Assignment.TopicPartitions[0].Topic != "orders" || len(m.Assignment.TopicPartitions[0].Partitions) != 4 ||
		!slices.Equal(m.SubscribedTopics, []string{"orders"}) || m.MemberType != 1 {
		t.Fatalf("described member %+v", m)
	}
	wantCode(t, "ConsumerGroupDescribe of a classic group", dr.Groups[1].ErrorCode, kerr.GroupIDNotFound)
	wantCode(t, "ConsumerGroupDescribe of no group", dr.Groups[2].ErrorCode, kerr.GroupIDNotFound)
	// A classic group with members refuses consumer-protocol members.
	hb := e.cgHeartbeat(cgReq("classic", "x", 0, "orders"))
	wantCode(t, "consumer join of a classic group", hb.ErrorCode, kerr.GroupIDNotFound)
	_ = id

	// ListGroups gives each its type; filters by type.
	l := kmsg.NewPtrListGroupsRequest()
	l.Version = 5
	lr := e.c.ListGroups(ctxFor(t), l)
	types := map[string]string{}
	for _, g := range lr.Groups {
		types[g.Group] = g.GroupType + "/" + g.GroupState
	}
	if types["cg"] != "consumer/Stable" || types["classic"] != "classic/Stable" {
		t.Fatalf("ListGroups types %v", types)
	}
	l.TypesFilter = []string{"consumer"}
	if lr := e.c.ListGroups(ctxFor(t), l); len(lr.Groups) != 1 || lr.Groups[0].Group != "cg" {
		t.Fatalf("ListGroups of consumer groups: %+v", lr.Groups)
	}

	// A consumer group with members is not deleted; once empty it is,
	// and an empty one becomes classic when a classic member joins.
	del := func(name string) int16 {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Groups = []string{name}
		return e.c.DeleteGroups(ctxFor(t), r).Groups[0].ErrorCode
	}
	wantCode(t, "delete with members", del("cg"), kerr.NonEmptyGroup)
	leave := cgReq("cg", "a", -1)
	leave.RebalanceTimeoutMillis, leave.SubscribedTopicNames, leave.Topics = -1, nil, nil
	wantCode(t, "leave", e.cgHeartbeat(leave).ErrorCode, nil)
	e.joinAlone("cg")
	wantCode(t, "DescribeGroups once classic", e.c.DescribeGroups(ctxFor(t), dgr).Groups[0].ErrorCode, nil)
}

func TestConsumerGroupCoordinatorEmptyDeleted(t *testing.T) {
	e := newEnv(t)
	e.cgJoin("cg", "a")
	leave := cgReq("cg", "a", -1)
	leave.RebalanceTimeoutMillis, leave.SubscribedTopicNames, leave.Topics = -1, nil, nil
	wantCode(t, "leave", e.cgHeartbeat(leave).ErrorCode, nil)
	r := kmsg.NewPtrDeleteGroupsRequest()
	r.Groups = []string{"cg"}
	wantCode(t, "delete", e.c.DeleteGroups(ctxFor(t), r).Groups[0].ErrorCode, nil)
	if _, err := e.store.LoadConsumerGroup(ctxFor(t), "cg"); err == nil {
		t.Fatal("the consumer group's state outlived DeleteGroups")
	}
}

// TestConsumerGroupCoordinatorTakeover: a coordinator that takes the group
// over continues it: members keep their ids, epochs and partitions, and a
// member mid-revocation completes it with the new coordinator.
func TestConsumerGroupCoordinatorTakeover(t *testing.T) {
	e := newEnv(t)
	a := e.cgJoin("g", "a")
	wantCode(t, "commit", e.commit("g", "a", a.epoch, map[string]map[int32]int64{"orders": {1: 7}}), nil)
	b := e.cgJoin("g", "b")
	// a is told to revoke half of its partitions.
	a.beat("g")
	if a.count() != 2 {
		t.Fatalf("a owns %v", a.owned)
	}
	epochA := a.epoch
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}
	e.c = e.coordinator(e.store)
	// The new coordinator knows a at its epoch (a commit at it succeeds
	// for partitions it owns) and b.
	wantCode(t, "commit after takeover", e.commit("g", "a", epochA, map[string]map[int32]int64{"orders": {a.owned[0].Partitions[0]: 8}}), nil)
	settleClients(t, "g", a, b)
	if a.count() != 2 || b.count() != 2 {
		t.Fatalf("after the takeover a owns %v, b %v", a.owned, b.owned)
	}
	if got := e.committed("g")["orders/1"]; got < 7 {
		t.Fatalf("committed offset went back to %d", got)
	}
}
