package groups

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func staticHeartbeat(e *env, memberID, instance string, generation int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group, r.MemberID, r.Generation, r.InstanceID = "g", memberID, generation, kmsg.StringPtr(instance)
	return e.c.Heartbeat(ctxFor(e.t), r).ErrorCode
}

// stableStatic builds a Stable group of two static members, "i-a" (the
// leader) and "i-b", and returns their member ids and the generation.
func stableStatic(t *testing.T, e *env, opts ...joinOpt) (a, b string, gen int32) {
	t.Helper()
	// Static members join without MEMBER_ID_REQUIRED, even on v9.
	ar := recv(t, e.joinAsync(joinReq("g", "", append([]joinOpt{withInstance("i-a")}, opts...)...)))
	wantCode(t, "static join", ar.ErrorCode, nil)
	a = ar.MemberID
	e.syncOK("g", a, ar.Generation, map[string]string{a: "solo"})
	bJoin := e.joinAsync(joinReq("g", "", append([]joinOpt{withInstance("i-b")}, opts...)...))
	e.waitMembers("g", PreparingRebalance, 2)
	ar = recv(t, e.joinAsync(joinReq("g", a, append([]joinOpt{withInstance("i-a")}, opts...)...)))
	br := recv(t, bJoin)
	wantCode(t, "B's static join", br.ErrorCode, nil)
	b, gen = br.MemberID, br.Generation
	e.syncOK("g", a, gen, map[string]string{a: "pa", b: "pb"})
	e.syncOK("g", b, gen, map[string]string{b: "pb"})
	return a, b, gen
}

func TestStaticMemberRestartsWithoutRebalance(t *testing.T) {
	e := newEnv(t)
	a, b, gen := stableStatic(t, e)
	// B restarts: same instance id, no member id, same subscription.
	r := recv(t, e.joinAsync(joinReq("g", "", withInstance("i-b"))))
	wantCode(t, "restarted static member", r.ErrorCode, nil)
	newB := r.MemberID
	if newB == b || newB == "" || r.Generation != gen || r.LeaderID != a || r.SkipAssignment {
		t.Fatalf("rejoin: member %q (old %q) generation %d leader %q skip %v", newB, b, r.Generation, r.LeaderID, r.SkipAssignment)
	}
	if d := e.describe("g"); d.State != "Stable" {
		t.Fatalf("state %s, want Stable: no rebalance", d.State)
	}
	// It keeps its assignment; the old member id is fenced.
	if s := recv(t, e.syncAsync(withInstanceSync(syncReq("g", newB, gen, nil), "i-b"))); s.ErrorCode != 0 || string(s.MemberAssignment) != "pb" {
		t.Fatalf("sync of the new id: %s %q", codeName(s.ErrorCode), s.MemberAssignment)
	}
	wantCode(t, "old id", staticHeartbeat(e, b, "i-b", gen), kerr.FencedInstanceID)
	wantCode(t, "new id", staticHeartbeat(e, newB, "i-b", gen), nil)
	wantCode(t, "unknown instance", staticHeartbeat(e, newB, "i-z", gen), kerr.UnknownMemberID)
	wantCode(t, "leader", staticHeartbeat(e, a, "i-a", gen), nil)
	c := commitReq("g", b, gen, map[string]map[int32]int64{"orders": {0: 5}})
	c.InstanceID = kmsg.StringPtr("i-b")
	if got := commitCodes(e.c.OffsetCommit(ctxFor(t), c)); got["orders/0"] != kerr.FencedInstanceID.Code {
		t.Fatalf("commit by the fenced id: %v", got)
	}

	// The leader restarting is told to keep the current assignment.
	r = recv(t, e.joinAsync(joinReq("g", "", withInstance("i-a"))))
	if r.ErrorCode != 0 || r.LeaderID != r.MemberID || !r.SkipAssignment || len(r.Members) != 2 || r.Generation != gen {
		t.Fatalf("leader restart: %s leader %q member %q skip %v members %d gen %d",
			codeName(r.ErrorCode), r.LeaderID, r.MemberID, r.SkipAssignment, len(r.Members), r.Generation)
	}
	wantCode(t, "old leader id", staticHeartbeat(e, a, "i-a", gen), kerr.FencedInstanceID)
}

