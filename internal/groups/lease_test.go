package groups

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newPostgresEnv is newEnv on a fresh PostgreSQL database, which several
// coordinators can share as the nodes of a cluster do.
func newPostgresEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	store, err := postgres.New(ctx, postgres.Config{URL: testenv.PostgresURL(t), MaxConns: 8}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return newEnvOn(t, store, mutate...)
}

// on returns e with requests going to c instead of e.c.
func (e *env) on(c *Coordinator) *env {
	o := *e
	o.c = c
	return &o
}

// testLease is the group lease of the tests of several coordinators: short,
// so that a paused coordinator's lease runs out quickly.
const testLease = 300 * time.Millisecond

func withLease(c *Config) { c.Lease = testLease }

// pausedStore passes every call to the metastore, except while the test
// pauses it: then lease renewals fail and offset commits wait, as the
// writes of a process that pauses (GC, SIGSTOP, a slow network) after it
// decided to make them; the lease acquisitions of new groups fail too.
type pausedStore struct {
	Store
	mu      sync.Mutex
	paused  chan struct{} // non-nil while paused; closed on resume
	waiting chan struct{} // closed when a commit waits
}

var errPaused = errors.New("paused")

// pause pauses the store; waiting is closed once a commit waits, resume
// lets it through.
func (p *pausedStore) pause() (waiting <-chan struct{}, resume func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = make(chan struct{})
	p.waiting = make(chan struct{})
	paused := p.paused
	return p.waiting, func() {
		p.mu.Lock()
		p.paused = nil
		p.mu.Unlock()
		close(paused)
	}
}

