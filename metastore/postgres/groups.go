package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stratalog/strata/metastore"
)

// Consumer groups. Every operation is one statement, so one round trip and
// one implicit transaction. Offset rows of one commit are written in (topic,
// partition) order, so concurrent commits to the same group cannot deadlock.
//
// Each write starts with the lease check of leaseCTE: it locks the group's
// lease row FOR SHARE, so that a takeover (an UPDATE of that row) waits
// until the write has committed, and a write that finds the lease taken or
// expired writes nothing. The lease row is the first row every write locks.

var _ metastore.GroupStore = (*Store)(nil)

// leaseCTE is the lease check of a write whose parameters $1, $2 and $3 are
// the group, the holder's instance and the lease epoch: l has one row when
// the lease is live and held at that epoch, none otherwise.
const leaseCTE = `l AS (
	SELECT 1 FROM group_leases
	WHERE group_name = $1 AND instance = $2 AND epoch = $3 AND expires_at > now()
	FOR SHARE)`

// notCoordinator is the error of a write under a lease that is not live.
func notCoordinator(op string, lease metastore.GroupLease) error {
	return fmt.Errorf("%s of group %q: %w (lease epoch %d of node %d is not live)",
		op, lease.Group, metastore.ErrNotGroupCoordinator, lease.Epoch, lease.NodeID)
}

