package groups

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

func TestSimpleCommitOutsideGroupManagement(t *testing.T) {
	e := newEnv(t)
	r := commitReq("tools", "", -1, map[string]map[int32]int64{"orders": {0: 10, 3: 30}, "payments": {1: 7}})
	r.Topics[0].Partitions[0].LeaderEpoch = 4
	r.Topics[0].Partitions[0].Metadata = kmsg.StringPtr("checkpoint")
	resp := e.c.OffsetCommit(ctxFor(t), r)
	if resp.Version != 9 {
		t.Fatalf("response version %d", resp.Version)
	}
	for tp, code := range commitCodes(resp) {
		wantCode(t, "commit "+tp, code, nil)
	}
	got := e.committed("tools")
	if len(got) != 3 || got["orders/0"] != 10 || got["orders/3"] != 30 || got["payments/1"] != 7 {
		t.Fatalf("stored offsets %v", got)
	}
	offs, _ := e.store.FetchOffsets(ctxFor(t), "tools", []string{"orders"})
	if p0 := offs[0]; p0.Partition != 0 || p0.Metadata != "checkpoint" || p0.LeaderEpoch != 4 {
		t.Errorf("stored %+v, want metadata and leader epoch kept", p0)
	}
	if p3 := offs[1]; p3.Metadata != "" || p3.LeaderEpoch != -1 {
		t.Errorf("stored %+v, want no metadata, no leader epoch", p3)
	}
}

func TestCommitRefusesUnknownPartitions(t *testing.T) {
	e := newEnv(t)
	r := commitReq("g", "", -1, map[string]map[int32]int64{"orders": {1: 5}})
	add := func(topic string, p int32, metadata string) {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = p, 1, kmsg.StringPtr(metadata)
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
	}
	add("no-such-topic", 0, "")
	add("payments", 2, "")  // payments has partitions 0 and 1
	add("payments", -1, "") // negative
	add("payments", 0, strings.Repeat("m", DefaultMaxMetadataSize+1))
	resp := e.c.OffsetCommit(ctxFor(t), r)
	want := []*kerr.Error{nil, kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition, kerr.OffsetMetadataTooLarge}
	for i, rt := range resp.Topics {
		wantCode(t, rt.Topic, rt.Partitions[0].ErrorCode, want[i])
	}
	// The valid partition of the same request is committed.
	if got := e.committed("g"); len(got) != 1 || got["orders/1"] != 5 {
		t.Fatalf("stored %v, want only orders/1", got)
	}
}

func TestCommitMembershipRules(t *testing.T) {
	e := newEnv(t)
	one := map[string]map[int32]int64{"orders": {0: 1}}
	wantCode(t, "unknown group, a generation", e.commit("fresh", "m", 3, one), kerr.IllegalGeneration)
	wantCode(t, "unknown group, a member id", e.commit("fresh", "m", -1, one), nil)

	a, gen := e.joinAlone("g")
	wantCode(t, "simple commit to an active group", e.commit("g", "", -1, one), kerr.UnknownMemberID)
	wantCode(t, "unknown member", e.commit("g", "stranger", gen, one), kerr.UnknownMemberID)
	wantCode(t, "wrong generation", e.commit("g", a, gen+1, one), kerr.IllegalGeneration)
	wantCode(t, "member", e.commit("g", a, gen, map[string]map[int32]int64{"orders": {0: 42}}), nil)
	if got := e.committed("g"); got["orders/0"] != 42 {
		t.Fatalf("stored %v", got)
	}

	// PreparingRebalance: current members may still commit (before they
	// rejoin, to keep their progress).
	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b))
	e.waitMembers("g", PreparingRebalance, 2)
	wantCode(t, "commit while preparing", e.commit("g", a, gen, map[string]map[int32]int64{"orders": {0: 43}}), nil)
	recv(t, e.joinAsync(joinReq("g", a)))
	recv(t, bJoin)
	// CompletingRebalance: assignments are about to change.
	wantCode(t, "commit while completing", e.commit("g", a, gen+1, one), kerr.RebalanceInProgress)
	if got := e.committed("g"); got["orders/0"] != 43 {
		t.Fatalf("stored %v, want 43", got)
	}

	// Everyone leaves: simple commits work again.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 3
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: a}, {MemberID: b}}
	e.c.LeaveGroup(ctxFor(t), leave)
	e.waitMembers("g", Empty, 0)
	wantCode(t, "simple commit to the emptied group", e.commit("g", "", -1, map[string]map[int32]int64{"orders": {0: 50}}), nil)
	// A member of a group that emptied is no longer known.
	wantCode(t, "old member", e.commit("g", a, gen+1, one), kerr.UnknownMemberID)
}

