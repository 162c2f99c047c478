package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/metastore"
)

// ErrNodeIDInUse is returned by Start when another live process holds
// this node's id. It wraps metastore.ErrNodeIDInUse.
var ErrNodeIDInUse = metastore.ErrNodeIDInUse

// Member is this process's membership in the cluster: it registers the
// node and heartbeats, keeps the View fresh, and, on nodes with the
// controller role, competes for the controller lease and balances the
// partition leaders while it holds it.
//
// Goroutines: one heartbeats, one refreshes the view, and on controller
// nodes one runs controller passes. Controller passes also run in Start
// and Stop, when those goroutines are not running; the controller state
// (term, renewal time) is only touched by whichever runs them.
type Member struct {
	cfg      Config
	self     Node
	instance uuid.UUID
	store    metastore.ClusterStore
	logger   *slog.Logger
	m        *metrics
	view     *View

	wakeController chan struct{}
	wakeRefresh    chan struct{}
	isController   atomic.Bool

	// leaseUntil is when, by this node's clock, the controller lease it
	// last renewed ends (UnixNano); the metastore's end is later, as it
	// counts from when the renewal reached it.
	leaseUntil atomic.Int64
	// Owned by the goroutine running controller passes.
	term int64

	mu      sync.Mutex
	state   int // 0 new, 1 started, 2 stopped
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	done    chan struct{}
	failErr error
}

// New returns a member for node self over store. Nothing happens until
// Start. reg may be nil.
func New(cfg Config, self Node, store metastore.ClusterStore, logger *slog.Logger, reg prometheus.Registerer) (*Member, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := self.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if store == nil {
		return nil, errors.New("cluster: no metastore")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	instance := uuid.New()
	return &Member{
		cfg:            cfg,
		self:           self,
		instance:       instance,
		store:          store,
		logger:         logger.With("component", "cluster", "node", self.ID),
		m:              m,
		view:           newView(self),
		wakeController: make(chan struct{}, 1),
		wakeRefresh:    make(chan struct{}, 1),
		done:           make(chan struct{}),
	}, nil
}

// View returns the node's view of the cluster. It is filled by Start.
func (m *Member) View() *View { return m.view }

// Self returns this node.
func (m *Member) Self() Node { return m.self }

// Instance returns this process's random instance id.
func (m *Member) Instance() uuid.UUID { return m.instance }

// IsController reports whether this node holds the controller lease. It
// turns false as soon as the lease may have run out, before any other
// node can take it.
func (m *Member) IsController() bool {
	return m.isController.Load() && time.Now().UnixNano() < m.leaseUntil.Load()
}

// Done is closed when the membership is lost for good: the node's lease
// ran out and another process registered the same id. Err says why. The
// process should then stop.
func (m *Member) Done() <-chan struct{} { return m.done }

// Err returns why Done was closed, or nil.
func (m *Member) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failErr
}

func (m *Member) info() metastore.NodeInfo {
	return metastore.NodeInfo{
		ID: m.self.ID, Instance: m.instance, Host: m.self.Host, Port: m.self.Port,
		Rack: m.self.Rack, Roles: m.self.Roles.Names(), Listeners: FormatListeners(m.self.Listeners),
	}
}

// Start registers the node, loads the view, runs a first controller pass
// on controller nodes, and starts the background loops. It fails, wrapping
// ErrNodeIDInUse, when a live process holds the node id.
func (m *Member) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.state != 0 {
		m.mu.Unlock()
		return errors.New("cluster: member already started")
	}
	m.state = 1
	m.mu.Unlock()

	if err := m.register(ctx); err != nil {
		return err
	}
	m.logger.Info("registered", "addr", m.self.Addr(), "rack", m.self.Rack, "roles", m.self.Roles.String(), "instance", m.instance)
	if m.self.Roles.Has(RoleController) {
		m.controllerPass(ctx)
	}
	if _, err := m.view.refresh(ctx, m.store); err != nil {
		err = fmt.Errorf("cluster: load cluster state: %w", err)
		return errors.Join(err, m.leave(context.WithoutCancel(ctx)))
	}
	m.m.liveNodes.Set(float64(len(m.view.snap.Load().nodes)))

	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.mu.Lock()
	m.cancel = cancel
	m.mu.Unlock()
	m.wg.Add(2)
	go m.heartbeatLoop(loopCtx)
	go m.refreshLoop(loopCtx)
	if m.self.Roles.Has(RoleController) {
		m.wg.Add(1)
		go m.controllerLoop(loopCtx)
	}
	return nil
}

