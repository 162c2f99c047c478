package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// Consumer groups. Writes go through the single write connection like every
// other write, so they are serialised; each is one transaction, which starts
// with the lease check (checkLease): nothing can take the lease between the
// check and the commit.

var _ metastore.GroupStore = (*Store)(nil)

// checkLease returns ErrNotGroupCoordinator unless lease is live and held
// at its epoch, by the store's clock.
func (s *Store) checkLease(ctx context.Context, tx *sql.Tx, op string, lease metastore.GroupLease) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM group_leases
		WHERE group_name = ? AND instance = ? AND epoch = ? AND expires_at > ?`,
		lease.Group, lease.Instance[:], lease.Epoch, s.now().UnixMilli()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w (lease epoch %d of node %d is not live)", op, metastore.ErrNotGroupCoordinator, lease.Epoch, lease.NodeID)
	}
	return err
}

// AcquireGroupLease implements metastore.GroupStore.
func (s *Store) AcquireGroupLease(ctx context.Context, group string, nodeID int32, instance uuid.UUID, lease time.Duration) (l metastore.GroupLease, err error) {
	defer s.observe("acquire_group_lease", time.Now(), &err)
	now := s.now()
	l = metastore.GroupLease{Group: group, NodeID: nodeID, Instance: instance}
	var expires int64
	err = s.w.QueryRowContext(ctx, `
		INSERT INTO group_leases (group_name, node_id, instance, epoch, expires_at)
		VALUES (?1, ?2, ?3, 1, ?4)
		ON CONFLICT (group_name) DO UPDATE SET
			node_id = excluded.node_id, instance = excluded.instance,
			epoch = group_leases.epoch + 1, expires_at = excluded.expires_at
		WHERE group_leases.instance = excluded.instance OR group_leases.expires_at <= ?5
		RETURNING epoch, expires_at`, group, nodeID, instance[:], now.Add(lease).UnixMilli(), now.UnixMilli()).Scan(&l.Epoch, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		var holder int32
		var until int64
		if err := s.r.QueryRowContext(ctx, `SELECT node_id, expires_at FROM group_leases WHERE group_name = ?`, group).Scan(&holder, &until); err == nil {
			return metastore.GroupLease{}, fmt.Errorf("acquire lease of group %q: %w: node %d holds it for %v",
				group, metastore.ErrNotGroupCoordinator, holder, time.UnixMilli(until).Sub(now))
		}
		return metastore.GroupLease{}, fmt.Errorf("acquire lease of group %q: %w", group, metastore.ErrNotGroupCoordinator)
	}
	if err != nil {
		return metastore.GroupLease{}, fmt.Errorf("acquire lease of group %q: %w", group, err)
	}
	l.ExpiresAt = time.UnixMilli(expires)
	return l, nil
}

// GroupLeaseHolder implements metastore.GroupStore.
func (s *Store) GroupLeaseHolder(ctx context.Context, group string) (l metastore.GroupLease, ok bool, err error) {
	defer s.observe("group_lease_holder", time.Now(), &err)
	l = metastore.GroupLease{Group: group}
	var instance []byte
	var expires int64
	err = s.r.QueryRowContext(ctx, `SELECT node_id, instance, epoch, expires_at FROM group_leases
		WHERE group_name = ? AND expires_at > ?`, group, s.now().UnixMilli()).Scan(&l.NodeID, &instance, &l.Epoch, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return metastore.GroupLease{}, false, nil
	}
	if err != nil {
		return metastore.GroupLease{}, false, fmt.Errorf("lease of group %q: %w", group, err)
	}
	if copy(l.Instance[:], instance) != len(l.Instance) {
		return metastore.GroupLease{}, false, fmt.Errorf("lease of group %q: instance of %d bytes", group, len(instance))
	}
	l.ExpiresAt = time.UnixMilli(expires)
	return l, true, nil
}

// RenewGroupLeases implements metastore.GroupStore.
func (s *Store) RenewGroupLeases(ctx context.Context, instance uuid.UUID, groups []string, lease time.Duration) (out []metastore.GroupLease, err error) {
	if len(groups) == 0 {
		return nil, nil
	}
	defer s.observe("renew_group_leases", time.Now(), &err)
	names, err := json.Marshal(groups)
	if err != nil {
		return nil, fmt.Errorf("renew group leases: %w", err)
	}
	now := s.now()
	rows, err := s.w.QueryContext(ctx, `
		UPDATE group_leases SET expires_at = ?1
		WHERE instance = ?2 AND expires_at > ?3 AND group_name IN (SELECT value FROM json_each(?4))
		RETURNING group_name, node_id, epoch, expires_at`, now.Add(lease).UnixMilli(), instance[:], now.UnixMilli(), string(names))
	if err != nil {
		return nil, fmt.Errorf("renew group leases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		l := metastore.GroupLease{Instance: instance}
		var expires int64
		if err := rows.Scan(&l.Group, &l.NodeID, &l.Epoch, &expires); err != nil {
			return nil, fmt.Errorf("renew group leases: %w", err)
		}
		l.ExpiresAt = time.UnixMilli(expires)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("renew group leases: %w", err)
	}
	slices.SortFunc(out, func(a, b metastore.GroupLease) int { return strings.Compare(a.Group, b.Group) })
	return out, nil
}

// ReleaseGroupLease implements metastore.GroupStore.
func (s *Store) ReleaseGroupLease(ctx context.Context, lease metastore.GroupLease) (err error) {
	defer s.observe("release_group_lease", time.Now(), &err)
	if _, err := s.w.ExecContext(ctx, `UPDATE group_leases SET expires_at = 0
		WHERE group_name = ? AND instance = ? AND epoch = ?`, lease.Group, lease.Instance[:], lease.Epoch); err != nil {
		return fmt.Errorf("release lease of group %q: %w", lease.Group, err)
	}
	return nil
}

// ReleaseGroupLeases implements metastore.GroupStore.
func (s *Store) ReleaseGroupLeases(ctx context.Context, instance uuid.UUID) (err error) {
	defer s.observe("release_group_leases", time.Now(), &err)
	if _, err := s.w.ExecContext(ctx, `UPDATE group_leases SET expires_at = 0
		WHERE instance = ? AND expires_at > ?`, instance[:], s.now().UnixMilli()); err != nil {
		return fmt.Errorf("release group leases: %w", err)
	}
	return nil
}

// CommitOffsets implements metastore.GroupStore.
func (s *Store) CommitOffsets(ctx context.Context, lease metastore.GroupLease, offsets []metastore.GroupOffset) (err error) {
	group := lease.Group
	if len(offsets) == 0 {
		return nil
	}
	defer s.observe("commit_offsets", time.Now(), &err)
	offsets = metastore.SortedOffsets(offsets)
	now := s.now().UnixMilli()
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkLease(ctx, tx, "commit", lease); err != nil {
			return err
		}
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
func (s *Store) DeleteOffsets(ctx context.Context, lease metastore.GroupLease, partitions []metastore.TopicPartition) (err error) {
	group := lease.Group
	if len(partitions) == 0 {
		return nil
	}
	defer s.observe("delete_offsets", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkLease(ctx, tx, "delete offsets", lease); err != nil {
			return err
		}
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
func (s *Store) SaveGroup(ctx context.Context, lease metastore.GroupLease, g metastore.GroupInfo) (err error) {
	defer s.observe("save_group", time.Now(), &err)
	if g.Name != lease.Group {
		return fmt.Errorf("save group %q under the lease of group %q", g.Name, lease.Group)
	}
	members, err := metastore.MarshalGroupMembers(g.Members)
	if err != nil {
		return fmt.Errorf("save group %q: %w", g.Name, err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkLease(ctx, tx, "save", lease); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO consumer_groups (name, protocol_type, protocol, generation, state, leader, members, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET
				protocol_type = excluded.protocol_type,
				protocol = excluded.protocol,
				generation = excluded.generation,
				state = excluded.state,
				leader = excluded.leader,
				members = excluded.members,
				updated_at = excluded.updated_at
			WHERE consumer_groups.generation <= excluded.generation`,
			g.Name, g.ProtocolType, g.Protocol, g.Generation, g.State, g.Leader, string(members), s.now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("save group %q: %w", g.Name, err)
	}
	return nil
}