func (p *pausedStore) CommitOffsets(ctx context.Context, lease metastore.GroupLease, offsets []metastore.GroupOffset) error {
	p.mu.Lock()
	paused, waiting := p.paused, p.waiting
	if paused != nil && waiting != nil {
		p.waiting = nil
		close(waiting)
	}
	p.mu.Unlock()
	if paused != nil {
		select {
		case <-paused:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return p.Store.CommitOffsets(ctx, lease, offsets)
}

func (p *pausedStore) AcquireGroupLease(ctx context.Context, group string, node int32, instance uuid.UUID, lease time.Duration) (metastore.GroupLease, error) {
	p.mu.Lock()
	paused := p.paused != nil
	p.mu.Unlock()
	if paused {
		return metastore.GroupLease{}, errPaused
	}
	return p.Store.AcquireGroupLease(ctx, group, node, instance, lease)
}

func (p *pausedStore) RenewGroupLeases(ctx context.Context, instance uuid.UUID, groups []string, lease time.Duration) ([]metastore.GroupLease, error) {
	p.mu.Lock()
	paused := p.paused != nil
	p.mu.Unlock()
	if paused {
		return nil, errPaused
	}
	return p.Store.RenewGroupLeases(ctx, instance, groups, lease)
}

// TestTwoCoordinatorsAtOnce: two nodes whose views of the cluster differ
// both believe they coordinate a group. Only one may run its generations:
// the second answers NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS), so
// that the member asks again where the coordinator is.
func TestTwoCoordinatorsAtOnce(t *testing.T) {
	e := newPostgresEnv(t)
	a := e
	b := e.on(e.coordinator(e.store))

	x, gen := a.joinAlone("g")
	wantCode(t, "X's commit through A", a.commit("g", x, gen, map[string]map[int32]int64{"orders": {0: 10}}), nil)

	// Y is sent to B, which also believes it owns the group.
	resp := b.c.JoinGroup(ctxFor(t), joinReq("g", ""))
	if c := resp.ErrorCode; c != kerr.NotCoordinator.Code && c != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("join through B while A coordinates: %s, want NOT_COORDINATOR", codeName(c))
	}
	wantCode(t, "X's heartbeat through B", b.heartbeat("g", x, gen), kerr.NotCoordinator)
	wantCode(t, "X's heartbeat through A", a.heartbeat("g", x, gen), nil)
	if d := a.describe("g"); d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != x {
		t.Fatalf("A's group: %s with %d members, want Stable with X alone", d.State, len(d.Members))
	}
}

// TestStaleCoordinatorCommitAfterTakeover: coordinator A decides to write
// an offset commit and pauses before the write reaches the metastore, for
// longer than its lease; meanwhile coordinator B takes the group over and
// the member commits a later offset through it. A's write, when it lands,
// must be refused (NOT_COORDINATOR), and the later offset stays committed.
func TestStaleCoordinatorCommitAfterTakeover(t *testing.T) {
	e := newPostgresEnv(t, withLease)
	paused := &pausedStore{Store: e.store}
	a := e.on(e.coordinator(paused))
	b := e.on(e.coordinator(e.store))

	x, gen := a.joinAlone("g")
	wantCode(t, "X's commit through A", a.commit("g", x, gen, map[string]map[int32]int64{"orders": {0: 10}}), nil)

	// A decides to commit 5 for X, and pauses before writing it.
	waiting, resume := paused.pause()
	stale := make(chan int16, 1)
	go func() { stale <- a.commit("g", x, gen, map[string]map[int32]int64{"orders": {0: 5}}) }()
	recv(t, waiting)

	// B takes the group over once A's lease has run out, and X, a member
	// of the generation A ran, commits 20 through it.
	waitFor(t, "B to take the group over", func() bool { return b.heartbeat("g", x, gen) == 0 })
	wantCode(t, "X's commit through B", b.commit("g", x, gen, map[string]map[int32]int64{"orders": {0: 20}}), nil)

	// A's paused write lands now.
	resume()
	if c := recv(t, stale); c != kerr.NotCoordinator.Code {
		t.Errorf("A's stale commit: %s, want NOT_COORDINATOR", codeName(c))
	}
	if got := e.committed("g"); got["orders/0"] != 20 {
		t.Fatalf("committed offset %d, want 20: a deposed coordinator's commit landed", got["orders/0"])
	}
}

// owner is a switchable Config.Owner: the node a test says coordinates
// every group.
type owner struct{ node atomic.Int32 }

func (o *owner) of(node int32) func(string) bool {
	return func(string) bool { return o.node.Load() == node }
}

// twoNodes is coordinators A (node 1) and B (node 2) on one PostgreSQL
// store; A owns the groups until the test moves them.
func twoNodes(t *testing.T, mutate ...func(*Config)) (e, a, b *env, own *owner) {
	t.Helper()
	own = &owner{}
	own.node.Store(1)
	e = newPostgresEnv(t, mutate...)
	node := func(id int32) *env {
		n := *e
		n.cfg.NodeID = id
		n.cfg.Owner = own.of(id)
		n.c = n.coordinator(e.store)
		return &n
	}
	e.c.Close() // the env's own coordinator is not used
	return e, node(1), node(2), own
}

// TestCoordinatorMoveKeepsMembers: the group moves from A to B while its
// two members are Stable. A stops and gives its lease up, and B continues
// the generation: the members'
// heartbeats, SyncGroup and commits succeed with their ids, nobody
// rejoins, and DescribeGroups on B shows the same members.
func TestCoordinatorMoveKeepsMembers(t *testing.T) {
	// A lease far longer than the test: B gets the group because A
	// released it, not because it expired.
	_, a, b, own := twoNodes(t, func(c *Config) { c.Lease = time.Hour })

	// X is a static member, Y a dynamic one.
	xr := recv(t, a.joinAsync(joinReq("g", "", withInstance("host-x"))))
	wantCode(t, "X's join", xr.ErrorCode, nil)
	x := xr.MemberID
	a.syncOK("g", x, xr.Generation, map[string]string{x: "solo"})
	y := a.memberID("g", "client-y")
	yJoin := a.joinAsync(joinReq("g", y))
	a.waitMembers("g", PreparingRebalance, 2)
	xr = recv(t, a.joinAsync(joinReq("g", x, withInstance("host-x"))))
	yr := recv(t, yJoin)
	gen := yr.Generation
	if xr.LeaderID != x {
		t.Fatalf("leader %q, want X", xr.LeaderID)
	}
	plan := map[string]string{x: "orders-0,1", y: "orders-2,3"}
	a.syncOK("g", x, gen, plan)
	a.syncOK("g", y, gen, plan)
	wantCode(t, "Y's commit through A", a.commit("g", y, gen, map[string]map[int32]int64{"orders": {2: 20}}), nil)
	before := a.describe("g")

	// The group moves: A stops, and the views name B.
	own.node.Store(2)
	a.c.Close()
	wantCode(t, "X's heartbeat through A after the move", a.heartbeat("g", x, gen), kerr.NotCoordinator)
	waitFor(t, "B to take the group over", func() bool {
		return staticHeartbeatOn(b, "g", x, "host-x", gen) == 0
	})
	wantCode(t, "Y's heartbeat through B", b.heartbeat("g", y, gen), nil)
	for id, want := range plan {
		r := syncReq("g", id, gen, nil)
		if id == x {
			r.InstanceID = kmsg.StringPtr("host-x")
		}
		s := recv(t, b.syncAsync(r))
		if s.ErrorCode != 0 || string(s.MemberAssignment) != want {
			t.Fatalf("%s's SyncGroup through B: %s %q, want %q", id, codeName(s.ErrorCode), s.MemberAssignment, want)
		}
	}
	wantCode(t, "Y's commit through B", b.commit("g", y, gen, map[string]map[int32]int64{"orders": {2: 21, 3: 30}}), nil)
	after := b.describe("g")
	if after.State != "Stable" || len(after.Members) != 2 {
		t.Fatalf("B's group: %s with %d members, want Stable with 2", after.State, len(after.Members))
	}
	for i, m := range after.Members {
		o := before.Members[i]
		if m.MemberID != o.MemberID || m.ClientID != o.ClientID || m.ClientHost != o.ClientHost ||
			string(m.MemberAssignment) != string(o.MemberAssignment) || string(m.ProtocolMetadata) != string(o.ProtocolMetadata) ||
			!equalStrPtr(m.InstanceID, o.InstanceID) {
			t.Errorf("member %d on B: %+v, on A: %+v", i, m, o)
		}
	}
	if got := a.committed("g"); got["orders/2"] != 21 || got["orders/3"] != 30 {
		t.Fatalf("committed %v", got)
	}
	if v := counterValue(t, b.reg, "strata_groups_takeovers_total", ""); v != 1 {
		t.Errorf("B's takeovers metric %v, want 1", v)
	}
	if v := counterValue(t, b.reg, "strata_groups_rebalances_total", ""); v != 0 {
		t.Errorf("B ran %v rebalances, want none", v)
	}

	// A new member on B rebalances from the generation A ran.
	z := b.memberID("g", "client-z")
	zJoin := b.joinAsync(joinReq("g", z))
	b.waitMembers("g", PreparingRebalance, 3)
	b.joinAsync(joinReq("g", x, withInstance("host-x")))
	b.joinAsync(joinReq("g", y))
	if r := recv(t, zJoin); r.ErrorCode != 0 || r.Generation != gen+1 {
		t.Fatalf("Z's join: %s generation %d, want generation %d", codeName(r.ErrorCode), r.Generation, gen+1)
	}
}

func staticHeartbeatOn(e *env, group, memberID, instance string, generation int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group, r.MemberID, r.Generation, r.InstanceID = group, memberID, generation, kmsg.StringPtr(instance)
	return e.c.Heartbeat(ctxFor(e.t), r).ErrorCode
}

func equalStrPtr(a, b *string) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// TestCoordinatorMoveDuringSync: the group moves after the join phase,
// before the leader's assignments: the new coordinator waits for them as
// the former one would have, and hands them out.
func TestCoordinatorMoveDuringSync(t *testing.T) {
	_, a, b, own := twoNodes(t, func(c *Config) { c.Lease = time.Hour })
	x := a.memberID("g", "x")
	xr := recv(t, a.joinAsync(joinReq("g", x)))
	wantCode(t, "join", xr.ErrorCode, nil)
	a.waitMembers("g", CompletingRebalance, 1)

	own.node.Store(2)
	a.c.Close()
	wantCode(t, "heartbeat through A after the move", a.heartbeat("g", x, xr.Generation), kerr.NotCoordinator)
	waitFor(t, "B to take the group over", func() bool { return b.heartbeat("g", x, xr.Generation) == 0 })
	if d := b.describe("g"); d.State != "CompletingRebalance" {
		t.Fatalf("B's group is %s, want CompletingRebalance", d.State)
	}
	b.syncOK("g", x, xr.Generation, map[string]string{x: "everything"})
	if d := b.describe("g"); d.State != "Stable" || string(d.Members[0].MemberAssignment) != "everything" {
		t.Fatalf("after the sync: %+v", d)
	}
}

// TestStaticReplacementSurvivesMove: a static member that restarts gets a
// new member id without a rebalance; the coordinator taking the group over
// knows the new id, not the fenced one.
func TestStaticReplacementSurvivesMove(t *testing.T) {
	_, a, b, own := twoNodes(t, func(c *Config) { c.Lease = time.Hour })
	r := recv(t, a.joinAsync(joinReq("g", "", withInstance("i-a"))))
	wantCode(t, "static join", r.ErrorCode, nil)
	a.syncOK("g", r.MemberID, r.Generation, map[string]string{r.MemberID: "all"})
	again := recv(t, a.joinAsync(joinReq("g", "", withInstance("i-a"))))
	wantCode(t, "restarted static member", again.ErrorCode, nil)
	if again.MemberID == r.MemberID || again.Generation != r.Generation {
		t.Fatalf("restart: member %q generation %d", again.MemberID, again.Generation)
	}
	own.node.Store(2)
	a.c.Close()
	waitFor(t, "B to take the group over", func() bool {
		return staticHeartbeatOn(b, "g", again.MemberID, "i-a", again.Generation) == 0
	})
	wantCode(t, "the fenced id on B", staticHeartbeatOn(b, "g", r.MemberID, "i-a", r.Generation), kerr.FencedInstanceID)
}

// TestLostLeaseDropsGroup: another coordinator takes A's group behind its
// back (A's lease is released and taken, as after an expiry). A's next
// write is refused: the member gets NOT_COORDINATOR, and A drops the group
// from memory instead of serving it from a stale state.
func TestLostLeaseDropsGroup(t *testing.T) {
	e, a, _, _ := twoNodes(t, func(c *Config) { c.Lease = time.Hour })
	x, gen := a.joinAlone("g")
	a.c.mu.Lock()
	lease := *a.c.groups["g"].held.Load()
	a.c.mu.Unlock()
	if err := e.store.ReleaseGroupLease(ctxFor(t), lease); err != nil {
		t.Fatal(err)
	}
	other, err := e.store.AcquireGroupLease(ctxFor(t), "g", 3, uuid.New(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "commit under a lost lease", a.commit("g", x, gen, map[string]map[int32]int64{"orders": {0: 1}}), kerr.NotCoordinator)
	if got := e.committed("g"); len(got) != 0 {
		t.Fatalf("committed %v under a lost lease", got)
	}
	waitFor(t, "A to drop the group", func() bool {
		a.c.mu.Lock()
		defer a.c.mu.Unlock()
		return a.c.groups["g"] == nil
	})
	if v := counterValue(t, a.reg, "strata_groups_leases_lost_total", "taken"); v != 1 {
		t.Errorf("A's taken-leases metric %v, want 1", v)
	}
	// While the other coordinator holds the lease, A does not serve the
	// group, although its view says it should.
	wantCode(t, "heartbeat while another holds the lease", a.heartbeat("g", x, gen), kerr.NotCoordinator)
	if err := e.store.ReleaseGroupLease(ctxFor(t), other); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "heartbeat once the lease is free", a.heartbeat("g", x, gen), nil)
}

// TestPausedCoordinatorStopsServing: a coordinator whose lease renewals
// fail stops serving the group when the lease ends by its own clock,
// before another coordinator may take it: its members are sent to look
// for the coordinator again instead of being served by a node that can no
// longer write their commits.
func TestPausedCoordinatorStopsServing(t *testing.T) {
	e := newPostgresEnv(t, withLease)
	paused := &pausedStore{Store: e.store}
	a := e.on(e.coordinator(paused))
	x, gen := a.joinAlone("g", withSession(time.Minute))
	_, resume := paused.pause()
	defer resume()
	// The member is told NOT_COORDINATOR, or COORDINATOR_NOT_AVAILABLE
	// once the group has left memory and A cannot take the lease again.
	waitFor(t, "A to stop serving", func() bool { return a.heartbeat("g", x, gen) != 0 })
	if v := counterValue(t, a.reg, "strata_groups_leases_lost_total", "expired"); v != 1 {
		t.Errorf("expired-leases metric %v, want 1", v)
	}
}

// TestRenewalKeepsLease: leases are renewed while the coordinator runs: a
// group stays with A for several leases, and B cannot take it.
func TestRenewalKeepsLease(t *testing.T) {
	e := newPostgresEnv(t, withLease)
	a := e
	b := e.on(e.coordinator(e.store))
	x, gen := a.joinAlone("g", withSession(time.Minute))
	deadline := time.Now().Add(4 * testLease)
	for time.Now().Before(deadline) {
		wantCode(t, "heartbeat through A", a.heartbeat("g", x, gen), nil)
		wantCode(t, "heartbeat through B", b.heartbeat("g", x, gen), kerr.NotCoordinator)
		time.Sleep(testLease / 10) // a member's heartbeat rate, not a synchronisation
	}
}

// TestTakenOverMembersExpire: the members of a group whose coordinator
// moved but who never come back are removed by the new coordinator when
// their sessions end, as by the former one; describing the group loads it.
func TestTakenOverMembersExpire(t *testing.T) {
	_, a, b, own := twoNodes(t, func(c *Config) { c.Lease = time.Hour })
	x, gen := a.joinAlone("g", withSession(300*time.Millisecond))
	own.node.Store(2)
	a.c.Close()
	wantCode(t, "heartbeat through A after the move", a.heartbeat("g", x, gen), kerr.NotCoordinator)
	r := kmsg.NewPtrListGroupsRequest()
	r.Version = 4
	waitFor(t, "B to list the group as its stored generation", func() bool {
		resp := b.c.ListGroups(ctxFor(t), r)
		return len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable"
	})
	waitFor(t, "X's session to end on B", func() bool {
		d := b.describe("g")
		return d.ErrorCode == 0 && d.State == "Empty" && len(d.Members) == 0
	})
	if v := counterValue(t, b.reg, "strata_groups_member_expirations_total", "session"); v != 1 {
		t.Errorf("B's session expirations %v, want 1", v)
	}
}

// TestHolderKeepsGroupWhenTheViewMoves: a coordinator that holds a group's
// lease keeps the group while it is live, even when its view of the
// cluster names another node (a node that came back from a pause, a node
// added). Handing the group over at once let a paused node take its
// groups back the moment it woke, and serve a stale OffsetCommit it had
// read from before its pause: a committed offset went back. The group
// moves when its holder stops or dies.
func TestHolderKeepsGroupWhenTheViewMoves(t *testing.T) {
	e, a, b, own := twoNodes(t, withLease)
	x, gen := a.joinAlone("g", withSession(time.Minute))
	wantCode(t, "commit through A", a.commit("g", x, gen, map[string]map[int32]int64{"orders": {0: 5}}), nil)

	own.node.Store(2) // both views now give the group to B
	moved, _, err := e.store.GroupLeaseHolder(ctxFor(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	// A renewal after the move is where A would hand the group over:
	// wait for A's lease to be renewed past it, or to be gone.
	waitFor(t, "A's lease renewed twice after the move, or released", func() bool {
		h, ok, err := e.store.GroupLeaseHolder(ctxFor(t), "g")
		return err == nil && (!ok || h.ExpiresAt.After(moved.ExpiresAt.Add(testLease/2)))
	})
	wantCode(t, "heartbeat through A after the view moved", a.heartbeat("g", x, gen), nil)
	wantCode(t, "commit through A after the view moved", a.commit("g", x, gen, map[string]map[int32]int64{"orders": {0: 6}}), nil)
	wantCode(t, "heartbeat through B while A holds the group", b.heartbeat("g", x, gen), kerr.NotCoordinator)

	// A stops: the group goes to B, with its member.
	a.c.Close()
	waitFor(t, "B to take the group", func() bool { return b.heartbeat("g", x, gen) == 0 })
	if got := b.committed("g"); got["orders/0"] != 6 {
		t.Fatalf("committed %v, want orders/0 at 6", got)
	}
}