func TestCommitTopicIDs(t *testing.T) {
	e := newEnv(t)
	orders, _ := e.store.TopicByName(ctxFor(t), "orders")
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 10
	r.Group, r.Generation = "g", -1
	for _, id := range [][16]byte{orders.ID, {1, 2, 3}} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 2, 9
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
	}
	resp := e.c.OffsetCommit(ctxFor(t), r)
	if resp.Topics[0].TopicID != orders.ID || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("known topic id: %+v", resp.Topics[0])
	}
	wantCode(t, "unknown topic id", resp.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicID)
	if got := e.committed("g"); got["orders/2"] != 9 {
		t.Fatalf("stored %v", got)
	}

	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 10
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = "g"
	for _, id := range [][16]byte{orders.ID, {1, 2, 3}} {
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.TopicID = id
		gt.Partitions = []int32{2, 3}
		g.Topics = append(g.Topics, gt)
	}
	f.Groups = append(f.Groups, g)
	fr := e.c.OffsetFetch(ctxFor(t), f)
	ps := fr.Groups[0].Topics[0].Partitions
	if fr.Groups[0].Topics[0].TopicID != orders.ID || ps[0].Offset != 9 || ps[1].Offset != -1 {
		t.Fatalf("fetch by topic id: %+v", fr.Groups[0].Topics[0])
	}
	wantCode(t, "fetch unknown topic id", fr.Groups[0].Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicID)
	// Every topic (null topics) comes back with its id.
	all := kmsg.NewOffsetFetchRequestGroup()
	all.Group = "g"
	f.Groups = []kmsg.OffsetFetchRequestGroup{all}
	fr = e.c.OffsetFetch(ctxFor(t), f)
	if ts := fr.Groups[0].Topics; len(ts) != 1 || ts[0].TopicID != orders.ID || ts[0].Topic != "orders" {
		t.Fatalf("fetch all by id: %+v", ts)
	}
}

func TestOffsetFetchVersions(t *testing.T) {
	e := newEnv(t)
	r := commitReq("g", "", -1, map[string]map[int32]int64{"orders": {1: 100}, "payments": {0: 5}})
	r.Topics[0].Partitions[0].LeaderEpoch = 3
	r.Topics[0].Partitions[0].Metadata = kmsg.StringPtr("md")
	e.c.OffsetCommit(ctxFor(t), r)

	for _, v := range []int16{1, 5, 7} {
		f := kmsg.NewPtrOffsetFetchRequest()
		f.Version = v
		f.Group = "g"
		f.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "orders", Partitions: []int32{0, 1}}, {Topic: "gone", Partitions: []int32{0}}}
		resp := e.c.OffsetFetch(ctxFor(t), f)
		if resp.Version != v || resp.ErrorCode != 0 || len(resp.Topics) != 2 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		p0, p1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
		if p0.Offset != -1 || p0.ErrorCode != 0 || *p0.Metadata != "" || p1.Offset != 100 || *p1.Metadata != "md" {
			t.Errorf("v%d: partitions %+v %+v", v, p0, p1)
		}
		if v >= 5 && p1.LeaderEpoch != 3 {
			t.Errorf("v%d: leader epoch %d, want 3", v, p1.LeaderEpoch)
		}
		if g := resp.Topics[1].Partitions[0]; g.Offset != -1 || g.ErrorCode != 0 {
			t.Errorf("v%d: unknown topic: %+v", v, g)
		}
	}
	// v2+: null topics means every committed partition.
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 7
	f.Group = "g"
	resp := e.c.OffsetFetch(ctxFor(t), f)
	if len(resp.Topics) != 2 || resp.Topics[0].Topic != "orders" || resp.Topics[1].Topic != "payments" || resp.Topics[1].Partitions[0].Offset != 5 {
		t.Fatalf("all offsets: %+v", resp.Topics)
	}
	// v8: several groups, an unknown one among them.
	f = kmsg.NewPtrOffsetFetchRequest()
	f.Version = 8
	for _, name := range []string{"g", "never-heard-of"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = name
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "payments", Partitions: []int32{0}}}
		f.Groups = append(f.Groups, rg)
	}
	resp = e.c.OffsetFetch(ctxFor(t), f)
	if len(resp.Groups) != 2 || resp.Groups[0].Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("v8: %+v", resp.Groups)
	}
	if g := resp.Groups[1]; g.Group != "never-heard-of" || g.ErrorCode != 0 || g.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("v8 unknown group: %+v", g)
	}
}

func TestCoordinatorRestartKeepsOffsetsAndMembers(t *testing.T) {
	e := newEnv(t)
	a, gen := e.joinAlone("g")
	wantCode(t, "commit", e.commit("g", a, gen, map[string]map[int32]int64{"orders": {0: 7, 1: 8}}), nil)
	e.c.Close()
	// The coordinator moves: a new one on the same metastore.
	e.c = e.coordinator(e.store)
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 7
	f.Group = "g"
	resp := e.c.OffsetFetch(ctxFor(t), f)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 || resp.Topics[0].Partitions[1].Offset != 8 {
		t.Fatalf("offsets after restart: %+v", resp.Topics)
	}
	// The member of the stored generation carries on.
	wantCode(t, "old member's heartbeat", e.heartbeat("g", a, gen), nil)
	wantCode(t, "old member's commit", e.commit("g", a, gen, map[string]map[int32]int64{"orders": {0: 9}}), nil)
	if got := e.committed("g"); got["orders/0"] != 9 {
		t.Fatalf("stored %v", got)
	}
	// A member that rejoins starts the next generation, not the first.
	id := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", id))
	e.waitMembers("g", PreparingRebalance, 2)
	r := recv(t, e.joinAsync(joinReq("g", a)))
	if r.Generation <= gen {
		t.Fatalf("generation %d after restart, want above %d", r.Generation, gen)
	}
	recv(t, bJoin)
}

