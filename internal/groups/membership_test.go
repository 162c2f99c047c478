package groups

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFirstJoinRequiresMemberID(t *testing.T) {
	e := newEnv(t)
	ctx := WithClient(ctxFor(t), Client{ID: "svc", Host: "/192.0.2.7"})
	first := e.c.JoinGroup(ctx, joinReq("g", ""))
	wantCode(t, "first join", first.ErrorCode, kerr.MemberIDRequired)
	if first.Version != 9 || first.Generation != -1 || first.MemberID == "" {
		t.Fatalf("first join: version %d generation %d member %q", first.Version, first.Generation, first.MemberID)
	}
	// The member is not in the group until it joins with its id.
	if d := e.describe("g"); d.State != "Dead" || len(d.Members) != 0 {
		t.Fatalf("after MEMBER_ID_REQUIRED: state %s, %d members", d.State, len(d.Members))
	}
	resp := e.c.JoinGroup(ctx, joinReq("g", first.MemberID))
	wantCode(t, "second join", resp.ErrorCode, nil)
	if resp.Generation != 1 || resp.MemberID != first.MemberID || resp.LeaderID != first.MemberID {
		t.Fatalf("join: generation %d member %q leader %q", resp.Generation, resp.MemberID, resp.LeaderID)
	}
	if resp.Protocol == nil || *resp.Protocol != "range" || resp.ProtocolType == nil || *resp.ProtocolType != "consumer" {
		t.Fatalf("join: protocol %v type %v", resp.Protocol, resp.ProtocolType)
	}
	if len(resp.Members) != 1 || resp.Members[0].MemberID != first.MemberID || string(resp.Members[0].ProtocolMetadata) != string(subscription("orders")) {
		t.Fatalf("leader's member list: %+v", resp.Members)
	}
	d := e.describe("g")
	if d.State != "CompletingRebalance" || len(d.Members) != 1 || d.Members[0].ClientID != "svc" || d.Members[0].ClientHost != "/192.0.2.7" {
		t.Fatalf("describe: %+v", d)
	}
	// An id that was never handed out is refused.
	wantCode(t, "made-up id", e.c.JoinGroup(ctx, joinReq("g", "svc-made-up")).ErrorCode, kerr.UnknownMemberID)
}

func TestJoinBeforeV4GetsIDAtOnce(t *testing.T) {
	e := newEnv(t)
	resp := e.c.JoinGroup(ctxFor(t), joinReq("g", "", withVersion(3)))
	wantCode(t, "v3 join", resp.ErrorCode, nil)
	if resp.Version != 3 || resp.MemberID == "" || resp.Generation != 1 || resp.LeaderID != resp.MemberID {
		t.Fatalf("v3 join: %+v", resp)
	}
}

func TestTwoMembersRebalance(t *testing.T) {
	e := newEnv(t)
	a, gen := e.joinAlone("g")
	wantCode(t, "heartbeat alone", e.heartbeat("g", a, gen), nil)

	b := e.memberID("g", "client-b")
	bJoin := e.joinAsync(joinReq("g", b))
	e.waitMembers("g", PreparingRebalance, 2)
	notYet(t, bJoin, "B's join before A rejoined")
	// A learns of the rebalance from its heartbeat and rejoins.
	wantCode(t, "heartbeat during rebalance", e.heartbeat("g", a, gen), kerr.RebalanceInProgress)
	aResp := recv(t, e.joinAsync(joinReq("g", a)))
	bResp := recv(t, bJoin)
	wantCode(t, "A rejoin", aResp.ErrorCode, nil)
	wantCode(t, "B join", bResp.ErrorCode, nil)
	if aResp.Generation != gen+1 || bResp.Generation != gen+1 {
		t.Fatalf("generations %d, %d; want %d", aResp.Generation, bResp.Generation, gen+1)
	}
	if aResp.LeaderID != a || bResp.LeaderID != a {
		t.Fatalf("leader %q / %q, want the old leader %q", aResp.LeaderID, bResp.LeaderID, a)
	}
	var ids []string
	for _, m := range aResp.Members {
		ids = append(ids, m.MemberID)
	}
	if !slices.Equal(ids, []string{a, b}) || len(bResp.Members) != 0 {
		t.Fatalf("leader got members %v (want [A B] in join order), follower got %d", ids, len(bResp.Members))
	}

	// The follower's SyncGroup waits for the leader's.
	bSync := e.syncAsync(syncReq("g", b, gen+1, nil))
	e.waitMembers("g", CompletingRebalance, 2)
	notYet(t, bSync, "follower's sync before the leader's")
	e.syncOK("g", a, gen+1, map[string]string{a: "pa", b: "pb"})
	bs := recv(t, bSync)
	wantCode(t, "follower sync", bs.ErrorCode, nil)
	if string(bs.MemberAssignment) != "pb" || bs.Protocol == nil || *bs.Protocol != "range" {
		t.Fatalf("follower sync: assignment %q protocol %v", bs.MemberAssignment, bs.Protocol)
	}
	d := e.describe("g")
	if d.State != "Stable" || d.Protocol != "range" || len(d.Members) != 2 || string(d.Members[1].MemberAssignment) != "pb" {
		t.Fatalf("describe: %+v", d)
	}
	for _, id := range []string{a, b} {
		wantCode(t, "heartbeat when stable", e.heartbeat("g", id, gen+1), nil)
	}
}

