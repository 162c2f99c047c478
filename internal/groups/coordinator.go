package groups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
)

// Store is the part of the metastore the coordinator uses.
type Store interface {
	AcquireGroupLease(ctx context.Context, group string, nodeID int32, instance uuid.UUID, lease time.Duration) (metastore.GroupLease, error)
	RenewGroupLeases(ctx context.Context, instance uuid.UUID, groups []string, lease time.Duration) ([]metastore.GroupLease, error)
	ReleaseGroupLease(ctx context.Context, lease metastore.GroupLease) error
	ReleaseGroupLeases(ctx context.Context, instance uuid.UUID) error
	CommitOffsets(ctx context.Context, lease metastore.GroupLease, offsets []metastore.GroupOffset) error
	FetchOffsets(ctx context.Context, group string, topics []string) ([]metastore.GroupOffset, error)
	DeleteOffsets(ctx context.Context, lease metastore.GroupLease, partitions []metastore.TopicPartition) error
	SaveGroup(ctx context.Context, lease metastore.GroupLease, g metastore.GroupInfo) error
	LoadGroup(ctx context.Context, name string) (metastore.GroupInfo, error)
	ListGroups(ctx context.Context) ([]metastore.GroupInfo, error)
	DeleteGroup(ctx context.Context, lease metastore.GroupLease) error
	metastore.ConsumerGroupStore
}

// TopicLookup resolves topics named in offset requests, to refuse offsets of
// unknown topics and partitions. metastore.Store implements it.
type TopicLookup interface {
	TopicByName(ctx context.Context, name string) (metastore.Topic, error)
	TopicByID(ctx context.Context, id uuid.UUID) (metastore.Topic, error)
}

// errClosed means the coordinator was closed: requests are answered
// NOT_COORDINATOR so that clients look for the group's coordinator again.
var errClosed = errors.New("groups: coordinator closed")

// defaultIdleTimeout is how long an empty group stays in memory after its
// last request; everything it needs is in the metastore.
const defaultIdleTimeout = 5 * time.Minute

// Coordinator coordinates consumer groups. It is safe for concurrent use.
type Coordinator struct {
	cfg      Config
	store    Store
	topics   TopicLookup
	log      *slog.Logger
	m        *metrics
	instance uuid.UUID

	cfgCG    cgConfig   // consumer-protocol groups' settings
	cgTopics topicCache // the topics, for consumer-protocol groups

	now         func() time.Time
	idleTimeout time.Duration

	stop chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu     sync.Mutex
	groups map[string]*group
	closed bool
}

// New returns a coordinator. logger and reg may be nil.
func New(cfg Config, store Store, topics TopicLookup, logger *slog.Logger, reg prometheus.Registerer) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || topics == nil {
		return nil, errors.New("groups: a store and a topic lookup are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	instance := cfg.Instance
	if instance == (uuid.UUID{}) {
		instance = uuid.New()
	}
	c := &Coordinator{
		cfg:         cfg,
		store:       store,
		topics:      topics,
		log:         logger.With("component", "groups"),
		m:           m,
		instance:    instance,
		now:         time.Now,
		idleTimeout: defaultIdleTimeout,
		stop:        make(chan struct{}),
		groups:      make(map[string]*group),
	}
	c.cfgCG = c.cgConfig()
	c.wg.Add(1)
	go c.renewLoop()
	return c, nil
}

// Close stops every group. Requests still waiting (a JoinGroup during a
// rebalance, ...) and later ones are answered NOT_COORDINATOR; writes in
// progress finish first. Then the group leases are released, so that the
// nodes that coordinate the groups next take them at once. The error is
// the release's: the leases then run out by themselves within a lease.
// Calls after the first return nil.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.stop)
	c.mu.Unlock()
	c.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.StoreTimeout)
	defer cancel()
	if err := c.store.ReleaseGroupLeases(ctx, c.instance); err != nil {
		return fmt.Errorf("groups: release the group leases: %w", err)
	}
	return nil
}

// owns reports whether this node coordinates the group: it holds the
// group's lease, or its view of the cluster gives it the group. A holder
// keeps its group while it is live, whatever the view says (a node back
// from a pause, a node added): the group moves only when its holder stops,
// dies or lets it go idle. Handing it over when the view moved let a node
// take its groups back the moment it woke from a pause, and then serve
// requests read from before the pause, such as an OffsetCommit its client
// had long retried elsewhere: a committed offset went back. FindCoordinator
// names the holder (see internal/kafka).
func (c *Coordinator) owns(name string) bool {
	if c.cfg.Owner == nil || c.cfg.Owner(name) {
		return true
	}
	c.mu.Lock()
	g := c.groups[name]
	c.mu.Unlock()
	return g != nil && g.held.Load() != nil
}

