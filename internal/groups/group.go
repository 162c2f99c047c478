package groups

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// State is a group's state, as Kafka names it.
type State int8

// Group states. A group is Empty without members; a member joining moves it
// to PreparingRebalance, where it waits for every member to (re)join; then
// CompletingRebalance, where it waits for the leader's assignments; then
// Stable. Dead is a group being deleted.
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	case Dead:
		return "Dead"
	}
	return "Unknown"
}

// member is one member of a group.
type member struct {
	id               string
	instanceID       *string
	client           Client
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol // the member's, in preference order; bytes owned
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	assignment       []byte
	seq              uint64    // join order: member order in responses and the leader choice
	deadline         time.Time // end of the session, when not waiting in JoinGroup or SyncGroup
	join             *joinWaiter
	sync             *syncWaiter
}

type joinWaiter struct {
	req   *kmsg.JoinGroupRequest
	reply chan<- *kmsg.JoinGroupResponse
}

type syncWaiter struct {
	req   *kmsg.SyncGroupRequest
	reply chan<- *kmsg.SyncGroupResponse
}

// job is a metastore write of a group. run executes on the writer
// goroutine; after, with run's error, back on the group's goroutine.
type job struct {
	run   func(ctx context.Context) error
	after func(err error)
}

type writeResult struct {
	jobs []job
	errs []error
}

// summary is what ListGroups needs of a group without asking its goroutine.
type summary struct {
	loaded       bool // false when loading the group failed
	state        State
	protocolType string
	visible      bool
	// consumerState is the state of a consumer-protocol group ("Stable",
	// ...); "" for a classic group.
	consumerState string
}

// group is one consumer group. Every field below the channels is owned by
// the group's goroutine (run), except refs, guarded by Coordinator.mu, and
// the atomics, which the lease renewal reads and writes.
type group struct {
	c       *Coordinator
	name    string
	events  chan func(*group)
	written chan writeResult
	stopped chan struct{} // closed when run returns
	refs    int           // senders between lookup and send; guarded by c.mu
	sum     atomic.Pointer[summary]
	// held is the group's lease once acquired, until released. Its epoch
	// does not change: a group in memory holds one lease, and a group that
	// loses it leaves memory.
	held atomic.Pointer[metastore.GroupLease]
	// leaseUntil is when the lease ends by this node's clock (UnixNano),
	// counted from when the last acquisition or renewal was sent: the
	// metastore's end is later. Past it the group stops serving.
	leaseUntil atomic.Int64

	// lease is *held, for the writes; the zero lease before acquisition.
	lease metastore.GroupLease
	// gone: the group lost its lease, gave it up, or could not take it;
	// every request is answered NOT_COORDINATOR until it leaves memory.
	gone bool
	// assigning: the leader's assignments of the current generation are
	// being saved; the members' SyncGroup responses wait for the save.
	assigning bool

	state        State
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	pending      map[string]time.Time // member ids handed out with MEMBER_ID_REQUIRED, until when
	static       map[string]string    // instance id -> member id
	seq          uint64
	cg           *consumerGroup // consumer-protocol (KIP-848) state; nil for a classic group
	known        bool           // the metastore has the group (a row, or offsets)
	loadErr      error          // loading failed: the group answers COORDINATOR_NOT_AVAILABLE until evicted

	rebalanceDeadline time.Time       // PreparingRebalance: members not rejoined by then are out
	delayUntil        time.Time       // PreparingRebalance of an empty group: initial delay
	syncDeadline      time.Time       // CompletingRebalance: members not synced by then are out
	awaitingSync      map[string]bool // CompletingRebalance: members that have not sent SyncGroup

	queue      []job
	writing    bool
	lastActive time.Time
	timer      *time.Timer
}

func newGroup(c *Coordinator, name string) *group {
	g := &group{
		c:       c,
		name:    name,
		events:  make(chan func(*group), 64),
		written: make(chan writeResult, 1),
		stopped: make(chan struct{}),
		members: make(map[string]*member),
		pending: make(map[string]time.Time),
		static:  make(map[string]string),
	}
	g.sum.Store(&summary{})
	return g
}

