package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// ACLs. Each change is one transaction that first bumps acl_version, so
// that concurrent changes are serialised on that row and every node that
// polls the version sees the change.

var _ metastore.ACLStore = (*Store)(nil)

const bumpACLVersion = `UPDATE acl_version SET version = version + 1 WHERE id = 1`

// CreateACLs implements metastore.ACLStore.
func (s *Store) CreateACLs(ctx context.Context, bindings []acl.Binding) error {
	return s.retry(ctx, "create_acls", func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue(bumpACLVersion)
			for _, a := range bindings {
				b.Queue(`INSERT INTO acls (resource_type, resource_name, pattern_type, principal, host, operation, permission)
					VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
					int16(a.ResourceType), a.ResourceName, int16(a.PatternType), a.Principal, a.Host, int16(a.Operation), int16(a.Permission))
			}
			return tx.SendBatch(ctx, b).Close()
		})
	})
}

// DeleteACLs implements metastore.ACLStore.
func (s *Store) DeleteACLs(ctx context.Context, filters []acl.Filter) ([][]acl.Binding, error) {
	var out [][]acl.Binding
	err := s.retry(ctx, "delete_acls", func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, bumpACLVersion); err != nil {
				return err
			}
			all, err := listACLs(ctx, tx)
			if err != nil {
				return err
			}
			out = make([][]acl.Binding, len(filters))
			gone := map[acl.Binding]bool{}
			for i, f := range filters {
				for _, a := range all {
					if f.Matches(a) {
						out[i] = append(out[i], a)
						gone[a] = true
					}
				}
			}
			b := &pgx.Batch{}
			for a := range gone {
				b.Queue(`DELETE FROM acls WHERE resource_type = $1 AND resource_name = $2 AND pattern_type = $3
					AND principal = $4 AND host = $5 AND operation = $6 AND permission = $7`,
					int16(a.ResourceType), a.ResourceName, int16(a.PatternType), a.Principal, a.Host, int16(a.Operation), int16(a.Permission))
			}
			return tx.SendBatch(ctx, b).Close()
		})
	})
	return out, err
}

// ListACLs implements metastore.ACLStore.
func (s *Store) ListACLs(ctx context.Context) (bs []acl.Binding, v int64, err error) {
	err = s.retry(ctx, "list_acls", func() error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT version FROM acl_version WHERE id = 1`).Scan(&v); err != nil {
				return err
			}
			bs, err = listACLs(ctx, tx)
			return err
		})
	})
	return bs, v, err
}

// ACLVersion implements metastore.ACLStore.
func (s *Store) ACLVersion(ctx context.Context) (v int64, err error) {
	err = s.retry(ctx, "acl_version", func() error {
		return s.pool.QueryRow(ctx, `SELECT version FROM acl_version WHERE id = 1`).Scan(&v)
	})
	return v, err
}

func listACLs(ctx context.Context, tx pgx.Tx) ([]acl.Binding, error) {
	rows, err := tx.Query(ctx, `SELECT resource_type, resource_name, pattern_type, principal, host, operation, permission
		FROM acls ORDER BY resource_type, resource_name, pattern_type, principal, host, operation, permission`)
	if err != nil {
		return nil, err
	}
	var bs []acl.Binding
	for rows.Next() {
		var rt, pt, op, perm int16
		var a acl.Binding
		if err := rows.Scan(&rt, &a.ResourceName, &pt, &a.Principal, &a.Host, &op, &perm); err != nil {
			rows.Close()
			return nil, err
		}
		a.ResourceType, a.PatternType, a.Operation, a.Permission = acl.ResourceType(rt), acl.PatternType(pt), acl.Operation(op), acl.Permission(perm)
		bs = append(bs, a)
	}
	return bs, rows.Err()
}
