package kafka

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/share"
	"github.com/stratalog/strata/metastore"
)

// Share groups (KIP-932). Three kinds of state, kept where their
// lifetimes ask:
//
//   - Membership (members, their subscriptions, the group epoch and the
//     assignment) lives on the group's coordinator, the node
//     FindCoordinator names for the group as for a classic group, in
//     memory: a member that heartbeats to a new coordinator is told
//     UNKNOWN_MEMBER_ID and joins again, which costs it nothing, since
//     records, not partitions, are what a share-group member holds.
//   - Share sessions (the partitions a member fetches through one
//     connection, and their epoch) live on the node of that connection
//     and end with it; its acquired records are released then.
//   - Delivery state (internal/share) lives in the metastore, one row per
//     share partition, and every ShareFetch or ShareAcknowledge applies
//     its acknowledgements and acquisitions to all its partitions in one
//     transaction before answering. So any node may serve any share
//     partition, an acknowledgement answered is durable, and a node's
//     death loses nothing but the locks of the records its members held,
//     which run out after share.record.lock.duration.ms.

// ShareConfig configures share groups on this node.
type ShareConfig struct {
	// HeartbeatInterval is the interval members are told to heartbeat
	// at, as Kafka's group.share.heartbeat.interval.ms.
	HeartbeatInterval time.Duration
	// SessionTimeout is how long a member that stops heartbeating stays
	// in its group, as Kafka's group.share.session.timeout.ms.
	SessionTimeout time.Duration
}

// Defaults of ShareConfig, Kafka's.
const (
	DefaultShareHeartbeatInterval = 5 * time.Second
	DefaultShareSessionTimeout    = 45 * time.Second
)

func (c *ShareConfig) registerFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.HeartbeatInterval, "kafka.share-heartbeat-interval", DefaultShareHeartbeatInterval, "interval share-group members heartbeat at (group.share.heartbeat.interval.ms)")
	fs.DurationVar(&c.SessionTimeout, "kafka.share-session-timeout", DefaultShareSessionTimeout, "how long a share-group member that stops heartbeating stays in its group (group.share.session.timeout.ms)")
}

func (c ShareConfig) heartbeatInterval() time.Duration {
	if c.HeartbeatInterval <= 0 {
		return DefaultShareHeartbeatInterval
	}
	return c.HeartbeatInterval
}

func (c ShareConfig) sessionTimeout() time.Duration {
	if c.SessionTimeout <= 0 {
		return DefaultShareSessionTimeout
	}
	return c.SessionTimeout
}

// The share APIs, left out of a server without a share store.
var shareKeys = []int16{76, 77, 78, 79, 90, 91, 92}

// withShare returns the share state of a server with store, and the
// handlers without the share APIs when store is nil.
func withShare(s *Server, store metastore.ShareStore, t handlerTable) (*shareServer, handlerTable) {
	if isNil(store) || s.reader == nil {
		for _, k := range shareKeys {
			delete(t, k)
		}
		return nil, t
	}
	return &shareServer{
		s:        s,
		store:    store,
		now:      time.Now,
		groups:   map[string]*shareGroup{},
		sessions: map[shareSessionKey]*shareSession{},
		conns:    map[*conn]bool{},
		hints:    map[metastore.SharePartitionKey]shareHint{},
		configs:  map[string]shareConfigEntry{},
		wake:     make(chan struct{}),
	}, t
}

// shareServer is the node's share-group state.
type shareServer struct {
	s     *Server
	store metastore.ShareStore
	now   func() time.Time

	mu       sync.Mutex
	groups   map[string]*shareGroup // groups this node coordinates
	sessions map[shareSessionKey]*shareSession
	conns    map[*conn]bool // connections whose end releases their sessions
	// hints are the states of share partitions as this node last wrote
	// them: a fetch that they say would find nothing waits without a
	// transaction (for at most shareHintTTL, since other nodes write too).
	hints   map[metastore.SharePartitionKey]shareHint
	configs map[string]shareConfigEntry
	// wake is closed (and replaced) when this node releases records, to
	// wake the fetches waiting here.
	wake chan struct{}
}

// shareHintTTL is how long a hint is trusted to skip a transaction.
const shareHintTTL = time.Second

type shareHint struct {
	p  *share.Partition
	at time.Time
}