func TestHeartbeatAndSyncErrors(t *testing.T) {
	e := newEnv(t)
	wantCode(t, "heartbeat, unknown group", e.heartbeat("nope", "m", 1), kerr.UnknownMemberID)
	a, gen := e.joinAlone("g")
	wantCode(t, "heartbeat, unknown member", e.heartbeat("g", "stranger", gen), kerr.UnknownMemberID)
	wantCode(t, "heartbeat, old generation", e.heartbeat("g", a, gen-1), kerr.IllegalGeneration)
	wantCode(t, "heartbeat, future generation", e.heartbeat("g", a, gen+1), kerr.IllegalGeneration)

	sync := func(req *kmsg.SyncGroupRequest) int16 { return recv(t, e.syncAsync(req)).ErrorCode }
	wantCode(t, "sync, unknown member", sync(syncReq("g", "stranger", gen, nil)), kerr.UnknownMemberID)
	wantCode(t, "sync, old generation", sync(syncReq("g", a, gen-1, nil)), kerr.IllegalGeneration)
	r := syncReq("g", a, gen, nil)
	r.Protocol = kmsg.StringPtr("roundrobin")
	wantCode(t, "sync, other protocol", sync(r), kerr.InconsistentGroupProtocol)
	r = syncReq("g", a, gen, nil)
	r.ProtocolType = kmsg.StringPtr("connect")
	wantCode(t, "sync, other protocol type", sync(r), kerr.InconsistentGroupProtocol)
	// Stable: a repeated sync returns the assignment again.
	if got := recv(t, e.syncAsync(syncReq("g", a, gen, nil))); got.ErrorCode != 0 || string(got.MemberAssignment) != "assignment-"+a {
		t.Fatalf("second sync: %s %q", codeName(got.ErrorCode), got.MemberAssignment)
	}

	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b))
	e.waitMembers("g", PreparingRebalance, 2)
	wantCode(t, "sync during PreparingRebalance", sync(syncReq("g", a, gen, nil)), kerr.RebalanceInProgress)
	recv(t, e.joinAsync(joinReq("g", a)))
	recv(t, bJoin)
	wantCode(t, "commit in CompletingRebalance", e.commit("g", a, gen+1, map[string]map[int32]int64{"orders": {0: 1}}), kerr.RebalanceInProgress)
	e.syncOK("g", a, gen+1, map[string]string{a: "1", b: "2"})
	// The old generation is now stale everywhere.
	wantCode(t, "heartbeat, stale generation", e.heartbeat("g", a, gen), kerr.IllegalGeneration)
	wantCode(t, "sync, stale generation", sync(syncReq("g", a, gen, nil)), kerr.IllegalGeneration)
	wantCode(t, "commit, stale generation", e.commit("g", a, gen, map[string]map[int32]int64{"orders": {0: 1}}), kerr.IllegalGeneration)
}