const groupColumns = `name, protocol_type, protocol, generation, state, leader, updated_at`

func scanGroup(row rowScanner, members *string) (metastore.GroupInfo, error) {
	var g metastore.GroupInfo
	var updated int64
	dest := []any{&g.Name, &g.ProtocolType, &g.Protocol, &g.Generation, &g.State, &g.Leader, &updated}
	if members != nil {
		dest = append(dest, members)
	}
	if err := row.Scan(dest...); err != nil {
		return metastore.GroupInfo{}, err
	}
	g.UpdatedAt = time.UnixMilli(updated)
	return g, nil
}

// LoadGroup implements metastore.GroupStore.
func (s *Store) LoadGroup(ctx context.Context, name string) (g metastore.GroupInfo, err error) {
	defer s.observe("load_group", time.Now(), &err)
	var members string
	g, err = scanGroup(s.r.QueryRowContext(ctx, `SELECT `+groupColumns+`, members FROM consumer_groups WHERE name = ?`, name), &members)
	if err == nil {
		if g.Members, err = metastore.UnmarshalGroupMembers([]byte(members)); err != nil {
			err = fmt.Errorf("members: %w", err)
		}
	}
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
		g, err := scanGroup(rows, nil)
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
func (s *Store) DeleteGroup(ctx context.Context, lease metastore.GroupLease) (err error) {
	name := lease.Group
	defer s.observe("delete_group", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkLease(ctx, tx, "delete", lease); err != nil {
			return err
		}
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