func TestCloseAnswersWaitingRequests(t *testing.T) {
	e := newEnv(t)
	a, _ := e.joinAlone("g")
	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b))
	e.waitMembers("g", PreparingRebalance, 2)
	e.c.Close()
	wantCode(t, "waiting join", recv(t, bJoin).ErrorCode, kerr.NotCoordinator)
	wantCode(t, "join after close", e.c.JoinGroup(ctxFor(t), joinReq("g", a)).ErrorCode, kerr.NotCoordinator)
	wantCode(t, "commit after close", e.commit("g", "", -1, map[string]map[int32]int64{"orders": {0: 1}}), kerr.NotCoordinator)
}

func TestNotCoordinator(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Owner = func(g string) bool { return !strings.HasPrefix(g, "elsewhere") } })
	ctx := ctxFor(t)
	wantCode(t, "join", e.c.JoinGroup(ctx, joinReq("elsewhere", "")).ErrorCode, kerr.NotCoordinator)
	wantCode(t, "sync", e.c.SyncGroup(ctx, syncReq("elsewhere", "m", 1, nil)).ErrorCode, kerr.NotCoordinator)
	wantCode(t, "heartbeat", e.heartbeat("elsewhere", "m", 1), kerr.NotCoordinator)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = "elsewhere"
	wantCode(t, "leave", e.c.LeaveGroup(ctx, leave).ErrorCode, kerr.NotCoordinator)
	wantCode(t, "commit", e.commit("elsewhere", "", -1, map[string]map[int32]int64{"orders": {0: 1}}), kerr.NotCoordinator)
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 7
	f.Group = "elsewhere"
	wantCode(t, "fetch", e.c.OffsetFetch(ctx, f).ErrorCode, kerr.NotCoordinator)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "elsewhere"
	wantCode(t, "offset delete", e.c.OffsetDelete(ctx, od).ErrorCode, kerr.NotCoordinator)
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Groups = []string{"elsewhere", "here"}
	dr := e.c.DescribeGroups(ctx, d)
	wantCode(t, "describe", dr.Groups[0].ErrorCode, kerr.NotCoordinator)
	wantCode(t, "describe own group", dr.Groups[1].ErrorCode, nil)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"elsewhere"}
	wantCode(t, "delete", e.c.DeleteGroups(ctx, del).Groups[0].ErrorCode, kerr.NotCoordinator)
	if _, err := e.store.LoadGroup(ctx, "elsewhere"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Errorf("a group of another coordinator was written: %v", err)
	}
}

// faultyStore fails the operations whose flag is set.
type faultyStore struct {
	Store
	failCommit, failLoad atomic.Bool
}

var errInjected = errors.New("injected metastore failure")

func (f *faultyStore) CommitOffsets(ctx context.Context, lease metastore.GroupLease, offsets []metastore.GroupOffset) error {
	if f.failCommit.Load() {
		return errInjected
	}
	return f.Store.CommitOffsets(ctx, lease, offsets)
}

func (f *faultyStore) LoadGroup(ctx context.Context, name string) (metastore.GroupInfo, error) {
	if f.failLoad.Load() {
		return metastore.GroupInfo{}, errInjected
	}
	return f.Store.LoadGroup(ctx, name)
}

func TestMetastoreFailures(t *testing.T) {
	e := newEnv(t)
	fs := &faultyStore{Store: e.store}
	e.c.Close()
	e.c = e.coordinator(fs)
	one := map[string]map[int32]int64{"orders": {0: 1}}

	fs.failCommit.Store(true)
	wantCode(t, "commit, metastore down", e.commit("g", "", -1, one), kerr.CoordinatorNotAvailable)
	if got := e.committed("g"); len(got) != 0 {
		t.Fatalf("stored %v", got)
	}
	fs.failCommit.Store(false)
	wantCode(t, "commit, metastore back", e.commit("g", "", -1, one), nil)

	// A group that cannot be loaded is unavailable, and loaded again on
	// the next request once the metastore answers.
	fs.failLoad.Store(true)
	wantCode(t, "join, load failed", e.c.JoinGroup(ctxFor(t), joinReq("h", "")).ErrorCode, kerr.CoordinatorNotAvailable)
	fs.failLoad.Store(false)
	waitFor(t, "a fresh load", func() bool {
		return e.c.JoinGroup(ctxFor(t), joinReq("h", "")).ErrorCode == kerr.MemberIDRequired.Code
	})
	if v := counterValue(t, e.reg, "strata_groups_store_errors_total", "commit_offsets"); v != 1 {
		t.Errorf("store errors metric %v, want 1", v)
	}
}