// Share-group configs, set by IncrementalAlterConfigs on resource type
// GROUP and cached for shareConfigTTL (this node's own changes at once).
const (
	shareAutoOffsetReset = "share.auto.offset.reset"
	shareLockDuration    = "share.record.lock.duration.ms"
	shareDeliveryLimit   = "share.delivery.count.limit"
	shareIsolationLevel  = "share.isolation.level"
	shareConfigTTL       = 5 * time.Second
)

// shareConfigDefaults are the values of the configs a group does not set.
var shareConfigDefaults = map[string]string{
	shareAutoOffsetReset: "latest",
	shareLockDuration:    "30000",
	shareDeliveryLimit:   "5",
	shareIsolationLevel:  "read_uncommitted",
}

// checkShareConfig refuses a value Kafka would refuse (INVALID_CONFIG).
func checkShareConfig(name, v string) error {
	switch name {
	case shareAutoOffsetReset:
		if v != "earliest" && v != "latest" {
			return fmt.Errorf("%s must be earliest or latest", name)
		}
	case shareIsolationLevel:
		if v != "read_committed" && v != "read_uncommitted" {
			return fmt.Errorf("%s must be read_committed or read_uncommitted", name)
		}
	case shareLockDuration:
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1000 || n > 3600000 {
			return fmt.Errorf("%s must be an integer from 1000 to 3600000", name)
		}
	case shareDeliveryLimit:
		n, err := strconv.ParseInt(v, 10, 16)
		if err != nil || n < 2 || n > 10 {
			return fmt.Errorf("%s must be an integer from 2 to 10", name)
		}
	default:
		return fmt.Errorf("unknown group config %s", name)
	}
	return nil
}

type shareConfigEntry struct {
	set map[string]string
	at  time.Time
}

// shareGroupConfig is what a group's configs mean.
type shareGroupConfig struct {
	lim      share.Limits
	earliest bool
}

func (ss *shareServer) groupConfigs(ctx context.Context, group string) (map[string]string, error) {
	ss.mu.Lock()
	e, ok := ss.configs[group]
	ss.mu.Unlock()
	if ok && ss.now().Sub(e.at) < shareConfigTTL {
		return e.set, nil
	}
	set, err := ss.store.ShareGroupConfigs(ctx, group)
	if err != nil {
		return nil, err
	}
	ss.mu.Lock()
	ss.configs[group] = shareConfigEntry{set: set, at: ss.now()}
	ss.mu.Unlock()
	return set, nil
}

func (ss *shareServer) config(ctx context.Context, group string) (shareGroupConfig, error) {
	set, err := ss.groupConfigs(ctx, group)
	if err != nil {
		return shareGroupConfig{}, err
	}
	get := func(n string) string {
		if v, ok := set[n]; ok {
			return v
		}
		return shareConfigDefaults[n]
	}
	c := shareGroupConfig{lim: share.DefaultLimits, earliest: get(shareAutoOffsetReset) == "earliest"}
	if n, err := strconv.ParseInt(get(shareLockDuration), 10, 64); err == nil {
		c.lim.LockMillis = n
	}
	if n, err := strconv.ParseInt(get(shareDeliveryLimit), 10, 16); err == nil {
		c.lim.DeliveryLimit = int16(n)
	}
	return c, nil
}

// setConfigs stores a group's config changes and forgets the cached ones.
func (ss *shareServer) setConfigs(ctx context.Context, group string, set map[string]*string) error {
	err := ss.store.SetShareGroupConfigs(ctx, group, set)
	ss.mu.Lock()
	delete(ss.configs, group)
	ss.mu.Unlock()
	return err
}

// sharePart is one share partition of a request, and what the request's
// transaction did to it.
type sharePart struct {
	key     metastore.SharePartitionKey
	acks    []share.Ack // piggybacked or acknowledged; nil: none
	fetch   bool        // acquire records
	release bool        // release what the member holds (its session ends)
	hwm     int64
	start   int64 // the log start offset

	ackErr error       // the acknowledgement's outcome
	err    error       // the partition's outcome
	runs   []share.Run // acquired
}

// errShareNotInitialized: acknowledgements for a share partition nothing
// was ever acquired from.
var errShareNotInitialized = errors.New("share partition has no records in flight")

