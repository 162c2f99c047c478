package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/metastore"
)

// Cluster membership, the controller lease and the leader epoch history.
// Leases are judged by the database clock (now()). MoveLeaders locks the
// controller row, then the partition rows it moves in (topic id, partition)
// order, the order commits use, so it cannot deadlock with them.

var _ metastore.ClusterStore = (*Store)(nil)

// leaseMicros converts a lease to the microseconds multiplied by interval
// '1 microsecond' in SQL.
func leaseMicros(d time.Duration) int64 { return d.Microseconds() }

// RegisterNode implements metastore.ClusterStore.
func (s *Store) RegisterNode(ctx context.Context, n metastore.NodeInfo, lease time.Duration) (err error) {
	defer s.metrics.Observe("register_node", time.Now(), &err)
	roles := n.Roles
	if roles == nil {
		roles = []string{}
	}
	var id int32
	err = s.retry(ctx, "register_node", func() error {
		return s.pool.QueryRow(ctx, `
			INSERT INTO cluster_nodes AS c (node_id, instance, host, port, rack, roles, listeners, registered_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $8, now(), now() + $7::bigint * interval '1 microsecond')
			ON CONFLICT (node_id) DO UPDATE SET
				instance = excluded.instance, host = excluded.host, port = excluded.port,
				rack = excluded.rack, roles = excluded.roles, listeners = excluded.listeners,
				registered_at = excluded.registered_at, expires_at = excluded.expires_at
			WHERE c.instance = excluded.instance OR c.expires_at <= now()
			RETURNING node_id`,
			n.ID, n.Instance, n.Host, n.Port, n.Rack, roles, leaseMicros(lease), n.Listeners).Scan(&id)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return s.nodeInUse(ctx, n.ID)
	}
	if err != nil {
		return fmt.Errorf("register node %d: %w", n.ID, err)
	}
	return nil
}

// nodeInUse builds the ErrNodeIDInUse error for id, naming its holder.
func (s *Store) nodeInUse(ctx context.Context, id int32) error {
	var inst uuid.UUID
	var host string
	var port int32
	var leftMS int64
	err := s.pool.QueryRow(ctx, `SELECT instance, host, port, (extract(epoch FROM expires_at - now()) * 1000)::bigint
		FROM cluster_nodes WHERE node_id = $1`, id).Scan(&inst, &host, &port, &leftMS)
	if err != nil {
		return fmt.Errorf("register node %d: %w", id, metastore.ErrNodeIDInUse)
	}
	return fmt.Errorf("register node %d: %w: instance %s at %s:%d, lease ends in %v",
		id, metastore.ErrNodeIDInUse, inst, host, port, time.Duration(leftMS)*time.Millisecond)
}

// HeartbeatNode implements metastore.ClusterStore.
func (s *Store) HeartbeatNode(ctx context.Context, id int32, instance uuid.UUID, lease time.Duration) (err error) {
	defer s.metrics.Observe("heartbeat_node", time.Now(), &err)
	tag, err := s.pool.Exec(ctx, `
		UPDATE cluster_nodes SET expires_at = now() + $3::bigint * interval '1 microsecond'
		WHERE node_id = $1 AND instance = $2`, id, instance, leaseMicros(lease))
	if err != nil {
		return fmt.Errorf("heartbeat node %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("heartbeat node %d: %w", id, metastore.ErrNodeNotRegistered)
	}
	return nil
}

// DeregisterNode implements metastore.ClusterStore.
func (s *Store) DeregisterNode(ctx context.Context, id int32, instance uuid.UUID) (err error) {
	defer s.metrics.Observe("deregister_node", time.Now(), &err)
	if _, err := s.pool.Exec(ctx, `DELETE FROM cluster_nodes WHERE node_id = $1 AND instance = $2`, id, instance); err != nil {
		return fmt.Errorf("deregister node %d: %w", id, err)
	}
	return nil
}

// ClusterState implements metastore.ClusterStore. Both queries go in one
// round trip and one implicit transaction, so they see the same moment.
func (s *Store) ClusterState(ctx context.Context) (_ metastore.ClusterState, err error) {
	defer s.metrics.Observe("cluster_state", time.Now(), &err)
	var st metastore.ClusterState
	b := &pgx.Batch{}
	b.Queue(`SELECT now(), node_id, instance, term, expires_at, leaders_version, expires_at > now()
		FROM cluster_controller WHERE id = 1`).QueryRow(func(row pgx.Row) error {
		var inst *uuid.UUID
		var live bool
		c := &st.Controller
		if err := row.Scan(&st.Now, &c.NodeID, &inst, &c.Term, &c.ExpiresAt, &st.LeadersVersion, &live); err != nil {
			return err
		}
		if inst != nil {
			c.Instance = *inst
		}
		if !live {
			c.NodeID = -1
		}
		return nil
	})
	b.Queue(`SELECT node_id, instance, host, port, rack, roles, listeners, registered_at, expires_at
		FROM cluster_nodes WHERE expires_at > now() ORDER BY node_id`).Query(func(rows pgx.Rows) error {
		var err error
		st.Nodes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.NodeInfo, error) {
			var n metastore.NodeInfo
			err := r.Scan(&n.ID, &n.Instance, &n.Host, &n.Port, &n.Rack, &n.Roles, &n.Listeners, &n.RegisteredAt, &n.ExpiresAt)
			return n, err
		})
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return metastore.ClusterState{}, fmt.Errorf("cluster state: %w", err)
	}
	return st, nil
}

// AcquireController implements metastore.ClusterStore.
func (s *Store) AcquireController(ctx context.Context, nodeID int32, instance uuid.UUID, lease time.Duration) (_ int64, err error) {
	defer s.metrics.Observe("acquire_controller", time.Now(), &err)
	var term int64
	err = s.retry(ctx, "acquire_controller", func() error {
		return s.pool.QueryRow(ctx, `
			UPDATE cluster_controller SET
				term = CASE WHEN instance IS NOT DISTINCT FROM $2 THEN term ELSE term + 1 END,
				node_id = $1, instance = $2,
				expires_at = now() + $3::bigint * interval '1 microsecond'
			WHERE id = 1 AND (instance IS NOT DISTINCT FROM $2 OR expires_at <= now())
			RETURNING term`, nodeID, instance, leaseMicros(lease)).Scan(&term)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		var holder int32
		if err := s.pool.QueryRow(ctx, `SELECT node_id FROM cluster_controller WHERE id = 1`).Scan(&holder); err == nil {
			return 0, fmt.Errorf("acquire controller: %w: node %d holds the lease", metastore.ErrNotController, holder)
		}
		return 0, fmt.Errorf("acquire controller: %w", metastore.ErrNotController)
	}
	if err != nil {
		return 0, fmt.Errorf("acquire controller: %w", err)
	}
	return term, nil
}

// ReleaseController implements metastore.ClusterStore.
func (s *Store) ReleaseController(ctx context.Context, instance uuid.UUID) (err error) {
	defer s.metrics.Observe("release_controller", time.Now(), &err)
	_, err = s.pool.Exec(ctx, `
		UPDATE cluster_controller SET node_id = -1, expires_at = 'epoch'
		WHERE id = 1 AND instance = $1`, instance)
	if err != nil {
		return fmt.Errorf("release controller: %w", err)
	}
	return nil
}

// PartitionLeaders implements metastore.ClusterStore.
func (s *Store) PartitionLeaders(ctx context.Context) (_ []metastore.PartitionLeader, err error) {
	defer s.metrics.Observe("partition_leaders", time.Now(), &err)
	rows, err := s.pool.Query(ctx, `SELECT topic_id, partition, leader_node, leader_epoch
		FROM partitions ORDER BY topic_id, partition`)
	if err != nil {
		return nil, fmt.Errorf("partition leaders: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.PartitionLeader, error) {
		var p metastore.PartitionLeader
		// As a [16]byte the id is decoded from the binary format, not
		// parsed from text through uuid.UUID's sql.Scanner.
		err := r.Scan((*[16]byte)(&p.TopicID), &p.Partition, &p.Leader, &p.Epoch)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("partition leaders: %w", err)
	}
	return out, nil
}

// MoveLeaders implements metastore.ClusterStore.
func (s *Store) MoveLeaders(ctx context.Context, instance uuid.UUID, term int64, moves []metastore.LeaderMove) (_ []metastore.PartitionLeader, err error) {
	defer s.metrics.Observe("move_leaders", time.Now(), &err)
	moves = sortedMoves(moves)
	n := len(moves)
	topics, parts := make([]uuid.UUID, n), make([]int32, n)
	for i, m := range moves {
		topics[i], parts[i] = m.TopicID, m.Partition
	}
	var applied []metastore.PartitionLeader
	err = s.retry(ctx, "move_leaders", func() error {
		applied = applied[:0]
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// The lease check locks the controller row until commit: a
			// takeover waits for this transaction, and a stale term or an
			// expired lease writes nothing. The row lock comes before the
			// partition locks, which no other transaction holds while
			// waiting for it.
			var version int64
			err := tx.QueryRow(ctx, `
				SELECT leaders_version FROM cluster_controller
				WHERE id = 1 AND instance = $1 AND term = $2 AND expires_at > now()
				FOR UPDATE`, instance, term).Scan(&version)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("term %d: %w", term, metastore.ErrNotController)
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			rows, err := tx.Query(ctx, `
				SELECT p.topic_id, p.partition, p.leader_node, p.leader_epoch, p.next_offset
				FROM partitions p
				JOIN unnest($1::uuid[], $2::integer[]) AS m(topic_id, partition)
					ON p.topic_id = m.topic_id AND p.partition = m.partition
				ORDER BY p.topic_id, p.partition
				FOR UPDATE OF p`, topics, parts)
			if err != nil {
				return err
			}
			type cur struct {
				leader, epoch int32
				next          int64
			}
			current := make(map[metastore.PartitionKey]cur, n)
			for rows.Next() {
				var k metastore.PartitionKey
				var c cur
				if err := rows.Scan(&k.TopicID, &k.Partition, &c.leader, &c.epoch, &c.next); err != nil {
					rows.Close()
					return err
				}
				current[k] = c
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			var uTopics []uuid.UUID
			var uParts, uLeaders, uEpochs []int32
			var uStarts []int64
			for _, m := range moves {
				c, ok := current[metastore.PartitionKey{TopicID: m.TopicID, Partition: m.Partition}]
				if !ok || c.leader != m.From || c.epoch != m.FromEpoch {
					continue
				}
				uTopics = append(uTopics, m.TopicID)
				uParts = append(uParts, m.Partition)
				uLeaders = append(uLeaders, m.To)
				uEpochs = append(uEpochs, c.epoch+1)
				uStarts = append(uStarts, c.next)
				applied = append(applied, metastore.PartitionLeader{TopicID: m.TopicID, Partition: m.Partition, Leader: m.To, Epoch: c.epoch + 1})
			}
			if len(applied) == 0 {
				return nil
			}
			b := &pgx.Batch{}
			b.Queue(`UPDATE cluster_controller SET leaders_version = $1 WHERE id = 1`, version+1)
			b.Queue(`
				UPDATE partitions p SET leader_node = u.leader, leader_epoch = u.epoch
				FROM unnest($1::uuid[], $2::integer[], $3::integer[], $4::integer[]) AS u(topic_id, partition, leader, epoch)
				WHERE p.topic_id = u.topic_id AND p.partition = u.partition`,
				uTopics, uParts, uLeaders, uEpochs)
			b.Queue(`
				INSERT INTO leader_epochs (topic_id, partition, epoch, start_offset)
				SELECT * FROM unnest($1::uuid[], $2::integer[], $3::integer[], $4::bigint[])`,
				uTopics, uParts, uEpochs, uStarts)
			return tx.SendBatch(ctx, b).Close()
		})
	})
	if err != nil {
		return nil, fmt.Errorf("move leaders: %w", err)
	}
	return applied, nil
}

// sortedMoves returns moves ordered by (topic id, partition), one per
// partition (the first given).
func sortedMoves(moves []metastore.LeaderMove) []metastore.LeaderMove {
	out := slices.Clone(moves)
	slices.SortStableFunc(out, func(a, b metastore.LeaderMove) int {
		ka := metastore.PartitionKey{TopicID: a.TopicID, Partition: a.Partition}
		kb := metastore.PartitionKey{TopicID: b.TopicID, Partition: b.Partition}
		switch {
		case ka.Less(kb):
			return -1
		case kb.Less(ka):
			return 1
		}
		return 0
	})
	return slices.CompactFunc(out, func(a, b metastore.LeaderMove) bool {
		return a.TopicID == b.TopicID && a.Partition == b.Partition
	})
}

// OffsetForLeaderEpoch implements metastore.ClusterStore. One statement
// reads the partition and the two history entries around the epoch.
func (s *Store) OffsetForLeaderEpoch(ctx context.Context, topicID uuid.UUID, partition int32, epoch int32) (_ metastore.EpochEnd, err error) {
	defer s.metrics.Observe("offset_for_leader_epoch", time.Now(), &err)
	var current int32
	var hw int64
	var floorEpoch, nextEpoch *int32
	var floorStart, nextStart *int64
	err = s.pool.QueryRow(ctx, `
		SELECT p.leader_epoch, p.next_offset, f.epoch, f.start_offset, n.epoch, n.start_offset
		FROM partitions p
		LEFT JOIN LATERAL (
			SELECT epoch, start_offset FROM leader_epochs e
			WHERE e.topic_id = p.topic_id AND e.partition = p.partition AND e.epoch <= $3
			ORDER BY epoch DESC LIMIT 1) f ON true
		LEFT JOIN LATERAL (
			SELECT epoch, start_offset FROM leader_epochs e
			WHERE e.topic_id = p.topic_id AND e.partition = p.partition AND e.epoch > $3
			ORDER BY epoch LIMIT 1) n ON true
		WHERE p.topic_id = $1 AND p.partition = $2`, topicID, partition, epoch).
		Scan(&current, &hw, &floorEpoch, &floorStart, &nextEpoch, &nextStart)
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.UndefinedEpochEnd, fmt.Errorf("offset for leader epoch %d of %s/%d: %w", epoch, topicID, partition, metastore.ErrUnknownPartition)
	}
	if err != nil {
		return metastore.UndefinedEpochEnd, fmt.Errorf("offset for leader epoch %d of %s/%d: %w", epoch, topicID, partition, err)
	}
	var floor, next *metastore.EpochStart
	if floorEpoch != nil {
		floor = &metastore.EpochStart{Epoch: *floorEpoch, StartOffset: *floorStart}
	}
	if nextEpoch != nil {
		next = &metastore.EpochStart{Epoch: *nextEpoch, StartOffset: *nextStart}
	}
	return metastore.ResolveEpochEnd(epoch, current, hw, floor, next), nil
}
