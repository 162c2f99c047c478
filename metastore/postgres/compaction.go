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
// Locks: SwapObject and DropChunksBelowStart lock the partition rows first
// (in key order), as commits, DeleteTopic and CreatePartitions do, then
// delete chunk rows, whose trigger locks the objects rows of the deleted
// chunks in key order.

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
func (s *Store) Backlogs(ctx context.Context, due metastore.MergeThresholds, limit int) (_ []metastore.Backlog, err error) {
	defer s.metrics.Observe("backlogs", time.Now(), &err)
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
func (s *Store) PartitionBacklog(ctx context.Context, topicID uuid.UUID, partition int32) (_ metastore.Backlog, err error) {
	defer s.metrics.Observe("partition_backlog", time.Now(), &err)
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
SELECT u.topic_id, u.partition, u.base_offset, u.end_offset, $1, 1, u.start, u.length,
	u.raw_length, u.batch_count, u.max_timestamp, u.max_timestamp_run
FROM unnest($2::uuid[], $3::integer[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
	$9::integer[], $10::bigint[], $11::bigint[])
	AS u(topic_id, partition, base_offset, end_offset, start, length, raw_length, batch_count, max_timestamp,
		max_timestamp_run)`

// SwapObject implements metastore.CompactionStore. Whatever the number of
// swaps, the transaction takes four round trips: BEGIN; one batch that locks
// the partition rows (in key order, as commits do) and reads the rows of
// every range and the running timestamp maximum before it; one batch of
// writes (one DELETE of all applied ranges, the objects row, one INSERT of
// all new rows, the cleaned offsets), left out when no swap applies; COMMIT.
func (s *Store) SwapObject(ctx context.Context, swaps []metastore.ChunkSwap) (_ []error, err error) {
	defer s.metrics.Observe("swap_chunks", time.Now(), &err)
	if err := metastore.ValidateObjectSwap(swaps); err != nil {
		return nil, err
	}
	n := len(swaps)
	topics, parts := make([]uuid.UUID, n), make([]int32, n)
	firsts, ends := make([]int64, n), make([]int64, n)
	for i, sw := range swaps {
		topics[i], parts[i] = sw.TopicID, sw.Partition
		firsts[i], ends[i] = sw.Old[0].BaseOffset, sw.Old[len(sw.Old)-1].EndOffset
	}
	results := make([]error, n)
	err = s.retry(ctx, "swap_chunks", func() error {
		clear(results)
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return s.swapObjectTx(ctx, tx, swaps, topics, parts, firsts, ends, results)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("swap object %s into %d partitions: %w", swaps[0].ObjectKey, n, err)
	}
	for i, err := range results {
		if err != nil {
			results[i] = fmt.Errorf("swap chunks %s/%d [%d, %d) for %s: %w",
				topics[i], parts[i], firsts[i], ends[i], swaps[i].ObjectKey, err)
		}
	}
	return results, nil
}

// swapObjectTx sets results[i] to the reason swap i is left out.
func (s *Store) swapObjectTx(ctx context.Context, tx pgx.Tx, swaps []metastore.ChunkSwap,
	topics []uuid.UUID, parts []int32, firsts, ends []int64, results []error) error {
	n := len(swaps)
	// Statements of a batch run one after the other, each (read committed)
	// with a snapshot taken when it starts: the reads see the rows as the
	// locks protect them.
	b := &pgx.Batch{}
	b.Queue(`
		SELECT p.topic_id, p.partition FROM partitions p
		JOIN unnest($1::uuid[], $2::integer[]) AS m(topic_id, partition)
			ON p.topic_id = m.topic_id AND p.partition = m.partition
		ORDER BY p.topic_id, p.partition
		FOR UPDATE OF p`, topics, parts)
	b.Queue(`
		SELECT r.ord, c.base_offset, c.end_offset, c.object_key
		FROM unnest($1::uuid[], $2::integer[], $3::bigint[], $4::bigint[])
			WITH ORDINALITY AS r(topic_id, partition, first_offset, end_offset, ord)
		JOIN chunks c ON c.topic_id = r.topic_id AND c.partition = r.partition
			AND c.base_offset >= r.first_offset AND c.base_offset < r.end_offset
		ORDER BY r.ord, c.base_offset`, topics, parts, firsts, ends)
	b.Queue(`
		SELECT r.ord, prev.max_timestamp_run
		FROM unnest($1::uuid[], $2::integer[], $3::bigint[])
			WITH ORDINALITY AS r(topic_id, partition, first_offset, ord)
		CROSS JOIN LATERAL (
			SELECT c.max_timestamp_run FROM chunks c
			WHERE c.topic_id = r.topic_id AND c.partition = r.partition AND c.base_offset < r.first_offset
			ORDER BY c.base_offset DESC
			LIMIT 1
		) prev`, topics, parts, firsts)
	exists := make(map[metastore.PartitionKey]bool, n)
	current := make([][]metastore.ChunkRef, n)
	runs := make([]int64, n)
	for i := range runs {
		runs[i] = -1 << 63
	}
	br := tx.SendBatch(ctx, b)
	err := func() error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var k metastore.PartitionKey
		if _, err := pgx.ForEachRow(rows, []any{&k.TopicID, &k.Partition}, func() error {
			exists[k] = true
			return nil
		}); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		var ord int
		var c metastore.ChunkRef
		if _, err := pgx.ForEachRow(rows, []any{&ord, &c.BaseOffset, &c.EndOffset, &c.ObjectKey}, func() error {
			current[ord-1] = append(current[ord-1], c)
			return nil
		}); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		var run int64
		_, err = pgx.ForEachRow(rows, []any{&ord, &run}, func() error {
			runs[ord-1] = run
			return nil
		})
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	var dTopics, iTopics, cTopics []uuid.UUID
	var dParts, iParts, cParts, iCounts []int32
	var dFirsts, dEnds, iBases, iEnds, iStarts, iLengths, iRaws, iMaxes, iRuns, cOffsets []int64
	for i, sw := range swaps {
		if !exists[metastore.PartitionKey{TopicID: sw.TopicID, Partition: sw.Partition}] {
			results[i] = fmt.Errorf("%w: the partition is gone", metastore.ErrChunksChanged)
			continue
		}
		if err := sameRefs(current[i], sw.Old); err != nil {
			results[i] = err
			continue
		}
		dTopics, dParts = append(dTopics, sw.TopicID), append(dParts, sw.Partition)
		dFirsts, dEnds = append(dFirsts, firsts[i]), append(dEnds, ends[i])
		// The running maximum continues from the row before the run. The
		// rows after it keep theirs: the new rows hold the same batches or
		// fewer, so their maximum is at most the old one.
		run := runs[i]
		for _, c := range sw.New {
			run = max(run, c.MaxTimestamp)
			iTopics, iParts = append(iTopics, sw.TopicID), append(iParts, sw.Partition)
			iBases, iEnds = append(iBases, c.BaseOffset), append(iEnds, c.EndOffset)
			iStarts, iLengths = append(iStarts, c.Start), append(iLengths, c.Length)
			iRaws, iCounts = append(iRaws, c.RawLength), append(iCounts, c.BatchCount)
			iMaxes, iRuns = append(iMaxes, c.MaxTimestamp), append(iRuns, run)
		}
		if sw.CleanedOffset > 0 {
			cTopics, cParts = append(cTopics, sw.TopicID), append(cParts, sw.Partition)
			cOffsets = append(cOffsets, sw.CleanedOffset)
		}
	}
	if len(dTopics) == 0 {
		return nil // every swap left out: nothing to write
	}
	// The objects row comes first: a key claimed by the orphan collection
	// (level -1) stays claimed, and the swap is refused, since the object
	// is deleted or about to be.
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO objects AS o (key, size, level) VALUES ($1, $2, 1)
		ON CONFLICT (key) DO UPDATE SET unreferenced_at = NULL WHERE o.level >= 0
		RETURNING key`, swaps[0].ObjectKey, swaps[0].ObjectSize)
	b.Queue(`
		DELETE FROM chunks c
		USING unnest($1::uuid[], $2::integer[], $3::bigint[], $4::bigint[])
			AS r(topic_id, partition, first_offset, end_offset)
		WHERE c.topic_id = r.topic_id AND c.partition = r.partition
			AND c.base_offset >= r.first_offset AND c.base_offset < r.end_offset`,
		dTopics, dParts, dFirsts, dEnds)
	b.Queue(swapInsertChunksSQL, swaps[0].ObjectKey,
		iTopics, iParts, iBases, iEnds, iStarts, iLengths, iRaws, iCounts, iMaxes, iRuns)
	if len(cTopics) > 0 {
		b.Queue(`
			INSERT INTO compaction_backlog AS b (topic_id, partition, cleaned_offset)
			SELECT * FROM unnest($1::uuid[], $2::integer[], $3::bigint[])
			ON CONFLICT (topic_id, partition) DO UPDATE SET
				cleaned_offset = greatest(b.cleaned_offset, excluded.cleaned_offset)`,
			cTopics, cParts, cOffsets)
	}
	br = tx.SendBatch(ctx, b)
	var key string
	err = br.QueryRow().Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		err = metastore.ErrObjectClaimed
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
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
func (s *Store) DropChunksBelowStart(ctx context.Context, topicID uuid.UUID, partition int32) (_ int, err error) {
	defer s.metrics.Observe("drop_chunks", time.Now(), &err)
	var n int64
	err = s.retry(ctx, "drop_chunks", func() error {
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
func (s *Store) MarkStrayObjects(ctx context.Context, minAge time.Duration) (_ int, err error) {
	defer s.metrics.Observe("mark_stray_objects", time.Now(), &err)
	var n int64
	err = s.retry(ctx, "mark_stray_objects", func() error {
		tag, err := s.pool.Exec(ctx, `
			WITH stray AS (
				SELECT o.key FROM objects o
				WHERE o.unreferenced_at IS NULL AND o.level >= 0
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
func (s *Store) UnreferencedObjects(ctx context.Context, grace time.Duration, limit int) (_ []metastore.ObjectRef, err error) {
	defer s.metrics.Observe("unreferenced_objects", time.Now(), &err)
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
func (s *Store) DeleteObjectRows(ctx context.Context, keys []string) (_ int, err error) {
	defer s.metrics.Observe("delete_object_rows", time.Now(), &err)
	if len(keys) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM objects o WHERE o.key = ANY($1::text[]) AND o.unreferenced_at IS NOT NULL AND o.level >= 0
			AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.object_key = o.key)`, keys)
	if err != nil {
		return 0, fmt.Errorf("delete object rows: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// KnownObjects returns the subset of keys that have an objects row of a
// committed object (not a claimed orphan's). It is for inspection: the
// orphan collection deletes only what ClaimOrphans returns.
func (s *Store) KnownObjects(ctx context.Context, keys []string) (_ map[string]bool, err error) {
	defer s.metrics.Observe("known_objects", time.Now(), &err)
	known := make(map[string]bool)
	if len(keys) == 0 {
		return known, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT key FROM objects WHERE key = ANY($1::text[]) AND level >= 0`, keys)
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

// ClaimOrphans implements metastore.CompactionStore. Keys are inserted in
// order, so that two claims of overlapping keys wait for each other rather
// than deadlock. A key whose commit is in flight waits for that commit: if
// it commits, the key is left out; if it rolls back, the key is claimed.
// An earlier claim is returned again through the no-op update, so that an
// object whose delete failed is deleted by a later sweep.
func (s *Store) ClaimOrphans(ctx context.Context, keys []string) (_ []string, err error) {
	defer s.metrics.Observe("claim_orphans", time.Now(), &err)
	if len(keys) == 0 {
		return nil, nil
	}
	var claimed []string
	err = s.retry(ctx, "claim_orphans", func() error {
		rows, err := s.pool.Query(ctx, `
			INSERT INTO objects AS o (key, size, level)
			SELECT DISTINCT k, 0, $2::smallint FROM unnest($1::text[]) AS u(k) ORDER BY k
			ON CONFLICT (key) DO UPDATE SET level = o.level WHERE o.level = $2::smallint
			RETURNING key`, keys, metastore.ClaimedLevel)
		if err != nil {
			return err
		}
		claimed, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim orphans: %w", err)
	}
	return claimed, nil
}

// PruneOrphanClaims implements metastore.CompactionStore.
func (s *Store) PruneOrphanClaims(ctx context.Context, retention time.Duration) (_ int, err error) {
	defer s.metrics.Observe("prune_orphan_claims", time.Now(), &err)
	tag, err := s.pool.Exec(ctx, `DELETE FROM objects
		WHERE level = $1 AND created_at <= now() - $2::bigint * interval '1 microsecond'`,
		metastore.ClaimedLevel, micros(retention))
	if err != nil {
		return 0, fmt.Errorf("prune orphan claims: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// CompactionStats implements metastore.CompactionStore. It scans the objects
// table and the chunk index's primary key; call it once in a while.
func (s *Store) CompactionStats(ctx context.Context) (_ metastore.CompactionStats, err error) {
	defer s.metrics.Observe("compaction_stats", time.Now(), &err)
	var st metastore.CompactionStats
	b := &pgx.Batch{}
	b.Queue(`SELECT level, count(*), coalesce(sum(size), 0)::bigint, count(*) FILTER (WHERE unreferenced_at IS NOT NULL)
		FROM objects GROUP BY level ORDER BY level`)
	b.Queue(`SELECT coalesce(sum(n), 0)::bigint, coalesce(max(n), 0)::bigint
		FROM (SELECT count(*) AS n FROM chunks GROUP BY topic_id, partition) per_partition`)
	b.Queue(`SELECT coalesce(sum(level0_chunks), 0)::bigint, min(oldest_level0) FROM compaction_backlog`)
	br := s.pool.SendBatch(ctx, b)
	err = func() error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var l metastore.LevelStats
		_, err = pgx.ForEachRow(rows, []any{&l.Level, &l.Objects, &l.Bytes, &l.Unreferenced}, func() error {
			if l.Level == metastore.ClaimedLevel {
				st.OrphanClaims = l.Objects
				return nil
			}
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
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (_ bool, err error) {
	defer s.metrics.Observe("acquire_lease", time.Now(), &err)
	var got string
	err = s.pool.QueryRow(ctx, `
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
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) (err error) {
	defer s.metrics.Observe("release_lease", time.Now(), &err)
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
