package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/metastore"
)

// Transactional ids. Every write is a compare-and-set on the row's
// version, in one statement: the database decides which of two racing
// writers wins, whatever their clocks.

var _ metastore.TxnStore = (*Store)(nil)

const txnColumns = `transactional_id, producer_id, producer_epoch, state, timeout_ms, partitions::text, group_names::text, pending_offsets::text, start_time, updated_at, version`

func scanTxn(r pgx.Row) (metastore.Transaction, error) {
	var t metastore.Transaction
	var state, parts, groups, offs string
	var start *time.Time
	if err := r.Scan(&t.TransactionalID, &t.ProducerID, &t.ProducerEpoch, &state, &t.TimeoutMs, &parts, &groups, &offs, &start, &t.UpdatedAt, &t.Version); err != nil {
		return t, err
	}
	t.State = metastore.TxnState(state)
	var err error
	if t.Partitions, err = metastore.UnmarshalTxnPartitions([]byte(parts)); err != nil {
		return t, err
	}
	if t.Groups, err = metastore.UnmarshalTxnGroups([]byte(groups)); err != nil {
		return t, err
	}
	if t.PendingOffsets, err = metastore.UnmarshalTxnOffsets([]byte(offs)); err != nil {
		return t, err
	}
	if start != nil {
		t.StartTime = *start
	}
	return t, nil
}

// LoadTransaction implements metastore.TxnStore.
func (s *Store) LoadTransaction(ctx context.Context, id string) (metastore.Transaction, error) {
	t, err := scanTxn(s.pool.QueryRow(ctx, `SELECT `+txnColumns+` FROM transactions WHERE transactional_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.Transaction{}, fmt.Errorf("transactional id %q: %w", id, metastore.ErrUnknownTransaction)
	}
	if err != nil {
		return metastore.Transaction{}, fmt.Errorf("transactional id %q: %w", id, err)
	}
	return t, nil
}

// SaveTransaction implements metastore.TxnStore.
func (s *Store) SaveTransaction(ctx context.Context, t metastore.Transaction) (metastore.Transaction, error) {
	t, err := metastore.NormalizeTransaction(t)
	if err != nil {
		return metastore.Transaction{}, err
	}
	parts, err := metastore.MarshalTxnPartitions(t.Partitions)
	if err != nil {
		return metastore.Transaction{}, err
	}
	groups, err := metastore.MarshalTxnGroups(t.Groups)
	if err != nil {
		return metastore.Transaction{}, err
	}
	offs, err := metastore.MarshalTxnOffsets(t.PendingOffsets)
	if err != nil {
		return metastore.Transaction{}, err
	}
	var start *time.Time
	if !t.StartTime.IsZero() {
		start = &t.StartTime
	}
	var row pgx.Row
	if t.Version == 0 {
		row = s.pool.QueryRow(ctx, `INSERT INTO transactions (transactional_id, producer_id, producer_epoch, state,
			timeout_ms, partitions, group_names, pending_offsets, start_time, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $9::jsonb, $8, now(), 1)
			ON CONFLICT (transactional_id) DO NOTHING
			RETURNING updated_at, version`,
			t.TransactionalID, t.ProducerID, t.ProducerEpoch, string(t.State), t.TimeoutMs, string(parts), string(groups), start, string(offs))
	} else {
		row = s.pool.QueryRow(ctx, `UPDATE transactions SET producer_id = $2, producer_epoch = $3, state = $4,
			timeout_ms = $5, partitions = $6::jsonb, group_names = $7::jsonb, start_time = $8, updated_at = now(),
			pending_offsets = $10::jsonb, version = version + 1
			WHERE transactional_id = $1 AND version = $9
			RETURNING updated_at, version`,
			t.TransactionalID, t.ProducerID, t.ProducerEpoch, string(t.State), t.TimeoutMs, string(parts), string(groups), start, t.Version, string(offs))
	}
	err = row.Scan(&t.UpdatedAt, &t.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.Transaction{}, fmt.Errorf("save transactional id %q at version %d: %w", t.TransactionalID, t.Version, metastore.ErrTxnConflict)
	}
	if err != nil {
		return metastore.Transaction{}, fmt.Errorf("save transactional id %q: %w", t.TransactionalID, err)
	}
	return t, nil
}

// ListTransactions implements metastore.TxnStore.
func (s *Store) ListTransactions(ctx context.Context) ([]metastore.Transaction, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+txnColumns+` FROM transactions ORDER BY transactional_id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.Transaction, error) { return scanTxn(r) })
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	return ts, nil
}

