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

const txnColumns = `transactional_id, producer_id, producer_epoch, state, timeout_ms, partitions::text, group_names::text, start_time, updated_at, version`

func scanTxn(r pgx.Row) (metastore.Transaction, error) {
	var t metastore.Transaction
	var state, parts, groups string
	var start *time.Time
	if err := r.Scan(&t.TransactionalID, &t.ProducerID, &t.ProducerEpoch, &state, &t.TimeoutMs, &parts, &groups, &start, &t.UpdatedAt, &t.Version); err != nil {
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
	var start *time.Time
	if !t.StartTime.IsZero() {
		start = &t.StartTime
	}
	var row pgx.Row
	if t.Version == 0 {
		row = s.pool.QueryRow(ctx, `INSERT INTO transactions (transactional_id, producer_id, producer_epoch, state,
			timeout_ms, partitions, group_names, start_time, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, now(), 1)
			ON CONFLICT (transactional_id) DO NOTHING
			RETURNING updated_at, version`,
			t.TransactionalID, t.ProducerID, t.ProducerEpoch, string(t.State), t.TimeoutMs, string(parts), string(groups), start)
	} else {
		row = s.pool.QueryRow(ctx, `UPDATE transactions SET producer_id = $2, producer_epoch = $3, state = $4,
			timeout_ms = $5, partitions = $6::jsonb, group_names = $7::jsonb, start_time = $8, updated_at = now(),
			version = version + 1
			WHERE transactional_id = $1 AND version = $9
			RETURNING updated_at, version`,
			t.TransactionalID, t.ProducerID, t.ProducerEpoch, string(t.State), t.TimeoutMs, string(parts), string(groups), start, t.Version)
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
