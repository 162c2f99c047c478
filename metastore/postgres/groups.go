package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stratalog/strata/metastore"
)

// Consumer groups. Every operation is one statement, so one round trip and
// one implicit transaction. Offset rows of one commit are written in (topic,
// partition) order, so concurrent commits to the same group cannot deadlock.

var _ metastore.GroupStore = (*Store)(nil)

// CommitOffsets implements metastore.GroupStore.
func (s *Store) CommitOffsets(ctx context.Context, group string, offsets []metastore.GroupOffset) error {
	if len(offsets) == 0 {
		return nil
	}
	offsets = metastore.SortedOffsets(offsets)
	now := time.Now()
	n := len(offsets)
	topics, parts := make([]string, n), make([]int32, n)
	offs, epochs := make([]int64, n), make([]int32, n)
	metas, times := make([]string, n), make([]time.Time, n)
	for i, o := range offsets {
		topics[i], parts[i], offs[i], epochs[i], metas[i] = o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata
		t := o.CommitTime
		if t.IsZero() {
			t = now
		}
		times[i] = t.Truncate(time.Millisecond)
	}
	// The group row and the offsets in one statement: the foreign keys are
	// checked at its end, when the row inserted by the CTE is visible.
	err := s.retry(ctx, "commit_offsets", func() error {
		_, err := s.pool.Exec(ctx, `
			WITH g AS (
				INSERT INTO consumer_groups (name) VALUES ($1) ON CONFLICT (name) DO NOTHING
			)
			INSERT INTO group_offsets (group_name, topic, partition, committed_offset, leader_epoch, metadata, commit_time)
			SELECT $1, u.topic, u.partition, u.off, u.epoch, u.meta, u.ts
			FROM unnest($2::text[], $3::integer[], $4::bigint[], $5::integer[], $6::text[], $7::timestamptz[])
				WITH ORDINALITY AS u(topic, partition, off, epoch, meta, ts, ord)
			ORDER BY u.ord
			ON CONFLICT (group_name, topic, partition) DO UPDATE SET
				committed_offset = excluded.committed_offset,
				leader_epoch = excluded.leader_epoch,
				metadata = excluded.metadata,
				commit_time = excluded.commit_time`,
			group, topics, parts, offs, epochs, metas, times)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.ForeignKeyViolation {
		return fmt.Errorf("commit offsets of group %q: %w (%s)", group, metastore.ErrUnknownTopic, pgErr.Detail)
	}
	if err != nil {
		return fmt.Errorf("commit offsets of group %q: %w", group, err)
	}
	return nil
}

// FetchOffsets implements metastore.GroupStore.
func (s *Store) FetchOffsets(ctx context.Context, group string, topics []string) ([]metastore.GroupOffset, error) {
	if topics != nil && len(topics) == 0 {
		return nil, nil
	}
	// A nil array matches every topic.
	rows, err := s.pool.Query(ctx, `
		SELECT topic, partition, committed_offset, leader_epoch, metadata, commit_time
		FROM group_offsets
		WHERE group_name = $1 AND ($2::text[] IS NULL OR topic = ANY ($2::text[]))
		ORDER BY topic COLLATE "C", partition`, group, topics)
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %q: %w", group, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.GroupOffset, error) {
		var o metastore.GroupOffset
		err := r.Scan(&o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata, &o.CommitTime)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %q: %w", group, err)
	}
	return out, nil
}

// DeleteOffsets implements metastore.GroupStore.
func (s *Store) DeleteOffsets(ctx context.Context, group string, partitions []metastore.TopicPartition) error {
	if len(partitions) == 0 {
		return nil
	}
	topics, parts := make([]string, len(partitions)), make([]int32, len(partitions))
	for i, p := range partitions {
		topics[i], parts[i] = p.Topic, p.Partition
	}
	err := s.retry(ctx, "delete_offsets", func() error {
		_, err := s.pool.Exec(ctx, `
			DELETE FROM group_offsets
			WHERE group_name = $1
			AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::integer[]))`,
			group, topics, parts)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete offsets of group %q: %w", group, err)
	}
	return nil
}

// SaveGroup implements metastore.GroupStore.
func (s *Store) SaveGroup(ctx context.Context, g metastore.GroupInfo) error {
	err := s.retry(ctx, "save_group", func() error {
		_, err := s.pool.Exec(ctx, `
			INSERT INTO consumer_groups (name, protocol_type, protocol, generation, state, updated_at)
			VALUES ($1, $2, $3, $4, $5, now())
			ON CONFLICT (name) DO UPDATE SET
				protocol_type = excluded.protocol_type,
				protocol = excluded.protocol,
				generation = excluded.generation,
				state = excluded.state,
				updated_at = excluded.updated_at
			WHERE consumer_groups.generation <= excluded.generation`,
			g.Name, g.ProtocolType, g.Protocol, g.Generation, g.State)
		return err
	})
	if err != nil {
		return fmt.Errorf("save group %q: %w", g.Name, err)
	}
	return nil
}

const groupColumns = "name, protocol_type, protocol, generation, state, updated_at"

func scanGroup(row pgx.Row) (metastore.GroupInfo, error) {
	var g metastore.GroupInfo
	err := row.Scan(&g.Name, &g.ProtocolType, &g.Protocol, &g.Generation, &g.State, &g.UpdatedAt)
	return g, err
}

// LoadGroup implements metastore.GroupStore.
func (s *Store) LoadGroup(ctx context.Context, name string) (metastore.GroupInfo, error) {
	g, err := scanGroup(s.pool.QueryRow(ctx, "SELECT "+groupColumns+" FROM consumer_groups WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.GroupInfo{}, fmt.Errorf("group %q: %w", name, metastore.ErrUnknownGroup)
	}
	if err != nil {
		return metastore.GroupInfo{}, fmt.Errorf("group %q: %w", name, err)
	}
	return g, nil
}

// ListGroups implements metastore.GroupStore.
func (s *Store) ListGroups(ctx context.Context) ([]metastore.GroupInfo, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+groupColumns+` FROM consumer_groups ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	gs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.GroupInfo, error) { return scanGroup(r) })
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return gs, nil
}

// DeleteGroup implements metastore.GroupStore. The offsets go with the row
// (ON DELETE CASCADE).
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	var tag pgconn.CommandTag
	err := s.retry(ctx, "delete_group", func() error {
		var err error
		tag, err = s.pool.Exec(ctx, "DELETE FROM consumer_groups WHERE name = $1", name)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete group %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete group %q: %w", name, metastore.ErrUnknownGroup)
	}
	return nil
}
