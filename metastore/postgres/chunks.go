package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/metastore"
)

// Both lookups read the partition row and the chunks in one statement: the
// partition row gives the offset range (and tells an unknown partition from
// an empty one), a lateral subquery walks the chunk index.

const chunksFromSQL = `
SELECT p.log_start_offset, p.next_offset,
	c.base_offset, c.end_offset, c.object_key, o.size, c.level, c.start, c.length,
	c.raw_length, c.batch_count, c.max_timestamp, c.skip
FROM partitions p
LEFT JOIN LATERAL (
	SELECT * FROM chunks c
	WHERE c.topic_id = p.topic_id AND c.partition = p.partition AND c.end_offset > $3
		AND $3 BETWEEN p.log_start_offset AND p.next_offset
	ORDER BY c.end_offset
	LIMIT $4
) c ON true
LEFT JOIN objects o ON o.key = c.object_key
WHERE p.topic_id = $1 AND p.partition = $2
ORDER BY c.end_offset`

const chunkForTimestampSQL = `
SELECT p.log_start_offset, p.next_offset,
	c.base_offset, c.end_offset, c.object_key, o.size, c.level, c.start, c.length,
	c.raw_length, c.batch_count, c.max_timestamp, c.skip
FROM partitions p
LEFT JOIN LATERAL (
	SELECT * FROM chunks c
	WHERE c.topic_id = p.topic_id AND c.partition = p.partition
		AND c.max_timestamp_run >= $3 AND c.max_timestamp >= $3
		AND c.end_offset > p.log_start_offset
	ORDER BY c.max_timestamp_run, c.base_offset
	LIMIT 1
) c ON true
LEFT JOIN objects o ON o.key = c.object_key
WHERE p.topic_id = $1 AND p.partition = $2`

// nullableChunk receives a chunk row of a LEFT JOIN.
type nullableChunk struct {
	logStart, next              int64
	base, end, size, start, lng *int64
	raw, maxTS                  *int64
	key                         *string
	level                       *int16
	count                       *int32
	skip                        []int32
}

func (n *nullableChunk) dest() []any {
	return []any{&n.logStart, &n.next, &n.base, &n.end, &n.key, &n.size, &n.level, &n.start, &n.lng, &n.raw, &n.count, &n.maxTS, &n.skip}
}

func (n *nullableChunk) chunk(topicID uuid.UUID, partition int32) (metastore.Chunk, bool) {
	if n.base == nil {
		return metastore.Chunk{}, false
	}
	c := metastore.Chunk{
		TopicID: topicID, Partition: partition,
		BaseOffset: *n.base, EndOffset: *n.end, ObjectKey: *n.key, Level: *n.level,
		Start: *n.start, Length: *n.lng, RawLength: *n.raw, BatchCount: *n.count, MaxTimestamp: *n.maxTS,
	}
	if n.size != nil {
		c.ObjectSize = *n.size
	}
	if len(n.skip) > 0 {
		c.Skip = append([]int32(nil), n.skip...)
	}
	return c, true
}

// ChunksFrom implements metastore.Store. It returns ErrUnknownPartition for a
// partition that does not exist and ErrOffsetOutOfRange when offset is below
// the log start offset or above the high watermark; at the high watermark it
// returns no chunks. A limit below 1 is taken as 1.
func (s *Store) ChunksFrom(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, limit int) (_ []metastore.Chunk, err error) {
	defer s.metrics.Observe("chunks_from", time.Now(), &err)
	limit = max(limit, 1)
	rows, err := s.pool.Query(ctx, chunksFromSQL, topicID, partition, offset, limit)
	if err != nil {
		return nil, fmt.Errorf("chunks of %s/%d from %d: %w", topicID, partition, offset, err)
	}
	var (
		n      nullableChunk
		found  bool
		chunks []metastore.Chunk
	)
	_, err = pgx.ForEachRow(rows, n.dest(), func() error {
		found = true
		if c, ok := n.chunk(topicID, partition); ok {
			chunks = append(chunks, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("chunks of %s/%d from %d: %w", topicID, partition, offset, err)
	}
	if !found {
		return nil, fmt.Errorf("chunks of %s/%d: %w", topicID, partition, metastore.ErrUnknownPartition)
	}
	if offset < n.logStart || offset > n.next {
		return nil, fmt.Errorf("offset %d of %s/%d outside [%d, %d]: %w",
			offset, topicID, partition, n.logStart, n.next, metastore.ErrOffsetOutOfRange)
	}
	return chunks, nil
}

// ChunkForTimestamp implements metastore.Store. It returns
// ErrUnknownPartition for a partition that does not exist.
func (s *Store) ChunkForTimestamp(ctx context.Context, topicID uuid.UUID, partition int32, ts int64) (_ metastore.Chunk, _ bool, err error) {
	defer s.metrics.Observe("chunk_for_timestamp", time.Now(), &err)
	var n nullableChunk
	err = s.pool.QueryRow(ctx, chunkForTimestampSQL, topicID, partition, ts).Scan(n.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.Chunk{}, false, fmt.Errorf("chunk of %s/%d: %w", topicID, partition, metastore.ErrUnknownPartition)
	}
	if err != nil {
		return metastore.Chunk{}, false, fmt.Errorf("chunk of %s/%d at time %d: %w", topicID, partition, ts, err)
	}
	c, ok := n.chunk(topicID, partition)
	return c, ok, nil
}
