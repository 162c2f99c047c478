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

// The compaction methods. Level-0 backlogs and unreferenced marks are kept
// by the triggers of migration 0003 on chunks; see that file.
//
// Locks: SwapChunks and DropChunksBelowStart lock the partition row first,
// as commits, DeleteTopic and CreatePartitions do, then delete chunk rows,
// whose trigger locks the objects rows of the deleted chunks in key order.

var _ metastore.CompactionStore = (*Store)(nil)

// micros converts d to whole microseconds for "n * interval '1 microsecond'".
func micros(d time.Duration) int64 { return d.Microseconds() }

const backlogColumns = `topic_id, partition, level0_chunks, level0_bytes,
	coalesce(first_level0_offset, -1), oldest_level0, cleaned_offset`

func scanBacklog(row pgx.Row) (metastore.Backlog, error) {
	var b metastore.Backlog
	var oldest *time.Time
	err := row.Scan(&b.TopicID, &b.Partition, &b.Level0Chunks, &b.Level0Bytes, &b.FirstLevel0Offset, &oldest, &b.CleanedOffset)
	if oldest != nil {
		b.OldestLevel0 = *oldest
	}
	return b, err
}

// Backlogs implements metastore.CompactionStore. level0_bytes has no index
// (every commit updates it): the byte threshold makes this a scan of
// compaction_backlog, one row per partition, once per compaction round.
func (s *Store) Backlogs(ctx context.Context, due metastore.MergeThresholds, limit int) ([]metastore.Backlog, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+backlogColumns+` FROM compaction_backlog
		WHERE level0_chunks > $1
		   OR (level0_chunks > 0 AND level0_bytes >= $2)
		   OR oldest_level0 <= now() - $3::bigint * interval '1 microsecond'
		ORDER BY oldest_level0 NULLS LAST, topic_id, partition
		LIMIT $4`, due.MinChunks, due.MinBytes, micros(due.MaxAge), max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("compaction backlogs: %w", err)
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.Backlog, error) { return scanBacklog(r) })
	if err != nil {
		return nil, fmt.Errorf("compaction backlogs: %w", err)
	}
	return bs, nil
}

// PartitionBacklog implements metastore.CompactionStore.
func (s *Store) PartitionBacklog(ctx context.Context, topicID uuid.UUID, partition int32) (metastore.Backlog, error) {
	b, err := scanBacklog(s.pool.QueryRow(ctx, `SELECT `+backlogColumns+` FROM compaction_backlog
		WHERE topic_id = $1 AND partition = $2`, topicID, partition))
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.Backlog{TopicID: topicID, Partition: partition, FirstLevel0Offset: -1}, nil
	}
	if err != nil {
		return metastore.Backlog{}, fmt.Errorf("compaction backlog of %s/%d: %w", topicID, partition, err)
	}
	return b, nil
}

const swapInsertChunksSQL = `
INSERT INTO chunks (topic_id, partition, base_offset, end_offset, object_key, level, start, length,
	raw_length, batch_count, max_timestamp, max_timestamp_run)
SELECT $1, $2, u.base_offset, u.end_offset, $3, 1, u.start, u.length,
	u.raw_length, u.batch_count, u.max_timestamp, u.max_timestamp_run
FROM unnest($4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::integer[],
	$10::bigint[], $11::bigint[])
	AS u(base_offset, end_offset, start, length, raw_length, batch_count, max_timestamp, max_timestamp_run)`

// SwapChunks implements metastore.CompactionStore.
func (s *Store) SwapChunks(ctx context.Context, swap metastore.ChunkSwap) error {
	if err := swap.Validate(); err != nil {
		return err
	}
	first, end := swap.Old[0].BaseOffset, swap.Old[len(swap.Old)-1].EndOffset
	err := s.retry(ctx, "swap_chunks", func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return s.swapTx(ctx, tx, swap, first, end)
		})
	})
	if err != nil {
		return fmt.Errorf("swap chunks %s/%d [%d, %d) for %s: %w", swap.TopicID, swap.Partition, first, end, swap.ObjectKey, err)
	}
	return nil
}