// renewLoop renews the leases of the groups in memory, all in one
// metastore statement, every third of the lease.
func (c *Coordinator) renewLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.renew()
		}
	}
}

// renew renews the leases held by the groups in memory. A group whose
// lease was not renewed (it expired, or another coordinator took it) stops
// serving at once; one whose lease keeps failing to renew stops when it
// ends by this node's clock.
func (c *Coordinator) renew() {
	c.mu.Lock()
	held := make(map[string]*group, len(c.groups))
	for name, g := range c.groups {
		if l := g.held.Load(); l != nil {
			held[name] = g
		}
	}
	c.mu.Unlock()
	if len(held) == 0 {
		return
	}
	names := make([]string, 0, len(held))
	for name := range held {
		names = append(names, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.StoreTimeout, c.cfg.Lease/3))
	defer cancel()
	sent := time.Now()
	leases, err := c.store.RenewGroupLeases(ctx, c.instance, names, c.cfg.Lease)
	if err != nil {
		c.m.storeErrors.WithLabelValues("renew_group_leases").Inc()
		c.log.Warn("renewing the group leases failed", "groups", len(names), "err", err)
		return
	}
	renewed := make(map[string]int64, len(leases))
	for _, l := range leases {
		renewed[l.Group] = l.Epoch
	}
	until := sent.Add(c.cfg.Lease).UnixNano()
	for name, g := range held {
		l := g.held.Load()
		if l == nil {
			continue // released meanwhile
		}
		if epoch, ok := renewed[name]; ok && epoch == l.Epoch {
			g.extendLease(until)
		} else {
			g.tell(func(g *group) { g.relinquish("taken") })
		}
	}
}

// do runs fn on the group's goroutine and returns the group. With create
// false it does nothing and returns nil when the group is not in memory.
// fn must not block.
func (c *Coordinator) do(ctx context.Context, name string, create bool, fn func(g *group)) (*group, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	g := c.groups[name]
	if g == nil {
		if !create {
			c.mu.Unlock()
			return nil, nil
		}
		g = newGroup(c, name)
		c.groups[name] = g
		c.wg.Add(1)
		c.m.groups.Inc()
		go g.run()
	}
	// refs keeps the group from being evicted between here and the send.
	g.refs++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		g.refs--
		c.mu.Unlock()
	}()
	select {
	case g.events <- fn:
		return g, nil
	case <-g.stopped:
		return nil, errClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// await waits for a reply from g.
func await[T any](ctx context.Context, g *group, reply <-chan T) (T, error) {
	select {
	case r := <-reply:
		return r, nil
	case <-g.stopped:
		// The group may have answered just before stopping.
		select {
		case r := <-reply:
			return r, nil
		default:
		}
		var zero T
		return zero, errClosed
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// call runs fn on the group's goroutine and waits for the value it sends on
// the reply channel it is given.
func call[T any](ctx context.Context, c *Coordinator, name string, fn func(g *group, reply chan<- T)) (T, error) {
	reply := make(chan T, 1)
	g, err := c.do(ctx, name, true, func(g *group) { fn(g, reply) })
	if err != nil {
		var zero T
		return zero, err
	}
	return await(ctx, g, reply)
}

// errorCode is the Kafka error code for a failure to reach a group.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errClosed):
		return kerr.NotCoordinator.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
}

// storeErrorCode translates a metastore error to the Kafka error of a group
// operation: a metastore that cannot be reached is retriable, as Kafka's
// COORDINATOR_NOT_AVAILABLE for a log it cannot write.
func (c *Coordinator) storeErrorCode(op string, err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, metastore.ErrUnknownTopic), errors.Is(err, metastore.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, metastore.ErrUnknownGroup):
		return kerr.GroupIDNotFound.Code
	case errors.Is(err, metastore.ErrNotGroupCoordinator):
		// The group has moved: the client looks for its coordinator again.
		return kerr.NotCoordinator.Code
	}
	c.m.storeErrors.WithLabelValues(op).Inc()
	c.log.Warn("metastore operation failed", "op", op, "err", err)
	return kerr.CoordinatorNotAvailable.Code
}

// Client identifies the client connection of a request, for DescribeGroups.
type Client = roleapi.Client

// WithClient returns ctx carrying the client of a request. JoinGroup
// records it for DescribeGroups.
func WithClient(ctx context.Context, client Client) context.Context {
	return roleapi.WithClient(ctx, client)
}

func clientFrom(ctx context.Context) Client { return roleapi.ClientFrom(ctx) }

// newMemberID returns a member id as Kafka forms it: the client id (or the
// instance id of a static member), a dash, and a random UUID.
func newMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	return fmt.Sprintf("%s-%s", prefix, uuid.NewString())
}
