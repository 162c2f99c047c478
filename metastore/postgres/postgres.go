// Package postgres implements metastore.Store on PostgreSQL through pgx.
//
// Concurrency: commits lock the partition rows they touch with SELECT ... FOR
// UPDATE, always in metastore.PartitionKeys order (topic id, then partition),
// so concurrent commits serialise per partition and cannot deadlock one
// another. DeleteTopic and CreatePartitions lock the topic row first, then
// its partitions in partition order. Producer state rows are only written
// while their partition's row is locked, so they take no locks of their own.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/metastore"
)

// maxAttempts bounds how often a transaction is tried when PostgreSQL aborts
// it with a serialization failure or a deadlock.
const maxAttempts = 5

// Store is the PostgreSQL metastore. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	logger  *slog.Logger
	metrics *metrics
}

var _ metastore.Store = (*Store)(nil)

// New connects to PostgreSQL, applies pending migrations and returns the
// store. reg may be nil.
func New(ctx context.Context, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("metastore: parse url: %w", err)
	}
	pcfg.MaxConns = cfg.MaxConns
	return newStore(ctx, pcfg, logger, reg)
}

func newStore(ctx context.Context, pcfg *pgxpool.Config, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "metastore")
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("metastore: connect: %w", err)
	}
	if err := MigratePool(ctx, pool, logger); err != nil {
		pool.Close()
		return nil, fmt.Errorf("metastore: %w", err)
	}
	return &Store{pool: pool, logger: logger, metrics: m}, nil
}

// Pool returns the store's connection pool, for packages that keep their own
// tables in the metastore database.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the connection pool.
func (s *Store) Close() { s.pool.Close() }

// retry runs fn, again after a serialization failure or deadlock, at most
// maxAttempts times. fn must run one whole transaction.
func (s *Store) retry(ctx context.Context, op string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		s.metrics.transactions.WithLabelValues(op).Inc()
		err := fn()
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return err
		}
		s.metrics.retries.WithLabelValues(op).Inc()
		s.logger.Debug("retrying transaction", "op", op, "attempt", attempt, "err", err)
		backoff := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (retrying after: %w)", ctx.Err(), err)
		case <-time.After(backoff):
		}
	}
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == pgerrcode.SerializationFailure || pgErr.Code == pgerrcode.DeadlockDetected
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation
}

const topicColumns = "id, name, partitions, configs, created_at"

func scanTopic(row pgx.Row) (metastore.Topic, error) {
	var t metastore.Topic
	var configs map[string]string
	if err := row.Scan(&t.ID, &t.Name, &t.Partitions, &configs, &t.CreatedAt); err != nil {
		return metastore.Topic{}, err
	}
	if configs == nil {
		configs = map[string]string{}
	}
	t.Configs = configs
	return t, nil
}

// CreateTopic implements metastore.Store.
func (s *Store) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (_ metastore.Topic, err error) {
	defer s.metrics.Observe("create_topic", time.Now(), &err)
	if err := metastore.ValidateTopicName(name); err != nil {
		return metastore.Topic{}, err
	}
	if partitions < 1 {
		return metastore.Topic{}, fmt.Errorf("%w: %d", metastore.ErrInvalidPartitions, partitions)
	}
	t := metastore.Topic{ID: uuid.New(), Name: name, Partitions: partitions, Configs: map[string]string{}}
	for k, v := range configs {
		t.Configs[k] = v
	}
	cfgJSON, err := json.Marshal(t.Configs)
	if err != nil {
		return metastore.Topic{}, fmt.Errorf("create topic %s: encode configs: %w", name, err)
	}
	// One statement: the topic and its partitions appear together or not at all.
	err = s.retry(ctx, "create_topic", func() error {
		return s.pool.QueryRow(ctx, `
			WITH t AS (
				INSERT INTO topics (id, name, partitions, configs) VALUES ($1, $2, $3, $4::jsonb)
				RETURNING id, created_at
			), p AS (
				INSERT INTO partitions (topic_id, partition)
				SELECT t.id, g FROM t, generate_series(0, $3 - 1) AS g
			)
			SELECT created_at FROM t`,
			t.ID, name, partitions, string(cfgJSON)).Scan(&t.CreatedAt)
	})
	if isUniqueViolation(err) {
		return metastore.Topic{}, fmt.Errorf("create topic %s: %w", name, metastore.ErrTopicExists)
	}
	if err != nil {
		return metastore.Topic{}, fmt.Errorf("create topic %s: %w", name, err)
	}
	return t, nil
}