// register registers the node, waiting up to RegisterWait for a live
// holder of the id to go away.
func (m *Member) register(ctx context.Context) error {
	deadline := time.Now().Add(m.cfg.RegisterWait)
	logged := false
	for {
		err := m.store.RegisterNode(ctx, m.info(), m.cfg.Lease)
		if err == nil {
			return nil
		}
		if !errors.Is(err, metastore.ErrNodeIDInUse) {
			return fmt.Errorf("cluster: register node %d: %w", m.self.ID, err)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return fmt.Errorf("cluster: node id %d is in use by another live process (give each process its own id): %w", m.self.ID, err)
		}
		if !logged {
			m.logger.Info("node id held by a live process; waiting for its lease to end", "err", err, "wait", wait.Round(time.Millisecond))
			logged = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: register node %d: %w (%w)", m.self.ID, ctx.Err(), err)
		case <-time.After(min(wait, m.cfg.Lease/10)):
		}
	}
}

// Stop stops the loops and leaves the cluster: it removes the node from the
// registry and, when it is the controller, moves the node's partitions to
// the remaining nodes before giving the lease up, so that leaders move at
// once. It is safe to call more than once and after a failed Start.
func (m *Member) Stop(ctx context.Context) error {
	m.mu.Lock()
	if m.state != 1 {
		m.mu.Unlock()
		return nil
	}
	m.state = 2
	cancel := m.cancel
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	m.wg.Wait()
	return m.leave(ctx)
}

func (m *Member) leave(ctx context.Context) error {
	var errs []error
	if err := m.store.DeregisterNode(ctx, m.self.ID, m.instance); err != nil {
		errs = append(errs, fmt.Errorf("cluster: deregister: %w", err))
	}
	if m.isController.Load() {
		m.controllerPass(ctx) // this node is gone from the registry: its leaders move
		if err := m.store.ReleaseController(ctx, m.instance); err != nil {
			errs = append(errs, fmt.Errorf("cluster: release controller lease: %w", err))
		}
		m.setController(false, 0, "stopping")
	}
	m.logger.Info("left the cluster")
	return errors.Join(errs...)
}

// fail ends the membership: the id was taken over.
func (m *Member) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failErr != nil {
		return
	}
	m.failErr = err
	close(m.done)
	if m.cancel != nil {
		m.cancel()
	}
	m.logger.Error("lost cluster membership", "err", err)
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (m *Member) heartbeatLoop(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.heartbeatInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.heartbeat(ctx); err != nil {
			m.fail(err)
			return
		}
	}
}

// heartbeat extends the node's lease. It returns an error only when the
// membership is lost for good.
func (m *Member) heartbeat(ctx context.Context) error {
	opCtx, cancel := context.WithTimeout(ctx, m.cfg.Lease)
	defer cancel()
	err := m.store.HeartbeatNode(opCtx, m.self.ID, m.instance, m.cfg.Lease)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, metastore.ErrNodeNotRegistered):
		// The row is gone, or another process took the id after our
		// lease ran out. Registering again tells the two apart.
		rerr := m.store.RegisterNode(opCtx, m.info(), m.cfg.Lease)
		if errors.Is(rerr, metastore.ErrNodeIDInUse) {
			return fmt.Errorf("cluster: node id %d taken over by another process: %w", m.self.ID, rerr)
		}
		if rerr != nil {
			m.m.heartbeatErrors.Inc()
			m.logger.Warn("registering again failed", "err", rerr)
			return nil
		}
		m.logger.Warn("registration was lost; registered again")
		wake(m.wakeRefresh)
		return nil
	default:
		if ctx.Err() == nil {
			m.m.heartbeatErrors.Inc()
			m.logger.Warn("heartbeat failed", "err", err)
		}
		return nil
	}
}

