package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/metastore"
)

// SaveConsumerGroup implements metastore.ConsumerGroupStore: the lease
// check, the group's row and the state in one statement.
func (s *Store) SaveConsumerGroup(ctx context.Context, lease metastore.GroupLease, g metastore.ConsumerGroupState) (err error) {
	defer s.metrics.Observe("save_consumer_group", time.Now(), &err)
	if g.Name != lease.Group {
		return fmt.Errorf("save consumer group %q under the lease of group %q", g.Name, lease.Group)
	}
	var held bool
	err = s.retry(ctx, "save_consumer_group", func() error {
		return s.pool.QueryRow(ctx, `
			WITH `+leaseCTE+`, g AS (
				INSERT INTO consumer_groups (name, protocol_type) SELECT $1, 'consumer' FROM l ON CONFLICT (name) DO NOTHING
			), s AS (
				INSERT INTO consumer_protocol_groups (name, epoch, state, data, updated_at)
				SELECT $1, $4, $5, $6::jsonb, now() FROM l
				ON CONFLICT (name) DO UPDATE SET
					epoch = excluded.epoch, state = excluded.state, data = excluded.data, updated_at = excluded.updated_at
				WHERE consumer_protocol_groups.epoch <= excluded.epoch
			)
			SELECT EXISTS (SELECT 1 FROM l)`,
			g.Name, lease.Instance, lease.Epoch, g.Epoch, g.State, string(g.Data)).Scan(&held)
	})
	if err != nil {
		return fmt.Errorf("save consumer group %q: %w", g.Name, err)
	}
	if !held {
		return notCoordinator("save", lease)
	}
	return nil
}

// LoadConsumerGroup implements metastore.ConsumerGroupStore.
func (s *Store) LoadConsumerGroup(ctx context.Context, name string) (_ metastore.ConsumerGroupState, err error) {
	defer s.metrics.Observe("load_consumer_group", time.Now(), &err)
	g := metastore.ConsumerGroupState{Name: name}
	var data string
	err = s.pool.QueryRow(ctx, `SELECT epoch, state, data::text, updated_at FROM consumer_protocol_groups WHERE name = $1`, name).
		Scan(&g.Epoch, &g.State, &data, &g.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.ConsumerGroupState{}, fmt.Errorf("consumer group %q: %w", name, metastore.ErrUnknownGroup)
	}
	if err != nil {
		return metastore.ConsumerGroupState{}, fmt.Errorf("load consumer group %q: %w", name, err)
	}
	g.Data = []byte(data)
	return g, nil
}

// DeleteConsumerGroup implements metastore.ConsumerGroupStore.
func (s *Store) DeleteConsumerGroup(ctx context.Context, lease metastore.GroupLease) (err error) {
	defer s.metrics.Observe("delete_consumer_group", time.Now(), &err)
	var held bool
	err = s.retry(ctx, "delete_consumer_group", func() error {
		return s.pool.QueryRow(ctx, `
			WITH `+leaseCTE+`, d AS (
				DELETE FROM consumer_protocol_groups WHERE name = $1 AND EXISTS (SELECT 1 FROM l)
			)
			SELECT EXISTS (SELECT 1 FROM l)`,
			lease.Group, lease.Instance, lease.Epoch).Scan(&held)
	})
	if err != nil {
		return fmt.Errorf("delete consumer group %q: %w", lease.Group, err)
	}
	if !held {
		return notCoordinator("delete", lease)
	}
	return nil
}

// ListConsumerGroups implements metastore.ConsumerGroupStore.
func (s *Store) ListConsumerGroups(ctx context.Context) (out []metastore.ConsumerGroupState, err error) {
	defer s.metrics.Observe("list_consumer_groups", time.Now(), &err)
	rows, err := s.pool.Query(ctx, `SELECT name, epoch, state, updated_at FROM consumer_protocol_groups ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g metastore.ConsumerGroupState
		if err := rows.Scan(&g.Name, &g.Epoch, &g.State, &g.UpdatedAt); err != nil {
			return nil, fmt.Errorf("list consumer groups: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	return out, nil
}
