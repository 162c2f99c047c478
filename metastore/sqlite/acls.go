package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// ACLs. Writes go through the single write connection, one transaction
// each, which bumps acl_version with the change.

var _ metastore.ACLStore = (*Store)(nil)

const bumpACLVersion = `UPDATE acl_version SET version = version + 1 WHERE id = 1`

// CreateACLs implements metastore.ACLStore.
func (s *Store) CreateACLs(ctx context.Context, bindings []acl.Binding) (err error) {
	defer s.observe("create_acls", time.Now(), &err)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, bumpACLVersion); err != nil {
		return err
	}
	for _, a := range bindings {
		if _, err := tx.ExecContext(ctx, `INSERT INTO acls (resource_type, resource_name, pattern_type, principal, host, operation, permission)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			a.ResourceType, a.ResourceName, a.PatternType, a.Principal, a.Host, a.Operation, a.Permission); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// DeleteACLs implements metastore.ACLStore.
func (s *Store) DeleteACLs(ctx context.Context, filters []acl.Filter) (out [][]acl.Binding, err error) {
	defer s.observe("delete_acls", time.Now(), &err)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, bumpACLVersion); err != nil {
		return nil, err
	}
	all, err := listACLs(ctx, tx)
	if err != nil {
		return nil, err
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
	for a := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM acls WHERE resource_type = ? AND resource_name = ? AND pattern_type = ?
			AND principal = ? AND host = ? AND operation = ? AND permission = ?`,
			a.ResourceType, a.ResourceName, a.PatternType, a.Principal, a.Host, a.Operation, a.Permission); err != nil {
			return nil, err
		}
	}
	return out, tx.Commit()
}

// ListACLs implements metastore.ACLStore.
func (s *Store) ListACLs(ctx context.Context) (bs []acl.Binding, v int64, err error) {
	defer s.observe("list_acls", time.Now(), &err)
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT version FROM acl_version WHERE id = 1`).Scan(&v); err != nil {
		return nil, 0, err
	}
	bs, err = listACLs(ctx, tx)
	return bs, v, err
}

// ACLVersion implements metastore.ACLStore.
func (s *Store) ACLVersion(ctx context.Context) (v int64, err error) {
	defer s.observe("acl_version", time.Now(), &err)
	err = s.r.QueryRowContext(ctx, `SELECT version FROM acl_version WHERE id = 1`).Scan(&v)
	return v, err
}

func listACLs(ctx context.Context, tx *sql.Tx) ([]acl.Binding, error) {
	rows, err := tx.QueryContext(ctx, `SELECT resource_type, resource_name, pattern_type, principal, host, operation, permission
		FROM acls ORDER BY resource_type, resource_name, pattern_type, principal, host, operation, permission`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var bs []acl.Binding
	for rows.Next() {
		var a acl.Binding
		if err := rows.Scan(&a.ResourceType, &a.ResourceName, &a.PatternType, &a.Principal, &a.Host, &a.Operation, &a.Permission); err != nil {
			return nil, err
		}
		bs = append(bs, a)
	}
	return bs, rows.Err()
}
