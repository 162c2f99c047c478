// Package compactor keeps the segment objects and the chunk index bounded.
// Each round it
//
//  1. applies retention: retention.ms and retention.bytes advance a
//     partition's log start offset, and chunk rows wholly below the log
//     start (after retention or DeleteRecords) are dropped;
//  2. merges: the level-0 chunks of a partition (written by ingest, many
//     partitions per object), once they reach Config.MinLevel0Bytes or
//     MaxLevel0Age (or MinLevel0Chunks), are rewritten into level-1 chunks
//     with absolute offsets in every batch header and skipped batches left
//     out; the merges of small partitions share one level-1 object (see
//     pack), and the chunk index is swapped by metastore transactions that
//     check, partition by partition, that the replaced rows are unchanged. Topics with
//     cleanup.policy=compact also lose superseded records on the way;
//  3. collects garbage: objects whose last chunk row went more than a grace
//     period ago are deleted, and, less often, the bucket is listed for
//     objects that were never committed (orphans).
//
// One compactor works at a time: the others wait for a lease in the
// metastore (see docs/compaction.md). Correctness does not depend on it:
// the swap refuses rows that changed, and deletions only follow the
// metastore's marks.
package compactor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/decompress"
	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/topicconfig"
	"github.com/stratalog/strata/metastore"
)

// LeaseName is the name of the metastore lease held by the active
// compactor.
const LeaseName = "compactor"

// ErrLeaseLost is returned by RunOnce when the lease expired during the
// round and another compactor took it.
var ErrLeaseLost = errors.New("compactor: lease lost")

// Metastore is what the compactor needs from the metastore.
type Metastore interface {
	metastore.CompactionStore
	ListTopics(ctx context.Context) ([]metastore.Topic, error)
	Partitions(ctx context.Context, topicID uuid.UUID) ([]metastore.Partition, error)
	Partition(ctx context.Context, topicID uuid.UUID, partition int32) (metastore.Partition, error)
	ChunksFrom(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, limit int) ([]metastore.Chunk, error)
	ChunkForTimestamp(ctx context.Context, topicID uuid.UUID, partition int32, ts int64) (metastore.Chunk, bool, error)
	DeleteRecords(ctx context.Context, topicID uuid.UUID, partition int32, offset int64) (int64, error)
	ExpireProducers(ctx context.Context, idle time.Duration) (int, error)
	// The transaction index: key compaction reads it (txn.go), retention
	// prunes it.
	PartitionTxns(ctx context.Context, topicID uuid.UUID, partition int32, from int64, limit int) (metastore.PartitionTxns, error)
	PruneAbortedTxns(ctx context.Context) (int, error)
}

// Stats counts what one round did.
type Stats struct {
	// Skipped: another compactor holds the lease; nothing was done.
	Skipped bool
	// PartitionsMerged counts partitions that got at least one new object.
	PartitionsMerged int
	// ChunksMerged counts chunk rows replaced, ObjectsWritten the level-1
	// objects written and swapped in, BytesWritten their bytes.
	ChunksMerged   int
	ObjectsWritten int
	BytesWritten   int64
	// RecordsRemoved counts records key compaction removed.
	RecordsRemoved int64
	// SwapsAborted counts merges whose swap found the index changed; their
	// objects are left for the orphan collection.
	SwapsAborted int
	// LogStartsAdvanced counts partitions whose log start retention moved;
	// ChunksDropped the chunk rows removed below log start offsets.
	LogStartsAdvanced int
	ChunksDropped     int
	// ProducersExpired counts idempotent producers forgotten after
	// ProducerIDExpiration without a write.
	ProducersExpired int
	// ObjectsDeleted counts unreferenced objects deleted after their grace
	// period, OrphansDeleted objects deleted that were never committed.
	ObjectsDeleted int
	OrphansDeleted int
	// OrphanClaimsPruned counts the claims of deleted orphans removed
	// after the tombstone retention.
	OrphanClaimsPruned int
}

