package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stratalog/strata/metastore"
)

// ErrObjectExists is returned by CommitSegment for an object key that was
// already committed: committing it again would store its batches twice.
var ErrObjectExists = metastore.ErrObjectExists

// CommitSegment records the object and its chunks in one transaction. It
// loads the touched partitions and producer states, lets metastore.PlanCommit
// assign offsets and check sequences, and writes the plan.
func (s *Store) CommitSegment(ctx context.Context, seg metastore.SegmentSpec) (results []metastore.ChunkResult, err error) {
	start := time.Now()
	defer s.observe("commit_segment", start, &err)
	defer func() { s.m.CommitSeconds.Observe(time.Since(start).Seconds()) }()
	if seg.ObjectKey == "" {
		return nil, errors.New("commit segment: empty object key")
	}
	var plan metastore.CommitPlan
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		now := s.now().UnixMilli()
		parts, err := s.loadPartitions(ctx, tx, seg)
		if err != nil {
			return err
		}
		producers, err := s.loadProducers(ctx, tx, seg, parts)
		if err != nil {
			return err
		}
		registered, err := loadRegistered(ctx, tx, seg)
		if err != nil {
			return err
		}
		plan = metastore.PlanCommit(seg, parts, producers, registered, now)
		return s.writePlan(ctx, tx, seg, plan, now)
	})
	if err != nil {
		return nil, fmt.Errorf("commit segment %s: %w", seg.ObjectKey, err)
	}
	s.m.CommittedChunks.Add(float64(len(plan.Chunks)))
	return plan.Results, nil
}

func (s *Store) loadPartitions(ctx context.Context, tx *sql.Tx, seg metastore.SegmentSpec) (map[metastore.PartitionKey]metastore.Partition, error) {
	keys := metastore.PartitionKeys(seg)
	parts := make(map[metastore.PartitionKey]metastore.Partition, len(keys))
	st := tx.StmtContext(ctx, s.wPartition)
	for _, k := range keys {
		p, err := scanPartition(st.QueryRowContext(ctx, k.TopicID[:], k.Partition), k.TopicID, k.Partition)
		if errors.Is(err, metastore.ErrUnknownPartition) {
			continue // PlanCommit fails the chunk
		}
		if err != nil {
			return nil, fmt.Errorf("load partition %s/%d: %w", k.TopicID, k.Partition, err)
		}
		parts[k] = p
	}
	return parts, nil
}

func (s *Store) loadProducers(ctx context.Context, tx *sql.Tx, seg metastore.SegmentSpec,
	parts map[metastore.PartitionKey]metastore.Partition) (map[metastore.ProducerKey]metastore.ProducerState, error) {
	keys := metastore.ProducerKeys(seg)
	producers := make(map[metastore.ProducerKey]metastore.ProducerState, len(keys))
	if len(keys) == 0 {
		return producers, nil
	}
	st := tx.StmtContext(ctx, s.wProducer)
	for _, k := range keys {
		if _, ok := parts[metastore.PartitionKey{TopicID: k.TopicID, Partition: k.Partition}]; !ok {
			continue
		}
		var (
			epoch  int16
			recent []byte
		)
		err := st.QueryRowContext(ctx, k.ProducerID, k.TopicID[:], k.Partition).Scan(&epoch, &recent)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load producer %d on %s/%d: %w", k.ProducerID, k.TopicID, k.Partition, err)
		}
		rs, err := metastore.DecodeRecent(recent)
		if err != nil {
			return nil, fmt.Errorf("load producer %d on %s/%d: %w", k.ProducerID, k.TopicID, k.Partition, err)
		}
		producers[k] = metastore.ProducerState{Key: k, Epoch: epoch, Recent: rs}
	}
	return producers, nil
}