func withInstanceSync(r *kmsg.SyncGroupRequest, instance string) *kmsg.SyncGroupRequest {
	r.InstanceID = kmsg.StringPtr(instance)
	return r
}

func TestStaticRestartChangingProtocolRebalances(t *testing.T) {
	e := newEnv(t)
	both := withProtocols("range", "roundrobin")
	a, _, gen := stableStatic(t, e, both)
	// Only the group's protocol matters (as in Kafka): new metadata alone
	// does not rebalance a restarted static member...
	r := recv(t, e.joinAsync(joinReq("g", "", withInstance("i-b"), both, withMetadata(subscription("payments")))))
	if r.ErrorCode != 0 || r.Generation != gen {
		t.Fatalf("restart with new metadata: %s generation %d, want %d", codeName(r.ErrorCode), r.Generation, gen)
	}
	// ...but a restart that changes the protocol the group would choose does.
	bJoin := e.joinAsync(joinReq("g", "", withInstance("i-b"), withProtocols("roundrobin")))
	e.waitMembers("g", PreparingRebalance, 2)
	ar := recv(t, e.joinAsync(joinReq("g", a, withInstance("i-a"), both)))
	br := recv(t, bJoin)
	if ar.Generation != gen+1 || br.Generation != gen+1 || *br.Protocol != "roundrobin" {
		t.Fatalf("generations %d/%d, want %d; protocol %s, want roundrobin", ar.Generation, br.Generation, gen+1, *br.Protocol)
	}
}

func TestStaticReplacementFencesWaitingRequest(t *testing.T) {
	e := newEnv(t)
	a, b, gen := stableStatic(t, e)
	// A new member starts a rebalance; B's old incarnation is waiting in
	// JoinGroup when a new process with B's instance id arrives.
	c := e.memberID("g", "c")
	cJoin := e.joinAsync(joinReq("g", c))
	e.waitMembers("g", PreparingRebalance, 3)
	oldB := e.joinAsync(joinReq("g", b, withInstance("i-b")))
	waitFor(t, "old B waiting", func() bool {
		reply := make(chan bool, 1)
		if _, err := e.c.do(ctxFor(t), "g", false, func(g *group) { reply <- g.members[b] != nil && g.members[b].join != nil }); err != nil {
			t.Fatal(err)
		}
		return <-reply
	})
	newB := e.joinAsync(joinReq("g", "", withInstance("i-b")))
	wantCode(t, "old incarnation's join", recv(t, oldB).ErrorCode, kerr.FencedInstanceID)
	ar := recv(t, e.joinAsync(joinReq("g", a, withInstance("i-a"))))
	nb, cr := recv(t, newB), recv(t, cJoin)
	for name, r := range map[string]*kmsg.JoinGroupResponse{"A": ar, "new B": nb, "C": cr} {
		if r.ErrorCode != 0 || r.Generation != gen+1 {
			t.Errorf("%s: %s generation %d", name, codeName(r.ErrorCode), r.Generation)
		}
	}
	if len(ar.Members) != 3 {
		t.Errorf("leader sees %d members, want 3", len(ar.Members))
	}
}

