// Package sqlite is the metastore.Store of `strata dev`: one SQLite file,
// through the pure-Go modernc.org/sqlite driver (no cgo).
//
// SQLite allows one writer at a time, so all writes go through a pool of one
// connection, which serializes them in Go, and reads use a separate pool
// that never blocks on the writer thanks to WAL mode. Segment commits follow
// the same rules as the PostgreSQL backend: one transaction loads the
// touched partitions and producers, calls metastore.PlanCommit and writes
// its plan.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sqlite "modernc.org/sqlite" // and the database/sql driver "sqlite"

	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/migrations"
)

// Store is a metastore.Store on a SQLite file. It is safe for concurrent use.
type Store struct {
	w      *sql.DB // one connection: every write
	r      *sql.DB // reads
	logger *slog.Logger
	m      *metastore.Metrics
	now    func() time.Time

	// Statements prepared on w.
	wPartition, wProducer, wInsObject, wNextOffset, wUpsProducer, wInsChunk *sql.Stmt
	// Statements prepared on r.
	rPartition, rChunksFrom, rChunkForTS *sql.Stmt

	closeOnce sync.Once
}

var _ metastore.Store = (*Store)(nil)

// New opens (creating when missing) the database at cfg.Path and applies the
// migrations it lacks.
func New(ctx context.Context, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	logger = logger.With("component", "metastore", "backend", "sqlite")
	m, err := metastore.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("sqlite metastore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("sqlite metastore: %w", err)
	}
	s := &Store{logger: logger, m: m, now: time.Now}
	busy := strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10)
	// synchronous=NORMAL in WAL mode syncs the WAL at checkpoints, not at
	// every commit: a power loss (not a process crash) can lose the last
	// commits. That is durable enough for a development server and much
	// faster; production uses PostgreSQL.
	s.w, err = openDB(ctx, path, cfg.BusyTimeout, url.Values{
		"_busy_timeout": {busy},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"},
		"_foreign_keys": {"1"},
		"_txlock":       {"immediate"}, // take the write lock at BEGIN: no lock upgrade failures
	}, 1)
	if err != nil {
		return nil, err
	}
	ms, err := migrations.Load(migrations.SQLite, "sqlite")
	if err == nil {
		err = migrate(ctx, s.w, ms, logger)
	}
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlite metastore %s: %w", cfg.Path, err)
	}
	s.r, err = openDB(ctx, path, cfg.BusyTimeout, url.Values{
		"_busy_timeout": {busy},
		"_query_only":   {"1"},
	}, cfg.ReadConns)
	if err != nil {
		s.w.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	logger.Info("opened", "path", cfg.Path)
	return s, nil
}

// openDB opens path with params. Opening a connection sets the journal
// mode, which SQLite may refuse with SQLITE_BUSY without waiting for the
// busy timeout when other processes open the same new file at once; such
// opens are retried until the busy timeout has passed.
func openDB(ctx context.Context, path string, busyTimeout time.Duration, params url.Values, conns int) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + params.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite metastore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	deadline := time.Now().Add(busyTimeout)
	for {
		err := db.PingContext(ctx)
		if err == nil {
			return db, nil
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqliteBusy || time.Now().After(deadline) {
			db.Close()
			return nil, fmt.Errorf("sqlite metastore: open %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			db.Close()
			return nil, fmt.Errorf("sqlite metastore: open %s: %w", path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sqliteBusy is SQLITE_BUSY, the primary result code of a lock conflict.
const sqliteBusy = 5

const chunkColumns = `c.topic_id, c.partition, c.base_offset, c.end_offset, c.object_key, o.size,
	c.level, c.byte_start, c.byte_length, c.raw_length, c.batch_count, c.max_timestamp, c.skip`

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		db    *sql.DB
		stmt  **sql.Stmt
		query string
	}{
		{s.w, &s.wPartition, `SELECT log_start_offset, next_offset, leader_node, leader_epoch
			FROM partitions WHERE topic_id = ? AND partition = ?`},
		{s.w, &s.wProducer, `SELECT epoch, recent FROM producer_state
			WHERE producer_id = ? AND topic_id = ? AND partition = ?`},
		{s.w, &s.wInsObject, `INSERT INTO objects (key, size, level, created_at) VALUES (?, ?, 0, ?)
			ON CONFLICT (key) DO NOTHING`},
		{s.w, &s.wNextOffset, `UPDATE partitions SET next_offset = ? WHERE topic_id = ? AND partition = ?`},
		{s.w, &s.wUpsProducer, `INSERT INTO producer_state (producer_id, topic_id, partition, epoch, recent, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (producer_id, topic_id, partition)
			DO UPDATE SET epoch = excluded.epoch, recent = excluded.recent, updated_at = excluded.updated_at`},
		{s.w, &s.wInsChunk, `INSERT INTO chunks (topic_id, partition, base_offset, end_offset, object_key, level,
			byte_start, byte_length, raw_length, batch_count, max_timestamp, skip)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{s.r, &s.rPartition, `SELECT log_start_offset, next_offset, leader_node, leader_epoch
			FROM partitions WHERE topic_id = ? AND partition = ?`},
		// The chunk holding offset X is the last one starting at or before
		// X (chunks tile the partition): one descending step in the primary
		// key finds it, then the scan goes on in key order. A second index
		// on end_offset would double the pages every commit writes.
		{s.r, &s.rChunksFrom, `SELECT ` + chunkColumns + ` FROM chunks c JOIN objects o ON o.key = c.object_key
			WHERE c.topic_id = ?1 AND c.partition = ?2 AND c.end_offset > ?3
			AND c.base_offset >= coalesce((SELECT max(base_offset) FROM chunks
				WHERE topic_id = ?1 AND partition = ?2 AND base_offset <= ?3), -9223372036854775808)
			ORDER BY c.base_offset LIMIT ?4`},
		{s.r, &s.rChunkForTS, `SELECT ` + chunkColumns + ` FROM chunks c JOIN objects o ON o.key = c.object_key
			WHERE c.topic_id = ? AND c.partition = ? AND c.end_offset > ? AND c.max_timestamp >= ?
			ORDER BY c.base_offset LIMIT 1`},
	} {
		st, err := p.db.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("sqlite metastore: prepare: %w", err)
		}
		*p.stmt = st
	}
	return nil
}

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		for _, st := range []*sql.Stmt{s.wPartition, s.wProducer, s.wInsObject, s.wNextOffset, s.wUpsProducer,
			s.wInsChunk, s.rPartition, s.rChunksFrom, s.rChunkForTS} {
			if st != nil {
				st.Close()
			}
		}
		if s.r != nil {
			s.r.Close()
		}
		// SQLite checkpoints and removes the WAL when the last connection
		// to the file closes, leaving a self-contained database file.
		if err := s.w.Close(); err != nil {
			s.logger.Warn("close", "err", err)
		}
	})
}

// observe records an operation's duration and error; use with defer.
func (s *Store) observe(op string, start time.Time, err *error) { s.m.Observe(op, start, err) }

// writeTx runs fn in a write transaction, committed when fn returns nil.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// readTx runs fn in a read transaction: every query sees the same snapshot.
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	return fn(tx)
}
