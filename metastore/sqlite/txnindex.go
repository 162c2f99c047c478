package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// writeTxns applies a plan's changes to the transaction index (migration
// 0013) in the commit's transaction, in the order metastore.TxnPlan gives.
// writePlan calls it, so every commit of a plan keeps the index.
func writeTxns(ctx context.Context, tx *sql.Tx, t metastore.TxnPlan) error {
	if t.Empty() {
		return nil
	}
	open := func(opens []metastore.TxnOpen) error {
		for _, o := range opens {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO txn_open (topic_id, partition, producer_id, first_offset) VALUES (?, ?, ?, ?)
				ON CONFLICT (topic_id, partition, producer_id) DO NOTHING`,
				o.Key.TopicID[:], o.Key.Partition, o.Key.ProducerID, o.Offset); err != nil {
				return fmt.Errorf("open transaction of producer %d on %s/%d: %w", o.Key.ProducerID, o.Key.TopicID, o.Key.Partition, err)
			}
		}
		return nil
	}
	if err := open(t.OpenFirst); err != nil {
		return err
	}
	for _, e := range t.Ends {
		k := e.Key
		if e.Abort {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO txn_aborted (topic_id, partition, first_offset, producer_id, last_offset)
				SELECT topic_id, partition, first_offset, producer_id, ? FROM txn_open
				WHERE topic_id = ? AND partition = ? AND producer_id = ?`,
				e.Offset, k.TopicID[:], k.Partition, k.ProducerID); err != nil {
				return fmt.Errorf("abort transaction of producer %d on %s/%d: %w", k.ProducerID, k.TopicID, k.Partition, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM txn_open WHERE topic_id = ? AND partition = ? AND producer_id = ?`,
			k.TopicID[:], k.Partition, k.ProducerID); err != nil {
			return fmt.Errorf("end transaction of producer %d on %s/%d: %w", k.ProducerID, k.TopicID, k.Partition, err)
		}
	}
	for _, a := range t.Aborted {
		k := a.Key
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO txn_aborted (topic_id, partition, first_offset, producer_id, last_offset) VALUES (?, ?, ?, ?, ?)`,
			k.TopicID[:], k.Partition, a.FirstOffset, k.ProducerID, a.LastOffset); err != nil {
			return fmt.Errorf("aborted transaction of producer %d on %s/%d: %w", k.ProducerID, k.TopicID, k.Partition, err)
		}
	}
	return open(t.OpenLast)
}

// PartitionTxns implements metastore.TxnIndexStore.
func (s *Store) PartitionTxns(ctx context.Context, topicID uuid.UUID, partition int32, from int64, limit int) (out metastore.PartitionTxns, err error) {
	defer s.observe("partition_txns", time.Now(), &err)
	limit = max(limit, 1)
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		p, err := scanPartition(tx.StmtContext(ctx, s.rPartition).QueryRowContext(ctx, topicID[:], partition), topicID, partition)
		if err != nil {
			return err
		}
		out = metastore.PartitionTxns{NextOffset: p.NextOffset, FirstOpen: -1}
		var first sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT min(first_offset) FROM txn_open WHERE topic_id = ? AND partition = ?`,
			topicID[:], partition).Scan(&first); err != nil {
			return err
		}
		if first.Valid {
			out.FirstOpen = first.Int64
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT producer_id, first_offset, last_offset FROM txn_aborted
			WHERE topic_id = ? AND partition = ? AND last_offset >= ?
			ORDER BY first_offset LIMIT ?`, topicID[:], partition, from, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a metastore.AbortedTxn
			if err := rows.Scan(&a.ProducerID, &a.FirstOffset, &a.LastOffset); err != nil {
				return err
			}
			out.Aborted = append(out.Aborted, a)
		}
		return rows.Err()
	})
	if err != nil {
		return metastore.PartitionTxns{}, fmt.Errorf("transactions of %s/%d: %w", topicID, partition, err)
	}
	if len(out.Aborted) > limit {
		out.Aborted, out.Truncated = out.Aborted[:limit], true
	}
	return out, nil
}

// PartitionProducers implements metastore.TxnIndexStore.
func (s *Store) PartitionProducers(ctx context.Context, topicID uuid.UUID, partition int32) (out []metastore.PartitionProducer, err error) {
	defer s.observe("partition_producers", time.Now(), &err)
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		if _, err := scanPartition(tx.StmtContext(ctx, s.rPartition).QueryRowContext(ctx, topicID[:], partition), topicID, partition); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT s.producer_id, s.epoch, s.recent, s.updated_at, COALESCE(o.first_offset, -1)
			FROM producer_state s
			LEFT JOIN txn_open o ON o.topic_id = s.topic_id AND o.partition = s.partition AND o.producer_id = s.producer_id
			WHERE s.topic_id = ? AND s.partition = ?
			ORDER BY s.producer_id`, topicID[:], partition)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p metastore.PartitionProducer
			var recent []byte
			if err := rows.Scan(&p.ProducerID, &p.Epoch, &recent, &p.LastTimestamp, &p.TxnFirstOffset); err != nil {
				return err
			}
			r, err := metastore.DecodeRecent(recent)
			if err != nil {
				return fmt.Errorf("producer %d: %w", p.ProducerID, err)
			}
			p.LastSequence = metastore.ProducerState{Recent: r}.LastSeq()
			out = append(out, p)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("producers of %s/%d: %w", topicID, partition, err)
	}
	return out, nil
}

// PruneAbortedTxns implements metastore.TxnIndexStore.
func (s *Store) PruneAbortedTxns(ctx context.Context) (n int, err error) {
	defer s.observe("prune_aborted_txns", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			DELETE FROM txn_aborted
			WHERE last_offset < (SELECT p.log_start_offset FROM partitions p
				WHERE p.topic_id = txn_aborted.topic_id AND p.partition = txn_aborted.partition)`)
		if err != nil {
			return err
		}
		m, err := res.RowsAffected()
		n = int(m)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune aborted transactions: %w", err)
	}
	return n, nil
}
