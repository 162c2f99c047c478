package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/stratalog/strata/metastore"
)

// Client quotas, as in the PostgreSQL backend: one row per entity and key,
// and a version row that every change advances in the same transaction.

var _ metastore.ClientQuotaStore = (*Store)(nil)

// AlterClientQuotas implements metastore.ClientQuotaStore.
func (s *Store) AlterClientQuotas(ctx context.Context, alts []metastore.ClientQuotaAlteration) (err error) {
	defer s.observe("alter_client_quotas", time.Now(), &err)
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE client_quotas_version SET version = version + 1`); err != nil {
			return err
		}
		for _, a := range alts {
			e := a.Entity
			for _, k := range a.Remove {
				if _, err := tx.ExecContext(ctx, `DELETE FROM client_quotas WHERE user_kind = ? AND user_name = ?
					AND client_kind = ? AND client_id = ? AND quota_key = ?`,
					e.User.Kind, e.User.Name, e.ClientID.Kind, e.ClientID.Name, k); err != nil {
					return err
				}
			}
			for k, v := range a.Set {
				if _, err := tx.ExecContext(ctx, `INSERT INTO client_quotas (user_kind, user_name, client_kind, client_id, quota_key, value)
					VALUES (?, ?, ?, ?, ?, ?)
					ON CONFLICT (user_kind, user_name, client_kind, client_id, quota_key) DO UPDATE SET value = excluded.value`,
					e.User.Kind, e.User.Name, e.ClientID.Kind, e.ClientID.Name, k, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alter client quotas: %w", err)
	}
	return nil
}

// ClientQuotas implements metastore.ClientQuotaStore.
func (s *Store) ClientQuotas(ctx context.Context) (qs []metastore.ClientQuota, version int64, err error) {
	defer s.observe("client_quotas", time.Now(), &err)
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT version FROM client_quotas_version`).Scan(&version); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT user_kind, user_name, client_kind, client_id, quota_key, value
			FROM client_quotas ORDER BY user_kind, user_name, client_kind, client_id, quota_key`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e metastore.QuotaEntity
			var key string
			var v float64
			if err := rows.Scan(&e.User.Kind, &e.User.Name, &e.ClientID.Kind, &e.ClientID.Name, &key, &v); err != nil {
				return err
			}
			if n := len(qs); n == 0 || qs[n-1].Entity != e {
				qs = append(qs, metastore.ClientQuota{Entity: e, Values: map[string]float64{}})
			}
			qs[len(qs)-1].Values[key] = v
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("client quotas: %w", err)
	}
	return qs, version, nil
}

// ClientQuotasVersion implements metastore.ClientQuotaStore.
func (s *Store) ClientQuotasVersion(ctx context.Context) (v int64, err error) {
	if err := s.r.QueryRowContext(ctx, `SELECT version FROM client_quotas_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("client quotas version: %w", err)
	}
	return v, nil
}