// loadRegistered returns which of the segment's producer ids are registered.
func loadRegistered(ctx context.Context, tx *sql.Tx, seg metastore.SegmentSpec) (map[int64]bool, error) {
	registered := make(map[int64]bool)
	for _, k := range metastore.ProducerKeys(seg) {
		if _, seen := registered[k.ProducerID]; seen {
			continue
		}
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM producers WHERE producer_id = ?`, k.ProducerID).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			registered[k.ProducerID] = false
		case err != nil:
			return nil, fmt.Errorf("load producer %d: %w", k.ProducerID, err)
		default:
			registered[k.ProducerID] = true
		}
	}
	return registered, nil
}

func (s *Store) writePlan(ctx context.Context, tx *sql.Tx, seg metastore.SegmentSpec, plan metastore.CommitPlan, now int64) error {
	res, err := tx.StmtContext(ctx, s.wInsObject).ExecContext(ctx, seg.ObjectKey, seg.ObjectSize, now)
	if err != nil {
		return fmt.Errorf("insert object: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("insert object: %w", err)
	} else if n == 0 {
		// The key has a row: an earlier commit's, or the orphan
		// collection's claim, whose object is deleted or about to be.
		var level int16
		if err := tx.QueryRowContext(ctx, `SELECT level FROM objects WHERE key = ?`, seg.ObjectKey).Scan(&level); err != nil {
			return fmt.Errorf("insert object: read the row that holds the key: %w", err)
		}
		if level == metastore.ClaimedLevel {
			return metastore.ErrObjectClaimed
		}
		return ErrObjectExists
	}
	st := tx.StmtContext(ctx, s.wNextOffset)
	for k, next := range plan.NextOffset {
		if _, err := st.ExecContext(ctx, next, k.TopicID[:], k.Partition); err != nil {
			return fmt.Errorf("advance partition %s/%d: %w", k.TopicID, k.Partition, err)
		}
	}
	st = tx.StmtContext(ctx, s.wUpsProducer)
	for k, ps := range plan.Producers {
		if _, err := st.ExecContext(ctx, k.ProducerID, k.TopicID[:], k.Partition, ps.Epoch, string(metastore.AppendRecent(nil, ps.Recent)), now); err != nil {
			return fmt.Errorf("store producer %d on %s/%d: %w", k.ProducerID, k.TopicID, k.Partition, err)
		}
	}
	st = tx.StmtContext(ctx, s.wInsChunk)
	for _, c := range plan.Chunks {
		if _, err := st.ExecContext(ctx, c.TopicID[:], c.Partition, c.BaseOffset, c.EndOffset, c.ObjectKey, c.Level,
			c.Start, c.Length, c.RawLength, c.BatchCount, c.MaxTimestamp, skipArg(c.Skip)); err != nil {
			return fmt.Errorf("insert chunk %s/%d at %d: %w", c.TopicID, c.Partition, c.BaseOffset, err)
		}
	}
	return writeTxns(ctx, tx, plan.Txns)
}

// AllocateProducerID returns a new producer id; ids start at 1.
func (s *Store) AllocateProducerID(ctx context.Context) (id int64, err error) {
	defer s.observe("allocate_producer_id", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `UPDATE producer_ids SET next_id = next_id + 1 WHERE id = 1 RETURNING next_id - 1`).Scan(&id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO producers (producer_id, created_at) VALUES (?, ?)`, id, s.now().UnixMilli())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("allocate producer id: %w", err)
	}
	return id, nil
}

// ExpireProducers implements metastore.Store, as the PostgreSQL backend
// does, by the store's clock.
func (s *Store) ExpireProducers(ctx context.Context, idle time.Duration) (n int, err error) {
	defer s.observe("expire_producers", time.Now(), &err)
	cutoff := s.now().Add(-idle).UnixMilli()
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `
			SELECT p.producer_id FROM producers p
			WHERE p.created_at <= ?1
				AND NOT EXISTS (SELECT 1 FROM producer_state s WHERE s.producer_id = p.producer_id AND s.updated_at > ?1)`, cutoff)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM producer_state WHERE producer_id = ?`, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM producers WHERE producer_id = ?`, id); err != nil {
				return err
			}
		}
		n = len(ids)
		_, err = tx.ExecContext(ctx, `
			DELETE FROM producer_state
			WHERE updated_at <= ?1 AND NOT EXISTS (SELECT 1 FROM producers p WHERE p.producer_id = producer_state.producer_id)`, cutoff)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire producers: %w", err)
	}
	return n, nil
}

// skipArg is the skip column's value: NULL for an empty list. Columns are
// STRICT TEXT, so JSON goes in as a string, never as a blob.
func skipArg(skip []int32) any {
	if b := encodeSkip(skip); b != nil {
		return string(b)
	}
	return nil
}
