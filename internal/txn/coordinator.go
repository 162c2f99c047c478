package txn

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

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/segment"
	"github.com/stratalog/strata/metastore"
)

// Store is the part of the metastore the coordinator uses: the rows of
// transactional ids, producer ids, topics, and the lease mechanism of
// group coordinators, under metastore.TxnLeaseKey names.
type Store interface {
	metastore.TxnStore
	AllocateProducerID(ctx context.Context) (int64, error)
	TopicByName(ctx context.Context, name string) (metastore.Topic, error)
	AcquireGroupLease(ctx context.Context, group string, nodeID int32, instance uuid.UUID, lease time.Duration) (metastore.GroupLease, error)
	RenewGroupLeases(ctx context.Context, instance uuid.UUID, groups []string, lease time.Duration) ([]metastore.GroupLease, error)
	ReleaseGroupLease(ctx context.Context, lease metastore.GroupLease) error
	GroupLeaseHolder(ctx context.Context, group string) (lease metastore.GroupLease, ok bool, err error)
}

// Objects is where the marker objects go.
type Objects interface {
	Put(ctx context.Context, key string, data []byte) error
}

// Sink learns of every committed marker object, as of every segment the
// ingest path commits: the node's reader, whose long polls it wakes.
type Sink interface {
	Committed(chunks []metastore.Chunk, object []byte)
}

// entry is the coordinator's state of one transactional id: the lock that
// serialises its requests, and the lease it holds.
type entry struct {
	mu       sync.Mutex
	lease    *metastore.GroupLease // nil: not held
	until    time.Time             // by this node's clock
	lastUsed time.Time
}

// Coordinator coordinates transactional ids. It is safe for concurrent use.
type Coordinator struct {
	cfg     Config
	store   Store
	objects Objects
	sink    Sink
	log     *slog.Logger
	m       *metrics
	now     func() time.Time

	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	ids    map[string]*entry
	closed bool
}

// New returns a coordinator. sink, logger and reg may be nil.
func New(cfg Config, store Store, objects Objects, sink Sink, logger *slog.Logger, reg prometheus.Registerer) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || objects == nil {
		return nil, errors.New("txn: a store and an object store are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{
		cfg: cfg, store: store, objects: objects, sink: sink,
		log: logger.With("component", "txn"), m: m, now: time.Now,
		stop: make(chan struct{}), ids: map[string]*entry{},
	}
	c.wg.Add(2)
	go c.renewLoop()
	go c.sweepLoop()
	return c, nil
}

// Close stops the coordinator and releases its leases, so that the next
// coordinators of its ids take them at once.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.stop)
	ids := c.ids
	c.mu.Unlock()
	c.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.StoreTimeout)
	defer cancel()
	var errs []error
	for _, e := range ids {
		e.mu.Lock()
		if e.lease != nil {
			errs = append(errs, c.store.ReleaseGroupLease(ctx, *e.lease))
			e.lease = nil
		}
		e.mu.Unlock()
	}
	return errors.Join(errs...)
}

// errNotCoordinator: another node coordinates the id (or this one is
// closing); the client looks for the coordinator again.
var errNotCoordinator = errors.New("txn: not the coordinator of the transactional id")

// lock returns the id's entry locked, with its lease held: taken now if
// this node's view gives it the id and nobody else holds a live lease.
func (c *Coordinator) lock(ctx context.Context, id string) (*entry, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errNotCoordinator
	}
	e := c.ids[id]
	if e == nil {
		e = &entry{}
		c.ids[id] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	now := c.now()
	e.lastUsed = now
	if e.lease != nil && now.Before(e.until) {
		return e, nil
	}
	e.lease = nil
	key := metastore.TxnLeaseKey(id)
	if c.cfg.Owner != nil && !c.cfg.Owner(key) {
		e.mu.Unlock()
		return nil, errNotCoordinator
	}
	l, err := c.store.AcquireGroupLease(ctx, key, c.cfg.NodeID, c.cfg.Instance, c.cfg.Lease)
	if err != nil {
		e.mu.Unlock()
		if errors.Is(err, metastore.ErrNotGroupCoordinator) {
			return nil, errNotCoordinator
		}
		return nil, err
	}
	e.lease, e.until = &l, now.Add(c.cfg.Lease)
	return e, nil
}