// Compactor merges, applies retention and collects garbage.
type Compactor struct {
	cfg     Config
	store   Metastore
	objects objstore.Store
	logger  *slog.Logger
	m       *metrics
	decomp  kgo.Decompressor
	holder  string
	topics  topicconfig.Defaults // the defaults of topic configs: cfg.TopicDefaults()
	now     func() time.Time

	mu          sync.Mutex // one round at a time; guards the fields below
	leaseUntil  time.Time  // local deadline of the lease we hold; zero when none
	lastOrphans time.Time
	lastStats   time.Time
	dropped     map[metastore.PartitionKey]int64 // log start of the last drop per partition
	shared      *sharedReads                     // set during the merges of a round; nil: ranged GETs only
	pack        *pack                            // the open pack, during the merges of a round
	packErrs    []error                          // failures of packs written, not reported yet
	merged      map[metastore.PartitionKey]bool  // partitions swapped into a new object this round
	swapRows    int                              // chunk rows one swap transaction may replace (maxSwapRows)
}

// New returns a compactor. reg may be nil.
func New(cfg Config, store Metastore, objects objstore.Store, logger *slog.Logger, reg prometheus.Registerer) (*Compactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	topics, err := cfg.TopicDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Compactor{
		cfg:      cfg,
		store:    store,
		objects:  objects,
		logger:   logger.With("component", "compactor"),
		m:        m,
		decomp:   decompress.Shared(),
		holder:   fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:])),
		topics:   topics,
		now:      time.Now,
		dropped:  make(map[metastore.PartitionKey]int64),
		swapRows: maxSwapRows,
	}, nil
}

// Run runs a round every Config.Interval until ctx ends, then gives the
// lease up. It returns nil when ctx ends, and ErrPanicked when a round
// panicked; a round's other failures are logged and the next round tries
// again.
func (c *Compactor) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	defer c.release()
	for {
		st, err := c.safeRound(ctx)
		switch {
		case errors.Is(err, ErrPanicked):
			return err
		case ctx.Err() != nil:
			return nil
		case err != nil:
			c.logger.Warn("round failed", "err", err)
		case !st.Skipped:
			c.logger.Debug("round done", "stats", st)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ErrPanicked is Run's error after a round panicked: a bug, which stops the
// compactor (and so its node) rather than the whole process in the middle
// of its work.
var ErrPanicked = errors.New("compactor: a round panicked")

// safeRound is RunOnce, with a panic turned into ErrPanicked.
func (c *Compactor) safeRound(ctx context.Context) (st Stats, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.logger.Error("compaction round panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", ErrPanicked, p)
		}
	}()
	return c.RunOnce(ctx)
}

func (c *Compactor) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leaseUntil.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.store.ReleaseLease(ctx, LeaseName, c.holder); err != nil {
		c.logger.Warn("release lease", "err", err)
	}
	c.leaseUntil = time.Time{}
	c.m.leaseHeld.Set(0)
}

// RunOnce runs one round: retention, merges, garbage collection (and, when
// due, the orphan listing and the metrics counts). Failures of single
// partitions or objects do not stop the round; they are joined into the
// error returned. Stats.Skipped says another compactor holds the lease.
func (c *Compactor) RunOnce(ctx context.Context) (Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := c.now()
	var st Stats
	err := c.round(ctx, &st)
	c.m.roundSeconds.Observe(time.Since(start).Seconds())
	switch {
	case err != nil:
		c.m.rounds.WithLabelValues("error").Inc()
	case st.Skipped:
		c.m.rounds.WithLabelValues("skipped").Inc()
	default:
		c.m.rounds.WithLabelValues("ok").Inc()
	}
	if err == nil && !st.Skipped && (st.ObjectsWritten > 0 || st.ObjectsDeleted > 0 || st.OrphansDeleted > 0 || st.ChunksDropped > 0) {
		c.logger.Info("round done", "merged_partitions", st.PartitionsMerged, "chunks_merged", st.ChunksMerged,
			"objects_written", st.ObjectsWritten, "bytes_written", st.BytesWritten, "records_removed", st.RecordsRemoved,
			"chunks_dropped", st.ChunksDropped, "objects_deleted", st.ObjectsDeleted, "orphans_deleted", st.OrphansDeleted,
			"duration", time.Since(start))
	}
	return st, err
}

