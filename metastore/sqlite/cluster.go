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

// Cluster membership, the controller lease and the leader epoch history.
// A SQLite metastore serves one process, but the rules are those of the
// PostgreSQL backend: leases by the store's clock, moves fenced by the
// controller term. Writes are serialised by the single write connection.

var _ metastore.ClusterStore = (*Store)(nil)

// RegisterNode implements metastore.ClusterStore.
func (s *Store) RegisterNode(ctx context.Context, n metastore.NodeInfo, lease time.Duration) (err error) {
	defer s.observe("register_node", time.Now(), &err)
	for _, r := range n.Roles {
		if strings.Contains(r, ",") {
			return fmt.Errorf("register node %d: role %q contains a comma", n.ID, r)
		}
	}
	now := s.now()
	res, err := s.w.ExecContext(ctx, `
		INSERT INTO cluster_nodes (node_id, instance, host, port, rack, roles, listeners, registered_at, expires_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?9, ?7, ?8)
		ON CONFLICT (node_id) DO UPDATE SET
			instance = excluded.instance, host = excluded.host, port = excluded.port,
			rack = excluded.rack, roles = excluded.roles, listeners = excluded.listeners,
			registered_at = excluded.registered_at, expires_at = excluded.expires_at
		WHERE cluster_nodes.instance = excluded.instance OR cluster_nodes.expires_at <= ?7`,
		n.ID, n.Instance[:], n.Host, n.Port, n.Rack, strings.Join(n.Roles, ","),
		now.UnixMilli(), now.Add(lease).UnixMilli(), n.Listeners)
	if err != nil {
		return fmt.Errorf("register node %d: %w", n.ID, err)
	}
	if k, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("register node %d: %w", n.ID, err)
	} else if k == 1 {
		return nil
	}
	var inst uuid.UUID
	var host string
	var port int32
	var expires int64
	if err := s.r.QueryRowContext(ctx, `SELECT instance, host, port, expires_at FROM cluster_nodes WHERE node_id = ?`, n.ID).
		Scan(&inst, &host, &port, &expires); err != nil {
		return fmt.Errorf("register node %d: %w", n.ID, metastore.ErrNodeIDInUse)
	}
	return fmt.Errorf("register node %d: %w: instance %s at %s:%d, lease ends in %v",
		n.ID, metastore.ErrNodeIDInUse, inst, host, port, time.UnixMilli(expires).Sub(now))
}

// HeartbeatNode implements metastore.ClusterStore.
func (s *Store) HeartbeatNode(ctx context.Context, id int32, instance uuid.UUID, lease time.Duration) (err error) {
	defer s.observe("heartbeat_node", time.Now(), &err)
	res, err := s.w.ExecContext(ctx, `UPDATE cluster_nodes SET expires_at = ? WHERE node_id = ? AND instance = ?`,
		s.now().Add(lease).UnixMilli(), id, instance[:])
	if err != nil {
		return fmt.Errorf("heartbeat node %d: %w", id, err)
	}
	if k, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("heartbeat node %d: %w", id, err)
	} else if k == 0 {
		return fmt.Errorf("heartbeat node %d: %w", id, metastore.ErrNodeNotRegistered)
	}
	return nil
}

// DeregisterNode implements metastore.ClusterStore.
func (s *Store) DeregisterNode(ctx context.Context, id int32, instance uuid.UUID) (err error) {
	defer s.observe("deregister_node", time.Now(), &err)
	if _, err := s.w.ExecContext(ctx, `DELETE FROM cluster_nodes WHERE node_id = ? AND instance = ?`, id, instance[:]); err != nil {
		return fmt.Errorf("deregister node %d: %w", id, err)
	}
	return nil
}

