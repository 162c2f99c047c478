package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stratalog/strata/metastore"
)

// Transactional ids. Every write is a compare-and-set on the row's
// version, made through the single write connection like every other
// write.

var _ metastore.TxnStore = (*Store)(nil)

const txnColumns = `transactional_id, producer_id, producer_epoch, state, timeout_ms, partitions, group_names, pending_offsets, start_time, updated_at, version`

func scanTxn(r rowScanner) (metastore.Transaction, error) {
	var t metastore.Transaction
	var state, parts, groups, offs string
	var start sql.NullInt64
	var updated int64
	if err := r.Scan(&t.TransactionalID, &t.ProducerID, &t.ProducerEpoch, &state, &t.TimeoutMs, &parts, &groups, &offs, &start, &updated, &t.Version); err != nil {
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
	if start.Valid {
		t.StartTime = time.UnixMilli(start.Int64)
	}
	t.UpdatedAt = time.UnixMilli(updated)
	return t, nil
}

// LoadTransaction implements metastore.TxnStore.
func (s *Store) LoadTransaction(ctx context.Context, id string) (t metastore.Transaction, err error) {
	defer s.observe("load_transaction", time.Now(), &err)
	t, err = scanTxn(s.r.QueryRowContext(ctx, `SELECT `+txnColumns+` FROM transactions WHERE transactional_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return metastore.Transaction{}, fmt.Errorf("transactional id %q: %w", id, metastore.ErrUnknownTransaction)
	}
	if err != nil {
		return metastore.Transaction{}, fmt.Errorf("transactional id %q: %w", id, err)
	}
	return t, nil
}

// SaveTransaction implements metastore.TxnStore.
func (s *Store) SaveTransaction(ctx context.Context, t metastore.Transaction) (_ metastore.Transaction, err error) {
	defer s.observe("save_transaction", time.Now(), &err)
	if t, err = metastore.NormalizeTransaction(t); err != nil {
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
	var start sql.NullInt64
	if !t.StartTime.IsZero() {
		start = sql.NullInt64{Int64: t.StartTime.UnixMilli(), Valid: true}
	}
	now := s.now().UnixMilli()
	var res sql.Result
	if t.Version == 0 {
		res, err = s.w.ExecContext(ctx, `INSERT INTO transactions (`+txnColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (transactional_id) DO NOTHING`,
			t.TransactionalID, t.ProducerID, t.ProducerEpoch, string(t.State), t.TimeoutMs, string(parts), string(groups), string(offs), start, now)
	} else {
		res, err = s.w.ExecContext(ctx, `UPDATE transactions SET producer_id = ?, producer_epoch = ?, state = ?,
			timeout_ms = ?, partitions = ?, group_names = ?, pending_offsets = ?, start_time = ?, updated_at = ?,
			version = version + 1
			WHERE transactional_id = ? AND version = ?`,
			t.ProducerID, t.ProducerEpoch, string(t.State), t.TimeoutMs, string(parts), string(groups), string(offs), start, now,
			t.TransactionalID, t.Version)
	}
	if err != nil {
		return metastore.Transaction{}, fmt.Errorf("save transactional id %q: %w", t.TransactionalID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return metastore.Transaction{}, fmt.Errorf("save transactional id %q: %w", t.TransactionalID, err)
	} else if n == 0 {
		return metastore.Transaction{}, fmt.Errorf("save transactional id %q at version %d: %w", t.TransactionalID, t.Version, metastore.ErrTxnConflict)
	}
	t.Version++
	t.UpdatedAt = time.UnixMilli(now)
	return t, nil
}

// ListTransactions implements metastore.TxnStore.
func (s *Store) ListTransactions(ctx context.Context) (out []metastore.Transaction, err error) {
	defer s.observe("list_transactions", time.Now(), &err)
	rows, err := s.r.QueryContext(ctx, `SELECT `+txnColumns+` FROM transactions ORDER BY transactional_id`)
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTxn(rows)
		if err != nil {
			return nil, fmt.Errorf("list transactions: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	return out, nil
}

// DeleteTransaction implements metastore.TxnStore.
func (s *Store) DeleteTransaction(ctx context.Context, t metastore.Transaction) (err error) {
	defer s.observe("delete_transaction", time.Now(), &err)
	res, err := s.w.ExecContext(ctx, `DELETE FROM transactions WHERE transactional_id = ? AND version = ?`, t.TransactionalID, t.Version)
	if err != nil {
		return fmt.Errorf("delete transactional id %q: %w", t.TransactionalID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete transactional id %q: %w", t.TransactionalID, err)
	} else if n == 0 {
		return fmt.Errorf("delete transactional id %q at version %d: %w", t.TransactionalID, t.Version, metastore.ErrTxnConflict)
	}
	return nil
}

// EndTransaction implements metastore.TxnStore: the markers' segment, the
// row's compare-and-set and the offsets in one write transaction.
func (s *Store) EndTransaction(ctx context.Context, e metastore.TxnEndSpec) (_ metastore.Transaction, results []metastore.ChunkResult, err error) {
	defer s.observe("end_transaction", time.Now(), &err)
	t, err := metastore.NormalizeTransaction(e.Txn)
	if err != nil {
		return metastore.Transaction{}, nil, err
	}
	parts, err := metastore.MarshalTxnPartitions(t.Partitions)
	if err != nil {
		return metastore.Transaction{}, nil, err
	}
	groups, err := metastore.MarshalTxnGroups(t.Groups)
	if err != nil {
		return metastore.Transaction{}, nil, err
	}
	offs, err := metastore.MarshalTxnOffsets(t.PendingOffsets)
	if err != nil {
		return metastore.Transaction{}, nil, err
	}
	var start sql.NullInt64
	if !t.StartTime.IsZero() {
		start = sql.NullInt64{Int64: t.StartTime.UnixMilli(), Valid: true}
	}
	seg := e.Markers
	var plan metastore.CommitPlan
	now := s.now().UnixMilli()
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE transactions SET producer_id = ?, producer_epoch = ?, state = ?,
			timeout_ms = ?, partitions = ?, group_names = ?, pending_offsets = ?, start_time = ?, updated_at = ?,
			version = version + 1
			WHERE transactional_id = ? AND version = ?`,
			t.ProducerID, t.ProducerEpoch, string(t.State), t.TimeoutMs, string(parts), string(groups), string(offs), start, now,
			t.TransactionalID, t.Version)
		if err != nil {
			return fmt.Errorf("write transactional id %q: %w", t.TransactionalID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 || t.Version == 0 {
			return fmt.Errorf("end transactional id %q at version %d: %w", t.TransactionalID, t.Version, metastore.ErrTxnConflict)
		}
		if seg.ObjectKey != "" {
			ps, err := s.loadPartitions(ctx, tx, seg)
			if err != nil {
				return err
			}
			producers, err := s.loadProducers(ctx, tx, seg, ps)
			if err != nil {
				return err
			}
			registered, err := loadRegistered(ctx, tx, seg)
			if err != nil {
				return err
			}
			plan = metastore.PlanCommit(seg, ps, producers, registered, now)
			if err := s.writePlan(ctx, tx, seg, plan, now); err != nil {
				return err
			}
		}
		return writeTxnOffsets(ctx, tx, e.Offsets, now)
	})
	if err != nil {
		return metastore.Transaction{}, nil, fmt.Errorf("end transaction %q: %w", t.TransactionalID, err)
	}
	s.m.CommittedChunks.Add(float64(len(plan.Chunks)))
	t.Version++
	t.UpdatedAt = time.UnixMilli(now)
	return t, plan.Results, nil
}

// writeTxnOffsets stores a committed transaction's offsets as its groups'
// committed offsets; those of topics that no longer exist are dropped.
func writeTxnOffsets(ctx context.Context, tx *sql.Tx, offs []metastore.TxnOffset, now int64) error {
	if len(offs) == 0 {
		return nil
	}
	for _, o := range metastore.SortTxnOffsets(offs) {
		if _, _, err := topicID(ctx, tx, o.Topic); errors.Is(err, metastore.ErrUnknownTopic) {
			continue
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO consumer_groups (name, updated_at) VALUES (?, ?)
			ON CONFLICT (name) DO NOTHING`, o.Group, now); err != nil {
			return err
		}
		ts := now
		if !o.CommitTime.IsZero() {
			ts = o.CommitTime.UnixMilli()
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_offsets
			(group_name, topic, partition, committed_offset, leader_epoch, metadata, commit_time)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (group_name, topic, partition) DO UPDATE SET
				committed_offset = excluded.committed_offset,
				leader_epoch = excluded.leader_epoch,
				metadata = excluded.metadata,
				commit_time = excluded.commit_time`,
			o.Group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata, ts); err != nil {
			return fmt.Errorf("offset of group %q on %s/%d: %w", o.Group, o.Topic, o.Partition, err)
		}
	}
	return nil
}