func (c *Compactor) round(ctx context.Context, st *Stats) error {
	ok, err := c.renew(ctx)
	if err != nil {
		return err
	}
	if !ok {
		st.Skipped = true
		return nil
	}
	topics, err := c.store.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("compactor: %w", err)
	}
	var errs []error
	keep := func(err error) bool {
		if err != nil {
			errs = append(errs, err)
		}
		return ctx.Err() == nil && !errors.Is(err, ErrLeaseLost)
	}
	if keep(c.retention(ctx, topics, st)) && keep(c.merge(ctx, topics, st)) && keep(c.collect(ctx, st)) {
		if c.lastOrphans.IsZero() || c.now().Sub(c.lastOrphans) >= c.cfg.OrphanInterval {
			if keep(c.sweepOrphans(ctx, st)) && keep(c.expireProducers(ctx, st)) && keep(c.pruneTxns(ctx)) {
				c.lastOrphans = c.now()
			}
		}
		if c.lastStats.IsZero() || c.now().Sub(c.lastStats) >= c.cfg.StatsInterval {
			if keep(c.refreshStats(ctx)) {
				c.lastStats = c.now()
			}
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// expireProducers forgets the idempotent producers idle for
// ProducerIDExpiration.
func (c *Compactor) expireProducers(ctx context.Context, st *Stats) error {
	n, err := c.store.ExpireProducers(ctx, c.cfg.ProducerIDExpiration)
	if err != nil {
		return fmt.Errorf("compactor: %w", err)
	}
	st.ProducersExpired += n
	return nil
}

// renew takes or renews the lease; false when another compactor holds it.
func (c *Compactor) renew(ctx context.Context) (bool, error) {
	asked := c.now()
	ok, err := c.store.AcquireLease(ctx, LeaseName, c.holder, c.cfg.LeaseTTL)
	if err != nil {
		// Whether we still hold it is unknown: keep leaseUntil, so that
		// release gives it up, but work no further this round.
		return false, fmt.Errorf("compactor: %w", err)
	}
	if !ok {
		if !c.leaseUntil.IsZero() {
			c.logger.Warn("lease taken by another compactor")
		}
		c.leaseUntil = time.Time{}
		c.m.leaseHeld.Set(0)
		return false, nil
	}
	if c.leaseUntil.IsZero() {
		c.logger.Info("lease acquired", "holder", c.holder)
	}
	c.leaseUntil = asked.Add(c.cfg.LeaseTTL)
	c.m.leaseHeld.Set(1)
	return true, nil
}

// checkLease renews the lease when half of it has passed, between units of
// work; ErrLeaseLost when another compactor has it now.
func (c *Compactor) checkLease(ctx context.Context) error {
	if c.leaseUntil.Sub(c.now()) > c.cfg.LeaseTTL/2 {
		return nil
	}
	ok, err := c.renew(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ErrLeaseLost
	}
	return nil
}

func (c *Compactor) refreshStats(ctx context.Context) error {
	s, err := c.store.CompactionStats(ctx)
	if err != nil {
		return fmt.Errorf("compactor: %w", err)
	}
	var lag float64
	if !s.OldestLevel0.IsZero() {
		lag = max(0, c.now().Sub(s.OldestLevel0).Seconds())
	}
	c.m.setStats(s, lag)
	return nil
}

// policy is a topic's cleanup settings: its configs over the node's
// defaults. Stored values the front door would refuse are logged and
// ignored.
func (c *Compactor) policy(t metastore.Topic) topicconfig.Policy {
	p, err := c.topics.Policy(t.Configs)
	if err != nil {
		c.logger.Warn("ignoring topic configs", "topic", t.Name, "err", err)
	}
	return p
}