// run is the group's goroutine.
func (g *group) run() {
	defer g.c.wg.Done()
	defer close(g.stopped)
	g.load()
	g.timer = time.NewTimer(time.Hour)
	defer g.timer.Stop()
	for {
		g.publish()
		if g.evictable() && g.tryEvict() {
			g.release()
			return
		}
		g.armTimer()
		select {
		case fn := <-g.events:
			g.lastActive = g.c.now()
			g.checkLease()
			fn(g)
		case res := <-g.written:
			g.finishWrites(res)
		case <-g.timer.C:
			g.checkLease()
			g.tick(g.c.now())
		case <-g.c.stop:
			g.shutdown()
			return
		}
	}
}

// load takes the group's lease and reads the group's persisted row: the
// members of its current generation continue with this coordinator.
func (g *group) load() {
	c := g.c
	g.lastActive = c.now()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.StoreTimeout)
	defer cancel()
	sent := time.Now()
	lease, err := c.store.AcquireGroupLease(ctx, g.name, c.cfg.NodeID, c.instance, c.cfg.Lease)
	switch {
	case errors.Is(err, metastore.ErrNotGroupCoordinator):
		// Another node's view gives it the group, or it has not noticed
		// yet that it lost it: the client asks again where to go.
		c.m.refused.Inc()
		c.log.Debug("group held by another coordinator", "group", g.name, "err", err)
		g.gone = true
		return
	case err != nil:
		c.storeErrorCode("acquire_group_lease", err)
		g.loadErr = err
		return
	}
	g.lease = lease
	g.leaseUntil.Store(sent.Add(c.cfg.Lease).UnixNano())
	g.held.Store(&lease)
	info, err := c.store.LoadGroup(ctx, g.name)
	switch {
	case errors.Is(err, metastore.ErrUnknownGroup):
	case err != nil:
		c.storeErrorCode("load_group", err)
		g.loadErr = err
	default:
		g.restore(info)
	}
	if g.loadErr == nil {
		g.loadConsumer(ctx)
	}
}

