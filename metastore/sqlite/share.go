package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// Share-partition states, as in the PostgreSQL backend. A write
// transaction holds the database's one write lock from BEGIN, so reading
// the rows in it is what locks them.

var _ metastore.ShareStore = (*Store)(nil)

// UpdateShareStates implements metastore.ShareStore.
func (s *Store) UpdateShareStates(ctx context.Context, keys []metastore.SharePartitionKey,
	fn func([]metastore.ShareState) ([]metastore.ShareState, error)) (err error) {
	defer s.observe("update_share_states", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		in := make([]metastore.ShareState, len(keys))
		for i, k := range keys {
			in[i].Key = k
			err := tx.QueryRowContext(ctx, `SELECT start_offset, state FROM share_partitions
				WHERE group_id = ? AND topic_id = ? AND partition = ? AND start_offset >= 0`,
				k.Group, k.TopicID[:], k.Partition).Scan(&in[i].StartOffset, &in[i].State)
			switch err {
			case nil:
				in[i].Found = true
			case sql.ErrNoRows:
			default:
				return err
			}
		}
		out, err := fn(in)
		if err != nil {
			return err
		}
		for _, st := range out {
			if st.StartOffset < 0 {
				return fmt.Errorf("share state %v: negative start offset %d", st.Key, st.StartOffset)
			}
			state := st.State
			if state == nil {
				state = []byte{}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO share_partitions (group_id, topic_id, partition, start_offset, state)
				VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (group_id, topic_id, partition) DO UPDATE SET start_offset = excluded.start_offset, state = excluded.state`,
				st.Key.Group, st.Key.TopicID[:], st.Key.Partition, st.StartOffset, state); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update share states: %w", err)
	}
	return nil
}

// ShareStates implements metastore.ShareStore.
func (s *Store) ShareStates(ctx context.Context, group string) (out []metastore.ShareState, err error) {
	defer s.observe("share_states", time.Now(), &err)
	rows, err := s.r.QueryContext(ctx, `SELECT topic_id, partition, start_offset, state FROM share_partitions
		WHERE group_id = ? AND start_offset >= 0 ORDER BY topic_id, partition`, group)
	if err != nil {
		return nil, fmt.Errorf("share states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		st := metastore.ShareState{Found: true}
		st.Key.Group = group
		var id []byte
		if err := rows.Scan(&id, &st.Key.Partition, &st.StartOffset, &st.State); err != nil {
			return nil, fmt.Errorf("share states: %w", err)
		}
		if st.Key.TopicID, err = uuid.FromBytes(id); err != nil {
			return nil, fmt.Errorf("share states: topic id: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("share states: %w", err)
	}
	return out, nil
}

// DeleteShareStates implements metastore.ShareStore.
func (s *Store) DeleteShareStates(ctx context.Context, group string, keys []metastore.SharePartitionKey) (err error) {
	defer s.observe("delete_share_states", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if keys == nil {
			_, err := tx.ExecContext(ctx, `DELETE FROM share_partitions WHERE group_id = ?`, group)
			return err
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `DELETE FROM share_partitions WHERE group_id = ? AND topic_id = ? AND partition = ?`,
				group, k.TopicID[:], k.Partition); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete share states: %w", err)
	}
	return nil
}

// ShareGroupConfigs implements metastore.ShareStore.
func (s *Store) ShareGroupConfigs(ctx context.Context, group string) (out map[string]string, err error) {
	defer s.observe("share_group_configs", time.Now(), &err)
	rows, err := s.r.QueryContext(ctx, `SELECT name, value FROM share_group_configs WHERE group_id = ?`, group)
	if err != nil {
		return nil, fmt.Errorf("share group configs: %w", err)
	}
	defer rows.Close()
	out = map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, fmt.Errorf("share group configs: %w", err)
		}
		out[n] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("share group configs: %w", err)
	}
	return out, nil
}

// SetShareGroupConfigs implements metastore.ShareStore.
func (s *Store) SetShareGroupConfigs(ctx context.Context, group string, set map[string]*string) (err error) {
	defer s.observe("set_share_group_configs", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		for n, v := range set {
			if v == nil {
				if _, err := tx.ExecContext(ctx, `DELETE FROM share_group_configs WHERE group_id = ? AND name = ?`, group, n); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO share_group_configs (group_id, name, value) VALUES (?, ?, ?)
				ON CONFLICT (group_id, name) DO UPDATE SET value = excluded.value`, group, n, *v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set share group configs: %w", err)
	}
	return nil
}