// AcquireGroupLease implements metastore.GroupStore.
func (s *Store) AcquireGroupLease(ctx context.Context, group string, nodeID int32, instance uuid.UUID, lease time.Duration) (_ metastore.GroupLease, err error) {
	defer s.metrics.Observe("acquire_group_lease", time.Now(), &err)
	l := metastore.GroupLease{Group: group, NodeID: nodeID, Instance: instance}
	err = s.retry(ctx, "acquire_group_lease", func() error {
		return s.pool.QueryRow(ctx, `
			INSERT INTO group_leases AS g (group_name, node_id, instance, epoch, expires_at)
			VALUES ($1, $2, $3, 1, now() + $4::bigint * interval '1 microsecond')
			ON CONFLICT (group_name) DO UPDATE SET
				node_id = excluded.node_id, instance = excluded.instance,
				epoch = g.epoch + 1, expires_at = excluded.expires_at
			WHERE g.instance = excluded.instance OR g.expires_at <= now()
			RETURNING epoch, expires_at`, group, nodeID, instance, leaseMicros(lease)).Scan(&l.Epoch, &l.ExpiresAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		var holder int32
		var leftMS int64
		if err := s.pool.QueryRow(ctx, `SELECT node_id, (extract(epoch FROM expires_at - now()) * 1000)::bigint
			FROM group_leases WHERE group_name = $1`, group).Scan(&holder, &leftMS); err == nil {
			return metastore.GroupLease{}, fmt.Errorf("acquire lease of group %q: %w: node %d holds it for %v",
				group, metastore.ErrNotGroupCoordinator, holder, time.Duration(leftMS)*time.Millisecond)
		}
		return metastore.GroupLease{}, fmt.Errorf("acquire lease of group %q: %w", group, metastore.ErrNotGroupCoordinator)
	}
	if err != nil {
		return metastore.GroupLease{}, fmt.Errorf("acquire lease of group %q: %w", group, err)
	}
	return l, nil
}

// GroupLeaseHolder implements metastore.GroupStore.
func (s *Store) GroupLeaseHolder(ctx context.Context, group string) (_ metastore.GroupLease, _ bool, err error) {
	defer s.metrics.Observe("group_lease_holder", time.Now(), &err)
	l := metastore.GroupLease{Group: group}
	err = s.pool.QueryRow(ctx, `SELECT node_id, instance, epoch, expires_at FROM group_leases
		WHERE group_name = $1 AND expires_at > now()`, group).Scan(&l.NodeID, &l.Instance, &l.Epoch, &l.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.GroupLease{}, false, nil
	}
	if err != nil {
		return metastore.GroupLease{}, false, fmt.Errorf("lease of group %q: %w", group, err)
	}
	return l, true, nil
}

// RenewGroupLeases implements metastore.GroupStore.
func (s *Store) RenewGroupLeases(ctx context.Context, instance uuid.UUID, groups []string, lease time.Duration) (_ []metastore.GroupLease, err error) {
	defer s.metrics.Observe("renew_group_leases", time.Now(), &err)
	if len(groups) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		UPDATE group_leases SET expires_at = now() + $3::bigint * interval '1 microsecond'
		WHERE instance = $1 AND group_name = ANY ($2::text[]) AND expires_at > now()
		RETURNING group_name, node_id, epoch, expires_at`, instance, groups, leaseMicros(lease))
	if err != nil {
		return nil, fmt.Errorf("renew group leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.GroupLease, error) {
		l := metastore.GroupLease{Instance: instance}
		err := r.Scan(&l.Group, &l.NodeID, &l.Epoch, &l.ExpiresAt)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("renew group leases: %w", err)
	}
	slices.SortFunc(out, func(a, b metastore.GroupLease) int { return strings.Compare(a.Group, b.Group) })
	return out, nil
}

// ReleaseGroupLease implements metastore.GroupStore.
func (s *Store) ReleaseGroupLease(ctx context.Context, lease metastore.GroupLease) (err error) {
	defer s.metrics.Observe("release_group_lease", time.Now(), &err)
	_, err = s.pool.Exec(ctx, `UPDATE group_leases SET expires_at = 'epoch'
		WHERE group_name = $1 AND instance = $2 AND epoch = $3`, lease.Group, lease.Instance, lease.Epoch)
	if err != nil {
		return fmt.Errorf("release lease of group %q: %w", lease.Group, err)
	}
	return nil
}

// ReleaseGroupLeases implements metastore.GroupStore.
func (s *Store) ReleaseGroupLeases(ctx context.Context, instance uuid.UUID) (err error) {
	defer s.metrics.Observe("release_group_leases", time.Now(), &err)
	_, err = s.pool.Exec(ctx, `UPDATE group_leases SET expires_at = 'epoch'
		WHERE instance = $1 AND expires_at > now()`, instance)
	if err != nil {
		return fmt.Errorf("release group leases: %w", err)
	}
	return nil
}

// CommitOffsets implements metastore.GroupStore.
func (s *Store) CommitOffsets(ctx context.Context, lease metastore.GroupLease, offsets []metastore.GroupOffset) (err error) {
	defer s.metrics.Observe("commit_offsets", time.Now(), &err)
	group := lease.Group
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
	// The lease check, the group row and the offsets in one statement:
	// the foreign keys are checked at its end, when the row inserted by
	// the CTE is visible.
	var held bool
	err = s.retry(ctx, "commit_offsets", func() error {
		return s.pool.QueryRow(ctx, `
			WITH `+leaseCTE+`, g AS (
				INSERT INTO consumer_groups (name) SELECT $1 FROM l ON CONFLICT (name) DO NOTHING
			), o AS (
				INSERT INTO group_offsets (group_name, topic, partition, committed_offset, leader_epoch, metadata, commit_time)
				SELECT $1, u.topic, u.partition, u.off, u.epoch, u.meta, u.ts
				FROM unnest($4::text[], $5::integer[], $6::bigint[], $7::integer[], $8::text[], $9::timestamptz[])
					WITH ORDINALITY AS u(topic, partition, off, epoch, meta, ts, ord)
				WHERE EXISTS (SELECT 1 FROM l)
				ORDER BY u.ord
				ON CONFLICT (group_name, topic, partition) DO UPDATE SET
					committed_offset = excluded.committed_offset,
					leader_epoch = excluded.leader_epoch,
					metadata = excluded.metadata,
					commit_time = excluded.commit_time
			)
			SELECT EXISTS (SELECT 1 FROM l)`,
			group, lease.Instance, lease.Epoch, topics, parts, offs, epochs, metas, times).Scan(&held)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.ForeignKeyViolation {
		return fmt.Errorf("commit offsets of group %q: %w (%s)", group, metastore.ErrUnknownTopic, pgErr.Detail)
	}
	if err != nil {
		return fmt.Errorf("commit offsets of group %q: %w", group, err)
	}
	if !held {
		return notCoordinator("commit offsets", lease)
	}
	return nil
}

// FetchOffsets implements metastore.GroupStore.
func (s *Store) FetchOffsets(ctx context.Context, group string, topics []string) (_ []metastore.GroupOffset, err error) {
	defer s.metrics.Observe("fetch_offsets", time.Now(), &err)
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
func (s *Store) DeleteOffsets(ctx context.Context, lease metastore.GroupLease, partitions []metastore.TopicPartition) (err error) {
	defer s.metrics.Observe("delete_offsets", time.Now(), &err)
	group := lease.Group
	if len(partitions) == 0 {
		return nil
	}
	topics, parts := make([]string, len(partitions)), make([]int32, len(partitions))
	for i, p := range partitions {
		topics[i], parts[i] = p.Topic, p.Partition
	}
	var held bool
	err = s.retry(ctx, "delete_offsets", func() error {
		return s.pool.QueryRow(ctx, `
			WITH `+leaseCTE+`, d AS (
				DELETE FROM group_offsets
				WHERE group_name = $1 AND EXISTS (SELECT 1 FROM l)
				AND (topic, partition) IN (SELECT * FROM unnest($4::text[], $5::integer[]))
			)
			SELECT EXISTS (SELECT 1 FROM l)`,
			group, lease.Instance, lease.Epoch, topics, parts).Scan(&held)
	})
	if err != nil {
		return fmt.Errorf("delete offsets of group %q: %w", group, err)
	}
	if !held {
		return notCoordinator("delete offsets", lease)
	}
	return nil
}

// SaveGroup implements metastore.GroupStore.
func (s *Store) SaveGroup(ctx context.Context, lease metastore.GroupLease, g metastore.GroupInfo) (err error) {
	defer s.metrics.Observe("save_group", time.Now(), &err)
	if g.Name != lease.Group {
		return fmt.Errorf("save group %q under the lease of group %q", g.Name, lease.Group)
	}
	members, err := metastore.MarshalGroupMembers(g.Members)
	if err != nil {
		return fmt.Errorf("save group %q: %w", g.Name, err)
	}
	var held bool
	err = s.retry(ctx, "save_group", func() error {
		return s.pool.QueryRow(ctx, `
			WITH `+leaseCTE+`, s AS (
				INSERT INTO consumer_groups (name, protocol_type, protocol, generation, state, leader, members, updated_at)
				SELECT $1, $4, $5, $6, $7, $8, $9::jsonb, now() FROM l
				ON CONFLICT (name) DO UPDATE SET
					protocol_type = excluded.protocol_type,
					protocol = excluded.protocol,
					generation = excluded.generation,
					state = excluded.state,
					leader = excluded.leader,
					members = excluded.members,
					updated_at = excluded.updated_at
				WHERE consumer_groups.generation <= excluded.generation
			)
			SELECT EXISTS (SELECT 1 FROM l)`,
			g.Name, lease.Instance, lease.Epoch, g.ProtocolType, g.Protocol, g.Generation, g.State, g.Leader, string(members)).Scan(&held)
	})
	if err != nil {
		return fmt.Errorf("save group %q: %w", g.Name, err)
	}
	if !held {
		return notCoordinator("save", lease)
	}
	return nil
}

const groupColumns = "name, protocol_type, protocol, generation, state, leader, updated_at"

func scanGroup(row pgx.Row, members *[]byte) (metastore.GroupInfo, error) {
	var g metastore.GroupInfo
	dest := []any{&g.Name, &g.ProtocolType, &g.Protocol, &g.Generation, &g.State, &g.Leader, &g.UpdatedAt}
	if members != nil {
		dest = append(dest, members)
	}
	err := row.Scan(dest...)
	return g, err
}

// LoadGroup implements metastore.GroupStore.
func (s *Store) LoadGroup(ctx context.Context, name string) (_ metastore.GroupInfo, err error) {
	defer s.metrics.Observe("load_group", time.Now(), &err)
	var members []byte
	g, err := scanGroup(s.pool.QueryRow(ctx, "SELECT "+groupColumns+", members::text FROM consumer_groups WHERE name = $1", name), &members)
	if err == nil {
		if g.Members, err = metastore.UnmarshalGroupMembers(members); err != nil {
			err = fmt.Errorf("members: %w", err)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.GroupInfo{}, fmt.Errorf("group %q: %w", name, metastore.ErrUnknownGroup)
	}
	if err != nil {
		return metastore.GroupInfo{}, fmt.Errorf("group %q: %w", name, err)
	}
	return g, nil
}

// ListGroups implements metastore.GroupStore.
func (s *Store) ListGroups(ctx context.Context) (_ []metastore.GroupInfo, err error) {
	defer s.metrics.Observe("list_groups", time.Now(), &err)
	rows, err := s.pool.Query(ctx, "SELECT "+groupColumns+` FROM consumer_groups ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	gs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.GroupInfo, error) { return scanGroup(r, nil) })
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return gs, nil
}

// DeleteGroup implements metastore.GroupStore. The offsets go with the row
// (ON DELETE CASCADE).
func (s *Store) DeleteGroup(ctx context.Context, lease metastore.GroupLease) (err error) {
	defer s.metrics.Observe("delete_group", time.Now(), &err)
	name := lease.Group
	var held, deleted bool
	err = s.retry(ctx, "delete_group", func() error {
		return s.pool.QueryRow(ctx, `
			WITH `+leaseCTE+`, d AS (
				DELETE FROM consumer_groups WHERE name = $1 AND EXISTS (SELECT 1 FROM l) RETURNING 1
			)
			SELECT EXISTS (SELECT 1 FROM l), EXISTS (SELECT 1 FROM d)`,
			name, lease.Instance, lease.Epoch).Scan(&held, &deleted)
	})
	if err != nil {
		return fmt.Errorf("delete group %q: %w", name, err)
	}
	if !held {
		return notCoordinator("delete", lease)
	}
	if !deleted {
		return fmt.Errorf("delete group %q: %w", name, metastore.ErrUnknownGroup)
	}
	return nil
}