// TopicByName implements metastore.Store.
func (s *Store) TopicByName(ctx context.Context, name string) (_ metastore.Topic, err error) {
	defer s.metrics.Observe("topic_by_name", time.Now(), &err)
	t, err := scanTopic(s.pool.QueryRow(ctx, "SELECT "+topicColumns+" FROM topics WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.Topic{}, fmt.Errorf("topic %q: %w", name, metastore.ErrUnknownTopic)
	}
	if err != nil {
		return metastore.Topic{}, fmt.Errorf("topic %q: %w", name, err)
	}
	return t, nil
}

// TopicByID implements metastore.Store.
func (s *Store) TopicByID(ctx context.Context, id uuid.UUID) (_ metastore.Topic, err error) {
	defer s.metrics.Observe("topic_by_id", time.Now(), &err)
	t, err := scanTopic(s.pool.QueryRow(ctx, "SELECT "+topicColumns+" FROM topics WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.Topic{}, fmt.Errorf("topic %s: %w", id, metastore.ErrUnknownTopic)
	}
	if err != nil {
		return metastore.Topic{}, fmt.Errorf("topic %s: %w", id, err)
	}
	return t, nil
}

// ListTopics implements metastore.Store. Topics are ordered by name.
func (s *Store) ListTopics(ctx context.Context) (_ []metastore.Topic, err error) {
	defer s.metrics.Observe("list_topics", time.Now(), &err)
	rows, err := s.pool.Query(ctx, "SELECT "+topicColumns+" FROM topics ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	topics, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.Topic, error) { return scanTopic(r) })
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	return topics, nil
}

// lockTopic locks a topic's row and then its partitions' rows, in partition
// order, and returns the topic id and partition count.
func lockTopic(ctx context.Context, tx pgx.Tx, name string) (uuid.UUID, int32, error) {
	var id uuid.UUID
	var n int32
	err := tx.QueryRow(ctx, "SELECT id, partitions FROM topics WHERE name = $1 FOR UPDATE", name).Scan(&id, &n)
	if errors.Is(err, pgx.ErrNoRows) {
		return id, 0, metastore.ErrUnknownTopic
	}
	if err != nil {
		return id, 0, err
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM partitions WHERE topic_id = $1 ORDER BY partition FOR UPDATE", id); err != nil {
		return id, 0, err
	}
	return id, n, nil
}

// DeleteTopic implements metastore.Store. It removes the topic, its
// partitions, chunk rows and producer state; object rows stay for the
// compactor's garbage collection.
func (s *Store) DeleteTopic(ctx context.Context, name string) (err error) {
	defer s.metrics.Observe("delete_topic", time.Now(), &err)
	err = s.retry(ctx, "delete_topic", func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			id, _, err := lockTopic(ctx, tx, name)
			if err != nil {
				return err
			}
			b := &pgx.Batch{}
			b.Queue("DELETE FROM chunks WHERE topic_id = $1", id)
			b.Queue("DELETE FROM producer_state WHERE topic_id = $1", id)
			b.Queue("DELETE FROM partitions WHERE topic_id = $1", id)
			b.Queue("DELETE FROM topics WHERE id = $1", id)
			return tx.SendBatch(ctx, b).Close()
		})
	})
	if err != nil {
		return fmt.Errorf("delete topic %q: %w", name, err)
	}
	return nil
}

// CreatePartitions implements metastore.Store. total must exceed the current
// count (ErrInvalidPartitions otherwise, as Kafka's INVALID_PARTITIONS).
func (s *Store) CreatePartitions(ctx context.Context, name string, total int32) (err error) {
	defer s.metrics.Observe("create_partitions", time.Now(), &err)
	err = s.retry(ctx, "create_partitions", func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			id, current, err := lockTopic(ctx, tx, name)
			if err != nil {
				return err
			}
			if total <= current {
				return fmt.Errorf("%w: topic has %d partitions, asked for %d", metastore.ErrInvalidPartitions, current, total)
			}
			b := &pgx.Batch{}
			b.Queue("INSERT INTO partitions (topic_id, partition) SELECT $1, g FROM generate_series($2::integer, $3::integer - 1) AS g", id, current, total)
			b.Queue("UPDATE topics SET partitions = $2 WHERE id = $1", id, total)
			return tx.SendBatch(ctx, b).Close()
		})
	})
	if err != nil {
		return fmt.Errorf("create partitions of %q: %w", name, err)
	}
	return nil
}

// SetTopicConfigs implements metastore.Store.
func (s *Store) SetTopicConfigs(ctx context.Context, name string, set map[string]*string) (err error) {
	defer s.metrics.Observe("set_topic_configs", time.Now(), &err)
	put := map[string]string{}
	del := []string{}
	for k, v := range set {
		if v == nil {
			del = append(del, k)
		} else {
			put[k] = *v
		}
	}
	putJSON, err := json.Marshal(put)
	if err != nil {
		return fmt.Errorf("set configs of %q: %w", name, err)
	}
	var id uuid.UUID
	err = s.retry(ctx, "set_topic_configs", func() error {
		return s.pool.QueryRow(ctx,
			"UPDATE topics SET configs = (configs || $2::jsonb) - $3::text[] WHERE name = $1 RETURNING id",
			name, string(putJSON), del).Scan(&id)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("set configs of %q: %w", name, metastore.ErrUnknownTopic)
	}
	if err != nil {
		return fmt.Errorf("set configs of %q: %w", name, err)
	}
	return nil
}

// Partitions implements metastore.Store; ErrUnknownTopic when the topic does
// not exist.
func (s *Store) Partitions(ctx context.Context, topicID uuid.UUID) (_ []metastore.Partition, err error) {
	defer s.metrics.Observe("partitions", time.Now(), &err)
	rows, err := s.pool.Query(ctx, `
		SELECT partition, next_offset, log_start_offset, leader_node, leader_epoch
		FROM partitions WHERE topic_id = $1 ORDER BY partition`, topicID)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topicID, err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.Partition, error) {
		p := metastore.Partition{TopicID: topicID}
		err := r.Scan(&p.Partition, &p.NextOffset, &p.LogStartOffset, &p.LeaderNode, &p.LeaderEpoch)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topicID, err)
	}
	if len(parts) == 0 {
		// Every topic has partitions: the topic does not exist.
		return nil, fmt.Errorf("partitions of %s: %w", topicID, metastore.ErrUnknownTopic)
	}
	return parts, nil
}

