package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stratalog/strata/metastore"
)

// Consumer groups. Writes go through the single write connection like every
// other write, so they are serialised; each is one transaction.

var _ metastore.GroupStore = (*Store)(nil)

// CommitOffsets implements metastore.GroupStore.
func (s *Store) CommitOffsets(ctx context.Context, group string, offsets []metastore.GroupOffset) (err error) {
	if len(offsets) == 0 {
		return nil
	}
	defer s.observe("commit_offsets", time.Now(), &err)
	offsets = metastore.SortedOffsets(offsets)
	now := s.now().UnixMilli()
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		// The foreign key would refuse an unknown topic too; checking first
		// names it in the error.
		for i, o := range offsets {
			if i > 0 && offsets[i-1].Topic == o.Topic {
				continue
			}
			if _, _, err := topicID(ctx, tx, o.Topic); err != nil {
				return fmt.Errorf("topic %q: %w", o.Topic, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO consumer_groups (name, updated_at) VALUES (?, ?)
			ON CONFLICT (name) DO NOTHING`, group, now); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO group_offsets
			(group_name, topic, partition, committed_offset, leader_epoch, metadata, commit_time)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (group_name, topic, partition) DO UPDATE SET
				committed_offset = excluded.committed_offset,
				leader_epoch = excluded.leader_epoch,
				metadata = excluded.metadata,
				commit_time = excluded.commit_time`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, o := range offsets {
			ts := now
			if !o.CommitTime.IsZero() {
				ts = o.CommitTime.UnixMilli()
			}
			if _, err := st.ExecContext(ctx, group, o.Topic, o.Partition, o.Offset, o.LeaderEpoch, o.Metadata, ts); err != nil {
				return fmt.Errorf("%s/%d: %w", o.Topic, o.Partition, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit offsets of group %q: %w", group, err)
	}
	return nil
}

// FetchOffsets implements metastore.GroupStore.
func (s *Store) FetchOffsets(ctx context.Context, group string, topics []string) (out []metastore.GroupOffset, err error) {
	if topics != nil && len(topics) == 0 {
		return nil, nil
	}
	defer s.observe("fetch_offsets", time.Now(), &err)
	q := `SELECT topic, partition, committed_offset, leader_epoch, metadata, commit_time
		FROM group_offsets WHERE group_name = ?`
	args := []any{group}
	if topics != nil {
		q += ` AND topic IN (?` + strings.Repeat(`, ?`, len(topics)-1) + `)`
		for _, t := range topics {
			args = append(args, t)
		}
	}
	q += ` ORDER BY topic, partition`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %q: %w", group, err)
	}
	defer rows.Close()
	for rows.Next() {
		var o metastore.GroupOffset
		var ts int64
		if err := rows.Scan(&o.Topic, &o.Partition, &o.Offset, &o.LeaderEpoch, &o.Metadata, &ts); err != nil {
			return nil, fmt.Errorf("fetch offsets of group %q: %w", group, err)
		}
		o.CommitTime = time.UnixMilli(ts)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fetch offsets of group %q: %w", group, err)
	}
	return out, nil
}

// DeleteOffsets implements metastore.GroupStore.
func (s *Store) DeleteOffsets(ctx context.Context, group string, partitions []metastore.TopicPartition) (err error) {
	if len(partitions) == 0 {
		return nil
	}
	defer s.observe("delete_offsets", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `DELETE FROM group_offsets WHERE group_name = ? AND topic = ? AND partition = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, p := range partitions {
			if _, err := st.ExecContext(ctx, group, p.Topic, p.Partition); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete offsets of group %q: %w", group, err)
	}
	return nil
}

// SaveGroup implements metastore.GroupStore.
func (s *Store) SaveGroup(ctx context.Context, g metastore.GroupInfo) (err error) {
	defer s.observe("save_group", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO consumer_groups (name, protocol_type, protocol, generation, state, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET
				protocol_type = excluded.protocol_type,
				protocol = excluded.protocol,
				generation = excluded.generation,
				state = excluded.state,
				updated_at = excluded.updated_at
			WHERE consumer_groups.generation <= excluded.generation`,
			g.Name, g.ProtocolType, g.Protocol, g.Generation, g.State, s.now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("save group %q: %w", g.Name, err)
	}
	return nil
}

const groupColumns = `name, protocol_type, protocol, generation, state, updated_at`

func scanGroup(row rowScanner) (metastore.GroupInfo, error) {
	var g metastore.GroupInfo
	var updated int64
	if err := row.Scan(&g.Name, &g.ProtocolType, &g.Protocol, &g.Generation, &g.State, &updated); err != nil {
		return metastore.GroupInfo{}, err
	}
	g.UpdatedAt = time.UnixMilli(updated)
	return g, nil
}

// LoadGroup implements metastore.GroupStore.
func (s *Store) LoadGroup(ctx context.Context, name string) (g metastore.GroupInfo, err error) {
	defer s.observe("load_group", time.Now(), &err)
	g, err = scanGroup(s.r.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM consumer_groups WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return metastore.GroupInfo{}, fmt.Errorf("group %q: %w", name, metastore.ErrUnknownGroup)
	}
	if err != nil {
		return metastore.GroupInfo{}, fmt.Errorf("group %q: %w", name, err)
	}
	return g, nil
}

// ListGroups implements metastore.GroupStore.
func (s *Store) ListGroups(ctx context.Context) (out []metastore.GroupInfo, err error) {
	defer s.observe("list_groups", time.Now(), &err)
	rows, err := s.r.QueryContext(ctx, `SELECT `+groupColumns+` FROM consumer_groups ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return out, nil
}

// DeleteGroup implements metastore.GroupStore. The offsets go with the row
// (ON DELETE CASCADE).
func (s *Store) DeleteGroup(ctx context.Context, name string) (err error) {
	defer s.observe("delete_group", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM consumer_groups WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return metastore.ErrUnknownGroup
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete group %q: %w", name, err)
	}
	return nil
}