// renewLoop renews the held leases every third of the lease, and lets go
// of ids idle for IdleTimeout.
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

func (c *Coordinator) renew() {
	c.mu.Lock()
	held := map[string]*entry{}
	for id, e := range c.ids {
		held[id] = e
	}
	c.mu.Unlock()
	var keys []string
	now := c.now()
	for id, e := range held {
		if !e.mu.TryLock() {
			keys = append(keys, metastore.TxnLeaseKey(id)) // busy: certainly in use
			continue
		}
		if e.lease == nil {
			if now.Sub(e.lastUsed) > c.cfg.IdleTimeout {
				c.mu.Lock()
				if c.ids[id] == e {
					delete(c.ids, id)
				}
				c.mu.Unlock()
			}
			e.mu.Unlock()
			delete(held, id)
			continue
		}
		if now.Sub(e.lastUsed) > c.cfg.IdleTimeout {
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.StoreTimeout)
			_ = c.store.ReleaseGroupLease(ctx, *e.lease)
			cancel()
			e.lease = nil
			e.mu.Unlock()
			delete(held, id)
			continue
		}
		e.mu.Unlock()
		keys = append(keys, metastore.TxnLeaseKey(id))
	}
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.StoreTimeout, c.cfg.Lease/3))
	defer cancel()
	sent := time.Now()
	leases, err := c.store.RenewGroupLeases(ctx, c.cfg.Instance, keys, c.cfg.Lease)
	if err != nil {
		c.m.storeErrors.WithLabelValues("renew_leases").Inc()
		c.log.Warn("renewing the transactional id leases failed", "ids", len(keys), "err", err)
		return
	}
	renewed := make(map[string]int64, len(leases))
	for _, l := range leases {
		renewed[l.Group] = l.Epoch
	}
	for id, e := range held {
		e.mu.Lock()
		if e.lease != nil {
			if epoch, ok := renewed[e.lease.Group]; ok && epoch == e.lease.Epoch {
				e.until = sent.Add(c.cfg.Lease)
			} else {
				e.lease = nil // taken by another coordinator, or expired
			}
		}
		_ = id
		e.mu.Unlock()
	}
}

// apply runs one request on a transactional id: it loads the row, lets fn
// compute the transition (the state machine), and writes it by
// compare-and-set, with the markers when it ends a transaction. A
// conflict (another writer moved the row) recomputes from the new row.
func (c *Coordinator) apply(ctx context.Context, id string, fn func(cur metastore.Transaction, exists bool) (Result, error)) (Result, error) {
	e, err := c.lock(ctx, id)
	if err != nil {
		return Result{}, err
	}
	defer e.mu.Unlock()
	return c.applyLocked(ctx, e, id, fn)
}

// applyUnleased is apply for a request any node may serve: it holds the
// id's lock on this node but no lease. It never ends a transaction.
func (c *Coordinator) applyUnleased(ctx context.Context, id string, fn func(cur metastore.Transaction, exists bool) (Result, error)) (Result, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return Result{}, errNotCoordinator
	}
	e := c.ids[id]
	if e == nil {
		e = &entry{}
		c.ids[id] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastUsed = c.now()
	return c.applyLocked(ctx, e, id, func(cur metastore.Transaction, exists bool) (Result, error) {
		res, err := fn(cur, exists)
		if res.End != nil {
			return Result{}, errors.New("txn: an unleased request may not end a transaction")
		}
		return res, err
	})
}

func (c *Coordinator) applyLocked(ctx context.Context, e *entry, id string, fn func(cur metastore.Transaction, exists bool) (Result, error)) (Result, error) {
	for attempt := 0; ; attempt++ {
		cur, err := c.store.LoadTransaction(ctx, id)
		exists := err == nil
		if err != nil && !errors.Is(err, metastore.ErrUnknownTransaction) {
			return Result{}, err
		}
		res, err := fn(cur, exists)
		if err != nil || res.Err != nil || !res.Write {
			return res, err
		}
		res.Next.Version = cur.Version
		if res.End != nil {
			res.Next, err = c.end(ctx, e, res.Next, res.End)
		} else {
			res.Next, err = c.store.SaveTransaction(ctx, res.Next)
		}
		if errors.Is(err, metastore.ErrTxnConflict) && attempt < 3 {
			continue
		}
		return res, err
	}
}