// Partition implements metastore.Store.
func (s *Store) Partition(ctx context.Context, topicID uuid.UUID, partition int32) (_ metastore.Partition, err error) {
	defer s.metrics.Observe("partition", time.Now(), &err)
	p := metastore.Partition{TopicID: topicID, Partition: partition}
	err = s.pool.QueryRow(ctx, `
		SELECT next_offset, log_start_offset, leader_node, leader_epoch
		FROM partitions WHERE topic_id = $1 AND partition = $2`, topicID, partition).
		Scan(&p.NextOffset, &p.LogStartOffset, &p.LeaderNode, &p.LeaderEpoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.Partition{}, fmt.Errorf("partition %s/%d: %w", topicID, partition, metastore.ErrUnknownPartition)
	}
	if err != nil {
		return metastore.Partition{}, fmt.Errorf("partition %s/%d: %w", topicID, partition, err)
	}
	return p, nil
}

// AllocateProducerID implements metastore.Store.
func (s *Store) AllocateProducerID(ctx context.Context) (_ int64, err error) {
	defer s.metrics.Observe("allocate_producer_id", time.Now(), &err)
	var id int64
	err = s.pool.QueryRow(ctx, "INSERT INTO producers (producer_id) SELECT nextval('producer_ids') RETURNING producer_id").Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("allocate producer id: %w", err)
	}
	return id, nil
}

// ExpireProducers implements metastore.Store. It forgets, in one
// transaction, the registered producers whose state has not moved for idle
// (and that are older than idle), then the state rows older than idle of
// producers that are not registered (those from before registration).
func (s *Store) ExpireProducers(ctx context.Context, idle time.Duration) (_ int, err error) {
	defer s.metrics.Observe("expire_producers", time.Now(), &err)
	var n int64
	err = s.retry(ctx, "expire_producers", func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `
				WITH idle AS (
					SELECT p.producer_id FROM producers p
					WHERE p.created_at <= now() - $1::bigint * interval '1 microsecond'
						AND NOT EXISTS (SELECT 1 FROM producer_state s
							WHERE s.producer_id = p.producer_id
								AND s.updated_at > now() - $1::bigint * interval '1 microsecond')
					FOR UPDATE SKIP LOCKED
				), gone AS (
					DELETE FROM producer_state s USING idle WHERE s.producer_id = idle.producer_id
				)
				DELETE FROM producers p USING idle WHERE p.producer_id = idle.producer_id`, micros(idle))
			if err != nil {
				return err
			}
			n = tag.RowsAffected()
			_, err = tx.Exec(ctx, `
				DELETE FROM producer_state s
				WHERE s.updated_at <= now() - $1::bigint * interval '1 microsecond'
					AND NOT EXISTS (SELECT 1 FROM producers p WHERE p.producer_id = s.producer_id)`, micros(idle))
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("expire producers: %w", err)
	}
	return int(n), nil
}

// DeleteRecords implements metastore.Store.
func (s *Store) DeleteRecords(ctx context.Context, topicID uuid.UUID, partition int32, offset int64) (_ int64, err error) {
	defer s.metrics.Observe("delete_records", time.Now(), &err)
	var start int64
	err = s.pool.QueryRow(ctx, `
		UPDATE partitions
		SET log_start_offset = GREATEST(log_start_offset,
			CASE WHEN $3::bigint < 0 THEN next_offset ELSE $3::bigint END)
		WHERE topic_id = $1 AND partition = $2 AND $3::bigint <= next_offset
		RETURNING log_start_offset`, topicID, partition, offset).Scan(&start)
	if errors.Is(err, pgx.ErrNoRows) {
		// Either no such partition or an offset above its high watermark.
		p, perr := s.Partition(ctx, topicID, partition)
		if perr != nil {
			return 0, fmt.Errorf("delete records: %w", perr)
		}
		return p.LogStartOffset, fmt.Errorf("delete records %s/%d before %d (high watermark %d): %w",
			topicID, partition, offset, p.NextOffset, metastore.ErrOffsetOutOfRange)
	}
	if err != nil {
		return 0, fmt.Errorf("delete records %s/%d: %w", topicID, partition, err)
	}
	return start, nil
}