// DeleteTransaction implements metastore.TxnStore.
func (s *Store) DeleteTransaction(ctx context.Context, t metastore.Transaction) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM transactions WHERE transactional_id = $1 AND version = $2`, t.TransactionalID, t.Version)
	if err != nil {
		return fmt.Errorf("delete transactional id %q: %w", t.TransactionalID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete transactional id %q at version %d: %w", t.TransactionalID, t.Version, metastore.ErrTxnConflict)
	}
	return nil
}

// txnWrite is what EndTransaction adds to a segment commit (commitOnce).
// Its methods do nothing on a nil txnWrite, a plain segment commit.
type txnWrite struct {
	end                 metastore.TxnEndSpec
	parts, groups, offs string
	now                 time.Time
	version             int64 // the stored version, read under the row lock
}

const lockTxnSQL = `SELECT version FROM transactions WHERE transactional_id = $1 FOR UPDATE`

// queueLock locks the transaction's row, after the partitions: every
// writer that takes both takes them in this order.
func (tw *txnWrite) queueLock(b *pgx.Batch) {
	if tw != nil {
		b.Queue(lockTxnSQL, tw.end.Txn.TransactionalID)
	}
}

// readLock reads the stored version and fails with ErrTxnConflict when it
// is not the one the end was computed from.
func (tw *txnWrite) readLock(br pgx.BatchResults) error {
	if tw == nil {
		return nil
	}
	err := br.QueryRow().Scan(&tw.version)
	if errors.Is(err, pgx.ErrNoRows) {
		tw.version = 0
	} else if err != nil {
		return fmt.Errorf("lock transactional id %q: %w", tw.end.Txn.TransactionalID, err)
	}
	if tw.version == 0 || tw.version != tw.end.Txn.Version {
		return fmt.Errorf("end transactional id %q at version %d: %w", tw.end.Txn.TransactionalID, tw.end.Txn.Version, metastore.ErrTxnConflict)
	}
	return nil
}

// queueWrite writes the row and the groups' offsets.
func (tw *txnWrite) queueWrite(b *pgx.Batch) {
	if tw == nil {
		return
	}
	t := tw.end.Txn
	var start *time.Time
	if !t.StartTime.IsZero() {
		start = &t.StartTime
	}
	b.Queue(`UPDATE transactions SET producer_id = $2, producer_epoch = $3, state = $4,
		timeout_ms = $5, partitions = $6::jsonb, group_names = $7::jsonb, pending_offsets = $8::jsonb,
		start_time = $9, updated_at = $10, version = version + 1
		WHERE transactional_id = $1`,
		t.TransactionalID, t.ProducerID, t.ProducerEpoch, string(t.State), t.TimeoutMs, tw.parts, tw.groups, tw.offs, start, tw.now)
	if len(tw.end.Offsets) == 0 {
		return
	}
	offs := metastore.SortTxnOffsets(tw.end.Offsets)
	n := len(offs)
	groups, topics, parts := make([]string, n), make([]string, n), make([]int32, n)
	offsets, epochs, metas, times := make([]int64, n), make([]int32, n), make([]string, n), make([]time.Time, n)
	for i, o := range offs {
		groups[i], topics[i], parts[i], offsets[i], epochs[i], metas[i] = o.Group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata
		times[i] = o.CommitTime
		if times[i].IsZero() {
			times[i] = tw.now
		}
	}
	b.Queue(`INSERT INTO consumer_groups (name) SELECT DISTINCT g FROM unnest($1::text[]) AS g ON CONFLICT (name) DO NOTHING`, groups)
	b.Queue(`INSERT INTO group_offsets (group_name, topic, partition, committed_offset, leader_epoch, metadata, commit_time)
		SELECT u.g, u.topic, u.partition, u.off, u.epoch, u.meta, u.ts
		FROM unnest($1::text[], $2::text[], $3::integer[], $4::bigint[], $5::integer[], $6::text[], $7::timestamptz[])
			WITH ORDINALITY AS u(g, topic, partition, off, epoch, meta, ts, ord)
		WHERE EXISTS (SELECT 1 FROM topics t WHERE t.name = u.topic)
		ORDER BY u.ord
		ON CONFLICT (group_name, topic, partition) DO UPDATE SET
			committed_offset = excluded.committed_offset,
			leader_epoch = excluded.leader_epoch,
			metadata = excluded.metadata,
			commit_time = excluded.commit_time`,
		groups, topics, parts, offsets, epochs, metas, times)
}

// EndTransaction implements metastore.TxnStore: the markers' segment, the
// row's compare-and-set and the offsets in one transaction, the two round
// trips of a segment commit.
func (s *Store) EndTransaction(ctx context.Context, e metastore.TxnEndSpec) (_ metastore.Transaction, _ []metastore.ChunkResult, err error) {
	defer s.metrics.Observe("end_transaction", time.Now(), &err)
	t, err := metastore.NormalizeTransaction(e.Txn)
	if err != nil {
		return metastore.Transaction{}, nil, err
	}
	e.Txn = t
	tw := &txnWrite{end: e, now: time.Now().Truncate(time.Microsecond)}
	b, err := metastore.MarshalTxnPartitions(t.Partitions)
	if err != nil {
		return metastore.Transaction{}, nil, err
	}
	tw.parts = string(b)
	if b, err = metastore.MarshalTxnGroups(t.Groups); err != nil {
		return metastore.Transaction{}, nil, err
	}
	tw.groups = string(b)
	if b, err = metastore.MarshalTxnOffsets(t.PendingOffsets); err != nil {
		return metastore.Transaction{}, nil, err
	}
	tw.offs = string(b)
	seg := e.Markers
	pkeys := metastore.PartitionKeys(seg)
	prkeys := metastore.ProducerKeys(seg)
	var results []metastore.ChunkResult
	err = s.retry(ctx, "end_transaction", func() error {
		var err error
		results, err = s.commitOnce(ctx, seg, pkeys, prkeys, tw)
		return err
	})
	if isObjectKeyTaken(err) {
		err = s.objectKeyTaken(ctx, seg.ObjectKey, err)
	}
	if err != nil {
		return metastore.Transaction{}, nil, fmt.Errorf("end transaction %q: %w", t.TransactionalID, err)
	}
	t.Version = tw.version + 1
	t.UpdatedAt = tw.now
	return t, results, nil
}
