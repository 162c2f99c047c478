package groups

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

func TestDescribeGroups(t *testing.T) {
	e := newEnv(t)
	ctx := WithClient(ctxFor(t), Client{ID: "billing", Host: "/198.51.100.4"})
	first := e.c.JoinGroup(ctx, joinReq("g", "", withInstance("pod-1")))
	wantCode(t, "join", first.ErrorCode, nil)
	e.syncOK("g", first.MemberID, first.Generation, map[string]string{first.MemberID: "parts"})
	wantCode(t, "offsets-only commit", e.commit("offsets-only", "", -1, map[string]map[int32]int64{"orders": {0: 1}}), nil)

	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version = 6
	r.Groups = []string{"g", "offsets-only", "missing"}
	r.IncludeAuthorizedOperations = true
	resp := e.c.DescribeGroups(ctxFor(t), r)
	if resp.Version != 6 || len(resp.Groups) != 3 {
		t.Fatalf("response: %+v", resp)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 || g.State != "Stable" || g.ProtocolType != "consumer" || g.Protocol != "range" || len(g.Members) != 1 || g.AuthorizedOperations == -2147483648 {
		t.Fatalf("stable group: %+v", g)
	}
	m := g.Members[0]
	if m.MemberID != first.MemberID || m.InstanceID == nil || *m.InstanceID != "pod-1" || m.ClientID != "billing" ||
		m.ClientHost != "/198.51.100.4" || string(m.MemberAssignment) != "parts" || string(m.ProtocolMetadata) != string(subscription("orders")) {
		t.Fatalf("member: %+v", m)
	}
	if o := resp.Groups[1]; o.ErrorCode != 0 || o.State != "Empty" || o.ProtocolType != "" || len(o.Members) != 0 {
		t.Fatalf("offsets-only group: %+v", o)
	}
	if d := resp.Groups[2]; d.ErrorCode != kerr.GroupIDNotFound.Code || d.State != "Dead" {
		t.Fatalf("missing group (v6): %+v", d)
	}
	r.Version = 5
	if d := e.c.DescribeGroups(ctxFor(t), r).Groups[2]; d.ErrorCode != 0 || d.State != "Dead" {
		t.Fatalf("missing group (v5): %+v", d)
	}

	// While rebalancing, members are listed without metadata or assignment.
	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b))
	e.waitMembers("g", PreparingRebalance, 2)
	g = e.describe("g")
	if g.Protocol != "" || g.Members[0].MemberAssignment != nil || g.Members[1].ProtocolMetadata != nil {
		t.Fatalf("rebalancing group: %+v", g)
	}
	e.c.LeaveGroup(ctxFor(t), &kmsg.LeaveGroupRequest{Version: 3, Group: "g", Members: []kmsg.LeaveGroupRequestMember{{MemberID: b}}})
	recv(t, bJoin)
}

func TestListGroups(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Owner = func(g string) bool { return !strings.HasPrefix(g, "other-") } })
	e.joinAlone("active")
	for _, g := range []string{"quiet", "other-node"} {
		e.storeCommit(g, metastore.GroupOffset{Topic: "orders", Offset: 1, LeaderEpoch: -1})
	}
	joining := e.memberID("joining", "x")
	jJoin := e.joinAsync(joinReq("joining", joining))
	e.waitMembers("joining", CompletingRebalance, 1)
	recv(t, jJoin)
	e.memberID("pending-only", "y") // not a group yet: nobody has joined

	list := func(version int16, states, types []string) []string {
		r := kmsg.NewPtrListGroupsRequest()
		r.Version = version
		r.StatesFilter, r.TypesFilter = states, types
		resp := e.c.ListGroups(ctxFor(t), r)
		wantCode(t, "list", resp.ErrorCode, nil)
		var out []string
		for _, g := range resp.Groups {
			out = append(out, g.Group+":"+g.GroupState+":"+g.ProtocolType+":"+g.GroupType)
		}
		return out
	}
	want := []string{"active:Stable:consumer:classic", "joining:CompletingRebalance:consumer:classic", "quiet:Empty::classic"}
	if got := list(5, nil, nil); !slices.Equal(got, want) {
		t.Errorf("ListGroups = %q, want %q", got, want)
	}
	if got := list(5, []string{"stable", "EMPTY"}, []string{"Classic"}); !slices.Equal(got, []string{want[0], want[2]}) {
		t.Errorf("state filter: %q", got)
	}
	if got := list(5, nil, []string{"consumer"}); len(got) != 0 {
		t.Errorf("type filter consumer: %q, want none (all groups are classic)", got)
	}
}

