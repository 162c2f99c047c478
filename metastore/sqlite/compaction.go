package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// The compaction methods. Level-0 backlogs and unreferenced marks are kept
// by the triggers of migration 0003 on chunks; see that file. Every write
// goes through the single writer connection, so no two of these run at once.

var _ metastore.CompactionStore = (*Store)(nil)

const backlogColumns = `topic_id, partition, level0_chunks, level0_bytes,
	coalesce(first_level0_offset, -1), oldest_level0, cleaned_offset`

func scanBacklog(scan func(...any) error) (metastore.Backlog, error) {
	var b metastore.Backlog
	var oldest sql.NullInt64
	if err := scan(&b.TopicID, &b.Partition, &b.Level0Chunks, &b.Level0Bytes, &b.FirstLevel0Offset, &oldest, &b.CleanedOffset); err != nil {
		return b, err
	}
	if oldest.Valid {
		b.OldestLevel0 = time.UnixMilli(oldest.Int64)
	}
	return b, nil
}

// Backlogs implements metastore.CompactionStore.
func (s *Store) Backlogs(ctx context.Context, due metastore.MergeThresholds, limit int) (bs []metastore.Backlog, err error) {
	defer s.observe("backlogs", time.Now(), &err)
	cutoff := s.now().Add(-due.MaxAge).UnixMilli()
	rows, err := s.r.QueryContext(ctx, `SELECT `+backlogColumns+` FROM compaction_backlog
		WHERE level0_chunks > ? OR (level0_chunks > 0 AND level0_bytes >= ?) OR oldest_level0 <= ?
		ORDER BY oldest_level0 IS NULL, oldest_level0, topic_id, partition
		LIMIT ?`, due.MinChunks, due.MinBytes, cutoff, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("compaction backlogs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		b, err := scanBacklog(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("compaction backlogs: %w", err)
		}
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("compaction backlogs: %w", err)
	}
	return bs, nil
}

// PartitionBacklog implements metastore.CompactionStore.
func (s *Store) PartitionBacklog(ctx context.Context, topicID uuid.UUID, partition int32) (b metastore.Backlog, err error) {
	defer s.observe("partition_backlog", time.Now(), &err)
	b, err = scanBacklog(s.r.QueryRowContext(ctx, `SELECT `+backlogColumns+` FROM compaction_backlog
		WHERE topic_id = ? AND partition = ?`, topicID[:], partition).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return metastore.Backlog{TopicID: topicID, Partition: partition, FirstLevel0Offset: -1}, nil
	}
	if err != nil {
		return metastore.Backlog{}, fmt.Errorf("compaction backlog of %s/%d: %w", topicID, partition, err)
	}
	return b, nil
}