// ClusterState implements metastore.ClusterStore.
func (s *Store) ClusterState(ctx context.Context) (st metastore.ClusterState, err error) {
	defer s.observe("cluster_state", time.Now(), &err)
	now := s.now()
	st.Now = now
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		var inst []byte
		var expires int64
		c := &st.Controller
		if err := tx.QueryRowContext(ctx, `SELECT node_id, instance, term, expires_at, leaders_version
			FROM cluster_controller WHERE id = 1`).Scan(&c.NodeID, &inst, &c.Term, &expires, &st.LeadersVersion); err != nil {
			return err
		}
		if len(inst) == 16 {
			c.Instance = uuid.UUID(inst)
		}
		c.ExpiresAt = time.UnixMilli(expires)
		if expires <= now.UnixMilli() {
			c.NodeID = -1
		}
		rows, err := tx.QueryContext(ctx, `SELECT node_id, instance, host, port, rack, roles, listeners, registered_at, expires_at
			FROM cluster_nodes WHERE expires_at > ? ORDER BY node_id`, now.UnixMilli())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n metastore.NodeInfo
			var roles string
			var reg, exp int64
			if err := rows.Scan(&n.ID, &n.Instance, &n.Host, &n.Port, &n.Rack, &roles, &n.Listeners, &reg, &exp); err != nil {
				return err
			}
			n.Roles = []string{}
			if roles != "" {
				n.Roles = strings.Split(roles, ",")
			}
			n.RegisteredAt, n.ExpiresAt = time.UnixMilli(reg), time.UnixMilli(exp)
			st.Nodes = append(st.Nodes, n)
		}
		return rows.Err()
	})
	if err != nil {
		return metastore.ClusterState{}, fmt.Errorf("cluster state: %w", err)
	}
	return st, nil
}