func TestJoinValidation(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MinSessionTimeout = time.Second; c.MaxSessionTimeout = time.Minute })
	ctx := ctxFor(t)
	for _, tc := range []struct {
		name  string
		group string
		req   *kmsg.JoinGroupRequest
		want  *kerr.Error
	}{
		{"session below min", "g", joinReq("g", "", withSession(500*time.Millisecond)), kerr.InvalidSessionTimeout},
		{"session above max", "g", joinReq("g", "", withSession(2*time.Minute)), kerr.InvalidSessionTimeout},
		{"no protocol type", "g", joinReq("g", "", withType("")), kerr.InconsistentGroupProtocol},
		{"no protocols", "g", joinReq("g", "", withProtocols()), kerr.InconsistentGroupProtocol},
		{"empty group id", "", joinReq("", ""), kerr.InvalidGroupID},
	} {
		resp := e.c.JoinGroup(ctx, tc.req)
		wantCode(t, tc.name, resp.ErrorCode, tc.want)
		if resp.Generation != -1 || resp.Version != tc.req.Version {
			t.Errorf("%s: generation %d version %d", tc.name, resp.Generation, resp.Version)
		}
	}

	e.joinAlone("g", withProtocols("range", "roundrobin"))
	for _, tc := range []struct {
		name string
		req  *kmsg.JoinGroupRequest
	}{
		{"other protocol type", joinReq("g", "", withType("connect"))},
		{"no common protocol", joinReq("g", "", withProtocols("sticky"))},
	} {
		wantCode(t, tc.name, e.c.JoinGroup(ctx, tc.req).ErrorCode, kerr.InconsistentGroupProtocol)
	}
	// A member supporting one of the group's protocols may join.
	wantCode(t, "compatible member", e.c.JoinGroup(ctx, joinReq("g", "", withProtocols("sticky", "roundrobin"))).ErrorCode, kerr.MemberIDRequired)
}

func TestProtocolSelection(t *testing.T) {
	e := newEnv(t)
	a, _ := e.joinAlone("g", withProtocols("range", "roundrobin", "sticky"))
	// B and C prefer roundrobin; C does not support range at all.
	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b, withProtocols("roundrobin", "range", "sticky")))
	e.waitMembers("g", PreparingRebalance, 2)
	c := e.memberID("g", "c")
	cJoin := e.joinAsync(joinReq("g", c, withProtocols("sticky", "roundrobin")))
	e.waitMembers("g", PreparingRebalance, 3)
	aResp := recv(t, e.joinAsync(joinReq("g", a, withProtocols("range", "roundrobin", "sticky"))))
	for name, r := range map[string]*kmsg.JoinGroupResponse{"A": aResp, "B": recv(t, bJoin), "C": recv(t, cJoin)} {
		wantCode(t, name, r.ErrorCode, nil)
		// Candidates: roundrobin and sticky. Votes: A roundrobin (its
		// first candidate), B roundrobin, C sticky.
		if r.Protocol == nil || *r.Protocol != "roundrobin" {
			t.Errorf("%s: protocol %v, want roundrobin", name, r.Protocol)
		}
	}
}

func TestSelectProtocolVotes(t *testing.T) {
	g := newGroup(nil, "g")
	add := func(protocols ...string) {
		g.seq++
		m := &member{id: string(rune('a' + g.seq)), seq: g.seq}
		for _, p := range protocols {
			m.protocols = append(m.protocols, kmsg.JoinGroupRequestProtocol{Name: p})
		}
		g.members[m.id] = m
	}
	add("x", "y")
	if got := g.selectProtocol(); got != "x" {
		t.Errorf("one member: %q, want its first choice x", got)
	}
	add("y", "x")
	if got := g.selectProtocol(); got != "x" {
		t.Errorf("tie: %q, want the first member's choice x", got)
	}
	add("y", "x", "z")
	if got := g.selectProtocol(); got != "y" {
		t.Errorf("two votes for y: %q", got)
	}
	add("z", "x")
	if got := g.selectProtocol(); got != "x" {
		t.Errorf("y no longer common: %q, want x", got)
	}
}

