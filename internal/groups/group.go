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
}

// group is one consumer group. Every field below the channels is owned by
// the group's goroutine (run), except refs, guarded by Coordinator.mu.
type group struct {
	c       *Coordinator
	name    string
	events  chan func(*group)
	written chan writeResult
	stopped chan struct{} // closed when run returns
	refs    int           // senders between lookup and send; guarded by c.mu
	sum     atomic.Pointer[summary]

	state        State
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	pending      map[string]time.Time // member ids handed out with MEMBER_ID_REQUIRED, until when
	static       map[string]string    // instance id -> member id
	seq          uint64
	known        bool  // the metastore has the group (a row, or offsets)
	loadErr      error // loading failed: the group answers COORDINATOR_NOT_AVAILABLE until evicted

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
			return
		}
		g.armTimer()
		select {
		case fn := <-g.events:
			g.lastActive = g.c.now()
			fn(g)
		case res := <-g.written:
			g.finishWrites(res)
		case <-g.timer.C:
			g.tick(g.c.now())
		case <-g.c.stop:
			g.shutdown()
			return
		}
	}
}

// load reads the group's persisted row.
func (g *group) load() {
	g.lastActive = g.c.now()
	ctx, cancel := context.WithTimeout(context.Background(), g.c.cfg.StoreTimeout)
	defer cancel()
	info, err := g.c.store.LoadGroup(ctx, g.name)
	switch {
	case errors.Is(err, metastore.ErrUnknownGroup):
	case err != nil:
		g.c.storeErrorCode("load_group", err)
		g.loadErr = err
	default:
		g.known = true
		g.generation = info.Generation
		g.protocolType = info.ProtocolType
	}
}

// publish updates the summary read by ListGroups.
func (g *group) publish() {
	s := summary{loaded: g.loadErr == nil, state: g.state, protocolType: g.protocolType, visible: g.visible()}
	if *g.sum.Load() != s {
		g.sum.Store(&s)
	}
}

// visible reports whether the group exists for DescribeGroups and
// ListGroups: it has members or the metastore knows it.
func (g *group) visible() bool {
	return g.loadErr == nil && (g.known || len(g.members) > 0)
}

// evictable reports whether the group holds nothing that is not in the
// metastore and has been idle long enough; at once when the group does not
// exist, or when its load failed (the next request loads it again).
func (g *group) evictable() bool {
	if g.writing || len(g.queue) > 0 || len(g.members) > 0 || len(g.pending) > 0 || g.state != Empty {
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
		if j.after != nil {
			j.after(res.errs[i])
		}
	}
	if len(g.queue) > 0 {
		g.startWrites()
	}
}

// save persists the group's row; a failure is logged only: the row is
// informational and rewritten at the next generation.
func (g *group) save() {
	info := metastore.GroupInfo{
		Name: g.name, ProtocolType: g.protocolType, Protocol: g.protocol,
		Generation: g.generation, State: g.state.String(),
	}
	g.enqueue(job{
		run: func(ctx context.Context) error { return g.c.store.SaveGroup(ctx, info) },
		after: func(err error) {
			if err == nil {
				g.known = true
			} else {
				g.c.storeErrorCode("save_group", err)
			}
		},
	})
}