func (m *Member) refreshLoop(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.wakeRefresh:
		}
		opCtx, cancel := context.WithTimeout(ctx, m.cfg.Lease)
		changed, err := m.view.refresh(opCtx, m.store)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				m.m.refreshErrors.Inc()
				m.logger.Warn("cluster state poll failed", "err", err)
			}
			continue
		}
		nodes := m.view.snap.Load().nodes
		m.m.liveNodes.Set(float64(len(nodes)))
		if changed {
			ids := make([]int32, len(nodes))
			for i, n := range nodes {
				ids[i] = n.ID
			}
			m.logger.Info("live nodes changed", "nodes", ids)
			wake(m.wakeController)
		}
	}
}

func (m *Member) controllerLoop(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.ControllerInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.wakeController:
		}
		m.controllerPass(ctx)
	}
}

func (m *Member) setController(on bool, term int64, why string) {
	was := m.isController.Swap(on)
	switch {
	case on && !was:
		m.m.isController.Set(1)
		m.logger.Info("became controller", "term", term)
	case on && term != m.term:
		m.logger.Info("controller term changed", "term", term)
	case !on && was:
		m.m.isController.Set(0)
		m.logger.Warn("no longer controller", "reason", why)
	}
	m.term = term
}

// controllerPass renews (or takes) the controller lease and, while held,
// balances the partition leaders.
func (m *Member) controllerPass(ctx context.Context) {
	start := time.Now()
	defer func() { m.m.controllerPass.Observe(time.Since(start).Seconds()) }()
	opCtx, cancel := context.WithTimeout(ctx, m.cfg.Lease)
	defer cancel()
	term, err := m.store.AcquireController(opCtx, m.self.ID, m.instance, m.cfg.Lease)
	switch {
	case errors.Is(err, metastore.ErrNotController):
		m.setController(false, 0, "lease held by another node")
		return
	case err != nil:
		if ctx.Err() != nil {
			return
		}
		m.logger.Warn("controller lease renewal failed", "err", err)
		if m.isController.Load() && time.Now().UnixNano() >= m.leaseUntil.Load() {
			m.setController(false, 0, "lease not renewed in time")
		}
		return
	}
	m.leaseUntil.Store(start.Add(m.cfg.Lease).UnixNano())
	m.setController(true, term, "")
	if err := m.balance(opCtx, term); err != nil && ctx.Err() == nil {
		if errors.Is(err, metastore.ErrNotController) {
			m.setController(false, 0, "lease lost while moving leaders")
			return
		}
		m.logger.Warn("balancing partition leaders failed", "err", err)
	}
}

// maxMovesPerPass bounds the leader moves of one controller pass.
const maxMovesPerPass = 10_000

// balance moves partition leaders so that the live ingest nodes lead
// equal shares, at most maxMovesPerPass of them per pass.
func (m *Member) balance(ctx context.Context, term int64) error {
	st, err := m.store.ClusterState(ctx)
	if err != nil {
		return err
	}
	var ids []int32
	for _, n := range st.Nodes {
		if rolesFromNames(n.Roles).Has(RoleIngest) {
			ids = append(ids, n.ID)
		}
	}
	leaders, err := m.store.PartitionLeaders(ctx)
	if err != nil {
		return err
	}
	moves := planLeaders(leaders, ids)
	if len(moves) == 0 {
		return nil
	}
	// One transaction locks every partition it moves, and the pass's
	// deadline bounds it: a new cluster of 100,000 partitions moved all at
	// once timed out pass after pass on a loaded database, and held the
	// commits of those partitions while it tried. The next pass plans again
	// from what this one moved.
	if len(moves) > maxMovesPerPass {
		moves = moves[:maxMovesPerPass]
	}
	applied, err := m.store.MoveLeaders(ctx, m.instance, term, moves)
	if err != nil {
		return err
	}
	m.m.leaderMoves.Add(float64(len(applied)))
	if len(applied) > 0 {
		m.logger.Info("moved partition leaders", "moves", len(applied), "planned", len(moves),
			"partitions", len(leaders), "nodes", ids, "term", term)
		wake(m.wakeRefresh)
	}
	return nil
}