func TestDeleteGroups(t *testing.T) {
	e := newEnv(t)
	a, gen := e.joinAlone("busy")
	wantCode(t, "commit", e.commit("busy", a, gen, map[string]map[int32]int64{"orders": {0: 3}}), nil)
	wantCode(t, "commit", e.commit("idle", "", -1, map[string]map[int32]int64{"orders": {0: 4}}), nil)
	del := func(groups ...string) []int16 {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Version = 2
		r.Groups = groups
		resp := e.c.DeleteGroups(ctxFor(t), r)
		var codes []int16
		for i, g := range resp.Groups {
			if g.Group != groups[i] {
				t.Fatalf("response group %d is %q, want %q", i, g.Group, groups[i])
			}
			codes = append(codes, g.ErrorCode)
		}
		return codes
	}
	codes := del("busy", "idle", "missing")
	wantCode(t, "busy", codes[0], kerr.NonEmptyGroup)
	wantCode(t, "idle", codes[1], nil)
	wantCode(t, "missing", codes[2], kerr.GroupIDNotFound)
	if got := e.committed("idle"); len(got) != 0 {
		t.Fatalf("offsets of a deleted group: %v", got)
	}
	wantCode(t, "second delete", del("idle")[0], kerr.GroupIDNotFound)
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 7
	f.Group = "idle"
	f.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "orders", Partitions: []int32{0}}}
	if p := e.c.OffsetFetch(ctxFor(t), f).Topics[0].Partitions[0]; p.Offset != -1 {
		t.Fatalf("fetch after delete: offset %d", p.Offset)
	}

	// Once its members are gone, the busy group can be deleted; a group
	// of the same name then starts again from generation 1.
	e.c.LeaveGroup(ctxFor(t), &kmsg.LeaveGroupRequest{Version: 3, Group: "busy", Members: []kmsg.LeaveGroupRequestMember{{MemberID: a}}})
	e.waitMembers("busy", Empty, 0)
	wantCode(t, "emptied group", del("busy")[0], nil)
	if got := e.committed("busy"); len(got) != 0 {
		t.Fatalf("offsets of a deleted group: %v", got)
	}
	_, gen2 := e.joinAlone("busy")
	if gen2 != 1 {
		t.Fatalf("recreated group at generation %d, want 1", gen2)
	}
}

func TestOffsetDelete(t *testing.T) {
	e := newEnv(t)
	req := func(group string, topics map[string][]int32) *kmsg.OffsetDeleteRequest {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = group
		for _, name := range slices.Sorted(maps.Keys(topics)) {
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = name
			for _, p := range topics[name] {
				rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: p})
			}
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	all := map[string]map[int32]int64{"orders": {0: 1, 1: 2}, "payments": {0: 3}}

	wantCode(t, "unknown group", e.c.OffsetDelete(ctxFor(t), req("nobody", map[string][]int32{"orders": {0}})).ErrorCode, kerr.GroupIDNotFound)

	// Empty group: anything goes; unknown partitions are refused.
	wantCode(t, "commit", e.commit("empty", "", -1, all), nil)
	resp := e.c.OffsetDelete(ctxFor(t), req("empty", map[string][]int32{"orders": {1, 9}}))
	if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 || resp.Topics[0].Partitions[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("empty group: %+v", resp)
	}
	if got := e.committed("empty"); len(got) != 2 || got["orders/0"] != 1 || got["payments/0"] != 3 {
		t.Fatalf("after delete: %v", got)
	}

	// Active consumer group subscribed to orders: payments may go, orders stays.
	a, gen := e.joinAlone("active")
	wantCode(t, "commit", e.commit("active", a, gen, all), nil)
	resp = e.c.OffsetDelete(ctxFor(t), req("active", map[string][]int32{"orders": {0}, "payments": {0}}))
	if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code || resp.Topics[1].Partitions[0].ErrorCode != 0 {
		t.Fatalf("active group: %+v", resp)
	}
	if got := e.committed("active"); len(got) != 2 || got["orders/0"] != 1 || got["orders/1"] != 2 {
		t.Fatalf("after delete: %v", got)
	}

	// A non-consumer group with members keeps everything.
	id := e.memberID("connect", "w")
	r := recv(t, e.joinAsync(joinReq("connect", id, withType("connect"))))
	wantCode(t, "connect join", r.ErrorCode, nil)
	wantCode(t, "connect group", e.c.OffsetDelete(ctxFor(t), req("connect", map[string][]int32{"orders": {0}})).ErrorCode, kerr.NonEmptyGroup)
}

func TestSubscribedTopicsUnreadableMetadata(t *testing.T) {
	e := newEnv(t)
	a, gen := e.joinAlone("g", withMetadata([]byte{0xff}))
	wantCode(t, "commit", e.commit("g", a, gen, map[string]map[int32]int64{"payments": {0: 1}}), nil)
	r := kmsg.NewPtrOffsetDeleteRequest()
	r.Group = "g"
	r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "payments", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	// Metadata that cannot be read may subscribe to anything.
	wantCode(t, "delete", e.c.OffsetDelete(ctxFor(t), r).Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
}

func TestIdleGroupsLeaveMemory(t *testing.T) {
	e := newEnv(t)
	e.c.idleTimeout = 50 * time.Millisecond
	wantCode(t, "commit", e.commit("g", "", -1, map[string]map[int32]int64{"orders": {0: 1}}), nil)
	_, gen := e.joinAlone("g", withSession(300*time.Millisecond))
	loaded := func() int {
		e.c.mu.Lock()
		defer e.c.mu.Unlock()
		return len(e.c.groups)
	}
	// The member's session ends, the group empties, then leaves memory.
	waitFor(t, "eviction", func() bool { return loaded() == 0 })
	if v := counterValue(t, e.reg, "strata_groups_loaded", ""); v != 0 {
		t.Errorf("loaded groups gauge %v, want 0", v)
	}
	// Reloaded from the metastore, it continues where it was.
	d := e.describe("g")
	if d.State != "Empty" || d.ProtocolType != "consumer" {
		t.Fatalf("evicted group: %+v", d)
	}
	id := e.memberID("g", "b")
	if r := recv(t, e.joinAsync(joinReq("g", id))); r.Generation != gen+2 {
		t.Fatalf("generation %d, want %d (one for emptying, one for this join)", r.Generation, gen+2)
	}
}