// end writes a decision: the marker object first (PUT), then, in one
// metastore transaction, its commit, the row and the offsets. A failure
// after the PUT leaves an object nothing references, which the compactor
// deletes, and the transaction as it was.
func (c *Coordinator) end(ctx context.Context, e *entry, next metastore.Transaction, d *Decision) (metastore.Transaction, error) {
	start := time.Now()
	var coordEpoch int32
	if e.lease != nil {
		coordEpoch = int32(e.lease.Epoch)
	}
	now := c.now().UnixMilli()
	control := metastore.ControlAbort
	if d.Commit {
		control = metastore.ControlCommit
	}
	var inputs []segment.ChunkInput
	var specs []metastore.ChunkSpec
	for _, tp := range d.Partitions {
		topic, err := c.store.TopicByName(ctx, tp.Topic)
		if errors.Is(err, metastore.ErrUnknownTopic) {
			continue // deleted since: nothing to mark
		}
		if err != nil {
			return metastore.Transaction{}, err
		}
		b := recordbatch.Marker(d.ProducerID, d.ProducerEpoch, d.Commit, coordEpoch, now)
		inputs = append(inputs, segment.ChunkInput{
			TopicID: topic.ID, Partition: tp.Partition, BaseOffset: -1, Batches: 1, Records: 1,
			MinTimestamp: now, MaxTimestamp: now, Data: b,
		})
		specs = append(specs, metastore.ChunkSpec{TopicID: topic.ID, Partition: tp.Partition, Batches: []metastore.BatchMeta{{
			OffsetCount: 1, MaxTimestamp: now, ProducerID: d.ProducerID, ProducerEpoch: d.ProducerEpoch,
			BaseSequence: -1, Transactional: true, Control: control,
		}}})
	}
	var spec metastore.SegmentSpec
	var obj []byte
	if len(inputs) > 0 {
		var infos []segment.ChunkInfo
		var err error
		if obj, infos, err = segment.Encode(0, inputs); err != nil {
			return metastore.Transaction{}, fmt.Errorf("encode the markers: %w", err)
		}
		key := segment.Level0Key(c.cfg.KeyPrefix, time.Now())
		if err := c.objects.Put(ctx, key, obj); err != nil {
			return metastore.Transaction{}, fmt.Errorf("put the markers %s: %w", key, err)
		}
		for i, info := range infos {
			specs[i].Start, specs[i].Length, specs[i].RawLength = info.Start, info.Length, info.RawLength
		}
		spec = metastore.SegmentSpec{ObjectKey: key, ObjectSize: int64(len(obj)), Chunks: specs}
	}
	stored, results, err := c.store.EndTransaction(ctx, metastore.TxnEndSpec{Txn: next, Markers: spec, Offsets: d.Offsets})
	if err != nil {
		return metastore.Transaction{}, err
	}
	for i, r := range results {
		var berr error
		if r.Err == nil && len(r.Batches) > 0 {
			berr = r.Batches[0].Err
		}
		if r.Err != nil || berr != nil {
			c.log.Warn("a transaction marker was not written", "transactional_id", next.TransactionalID,
				"topic_id", spec.Chunks[i].TopicID, "partition", spec.Chunks[i].Partition, "err", errors.Join(r.Err, berr))
		}
	}
	outcome := "abort"
	if d.Commit {
		outcome = "commit"
	}
	c.m.ended.WithLabelValues(outcome).Inc()
	c.m.endSeconds.Observe(time.Since(start).Seconds())
	if c.sink != nil && spec.ObjectKey != "" {
		if chunks := metastore.ChunksFromResults(spec, results); len(chunks) > 0 {
			c.sink.Committed(chunks, obj)
		}
	}
	return stored, nil
}

// errorCode is the Kafka error for a failure to serve a request.
func (c *Coordinator) errorCode(op string, err error) *kerr.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNotCoordinator):
		return kerr.NotCoordinator
	case errors.Is(err, metastore.ErrTxnConflict):
		// Another coordinator (or request) keeps changing the row.
		return kerr.ConcurrentTransactions
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut
	}
	c.m.storeErrors.WithLabelValues(op).Inc()
	c.log.Warn("transaction coordinator operation failed", "op", op, "err", err)
	// Retriable: the client asks again, here or at the next coordinator.
	return kerr.CoordinatorNotAvailable
}
