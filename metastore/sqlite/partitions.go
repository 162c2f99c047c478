package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// Partitions returns the topic's partitions ordered by number, or
// ErrUnknownTopic.
func (s *Store) Partitions(ctx context.Context, topicID uuid.UUID) (ps []metastore.Partition, err error) {
	defer s.observe("partitions", time.Now(), &err)
	rows, err := s.r.QueryContext(ctx, `SELECT partition, log_start_offset, next_offset, leader_node, leader_epoch
		FROM partitions WHERE topic_id = ? ORDER BY partition`, topicID[:])
	if err != nil {
		return nil, fmt.Errorf("partitions of topic %s: %w", topicID, err)
	}
	defer rows.Close()
	for rows.Next() {
		p := metastore.Partition{TopicID: topicID}
		if err := rows.Scan(&p.Partition, &p.LogStartOffset, &p.NextOffset, &p.LeaderNode, &p.LeaderEpoch); err != nil {
			return nil, fmt.Errorf("partitions of topic %s: %w", topicID, err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("partitions of topic %s: %w", topicID, err)
	}
	if len(ps) == 0 { // a topic has at least one partition
		return nil, fmt.Errorf("partitions of topic %s: %w", topicID, metastore.ErrUnknownTopic)
	}
	return ps, nil
}

// Partition returns one partition, or ErrUnknownPartition.
func (s *Store) Partition(ctx context.Context, topicID uuid.UUID, partition int32) (p metastore.Partition, err error) {
	defer s.observe("partition", time.Now(), &err)
	p, err = scanPartition(s.rPartition.QueryRowContext(ctx, topicID[:], partition), topicID, partition)
	if err != nil {
		return p, fmt.Errorf("partition %s/%d: %w", topicID, partition, err)
	}
	return p, nil
}

// scanPartition scans the columns of the wPartition and rPartition
// statements.
func scanPartition(row *sql.Row, topicID uuid.UUID, partition int32) (metastore.Partition, error) {
	p := metastore.Partition{TopicID: topicID, Partition: partition}
	err := row.Scan(&p.LogStartOffset, &p.NextOffset, &p.LeaderNode, &p.LeaderEpoch)
	if errors.Is(err, sql.ErrNoRows) {
		return p, metastore.ErrUnknownPartition
	}
	return p, err
}

// ChunksFrom returns up to limit chunks (a limit below 1 is taken as 1)
// whose EndOffset is above offset, in offset order. An offset below the log
// start or above the high watermark is ErrOffsetOutOfRange; at the high
// watermark the result is empty.
func (s *Store) ChunksFrom(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, limit int) (cs []metastore.Chunk, err error) {
	defer s.observe("chunks_from", time.Now(), &err)
	limit = max(limit, 1)
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		p, err := scanPartition(tx.StmtContext(ctx, s.rPartition).QueryRowContext(ctx, topicID[:], partition), topicID, partition)
		if err != nil {
			return err
		}
		if offset < p.LogStartOffset || offset > p.NextOffset {
			return fmt.Errorf("%w: offset %d, partition holds [%d, %d)", metastore.ErrOffsetOutOfRange, offset, p.LogStartOffset, p.NextOffset)
		}
		rows, err := tx.StmtContext(ctx, s.rChunksFrom).QueryContext(ctx, topicID[:], partition, offset, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanChunk(rows)
			if err != nil {
				return err
			}
			cs = append(cs, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("chunks of %s/%d from %d: %w", topicID, partition, offset, err)
	}
	return cs, nil
}

// ChunkForTimestamp returns the first chunk, in offset order and from the
// log start, whose MaxTimestamp is at least ts.
func (s *Store) ChunkForTimestamp(ctx context.Context, topicID uuid.UUID, partition int32, ts int64) (c metastore.Chunk, ok bool, err error) {
	defer s.observe("chunk_for_timestamp", time.Now(), &err)
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		p, err := scanPartition(tx.StmtContext(ctx, s.rPartition).QueryRowContext(ctx, topicID[:], partition), topicID, partition)
		if err != nil {
			return err
		}
		rows, err := tx.StmtContext(ctx, s.rChunkForTS).QueryContext(ctx, topicID[:], partition, p.LogStartOffset, ts)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			if c, err = scanChunk(rows); err != nil {
				return err
			}
			ok = true
		}
		return rows.Err()
	})
	if err != nil {
		return metastore.Chunk{}, false, fmt.Errorf("chunk of %s/%d for timestamp %d: %w", topicID, partition, ts, err)
	}
	return c, ok, nil
}

// scanChunk scans chunkColumns.
func scanChunk(rows *sql.Rows) (metastore.Chunk, error) {
	var (
		c    metastore.Chunk
		skip []byte
	)
	if err := rows.Scan(&c.TopicID, &c.Partition, &c.BaseOffset, &c.EndOffset, &c.ObjectKey, &c.ObjectSize,
		&c.Level, &c.Start, &c.Length, &c.RawLength, &c.BatchCount, &c.MaxTimestamp, &skip); err != nil {
		return c, err
	}
	var err error
	c.Skip, err = decodeSkip(skip)
	return c, err
}

// DeleteRecords advances the log start offset; see metastore.Store.
func (s *Store) DeleteRecords(ctx context.Context, topicID uuid.UUID, partition int32, offset int64) (start int64, err error) {
	defer s.observe("delete_records", time.Now(), &err)
	var next int64
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT log_start_offset, next_offset FROM partitions
			WHERE topic_id = ? AND partition = ?`, topicID[:], partition)
		if err := row.Scan(&start, &next); errors.Is(err, sql.ErrNoRows) {
			return metastore.ErrUnknownPartition
		} else if err != nil {
			return err
		}
		if offset > next {
			return metastore.ErrOffsetOutOfRange
		}
		target := offset
		if target < 0 {
			target = next
		}
		if target <= start {
			return nil
		}
		start = target
		_, err := tx.ExecContext(ctx, `UPDATE partitions SET log_start_offset = ?
			WHERE topic_id = ? AND partition = ?`, start, topicID[:], partition)
		return err
	})
	if err != nil {
		return start, fmt.Errorf("delete records %s/%d before %d: %w", topicID, partition, offset, err)
	}
	return start, nil
}