func (s *Store) swapTx(ctx context.Context, tx pgx.Tx, swap metastore.ChunkSwap, first, end int64) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM partitions WHERE topic_id = $1 AND partition = $2 FOR UPDATE`,
		swap.TopicID, swap.Partition).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: the partition is gone", metastore.ErrChunksChanged)
	}
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT base_offset, end_offset, object_key FROM chunks
		WHERE topic_id = $1 AND partition = $2 AND base_offset >= $3 AND base_offset < $4
		ORDER BY base_offset`, swap.TopicID, swap.Partition, first, end)
	if err != nil {
		return err
	}
	current, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.ChunkRef, error) {
		var c metastore.ChunkRef
		err := r.Scan(&c.BaseOffset, &c.EndOffset, &c.ObjectKey)
		return c, err
	})
	if err != nil {
		return err
	}
	if err := sameRefs(current, swap.Old); err != nil {
		return err
	}
	// The running maximum continues from the row before the run. The rows
	// after it keep theirs: the new rows hold the same batches or fewer, so
	// their maximum is at most the old one.
	var run int64 = -1 << 63
	err = tx.QueryRow(ctx, `SELECT max_timestamp_run FROM chunks
		WHERE topic_id = $1 AND partition = $2 AND base_offset < $3
		ORDER BY base_offset DESC LIMIT 1`, swap.TopicID, swap.Partition, first).Scan(&run)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	n := len(swap.New)
	bases, ends, starts, lengths := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	raws, counts, maxes, runs := make([]int64, n), make([]int32, n), make([]int64, n), make([]int64, n)
	for i, c := range swap.New {
		run = max(run, c.MaxTimestamp)
		bases[i], ends[i], starts[i], lengths[i] = c.BaseOffset, c.EndOffset, c.Start, c.Length
		raws[i], counts[i], maxes[i], runs[i] = c.RawLength, c.BatchCount, c.MaxTimestamp, run
	}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM chunks WHERE topic_id = $1 AND partition = $2 AND base_offset >= $3 AND base_offset < $4`,
		swap.TopicID, swap.Partition, first, end)
	b.Queue(`INSERT INTO objects (key, size, level) VALUES ($1, $2, 1)`, swap.ObjectKey, swap.ObjectSize)
	b.Queue(swapInsertChunksSQL, swap.TopicID, swap.Partition, swap.ObjectKey,
		bases, ends, starts, lengths, raws, counts, maxes, runs)
	if swap.CleanedOffset > 0 {
		b.Queue(`INSERT INTO compaction_backlog AS b (topic_id, partition, cleaned_offset) VALUES ($1, $2, $3)
			ON CONFLICT (topic_id, partition) DO UPDATE SET cleaned_offset = greatest(b.cleaned_offset, excluded.cleaned_offset)`,
			swap.TopicID, swap.Partition, swap.CleanedOffset)
	}
	return tx.SendBatch(ctx, b).Close()
}

// sameRefs returns ErrChunksChanged unless got and want are equal.
func sameRefs(got, want []metastore.ChunkRef) error {
	if len(got) != len(want) {
		return fmt.Errorf("%w: %d rows in the range, %d expected", metastore.ErrChunksChanged, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("%w: row %d is %+v, expected %+v", metastore.ErrChunksChanged, i, got[i], want[i])
		}
	}
	return nil
}

// DropChunksBelowStart implements metastore.CompactionStore.
func (s *Store) DropChunksBelowStart(ctx context.Context, topicID uuid.UUID, partition int32) (int, error) {
	var n int64
	err := s.retry(ctx, "drop_chunks", func() error {
		tag, err := s.pool.Exec(ctx, `
			WITH p AS (
				SELECT log_start_offset FROM partitions WHERE topic_id = $1 AND partition = $2 FOR UPDATE
			)
			DELETE FROM chunks c USING p
			WHERE c.topic_id = $1 AND c.partition = $2 AND c.end_offset <= p.log_start_offset`, topicID, partition)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("drop chunks of %s/%d below the log start: %w", topicID, partition, err)
	}
	return int(n), nil
}

// MarkStrayObjects implements metastore.CompactionStore. Rows locked by
// another transaction are skipped; a later call marks them.
func (s *Store) MarkStrayObjects(ctx context.Context, minAge time.Duration) (int, error) {
	var n int64
	err := s.retry(ctx, "mark_stray_objects", func() error {
		tag, err := s.pool.Exec(ctx, `
			WITH stray AS (
				SELECT o.key FROM objects o
				WHERE o.unreferenced_at IS NULL
					AND o.created_at <= now() - $1::bigint * interval '1 microsecond'
					AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.object_key = o.key)
				ORDER BY o.key
				FOR UPDATE SKIP LOCKED
			)
			UPDATE objects o SET unreferenced_at = now() FROM stray WHERE o.key = stray.key`, micros(minAge))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mark stray objects: %w", err)
	}
	return int(n), nil
}

// UnreferencedObjects implements metastore.CompactionStore.
func (s *Store) UnreferencedObjects(ctx context.Context, grace time.Duration, limit int) ([]metastore.ObjectRef, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT o.key, o.size, o.level FROM objects o
		WHERE o.unreferenced_at <= now() - $1::bigint * interval '1 microsecond'
			AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.object_key = o.key)
		ORDER BY o.unreferenced_at, o.key
		LIMIT $2`, micros(grace), max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("unreferenced objects: %w", err)
	}
	refs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.ObjectRef, error) {
		var o metastore.ObjectRef
		err := r.Scan(&o.Key, &o.Size, &o.Level)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("unreferenced objects: %w", err)
	}
	return refs, nil
}