func TestRejoinDuringRebalance(t *testing.T) {
	e := newEnv(t)
	a, gen := e.joinAlone("g")
	b := e.memberID("g", "b")
	bJoin1 := e.joinAsync(joinReq("g", b))
	e.waitMembers("g", PreparingRebalance, 2)
	// B joins again while waiting: the first request is superseded.
	bJoin2 := e.joinAsync(joinReq("g", b))
	wantCode(t, "superseded join", recv(t, bJoin1).ErrorCode, kerr.RebalanceInProgress)
	aResp := recv(t, e.joinAsync(joinReq("g", a)))
	bResp := recv(t, bJoin2)
	if aResp.ErrorCode != 0 || bResp.ErrorCode != 0 || bResp.Generation != gen+1 {
		t.Fatalf("after the rejoin: A %s, B %s generation %d", codeName(aResp.ErrorCode), codeName(bResp.ErrorCode), bResp.Generation)
	}

	// CompletingRebalance: a member that lost its response rejoins with
	// the same metadata and gets the same generation again.
	again := recv(t, e.joinAsync(joinReq("g", b)))
	if again.ErrorCode != 0 || again.Generation != gen+1 || again.LeaderID != a {
		t.Fatalf("rejoin in CompletingRebalance: %s generation %d leader %q", codeName(again.ErrorCode), again.Generation, again.LeaderID)
	}
	// New metadata (another subscription) starts a new rebalance; a
	// follower's pending sync is told so.
	bSync := e.syncAsync(syncReq("g", b, gen+1, nil))
	e.waitMembers("g", CompletingRebalance, 2)
	notYet(t, bSync, "follower's sync")
	aJoin := e.joinAsync(joinReq("g", a, withMetadata(subscription("orders", "payments"))))
	wantCode(t, "follower's sync", recv(t, bSync).ErrorCode, kerr.RebalanceInProgress)
	bResp = recv(t, e.joinAsync(joinReq("g", b)))
	aResp = recv(t, aJoin)
	if aResp.Generation != gen+2 || bResp.Generation != gen+2 {
		t.Fatalf("generations %d, %d; want %d", aResp.Generation, bResp.Generation, gen+2)
	}
	if len(aResp.Members) != 2 || string(aResp.Members[0].ProtocolMetadata) != string(subscription("orders", "payments")) {
		t.Errorf("leader's member list does not show its new metadata: %+v", aResp.Members)
	}

	// Stable: a follower rejoining unchanged gets the current generation
	// back without a rebalance; the leader rejoining starts one.
	e.syncOK("g", a, gen+2, map[string]string{a: "1", b: "2"})
	e.syncOK("g", b, gen+2, map[string]string{b: "2"})
	same := recv(t, e.joinAsync(joinReq("g", b)))
	if same.ErrorCode != 0 || same.Generation != gen+2 || e.describe("g").State != "Stable" {
		t.Fatalf("unchanged follower rejoin: %s generation %d state %s", codeName(same.ErrorCode), same.Generation, e.describe("g").State)
	}
	aJoin = e.joinAsync(joinReq("g", a, withMetadata(subscription("orders", "payments"))))
	e.waitMembers("g", PreparingRebalance, 2)
	notYet(t, aJoin, "leader's rejoin")
}

func TestSessionTimeoutRemovesMember(t *testing.T) {
	e := newEnv(t)
	const session = 400 * time.Millisecond
	a := e.memberID("g", "a")
	aJoin := e.joinAsync(joinReq("g", a, withSession(session)))
	// A joins alone and completes at once; then B joins.
	ar := recv(t, aJoin)
	e.syncOK("g", a, ar.Generation, map[string]string{a: "x"})
	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b, withSession(session)))
	e.waitMembers("g", PreparingRebalance, 2)
	ar = recv(t, e.joinAsync(joinReq("g", a, withSession(session))))
	br := recv(t, bJoin)
	gen := ar.Generation
	leader, follower := ar.MemberID, br.MemberID
	e.syncOK("g", leader, gen, map[string]string{leader: "1", follower: "2"})
	e.syncOK("g", follower, gen, map[string]string{follower: "2"})

	// The follower goes silent; the leader keeps heartbeating and is told
	// to rejoin once the follower's session has ended.
	start := time.Now()
	var code int16
	waitFor(t, "REBALANCE_IN_PROGRESS", func() bool {
		code = e.heartbeat("g", leader, gen)
		return code != 0
	})
	wantCode(t, "leader heartbeat", code, kerr.RebalanceInProgress)
	if el := time.Since(start); el < session-20*time.Millisecond {
		t.Fatalf("member removed after %v, before its %v session ended", el, session)
	}
	r := recv(t, e.joinAsync(joinReq("g", leader, withSession(session))))
	if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin alone: %s generation %d members %d", codeName(r.ErrorCode), r.Generation, len(r.Members))
	}
	wantCode(t, "expired member's heartbeat", e.heartbeat("g", follower, gen), kerr.UnknownMemberID)
	if v := counterValue(t, e.reg, "strata_groups_member_expirations_total", "session"); v != 1 {
		t.Errorf("session expirations metric %v, want 1", v)
	}
}

func TestSessionTimeoutEmptiesGroup(t *testing.T) {
	e := newEnv(t)
	a, gen := e.joinAlone("g", withSession(300*time.Millisecond))
	e.waitMembers("g", Empty, 0)
	wantCode(t, "heartbeat after expiry", e.heartbeat("g", a, gen), kerr.UnknownMemberID)
	// The generation went up when the group emptied, and is persisted.
	waitFor(t, "persisted generation", func() bool {
		info, err := e.store.LoadGroup(ctxFor(t), "g")
		return err == nil && info.Generation == gen+1 && info.State == "Empty"
	})
}