func TestStaticMemberStaysThroughRebalanceUntilSessionEnds(t *testing.T) {
	e := newEnv(t)
	const session, rebalance = 1500 * time.Millisecond, 300 * time.Millisecond
	a, b, gen := stableStatic(t, e, withSession(session), withRebalance(rebalance))
	// B is alive (it heartbeats) but does not rejoin. C joins; A rejoins.
	// At the rebalance timeout B, being static, stays a member: its
	// partitions wait for it instead of moving.
	c := e.memberID("g", "c")
	cJoin := e.joinAsync(joinReq("g", c, withSession(session), withRebalance(rebalance)))
	e.waitMembers("g", PreparingRebalance, 3)
	aJoin := e.joinAsync(joinReq("g", a, withInstance("i-a"), withSession(session), withRebalance(rebalance)))
	var ar *kmsg.JoinGroupResponse
	waitFor(t, "the rebalance", func() bool {
		staticHeartbeat(e, b, "i-b", gen)
		select {
		case ar = <-aJoin:
			return true
		default:
			return false
		}
	})
	recv(t, cJoin)
	if ar.Generation != gen+1 || len(ar.Members) != 3 {
		t.Fatalf("generation %d with %d members; want %d with 3 (B kept)", ar.Generation, len(ar.Members), gen+1)
	}
	// B now goes silent. When its session ends it is removed, and the
	// group rebalances.
	e.syncOK("g", a, gen+1, map[string]string{a: "1", b: "2", c: "3"})
	e.syncOK("g", c, gen+1, map[string]string{c: "3"})
	waitFor(t, "B's removal", func() bool {
		e.heartbeat("g", c, gen+1)
		return staticHeartbeat(e, a, "i-a", gen+1) == kerr.RebalanceInProgress.Code
	})
	if d := e.describe("g"); len(d.Members) != 2 {
		t.Fatalf("%d members after B's session ended, want 2", len(d.Members))
	}
	wantCode(t, "B's heartbeat", staticHeartbeat(e, b, "i-b", gen+1), kerr.UnknownMemberID)
}

func TestLeaveByInstanceID(t *testing.T) {
	e := newEnv(t)
	_, b, _ := stableStatic(t, e)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 4
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{
		{MemberID: "someone-else", InstanceID: kmsg.StringPtr("i-b")},
		{InstanceID: kmsg.StringPtr("i-unknown")},
		{InstanceID: kmsg.StringPtr("i-b")},
	}
	resp := e.c.LeaveGroup(ctxFor(t), leave)
	want := []*kerr.Error{kerr.FencedInstanceID, kerr.UnknownMemberID, nil}
	for i, m := range resp.Members {
		wantCode(t, "leave "+*m.InstanceID, m.ErrorCode, want[i])
	}
	if d := e.describe("g"); d.State != "PreparingRebalance" || len(d.Members) != 1 {
		t.Fatalf("after B left: %s with %d members", d.State, len(d.Members))
	}
	wantCode(t, "heartbeat of the departed", staticHeartbeat(e, b, "i-b", 1), kerr.UnknownMemberID)
}

func TestLeaderKeptWhileItRejoins(t *testing.T) {
	e := newEnv(t)
	opts := []joinOpt{withSession(10 * time.Second), withRebalance(time.Second)}
	// A: static, the first member and leader. B joins.
	ar := recv(t, e.joinAsync(joinReq("g", "", append(opts, withInstance("i-a"))...)))
	a := ar.MemberID
	e.syncOK("g", a, ar.Generation, map[string]string{a: "1"})
	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b, opts...))
	e.waitMembers("g", PreparingRebalance, 2)
	// A misses the rebalance (static: it stays a member); B leads.
	br := recv(t, bJoin)
	if br.LeaderID != b {
		t.Fatalf("leader %q, want B (the only member that joined)", br.LeaderID)
	}
	e.syncOK("g", b, br.Generation, map[string]string{a: "1", b: "2"})
	// Next rebalance, everyone joins, A included: B stays the leader
	// although A is the older member.
	c := e.memberID("g", "c")
	cJoin := e.joinAsync(joinReq("g", c, opts...))
	e.waitMembers("g", PreparingRebalance, 3)
	aJoin := e.joinAsync(joinReq("g", a, append(opts, withInstance("i-a"))...))
	bJoin = e.joinAsync(joinReq("g", b, opts...))
	for _, ch := range []<-chan *kmsg.JoinGroupResponse{aJoin, bJoin, cJoin} {
		if r := recv(t, ch); r.ErrorCode != 0 || r.LeaderID != b || r.Generation != br.Generation+1 {
			t.Fatalf("join: %s leader %q generation %d; want leader B, generation %d", codeName(r.ErrorCode), r.LeaderID, r.Generation, br.Generation+1)
		}
	}
}