// DeleteObjectRows implements metastore.CompactionStore.
func (s *Store) DeleteObjectRows(ctx context.Context, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM objects o WHERE o.key = ANY($1::text[]) AND o.unreferenced_at IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.object_key = o.key)`, keys)
	if err != nil {
		return 0, fmt.Errorf("delete object rows: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// KnownObjects implements metastore.CompactionStore.
func (s *Store) KnownObjects(ctx context.Context, keys []string) (map[string]bool, error) {
	known := make(map[string]bool)
	if len(keys) == 0 {
		return known, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT key FROM objects WHERE key = ANY($1::text[])`, keys)
	if err != nil {
		return nil, fmt.Errorf("known objects: %w", err)
	}
	var key string
	_, err = pgx.ForEachRow(rows, []any{&key}, func() error {
		known[key] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("known objects: %w", err)
	}
	return known, nil
}

// CompactionStats implements metastore.CompactionStore. It scans the objects
// table and the chunk index's primary key; call it once in a while.
func (s *Store) CompactionStats(ctx context.Context) (metastore.CompactionStats, error) {
	var st metastore.CompactionStats
	b := &pgx.Batch{}
	b.Queue(`SELECT level, count(*), coalesce(sum(size), 0)::bigint, count(*) FILTER (WHERE unreferenced_at IS NOT NULL)
		FROM objects GROUP BY level ORDER BY level`)
	b.Queue(`SELECT coalesce(sum(n), 0)::bigint, coalesce(max(n), 0)::bigint
		FROM (SELECT count(*) AS n FROM chunks GROUP BY topic_id, partition) per_partition`)
	b.Queue(`SELECT coalesce(sum(level0_chunks), 0)::bigint, min(oldest_level0) FROM compaction_backlog`)
	br := s.pool.SendBatch(ctx, b)
	err := func() error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var l metastore.LevelStats
		_, err = pgx.ForEachRow(rows, []any{&l.Level, &l.Objects, &l.Bytes, &l.Unreferenced}, func() error {
			st.Levels = append(st.Levels, l)
			return nil
		})
		if err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&st.ChunkRows, &st.MaxPartitionChunkRows); err != nil {
			return err
		}
		var oldest *time.Time
		if err := br.QueryRow().Scan(&st.Level0Chunks, &oldest); err != nil {
			return err
		}
		if oldest != nil {
			st.OldestLevel0 = *oldest
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return metastore.CompactionStats{}, fmt.Errorf("compaction stats: %w", err)
	}
	return st, nil
}

// AcquireLease implements metastore.CompactionStore. Expiry is judged by the
// database's clock, so the holders' clocks need not agree.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var got string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO leases AS l (name, holder, expires_at)
		VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE l.holder = excluded.holder OR l.expires_at < now()
		RETURNING holder`, name, holder, micros(ttl)).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return got == holder, nil
}

// ReleaseLease implements metastore.CompactionStore.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