func TestRebalanceTimeoutRemovesLaggards(t *testing.T) {
	e := newEnv(t)
	const rebalance = 200 * time.Millisecond
	a, gen := e.joinAlone("g", withRebalance(rebalance))
	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b, withRebalance(rebalance)))
	e.waitMembers("g", PreparingRebalance, 2)
	// A heartbeats (so its session stays alive) but never rejoins.
	start := time.Now()
	var br *kmsg.JoinGroupResponse
	waitFor(t, "B's join", func() bool {
		e.heartbeat("g", a, gen)
		select {
		case br = <-bJoin:
			return true
		default:
			return false
		}
	})
	if el := time.Since(start); el < rebalance-20*time.Millisecond {
		t.Fatalf("join completed after %v, before the %v rebalance timeout", el, rebalance)
	}
	if br.ErrorCode != 0 || br.Generation != gen+1 || br.LeaderID != b || len(br.Members) != 1 {
		t.Fatalf("B's join: %s generation %d leader %q members %d", codeName(br.ErrorCode), br.Generation, br.LeaderID, len(br.Members))
	}
	wantCode(t, "laggard's heartbeat", e.heartbeat("g", a, gen), kerr.UnknownMemberID)
}

func TestSyncTimeoutRemovesMembersThatDoNotSync(t *testing.T) {
	e := newEnv(t)
	const rebalance = 500 * time.Millisecond
	a, gen := e.joinAlone("g", withRebalance(rebalance))
	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b, withRebalance(rebalance)))
	e.waitMembers("g", PreparingRebalance, 2)
	recv(t, e.joinAsync(joinReq("g", a, withRebalance(rebalance))))
	recv(t, bJoin)
	// B syncs; the leader A never does.
	bSync := e.syncAsync(syncReq("g", b, gen+1, nil))
	wantCode(t, "follower's sync", recv(t, bSync).ErrorCode, kerr.RebalanceInProgress)
	wantCode(t, "leader's heartbeat", e.heartbeat("g", a, gen+1), kerr.UnknownMemberID)
	r := recv(t, e.joinAsync(joinReq("g", b, withRebalance(rebalance))))
	if r.ErrorCode != 0 || r.LeaderID != b || r.Generation != gen+2 {
		t.Fatalf("B rejoins: %s leader %q generation %d", codeName(r.ErrorCode), r.LeaderID, r.Generation)
	}
}

func TestLeaveGroup(t *testing.T) {
	e := newEnv(t)
	a, gen := e.joinAlone("g")
	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b))
	e.waitMembers("g", PreparingRebalance, 2)
	// A leaves instead of rejoining: B's join completes without it.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: a}, {MemberID: "stranger"}}
	resp := e.c.LeaveGroup(ctxFor(t), leave)
	if resp.ErrorCode != 0 || len(resp.Members) != 2 || resp.Members[0].ErrorCode != 0 || resp.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %+v", resp)
	}
	br := recv(t, bJoin)
	if br.ErrorCode != 0 || br.Generation != gen+1 || br.LeaderID != b {
		t.Fatalf("B's join after A left: %s generation %d leader %q", codeName(br.ErrorCode), br.Generation, br.LeaderID)
	}

	// A member waiting in JoinGroup that leaves gets UNKNOWN_MEMBER_ID.
	e.syncOK("g", b, br.Generation, map[string]string{b: "x"})
	c := e.memberID("g", "c")
	cJoin := e.joinAsync(joinReq("g", c))
	e.waitMembers("g", PreparingRebalance, 2)
	v0 := kmsg.NewPtrLeaveGroupRequest()
	v0.Group, v0.MemberID = "g", c
	wantCode(t, "v0 leave", e.c.LeaveGroup(ctxFor(t), v0).ErrorCode, nil)
	wantCode(t, "left member's join", recv(t, cJoin).ErrorCode, kerr.UnknownMemberID)

	// The last member leaving empties the group.
	v0.MemberID = b
	wantCode(t, "last leave", e.c.LeaveGroup(ctxFor(t), v0).ErrorCode, nil)
	e.waitMembers("g", Empty, 0)
	wantCode(t, "v0 leave, unknown member", e.c.LeaveGroup(ctxFor(t), v0).ErrorCode, kerr.UnknownMemberID)
}