// restore sets the group up from its persisted row. The members of a
// stored generation are members again, with their ids, protocols and
// assignments, and their session timers start now: their heartbeats,
// commits and SyncGroup succeed as with the former coordinator.
func (g *group) restore(info metastore.GroupInfo) {
	g.known = true
	g.generation = info.Generation
	g.protocolType = info.ProtocolType
	if len(info.Members) == 0 {
		return
	}
	now := g.c.now()
	g.protocol = info.Protocol
	for _, sm := range info.Members {
		if sm.ID == "" || g.members[sm.ID] != nil {
			continue
		}
		g.seq++
		m := &member{
			id:               sm.ID,
			instanceID:       cloneString(sm.InstanceID),
			client:           Client{ID: sm.ClientID, Host: sm.ClientHost},
			protocolType:     info.ProtocolType,
			sessionTimeout:   sm.SessionTimeout,
			rebalanceTimeout: sm.RebalanceTimeout,
			assignment:       sm.Assignment,
			seq:              g.seq,
			deadline:         now.Add(sm.SessionTimeout),
		}
		for _, p := range sm.Protocols {
			m.protocols = append(m.protocols, kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: p.Metadata})
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	if g.members[info.Leader] != nil {
		g.leader = info.Leader
	}
	g.c.m.members.Add(float64(len(g.members)))
	if info.State == CompletingRebalance.String() {
		// The leader's assignments were not saved: the members' SyncGroup
		// waits for the leader's, as with the former coordinator.
		g.state = CompletingRebalance
		g.syncDeadline = now.Add(g.maxRebalanceTimeout())
		g.awaitingSync = make(map[string]bool, len(g.members))
		for id := range g.members {
			g.awaitingSync[id] = true
		}
	} else {
		g.state = Stable
	}
	g.c.m.takeovers.Inc()
	g.c.log.Info("group taken over", "group", g.name, "generation", g.generation, "state", g.state,
		"members", len(g.members), "lease_epoch", g.lease.Epoch)
}

// info is what the metastore keeps of the group.
func (g *group) info() metastore.GroupInfo {
	info := metastore.GroupInfo{
		Name: g.name, ProtocolType: g.protocolType, Protocol: g.protocol,
		Generation: g.generation, State: g.state.String(), Leader: g.leader,
	}
	for _, m := range g.sortedMembers() {
		sm := metastore.GroupMember{
			ID: m.id, InstanceID: cloneString(m.instanceID), ClientID: m.client.ID, ClientHost: m.client.Host,
			SessionTimeout: m.sessionTimeout, RebalanceTimeout: m.rebalanceTimeout,
			Assignment: m.assignment,
		}
		// The bytes are shared: members replace them, never change them.
		for _, p := range m.protocols {
			sm.Protocols = append(sm.Protocols, metastore.GroupProtocol{Name: p.Name, Metadata: p.Metadata})
		}
		info.Members = append(info.Members, sm)
	}
	return info
}

// tell runs fn on the group's goroutine unless its queue is full, without
// waiting: for the coordinator's own notices (a lost lease, a move), which
// the group's lease check would otherwise act on a little later.
func (g *group) tell(fn func(*group)) {
	select {
	case g.events <- fn:
	default:
	}
}

// extendLease moves the end of the lease, by this node's clock, to until
// (UnixNano), if that is later.
func (g *group) extendLease(until int64) {
	for {
		old := g.leaseUntil.Load()
		if until <= old || g.leaseUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// checkLease stops the group when its lease has ended by this node's
// clock: after a pause of the process, or when renewals failed for a whole
// lease. Another coordinator may have the group by now.
func (g *group) checkLease() {
	if g.held.Load() != nil && !g.gone && time.Now().UnixNano() >= g.leaseUntil.Load() {
		g.relinquish("expired")
	}
}

// relinquish stops serving the group: its waiting requests and every later
// one are answered NOT_COORDINATOR, so that the members look for the
// coordinator again, and the group leaves memory once its queued writes
// are done. The lease is released then (release), so that the next
// coordinator can take the group at once. why is "expired" or "taken"
// (or, in tests, "moved").
func (g *group) relinquish(why string) {
	if g.gone {
		return
	}
	g.gone = true
	for _, m := range g.members {
		g.failWaiters(m, -1)
	}
	clear(g.pending)
	g.c.m.lost.WithLabelValues(why).Inc()
	g.c.log.Info("group no longer coordinated here", "group", g.name, "reason", why,
		"generation", g.generation, "members", len(g.members), "lease_epoch", g.lease.Epoch)
}

// release gives the group's lease up as the group leaves memory. Only this
// lease epoch is released: a newer one, taken since by a new group in
// memory, stays.
func (g *group) release() {
	l := g.held.Swap(nil)
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.c.cfg.StoreTimeout)
	defer cancel()
	if err := g.c.store.ReleaseGroupLease(ctx, *l); err != nil {
		// It expires by itself within a lease.
		g.c.log.Warn("releasing a group lease failed", "group", g.name, "err", err)
	}
}

// publish updates the summary read by ListGroups.
func (g *group) publish() {
	s := summary{loaded: g.loadErr == nil && !g.gone, state: g.state, protocolType: g.protocolType, visible: g.visible()}
	if g.cg != nil {
		s.consumerState, s.protocolType = g.cg.state(), "consumer"
	}
	if *g.sum.Load() != s {
		g.sum.Store(&s)
	}
}

// visible reports whether the group exists for DescribeGroups and
// ListGroups: it has members or the metastore knows it.
func (g *group) visible() bool {
	return g.loadErr == nil && (g.known || len(g.members) > 0 || g.consumerBusy())
}

// evictable reports whether the group holds nothing that is not in the
// metastore and has been idle long enough; at once when the group does not
// exist, when its load failed (the next request loads it again), or when
// it no longer has its lease, once its writes are done.
func (g *group) evictable() bool {
	if g.writing || len(g.queue) > 0 {
		return false
	}
	if g.gone {
		return true
	}
	if len(g.members) > 0 || len(g.pending) > 0 || g.state != Empty || g.consumerBusy() {
		return false
	}
	return g.loadErr != nil || !g.known || !g.c.now().Before(g.lastActive.Add(g.c.idleTimeout))
}

// tryEvict removes the group from the coordinator unless a request for it is
// on its way.
func (g *group) tryEvict() bool {
	c := g.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if g.refs > 0 || len(g.events) > 0 || c.groups[g.name] != g {
		return false
	}
	delete(c.groups, g.name)
	c.m.groups.Dec()
	c.m.members.Sub(float64(len(g.members)))
	return true
}

// shutdown answers the requests waiting on the group and waits for its
// writes, when the coordinator closes.
func (g *group) shutdown() {
	for _, m := range g.members {
		g.failWaiters(m, -1)
	}
	for g.writing {
		g.finishWrites(<-g.written)
	}
	// Requests queued behind the stop are answered by their callers,
	// which see the group stopped.
	g.c.m.members.Sub(float64(len(g.members)))
	g.c.mu.Lock()
	if g.c.groups[g.name] == g {
		delete(g.c.groups, g.name)
		g.c.m.groups.Dec()
	}
	g.c.mu.Unlock()
}

// armTimer sets the timer to the group's next deadline.
func (g *group) armTimer() {
	next := g.nextDeadline()
	if next.IsZero() {
		g.timer.Stop()
		return
	}
	g.timer.Reset(max(next.Sub(g.c.now()), 0))
}

// nextDeadline is the earliest time at which tick has something to do.
func (g *group) nextDeadline() time.Time {
	var next time.Time
	at := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, dl := range g.pending {
		at(dl)
	}
	for _, m := range g.members {
		if m.join == nil && m.sync == nil {
			at(m.deadline)
		}
	}
	at(g.consumerDeadline())
	switch g.state {
	case PreparingRebalance:
		at(g.rebalanceDeadline)
		at(g.delayUntil)
	case CompletingRebalance:
		at(g.syncDeadline)
	case Empty:
		if !g.writing && len(g.members) == 0 && len(g.pending) == 0 {
			at(g.lastActive.Add(g.c.idleTimeout))
		}
	}
	if g.held.Load() != nil && !g.gone {
		at(g.c.now().Add(time.Until(time.Unix(0, g.leaseUntil.Load()))))
	}
	return next
}

// enqueue adds a metastore write; writes run one after the other, in order.
func (g *group) enqueue(j job) {
	g.queue = append(g.queue, j)
	if !g.writing {
		g.startWrites()
	}
}

func (g *group) startWrites() {
	jobs := g.queue
	g.queue = nil
	g.writing = true
	g.c.wg.Add(1)
	go func() {
		defer g.c.wg.Done()
		errs := make([]error, len(jobs))
		for i, j := range jobs {
			ctx, cancel := context.WithTimeout(context.Background(), g.c.cfg.StoreTimeout)
			errs[i] = j.run(ctx)
			cancel()
		}
		g.written <- writeResult{jobs, errs}
	}()
}

func (g *group) finishWrites(res writeResult) {
	g.writing = false
	for i, j := range res.jobs {
		if errors.Is(res.errs[i], metastore.ErrNotGroupCoordinator) {
			// Another coordinator has the group: nothing of this one's
			// state may be written any more.
			g.relinquish("taken")
		}
		if j.after != nil {
			j.after(res.errs[i])
		}
	}
	if len(g.queue) > 0 {
		g.startWrites()
	}
}

// save persists the group's row with its members; a failure is logged
// only: the next generation writes the row again.
func (g *group) save() {
	g.saveInfo(g.info(), nil)
}

// saveInfo persists info, then calls then (if not nil) with the error.
func (g *group) saveInfo(info metastore.GroupInfo, then func(err error)) {
	lease := g.lease
	g.enqueue(job{
		run: func(ctx context.Context) error { return g.c.store.SaveGroup(ctx, lease, info) },
		after: func(err error) {
			if err == nil {
				g.known = true
			} else {
				g.c.storeErrorCode("save_group", err)
			}
			if then != nil {
				then(err)
			}
		},
	})
}
