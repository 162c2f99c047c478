package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// CreateTopic creates a topic with n partitions, leaderless, at offset 0.
func (s *Store) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (t metastore.Topic, err error) {
	defer s.observe("create_topic", time.Now(), &err)
	if err := metastore.ValidateTopicName(name); err != nil {
		return metastore.Topic{}, fmt.Errorf("create topic: %w", err)
	}
	if partitions <= 0 {
		return metastore.Topic{}, fmt.Errorf("create topic %q: %w: %d", name, metastore.ErrInvalidPartitions, partitions)
	}
	if configs == nil {
		configs = map[string]string{}
	}
	cfgJSON, err := json.Marshal(configs)
	if err != nil {
		return metastore.Topic{}, fmt.Errorf("create topic %q: encode configs: %w", name, err)
	}
	t = metastore.Topic{
		ID:         uuid.New(),
		Name:       name,
		Partitions: partitions,
		Configs:    maps.Clone(configs),
		CreatedAt:  time.UnixMilli(s.now().UnixMilli()),
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO topics (id, name, partitions, configs, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			t.ID[:], name, partitions, string(cfgJSON), t.CreatedAt.UnixMilli())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return metastore.ErrTopicExists
		}
		return insertPartitions(ctx, tx, t.ID, 0, partitions)
	})
	if err != nil {
		return metastore.Topic{}, fmt.Errorf("create topic %q: %w", name, err)
	}
	return t, nil
}

func insertPartitions(ctx context.Context, tx *sql.Tx, id uuid.UUID, from, to int32) error {
	st, err := tx.PrepareContext(ctx, `INSERT INTO partitions (topic_id, partition) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for p := from; p < to; p++ {
		if _, err := st.ExecContext(ctx, id[:], p); err != nil {
			return fmt.Errorf("insert partition %d: %w", p, err)
		}
	}
	return nil
}

const topicColumns = `id, name, partitions, configs, created_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanTopic(row rowScanner) (metastore.Topic, error) {
	var (
		t       metastore.Topic
		configs []byte
		created int64
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Partitions, &configs, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return t, metastore.ErrUnknownTopic
		}
		return t, err
	}
	if err := json.Unmarshal(configs, &t.Configs); err != nil {
		return t, fmt.Errorf("decode configs of topic %q: %w", t.Name, err)
	}
	if t.Configs == nil {
		t.Configs = map[string]string{}
	}
	t.CreatedAt = time.UnixMilli(created)
	return t, nil
}

// TopicByName returns the named topic, or ErrUnknownTopic.
func (s *Store) TopicByName(ctx context.Context, name string) (t metastore.Topic, err error) {
	defer s.observe("topic_by_name", time.Now(), &err)
	t, err = scanTopic(s.r.QueryRowContext(ctx, `SELECT `+topicColumns+` FROM topics WHERE name = ?`, name))
	if err != nil {
		return t, fmt.Errorf("topic %q: %w", name, err)
	}
	return t, nil
}

// TopicByID returns the topic with this id, or ErrUnknownTopic.
func (s *Store) TopicByID(ctx context.Context, id uuid.UUID) (t metastore.Topic, err error) {
	defer s.observe("topic_by_id", time.Now(), &err)
	t, err = scanTopic(s.r.QueryRowContext(ctx, `SELECT `+topicColumns+` FROM topics WHERE id = ?`, id[:]))
	if err != nil {
		return t, fmt.Errorf("topic %s: %w", id, err)
	}
	return t, nil
}

// ListTopics returns every topic, ordered by name.
func (s *Store) ListTopics(ctx context.Context) (ts []metastore.Topic, err error) {
	defer s.observe("list_topics", time.Now(), &err)
	rows, err := s.r.QueryContext(ctx, `SELECT `+topicColumns+` FROM topics ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTopic(rows)
		if err != nil {
			return nil, fmt.Errorf("list topics: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	return ts, nil
}

// topicID returns the id and partition count of the named topic in tx.
func topicID(ctx context.Context, tx *sql.Tx, name string) (uuid.UUID, int32, error) {
	var (
		id uuid.UUID
		n  int32
	)
	err := tx.QueryRowContext(ctx, `SELECT id, partitions FROM topics WHERE name = ?`, name).Scan(&id, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return id, 0, metastore.ErrUnknownTopic
	}
	return id, n, err
}

// DeleteTopic removes the topic, its partitions, chunk rows and producer
// state. The objects stay: the compactor deletes them once unreferenced.
func (s *Store) DeleteTopic(ctx context.Context, name string) (err error) {
	defer s.observe("delete_topic", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		id, _, err := topicID(ctx, tx, name)
		if err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM chunks WHERE topic_id = ?`,
			`DELETE FROM producer_state WHERE topic_id = ?`,
			`DELETE FROM partitions WHERE topic_id = ?`,
			`DELETE FROM topics WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete topic %q: %w", name, err)
	}
	return nil
}

// CreatePartitions raises the topic's partition count to total; a total not
// above the current count is ErrInvalidPartitions, as in Kafka.
func (s *Store) CreatePartitions(ctx context.Context, name string, total int32) (err error) {
	defer s.observe("create_partitions", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		id, n, err := topicID(ctx, tx, name)
		if err != nil {
			return err
		}
		if total <= n {
			return fmt.Errorf("%w: topic has %d partitions, asked for %d", metastore.ErrInvalidPartitions, n, total)
		}
		if err := insertPartitions(ctx, tx, id, n, total); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE topics SET partitions = ? WHERE id = ?`, total, id[:])
		return err
	})
	if err != nil {
		return fmt.Errorf("create partitions of topic %q: %w", name, err)
	}
	return nil
}

// SetTopicConfigs sets the configs with a value and removes those with nil.
func (s *Store) SetTopicConfigs(ctx context.Context, name string, set map[string]*string) (err error) {
	defer s.observe("set_topic_configs", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var raw []byte
		err := tx.QueryRowContext(ctx, `SELECT configs FROM topics WHERE name = ?`, name).Scan(&raw)
		if errors.Is(err, sql.ErrNoRows) {
			return metastore.ErrUnknownTopic
		}
		if err != nil {
			return err
		}
		configs := map[string]string{}
		if err := json.Unmarshal(raw, &configs); err != nil {
			return fmt.Errorf("decode configs: %w", err)
		}
		for k, v := range set {
			if v == nil {
				delete(configs, k)
			} else {
				configs[k] = *v
			}
		}
		if raw, err = json.Marshal(configs); err != nil {
			return fmt.Errorf("encode configs: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE topics SET configs = ? WHERE name = ?`, string(raw), name)
		return err
	})
	if err != nil {
		return fmt.Errorf("set configs of topic %q: %w", name, err)
	}
	return nil
}