// apply runs one request's work on its share partitions in one metastore
// transaction: acknowledgements first (so that released records can be
// acquired again at once), then releases, then acquisitions of at most
// maxRecords records in the order of parts.
func (ss *shareServer) apply(ctx context.Context, group, member string, parts []*sharePart, maxRecords int) error {
	if len(parts) == 0 {
		return nil
	}
	cfg, err := ss.config(ctx, group)
	if err != nil {
		return err
	}
	keys := make([]metastore.SharePartitionKey, len(parts))
	for i, p := range parts {
		keys[i] = p.key
	}
	now := ss.now()
	ms := now.UnixMilli()
	var after []*share.Partition
	err = ss.store.UpdateShareStates(ctx, keys, func(in []metastore.ShareState) ([]metastore.ShareState, error) {
		var out []metastore.ShareState
		after = make([]*share.Partition, len(parts))
		left := maxRecords
		for i, st := range in {
			sp := parts[i]
			sp.ackErr, sp.err, sp.runs = nil, nil, nil
			var p *share.Partition
			if st.Found {
				var err error
				if p, err = share.Decode(st.StartOffset, st.State); err != nil {
					sp.err = errorf(kerr.UnknownServerError, "share partition %s/%d: %v", sp.key.TopicID, sp.key.Partition, err)
					continue
				}
			} else if !sp.fetch {
				if sp.acks != nil {
					sp.ackErr = errShareNotInitialized
				}
				continue
			} else {
				start := sp.hwm
				if cfg.earliest {
					start = sp.start
				}
				p = share.New(start)
			}
			before := p.Encode()
			beforeStart := p.Start
			p.SkipTo(sp.start)
			if sp.acks != nil {
				sp.ackErr = p.Acknowledge(ms, member, sp.acks, cfg.lim)
			}
			if sp.release {
				p.ReleaseMember(member, cfg.lim)
			}
			p.Expire(ms, cfg.lim)
			if sp.fetch && left > 0 {
				sp.runs = p.Acquire(ms, member, p.Start, sp.hwm, left, cfg.lim)
				for _, r := range sp.runs {
					left -= int(r.Last - r.First + 1)
				}
			}
			after[i] = p
			enc := p.Encode()
			if !st.Found || p.Start != beforeStart || !slices.Equal(enc, before) {
				out = append(out, metastore.ShareState{Key: sp.key, StartOffset: p.Start, State: enc})
			}
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	ss.mu.Lock()
	released := false
	for i, p := range after {
		if p == nil {
			continue
		}
		ss.hints[parts[i].key] = shareHint{p: p, at: now}
		if parts[i].release || parts[i].acks != nil {
			released = true
		}
	}
	if released {
		close(ss.wake)
		ss.wake = make(chan struct{})
	}
	ss.mu.Unlock()
	return nil
}

// idle reports whether this node's recent hints say that no part could
// acquire a record now, and if so when the first lock runs out.
func (ss *shareServer) idle(parts []*sharePart, lim share.Limits) (idle bool, nextExpiry time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for _, sp := range parts {
		h, ok := ss.hints[sp.key]
		if !ok || now.Sub(h.at) >= shareHintTTL {
			return false, time.Time{}
		}
		if h.p.HasAvailable(sp.hwm, lim) {
			return false, time.Time{}
		}
		if t, ok := h.p.NextLockExpiry(); ok {
			exp := time.UnixMilli(t)
			if !exp.After(now) {
				return false, time.Time{}
			}
			if nextExpiry.IsZero() || exp.Before(nextExpiry) {
				nextExpiry = exp
			}
		}
	}
	return true, nextExpiry
}

// hintEnd is the end offset of a share partition as this node last saw
// it, or -1.
func (ss *shareServer) hintEnd(k metastore.SharePartitionKey) int64 {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if h, ok := ss.hints[k]; ok {
		return h.p.End()
	}
	return -1
}

func (ss *shareServer) wakeChan() <-chan struct{} {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.wake
}

// shareAckCode is the Kafka error of an acknowledgement's outcome.
func shareAckCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, share.ErrInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, share.ErrInvalidRecordState), errors.Is(err, errShareNotInitialized):
		return kerr.InvalidRecordState.Code
	}
	if ke := kafkaError(err); ke != nil {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// toAcks converts wire acknowledgement batches.
func toAcks[B any](batches []B, get func(B) (int64, int64, []int8)) []share.Ack {
	if len(batches) == 0 {
		return nil
	}
	out := make([]share.Ack, len(batches))
	for i, b := range batches {
		first, last, types := get(b)
		ts := make([]share.AckType, len(types))
		for j, t := range types {
			ts[j] = share.AckType(t)
		}
		out[i] = share.Ack{First: first, Last: last, Types: ts}
	}
	return out
}

// tp is a partition by topic id.
type tp struct {
	topic uuid.UUID
	part  int32
}

// Share sessions, as KIP-932 defines them: a member's set of partitions
// on one connection, with an epoch the client sends back incremented on
// every request. They end with the connection, which releases the
// records the member acquired through them.

// maxShareSessions bounds the share sessions of a node, as Kafka's
// group.share.max.share.sessions bounds a broker's (SHARE_SESSION_LIMIT_REACHED
// beyond), so that clients opening sessions cannot take its memory.
const maxShareSessions = 10000

type shareSessionKey struct {
	c      *conn
	group  string
	member string
}

type shareSession struct {
	epoch int32 // the epoch the next request must carry
	parts map[tp]bool
}

func nextShareEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// session applies a request's session epoch and partition changes, and
// returns the session and the partitions added by this request; a
// non-zero code is the request's top-level error. epoch -1 removes the
// session (the caller releases its records).
func (ss *shareServer) session(c *conn, group, member string, epoch int32, add []tp, forget []tp, allowOpen bool) (*shareSession, map[tp]bool, int16) {
	k := shareSessionKey{c: c, group: group, member: member}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	cur := ss.sessions[k]
	added := map[tp]bool{}
	switch {
	case epoch == 0:
		if !allowOpen {
			return nil, nil, kerr.InvalidShareSessionEpoch.Code
		}
		if cur == nil && len(ss.sessions) >= maxShareSessions {
			return nil, nil, kerr.ShareSessionLimitReached.Code
		}
		cur = &shareSession{epoch: 0, parts: map[tp]bool{}}
		ss.sessions[k] = cur
		if c != nil && !ss.conns[c] {
			ss.conns[c] = true
			go ss.watchConn(c)
		}
	case cur == nil:
		return nil, nil, kerr.ShareSessionNotFound.Code
	case epoch == -1:
		delete(ss.sessions, k)
		out := &shareSession{epoch: -1, parts: cur.parts}
		return out, added, 0
	case epoch != cur.epoch:
		return nil, nil, kerr.InvalidShareSessionEpoch.Code
	}
	// Added first, then forgotten, as the client keeps its own copy: a
	// partition the member no longer fetches can come in Topics for its
	// acknowledgements and in ForgottenTopicsData at once.
	for _, p := range add {
		if !cur.parts[p] {
			cur.parts[p] = true
			added[p] = true
		}
	}
	for _, p := range forget {
		delete(cur.parts, p)
		delete(added, p)
	}
	cur.epoch = nextShareEpoch(cur.epoch)
	snap := &shareSession{epoch: cur.epoch, parts: make(map[tp]bool, len(cur.parts))}
	for p := range cur.parts {
		snap.parts[p] = true
	}
	return snap, added, 0
}

// watchConn ends the share sessions of c when it closes, releasing the
// records their members acquired.
func (ss *shareServer) watchConn(c *conn) {
	<-c.ctx.Done()
	ss.mu.Lock()
	var ended []shareSessionKey
	var parts []map[tp]bool
	for k, sess := range ss.sessions {
		if k.c == c {
			ended = append(ended, k)
			parts = append(parts, sess.parts)
			delete(ss.sessions, k)
		}
	}
	delete(ss.conns, c)
	ss.mu.Unlock()
	for i, k := range ended {
		ctx, cancel := context.WithTimeout(ss.s.baseCtx, 10*time.Second)
		var sps []*sharePart
		for p := range parts[i] {
			sps = append(sps, &sharePart{key: metastore.SharePartitionKey{Group: k.group, TopicID: p.topic, Partition: p.part}, release: true})
		}
		if err := ss.apply(ctx, k.group, k.member, sps, 0); err != nil && ss.s.baseCtx.Err() == nil {
			ss.s.log.Warn("releasing the records of a closed share session", "group", k.group, "err", err)
		}
		cancel()
	}
}