// SwapObject implements metastore.CompactionStore. In one write
// transaction it checks every swap, then, when at least one applies, inserts
// the objects row and applies those that do.
func (s *Store) SwapObject(ctx context.Context, swaps []metastore.ChunkSwap) (results []error, err error) {
	defer s.observe("swap_chunks", time.Now(), &err)
	if err := metastore.ValidateObjectSwap(swaps); err != nil {
		return nil, err
	}
	key, size := swaps[0].ObjectKey, swaps[0].ObjectSize
	results = make([]error, len(swaps))
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		clear(results)
		applied := 0
		for i, sw := range swaps {
			err := s.checkSwap(ctx, tx, sw)
			if errors.Is(err, metastore.ErrChunksChanged) {
				results[i] = err
				continue
			}
			if err != nil {
				return err
			}
			applied++
		}
		if applied == 0 {
			return nil
		}
		// A key claimed by the orphan collection (level -1) stays claimed,
		// and the swap is refused: the object is deleted or about to be.
		res, err := tx.ExecContext(ctx, `INSERT INTO objects (key, size, level, created_at) VALUES (?, ?, 1, ?)
			ON CONFLICT (key) DO UPDATE SET unreferenced_at = NULL WHERE level >= 0`,
			key, size, s.now().UnixMilli())
		if err != nil {
			return fmt.Errorf("insert object: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("insert object: %w", err)
		} else if n == 0 {
			return metastore.ErrObjectClaimed
		}
		del, err := tx.PrepareContext(ctx, `DELETE FROM chunks
			WHERE topic_id = ? AND partition = ? AND base_offset >= ? AND base_offset < ?`)
		if err != nil {
			return err
		}
		defer del.Close()
		ins := tx.StmtContext(ctx, s.wInsChunk)
		for i, sw := range swaps {
			if results[i] != nil {
				continue
			}
			tid := sw.TopicID[:]
			first, end := sw.Old[0].BaseOffset, sw.Old[len(sw.Old)-1].EndOffset
			if _, err := del.ExecContext(ctx, tid, sw.Partition, first, end); err != nil {
				return fmt.Errorf("%s/%d: delete old rows: %w", sw.TopicID, sw.Partition, err)
			}
			for _, c := range sw.New {
				if _, err := ins.ExecContext(ctx, tid, sw.Partition, c.BaseOffset, c.EndOffset, key, 1,
					c.Start, c.Length, c.RawLength, c.BatchCount, c.MaxTimestamp, nil); err != nil {
					return fmt.Errorf("%s/%d: insert chunk at %d: %w", sw.TopicID, sw.Partition, c.BaseOffset, err)
				}
			}
			if sw.CleanedOffset > 0 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO compaction_backlog (topic_id, partition, cleaned_offset)
					VALUES (?, ?, ?)
					ON CONFLICT (topic_id, partition) DO UPDATE SET cleaned_offset = max(cleaned_offset, excluded.cleaned_offset)`,
					tid, sw.Partition, sw.CleanedOffset); err != nil {
					return fmt.Errorf("%s/%d: set cleaned offset: %w", sw.TopicID, sw.Partition, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("swap object %s into %d partitions: %w", key, len(swaps), err)
	}
	for i, e := range results {
		if e != nil {
			sw := swaps[i]
			results[i] = fmt.Errorf("swap chunks %s/%d [%d, %d) for %s: %w", sw.TopicID, sw.Partition,
				sw.Old[0].BaseOffset, sw.Old[len(sw.Old)-1].EndOffset, key, e)
		}
	}
	return results, nil
}

// checkSwap returns ErrChunksChanged unless the partition exists and its
// rows in the swapped range are exactly sw.Old.
func (s *Store) checkSwap(ctx context.Context, tx *sql.Tx, sw metastore.ChunkSwap) error {
	tid := sw.TopicID[:]
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM partitions WHERE topic_id = ? AND partition = ?`, tid, sw.Partition).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: the partition is gone", metastore.ErrChunksChanged)
	}
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT base_offset, end_offset, object_key FROM chunks
		WHERE topic_id = ? AND partition = ? AND base_offset >= ? AND base_offset < ?
		ORDER BY base_offset`, tid, sw.Partition, sw.Old[0].BaseOffset, sw.Old[len(sw.Old)-1].EndOffset)
	if err != nil {
		return err
	}
	defer rows.Close()
	var current []metastore.ChunkRef
	for rows.Next() {
		var c metastore.ChunkRef
		if err := rows.Scan(&c.BaseOffset, &c.EndOffset, &c.ObjectKey); err != nil {
			return err
		}
		current = append(current, c)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return sameRefs(current, sw.Old)
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
func (s *Store) DropChunksBelowStart(ctx context.Context, topicID uuid.UUID, partition int32) (n int, err error) {
	defer s.observe("drop_chunks", time.Now(), &err)
	res, err := s.w.ExecContext(ctx, `DELETE FROM chunks WHERE topic_id = ?1 AND partition = ?2
		AND end_offset <= (SELECT log_start_offset FROM partitions WHERE topic_id = ?1 AND partition = ?2)`,
		topicID[:], partition)
	if err != nil {
		return 0, fmt.Errorf("drop chunks of %s/%d below the log start: %w", topicID, partition, err)
	}
	affected, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("drop chunks of %s/%d below the log start: %w", topicID, partition, err)
	}
	return int(affected), nil
}

// MarkStrayObjects implements metastore.CompactionStore.
func (s *Store) MarkStrayObjects(ctx context.Context, minAge time.Duration) (n int, err error) {
	defer s.observe("mark_stray_objects", time.Now(), &err)
	now := s.now()
	res, err := s.w.ExecContext(ctx, `UPDATE objects SET unreferenced_at = ?
		WHERE unreferenced_at IS NULL AND level >= 0 AND created_at <= ?
			AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.object_key = objects.key)`,
		now.UnixMilli(), now.Add(-minAge).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("mark stray objects: %w", err)
	}
	affected, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("mark stray objects: %w", err)
	}
	return int(affected), nil
}

// UnreferencedObjects implements metastore.CompactionStore.
func (s *Store) UnreferencedObjects(ctx context.Context, grace time.Duration, limit int) (refs []metastore.ObjectRef, err error) {
	defer s.observe("unreferenced_objects", time.Now(), &err)
	rows, err := s.r.QueryContext(ctx, `SELECT o.key, o.size, o.level FROM objects o
		WHERE o.unreferenced_at <= ?
			AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.object_key = o.key)
		ORDER BY o.unreferenced_at, o.key
		LIMIT ?`, s.now().Add(-grace).UnixMilli(), max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("unreferenced objects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o metastore.ObjectRef
		if err := rows.Scan(&o.Key, &o.Size, &o.Level); err != nil {
			return nil, fmt.Errorf("unreferenced objects: %w", err)
		}
		refs = append(refs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unreferenced objects: %w", err)
	}
	return refs, nil
}

// keyArgs returns "?, ?, ..." for n keys and the keys as arguments.
func keyArgs(keys []string) (string, []any) {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", "), args
}

// maxKeysPerStatement stays below SQLite's limit on bound parameters.
const maxKeysPerStatement = 500

// DeleteObjectRows implements metastore.CompactionStore.
func (s *Store) DeleteObjectRows(ctx context.Context, keys []string) (n int, err error) {
	defer s.observe("delete_object_rows", time.Now(), &err)
	for len(keys) > 0 {
		part := keys[:min(len(keys), maxKeysPerStatement)]
		keys = keys[len(part):]
		marks, args := keyArgs(part)
		res, err := s.w.ExecContext(ctx, `DELETE FROM objects WHERE key IN (`+marks+`)
			AND unreferenced_at IS NOT NULL AND level >= 0
			AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.object_key = objects.key)`, args...)
		if err != nil {
			return n, fmt.Errorf("delete object rows: %w", err)
		}
		affected, err := res.RowsAffected()
		if err != nil {
			return n, fmt.Errorf("delete object rows: %w", err)
		}
		n += int(affected)
	}
	return n, nil
}

// KnownObjects returns the subset of keys that have an objects row of a
// committed object (not a claimed orphan's). It is for inspection: the
// orphan collection deletes only what ClaimOrphans returns.
func (s *Store) KnownObjects(ctx context.Context, keys []string) (known map[string]bool, err error) {
	defer s.observe("known_objects", time.Now(), &err)
	known = make(map[string]bool)
	for len(keys) > 0 {
		part := keys[:min(len(keys), maxKeysPerStatement)]
		keys = keys[len(part):]
		marks, args := keyArgs(part)
		rows, err := s.r.QueryContext(ctx, `SELECT key FROM objects WHERE key IN (`+marks+`) AND level >= 0`, args...)
		if err != nil {
			return nil, fmt.Errorf("known objects: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, fmt.Errorf("known objects: %w", err)
			}
			known[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("known objects: %w", err)
		}
	}
	return known, nil
}

// ClaimOrphans implements metastore.CompactionStore. The single writer
// orders it with every commit; an earlier claim is returned again through
// the no-op update, so that an object whose delete failed is deleted by a
// later sweep.
func (s *Store) ClaimOrphans(ctx context.Context, keys []string) (claimed []string, err error) {
	defer s.observe("claim_orphans", time.Now(), &err)
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	now := s.now().UnixMilli()
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		claimed = claimed[:0]
		for rest := keys; len(rest) > 0; {
			part := rest[:min(len(rest), maxKeysPerStatement)]
			rest = rest[len(part):]
			args := make([]any, 0, 2*len(part))
			for _, k := range part {
				args = append(args, k, now)
			}
			rows, err := tx.QueryContext(ctx, `INSERT INTO objects (key, size, level, created_at) VALUES `+
				strings.TrimSuffix(strings.Repeat(fmt.Sprintf("(?, 0, %d, ?), ", metastore.ClaimedLevel), len(part)), ", ")+
				fmt.Sprintf(` ON CONFLICT (key) DO UPDATE SET level = level WHERE level = %d RETURNING key`, metastore.ClaimedLevel),
				args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var k string
				if err := rows.Scan(&k); err != nil {
					rows.Close()
					return err
				}
				claimed = append(claimed, k)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim orphans: %w", err)
	}
	return claimed, nil
}

// PruneOrphanClaims implements metastore.CompactionStore.
func (s *Store) PruneOrphanClaims(ctx context.Context, retention time.Duration) (n int, err error) {
	defer s.observe("prune_orphan_claims", time.Now(), &err)
	res, err := s.w.ExecContext(ctx, `DELETE FROM objects WHERE level = ? AND created_at <= ?`,
		metastore.ClaimedLevel, s.now().Add(-retention).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune orphan claims: %w", err)
	}
	affected, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune orphan claims: %w", err)
	}
	return int(affected), nil
}

// CompactionStats implements metastore.CompactionStore.
func (s *Store) CompactionStats(ctx context.Context) (st metastore.CompactionStats, err error) {
	defer s.observe("compaction_stats", time.Now(), &err)
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT level, count(*), coalesce(sum(size), 0),
			count(unreferenced_at) FROM objects GROUP BY level ORDER BY level`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var l metastore.LevelStats
			if err := rows.Scan(&l.Level, &l.Objects, &l.Bytes, &l.Unreferenced); err != nil {
				rows.Close()
				return err
			}
			if l.Level == metastore.ClaimedLevel {
				st.OrphanClaims = l.Objects
				continue
			}
			st.Levels = append(st.Levels, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0), coalesce(max(n), 0)
			FROM (SELECT count(*) AS n FROM chunks GROUP BY topic_id, partition)`).
			Scan(&st.ChunkRows, &st.MaxPartitionChunkRows); err != nil {
			return err
		}
		var oldest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(level0_chunks), 0), min(oldest_level0)
			FROM compaction_backlog`).Scan(&st.Level0Chunks, &oldest); err != nil {
			return err
		}
		if oldest.Valid {
			st.OldestLevel0 = time.UnixMilli(oldest.Int64)
		}
		return nil
	})
	if err != nil {
		return metastore.CompactionStats{}, fmt.Errorf("compaction stats: %w", err)
	}
	return st, nil
}

// AcquireLease implements metastore.CompactionStore.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (ok bool, err error) {
	defer s.observe("acquire_lease", time.Now(), &err)
	now := s.now()
	res, err := s.w.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < ?`,
		name, holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease implements metastore.CompactionStore.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) (err error) {
	defer s.observe("release_lease", time.Now(), &err)
	if _, err := s.w.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