// AcquireController implements metastore.ClusterStore.
func (s *Store) AcquireController(ctx context.Context, nodeID int32, instance uuid.UUID, lease time.Duration) (term int64, err error) {
	defer s.observe("acquire_controller", time.Now(), &err)
	now := s.now()
	err = s.w.QueryRowContext(ctx, `
		UPDATE cluster_controller SET
			term = CASE WHEN instance IS ?2 THEN term ELSE term + 1 END,
			node_id = ?1, instance = ?2, expires_at = ?3
		WHERE id = 1 AND (instance IS ?2 OR expires_at <= ?4)
		RETURNING term`, nodeID, instance[:], now.Add(lease).UnixMilli(), now.UnixMilli()).Scan(&term)
	if errors.Is(err, sql.ErrNoRows) {
		var holder int32
		if err := s.r.QueryRowContext(ctx, `SELECT node_id FROM cluster_controller WHERE id = 1`).Scan(&holder); err == nil {
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
	defer s.observe("release_controller", time.Now(), &err)
	if _, err := s.w.ExecContext(ctx, `UPDATE cluster_controller SET node_id = -1, expires_at = 0
		WHERE id = 1 AND instance = ?`, instance[:]); err != nil {
		return fmt.Errorf("release controller: %w", err)
	}
	return nil
}

// PartitionLeaders implements metastore.ClusterStore.
func (s *Store) PartitionLeaders(ctx context.Context) (out []metastore.PartitionLeader, err error) {
	defer s.observe("partition_leaders", time.Now(), &err)
	rows, err := s.r.QueryContext(ctx, `SELECT topic_id, partition, leader_node, leader_epoch
		FROM partitions ORDER BY topic_id, partition`)
	if err != nil {
		return nil, fmt.Errorf("partition leaders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p metastore.PartitionLeader
		if err := rows.Scan(&p.TopicID, &p.Partition, &p.Leader, &p.Epoch); err != nil {
			return nil, fmt.Errorf("partition leaders: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("partition leaders: %w", err)
	}
	return out, nil
}

// MoveLeaders implements metastore.ClusterStore.
func (s *Store) MoveLeaders(ctx context.Context, instance uuid.UUID, term int64, moves []metastore.LeaderMove) (applied []metastore.PartitionLeader, err error) {
	defer s.observe("move_leaders", time.Now(), &err)
	moves = slices.Clone(moves)
	slices.SortStableFunc(moves, func(a, b metastore.LeaderMove) int {
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
	now := s.now().UnixMilli()
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var version int64
		err := tx.QueryRowContext(ctx, `SELECT leaders_version FROM cluster_controller
			WHERE id = 1 AND instance = ? AND term = ? AND expires_at > ?`, instance[:], term, now).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("term %d: %w", term, metastore.ErrNotController)
		}
		if err != nil {
			return err
		}
		done := make(map[metastore.PartitionKey]bool, len(moves))
		for _, m := range moves {
			k := metastore.PartitionKey{TopicID: m.TopicID, Partition: m.Partition}
			if done[k] {
				continue
			}
			done[k] = true
			var epoch int32
			var next int64
			err := tx.QueryRowContext(ctx, `UPDATE partitions SET leader_node = ?, leader_epoch = leader_epoch + 1
				WHERE topic_id = ? AND partition = ? AND leader_node = ? AND leader_epoch = ?
				RETURNING leader_epoch, next_offset`,
				m.To, m.TopicID[:], m.Partition, m.From, m.FromEpoch).Scan(&epoch, &next)
			if errors.Is(err, sql.ErrNoRows) {
				continue // gone, or moved meanwhile
			}
			if err != nil {
				return fmt.Errorf("%s/%d: %w", m.TopicID, m.Partition, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO leader_epochs (topic_id, partition, epoch, start_offset)
				VALUES (?, ?, ?, ?)`, m.TopicID[:], m.Partition, epoch, next); err != nil {
				return fmt.Errorf("%s/%d: %w", m.TopicID, m.Partition, err)
			}
			applied = append(applied, metastore.PartitionLeader{TopicID: m.TopicID, Partition: m.Partition, Leader: m.To, Epoch: epoch})
		}
		if len(applied) == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE cluster_controller SET leaders_version = ? WHERE id = 1`, version+1)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("move leaders: %w", err)
	}
	return applied, nil
}

// OffsetForLeaderEpoch implements metastore.ClusterStore.
func (s *Store) OffsetForLeaderEpoch(ctx context.Context, topicID uuid.UUID, partition int32, epoch int32) (end metastore.EpochEnd, err error) {
	defer s.observe("offset_for_leader_epoch", time.Now(), &err)
	var current int32
	var hw int64
	var fe, ne sql.NullInt32
	var fs, ns sql.NullInt64
	err = s.r.QueryRowContext(ctx, `
		SELECT p.leader_epoch, p.next_offset,
			(SELECT epoch FROM leader_epochs WHERE topic_id = ?1 AND partition = ?2 AND epoch <= ?3 ORDER BY epoch DESC LIMIT 1),
			(SELECT start_offset FROM leader_epochs WHERE topic_id = ?1 AND partition = ?2 AND epoch <= ?3 ORDER BY epoch DESC LIMIT 1),
			(SELECT epoch FROM leader_epochs WHERE topic_id = ?1 AND partition = ?2 AND epoch > ?3 ORDER BY epoch LIMIT 1),
			(SELECT start_offset FROM leader_epochs WHERE topic_id = ?1 AND partition = ?2 AND epoch > ?3 ORDER BY epoch LIMIT 1)
		FROM partitions p WHERE p.topic_id = ?1 AND p.partition = ?2`,
		topicID[:], partition, epoch).Scan(&current, &hw, &fe, &fs, &ne, &ns)
	if errors.Is(err, sql.ErrNoRows) {
		return metastore.UndefinedEpochEnd, fmt.Errorf("offset for leader epoch %d of %s/%d: %w", epoch, topicID, partition, metastore.ErrUnknownPartition)
	}
	if err != nil {
		return metastore.UndefinedEpochEnd, fmt.Errorf("offset for leader epoch %d of %s/%d: %w", epoch, topicID, partition, err)
	}
	var floor, next *metastore.EpochStart
	if fe.Valid && fs.Valid {
		floor = &metastore.EpochStart{Epoch: fe.Int32, StartOffset: fs.Int64}
	}
	if ne.Valid && ns.Valid {
		next = &metastore.EpochStart{Epoch: ne.Int32, StartOffset: ns.Int64}
	}
	return metastore.ResolveEpochEnd(epoch, current, hw, floor, next), nil
}
