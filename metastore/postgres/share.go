package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/metastore"
)

// Share-partition states. An update first inserts the rows it needs that
// do not exist yet (start_offset -1) so that it can lock every row it
// reads with FOR UPDATE, in key order, whatever other nodes do at the
// same time; then it writes back the states it was given. Three
// statements, one transaction, whatever the number of partitions.

var _ metastore.ShareStore = (*Store)(nil)

// UpdateShareStates implements metastore.ShareStore.
func (s *Store) UpdateShareStates(ctx context.Context, keys []metastore.SharePartitionKey,
	fn func([]metastore.ShareState) ([]metastore.ShareState, error)) error {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, metastore.CompareSharePartitionKeys)
	groups := make([]string, len(sorted))
	topics := make([]uuid.UUID, len(sorted))
	parts := make([]int32, len(sorted))
	for i, k := range sorted {
		groups[i], topics[i], parts[i] = k.Group, k.TopicID, k.Partition
	}
	err := s.retry(ctx, "update_share_states", func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO share_partitions (group_id, topic_id, partition, start_offset, state)
				SELECT g, t, p, -1, '' FROM unnest($1::text[], $2::uuid[], $3::int[]) AS u(g, t, p)
				ORDER BY g, t, p
				ON CONFLICT DO NOTHING`, groups, topics, parts); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT sp.group_id, sp.topic_id, sp.partition, sp.start_offset, sp.state
				FROM share_partitions sp
				JOIN unnest($1::text[], $2::uuid[], $3::int[]) AS u(g, t, p)
				  ON sp.group_id = u.g AND sp.topic_id = u.t AND sp.partition = u.p
				ORDER BY sp.group_id, sp.topic_id, sp.partition
				FOR UPDATE OF sp`, groups, topics, parts)
			if err != nil {
				return err
			}
			found := map[metastore.SharePartitionKey]metastore.ShareState{}
			for rows.Next() {
				var st metastore.ShareState
				if err := rows.Scan(&st.Key.Group, &st.Key.TopicID, &st.Key.Partition, &st.StartOffset, &st.State); err != nil {
					rows.Close()
					return err
				}
				if st.StartOffset >= 0 {
					st.Found = true
				} else {
					st.StartOffset, st.State = 0, nil
				}
				found[st.Key] = st
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			in := make([]metastore.ShareState, len(keys))
			for i, k := range keys {
				in[i] = found[k]
				in[i].Key = k
			}
			out, err := fn(in)
			if err != nil {
				return err
			}
			if len(out) == 0 {
				return nil
			}
			var wg []string
			var wt []uuid.UUID
			var wpart []int32
			var ws [][]byte
			var wo []int64
			for _, st := range out {
				if st.StartOffset < 0 {
					return fmt.Errorf("share state %v: negative start offset %d", st.Key, st.StartOffset)
				}
				wg, wt, wpart = append(wg, st.Key.Group), append(wt, st.Key.TopicID), append(wpart, st.Key.Partition)
				wo, ws = append(wo, st.StartOffset), append(ws, nonNil(st.State))
			}
			_, err = tx.Exec(ctx, `UPDATE share_partitions sp SET start_offset = u.o, state = u.s
				FROM unnest($1::text[], $2::uuid[], $3::int[], $4::bigint[], $5::bytea[]) AS u(g, t, p, o, s)
				WHERE sp.group_id = u.g AND sp.topic_id = u.t AND sp.partition = u.p`,
				wg, wt, wpart, wo, ws)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("update share states: %w", err)
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ShareStates implements metastore.ShareStore.
func (s *Store) ShareStates(ctx context.Context, group string) ([]metastore.ShareState, error) {
	rows, err := s.pool.Query(ctx, `SELECT topic_id, partition, start_offset, state FROM share_partitions
		WHERE group_id = $1 AND start_offset >= 0 ORDER BY topic_id, partition`, group)
	if err != nil {
		return nil, fmt.Errorf("share states: %w", err)
	}
	defer rows.Close()
	var out []metastore.ShareState
	for rows.Next() {
		st := metastore.ShareState{Found: true}
		st.Key.Group = group
		if err := rows.Scan(&st.Key.TopicID, &st.Key.Partition, &st.StartOffset, &st.State); err != nil {
			return nil, fmt.Errorf("share states: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("share states: %w", err)
	}
	// uuid ORDER BY is byte order, as the contract says.
	return out, nil
}

// DeleteShareStates implements metastore.ShareStore.
func (s *Store) DeleteShareStates(ctx context.Context, group string, keys []metastore.SharePartitionKey) error {
	err := s.retry(ctx, "delete_share_states", func() error {
		if keys == nil {
			_, err := s.pool.Exec(ctx, `DELETE FROM share_partitions WHERE group_id = $1`, group)
			return err
		}
		topics := make([]uuid.UUID, len(keys))
		parts := make([]int32, len(keys))
		for i, k := range keys {
			topics[i], parts[i] = k.TopicID, k.Partition
		}
		_, err := s.pool.Exec(ctx, `DELETE FROM share_partitions sp USING unnest($2::uuid[], $3::int[]) AS u(t, p)
			WHERE sp.group_id = $1 AND sp.topic_id = u.t AND sp.partition = u.p`, group, topics, parts)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete share states: %w", err)
	}
	return nil
}

// ShareGroupConfigs implements metastore.ShareStore.
func (s *Store) ShareGroupConfigs(ctx context.Context, group string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, value FROM share_group_configs WHERE group_id = $1`, group)
	if err != nil {
		return nil, fmt.Errorf("share group configs: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
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
func (s *Store) SetShareGroupConfigs(ctx context.Context, group string, set map[string]*string) error {
	err := s.retry(ctx, "set_share_group_configs", func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			for n, v := range set {
				if v == nil {
					b.Queue(`DELETE FROM share_group_configs WHERE group_id = $1 AND name = $2`, group, n)
					continue
				}
				b.Queue(`INSERT INTO share_group_configs (group_id, name, value) VALUES ($1, $2, $3)
					ON CONFLICT (group_id, name) DO UPDATE SET value = excluded.value`, group, n, *v)
			}
			return tx.SendBatch(ctx, b).Close()
		})
	})
	if err != nil {
		return fmt.Errorf("set share group configs: %w", err)
	}
	return nil
}