func TestLeavePendingMember(t *testing.T) {
	e := newEnv(t)
	a, _ := e.joinAlone("g")
	pendingID := e.memberID("g", "p")
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 3
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: pendingID}}
	if resp := e.c.LeaveGroup(ctxFor(t), leave); resp.Members[0].ErrorCode != 0 {
		t.Fatalf("leave of a pending member: %s", codeName(resp.Members[0].ErrorCode))
	}
	wantCode(t, "join with the withdrawn id", e.c.JoinGroup(ctxFor(t), joinReq("g", pendingID)).ErrorCode, kerr.UnknownMemberID)
	if d := e.describe("g"); d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != a {
		t.Fatalf("group after: %+v", d)
	}
}

func TestPendingMemberHoldsRebalanceUntilItExpires(t *testing.T) {
	e := newEnv(t)
	a, gen := e.joinAlone("g", withRebalance(10*time.Second))
	// A member id handed out but never used: the rebalance waits for it
	// until its session ends (here 100ms), not for the rebalance timeout.
	resp := e.c.JoinGroup(ctxFor(t), joinReq("g", "", withSession(100*time.Millisecond)))
	wantCode(t, "first join", resp.ErrorCode, kerr.MemberIDRequired)
	b := e.memberID("g", "b")
	bJoin := e.joinAsync(joinReq("g", b))
	e.waitMembers("g", PreparingRebalance, 2)
	aJoin := e.joinAsync(joinReq("g", a))
	ar, br := recv(t, aJoin), recv(t, bJoin)
	if ar.Generation != gen+1 || br.Generation != gen+1 || len(ar.Members) != 2 {
		t.Fatalf("generation %d/%d, %d members", ar.Generation, br.Generation, len(ar.Members))
	}
}

func TestMaxGroupSize(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxGroupSize = 2 })
	e.joinAlone("g")
	e.memberID("g", "b") // pending members count
	wantCode(t, "third member", e.c.JoinGroup(ctxFor(t), joinReq("g", "")).ErrorCode, kerr.GroupMaxSizeReached)
}

// TestDefaultMaxGroupSize: by default a group stops growing at 1000
// members, waiting ones included: a client joining in a loop, each join a
// new member id, once grew a group without end.
func TestDefaultMaxGroupSize(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxGroupSize = DefaultMaxGroupSize })
	for i := range 1000 {
		if code := e.c.JoinGroup(ctxFor(t), joinReq("loop", "")).ErrorCode; code != kerr.MemberIDRequired.Code {
			t.Fatalf("join %d: %v, want MEMBER_ID_REQUIRED", i, kerr.ErrorForCode(code))
		}
	}
	wantCode(t, "member 1001", e.c.JoinGroup(ctxFor(t), joinReq("loop", "")).ErrorCode, kerr.GroupMaxSizeReached)
}

func TestInitialRebalanceDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	e := newEnv(t, func(c *Config) { c.InitialRebalanceDelay = delay })
	start := time.Now()
	aJoin := e.joinAsync(joinReq("g", "", withVersion(3)))
	e.waitMembers("g", PreparingRebalance, 1)
	bJoin := e.joinAsync(joinReq("g", "", withVersion(3)))
	e.waitMembers("g", PreparingRebalance, 2)
	ar, br := recv(t, aJoin), recv(t, bJoin)
	if el := time.Since(start); el < delay {
		t.Fatalf("first rebalance completed after %v, before the %v delay", el, delay)
	}
	if ar.Generation != 1 || br.Generation != 1 || ar.LeaderID != br.LeaderID || len(ar.Members)+len(br.Members) != 2 {
		t.Fatalf("both members should share generation 1: %+v / %+v", ar, br)
	}
}

func TestLoneMemberChangesProtocolType(t *testing.T) {
	e := newEnv(t)
	a, gen := e.joinAlone("g")
	r := recv(t, e.joinAsync(joinReq("g", a, withType("connect"), withProtocols("v1"))))
	if r.ErrorCode != 0 || r.Generation != gen+1 || *r.ProtocolType != "connect" || *r.Protocol != "v1" {
		t.Fatalf("rejoin as connect: %s generation %d type %s protocol %s", codeName(r.ErrorCode), r.Generation, *r.ProtocolType, *r.Protocol)
	}
	wantCode(t, "a consumer now", e.c.JoinGroup(ctxFor(t), joinReq("g", "")).ErrorCode, kerr.InconsistentGroupProtocol)
}
