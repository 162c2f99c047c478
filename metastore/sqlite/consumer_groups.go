package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stratalog/strata/metastore"
)

// SaveConsumerGroup implements metastore.ConsumerGroupStore.
func (s *Store) SaveConsumerGroup(ctx context.Context, lease metastore.GroupLease, g metastore.ConsumerGroupState) (err error) {
	defer s.observe("save_consumer_group", time.Now(), &err)
	if g.Name != lease.Group {
		return fmt.Errorf("save consumer group %q under the lease of group %q", g.Name, lease.Group)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkLease(ctx, tx, "save", lease); err != nil {
			return err
		}
		now := s.now().UnixMilli()
		if _, err := tx.ExecContext(ctx, `INSERT INTO consumer_groups (name, protocol_type, updated_at)
			VALUES (?, 'consumer', ?) ON CONFLICT (name) DO NOTHING`, g.Name, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO consumer_protocol_groups (name, epoch, state, data, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET
				epoch = excluded.epoch, state = excluded.state, data = excluded.data, updated_at = excluded.updated_at
			WHERE consumer_protocol_groups.epoch <= excluded.epoch`,
			g.Name, g.Epoch, g.State, string(g.Data), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("save consumer group %q: %w", g.Name, err)
	}
	return nil
}

// LoadConsumerGroup implements metastore.ConsumerGroupStore.
func (s *Store) LoadConsumerGroup(ctx context.Context, name string) (_ metastore.ConsumerGroupState, err error) {
	defer s.observe("load_consumer_group", time.Now(), &err)
	g := metastore.ConsumerGroupState{Name: name}
	var data string
	var updated int64
	err = s.r.QueryRowContext(ctx, `SELECT epoch, state, data, updated_at FROM consumer_protocol_groups WHERE name = ?`, name).
		Scan(&g.Epoch, &g.State, &data, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return metastore.ConsumerGroupState{}, fmt.Errorf("consumer group %q: %w", name, metastore.ErrUnknownGroup)
	}
	if err != nil {
		return metastore.ConsumerGroupState{}, fmt.Errorf("load consumer group %q: %w", name, err)
	}
	g.Data, g.UpdatedAt = []byte(data), time.UnixMilli(updated)
	return g, nil
}

// DeleteConsumerGroup implements metastore.ConsumerGroupStore.
func (s *Store) DeleteConsumerGroup(ctx context.Context, lease metastore.GroupLease) (err error) {
	defer s.observe("delete_consumer_group", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkLease(ctx, tx, "delete", lease); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM consumer_protocol_groups WHERE name = ?`, lease.Group)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete consumer group %q: %w", lease.Group, err)
	}
	return nil
}

// ListConsumerGroups implements metastore.ConsumerGroupStore.
func (s *Store) ListConsumerGroups(ctx context.Context) (out []metastore.ConsumerGroupState, err error) {
	defer s.observe("list_consumer_groups", time.Now(), &err)
	rows, err := s.r.QueryContext(ctx, `SELECT name, epoch, state, updated_at FROM consumer_protocol_groups ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g metastore.ConsumerGroupState
		var updated int64
		if err := rows.Scan(&g.Name, &g.Epoch, &g.State, &updated); err != nil {
			return nil, fmt.Errorf("list consumer groups: %w", err)
		}
		g.UpdatedAt = time.UnixMilli(updated)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	return out, nil
}
