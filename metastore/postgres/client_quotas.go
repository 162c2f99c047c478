package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/metastore"
)

// Client quotas: one row per entity and key, and a version row that every
// change advances in the same transaction. The version's UPDATE also
// serialises concurrent changes.

var _ metastore.ClientQuotaStore = (*Store)(nil)

// AlterClientQuotas implements metastore.ClientQuotaStore.
func (s *Store) AlterClientQuotas(ctx context.Context, alts []metastore.ClientQuotaAlteration) error {
	err := s.retry(ctx, "alter_client_quotas", func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var b pgx.Batch
			b.Queue(`UPDATE client_quotas_version SET version = version + 1`)
			for _, a := range alts {
				e := a.Entity
				for _, k := range a.Remove {
					b.Queue(`DELETE FROM client_quotas WHERE user_kind = $1 AND user_name = $2
						AND client_kind = $3 AND client_id = $4 AND quota_key = $5`,
						e.User.Kind, e.User.Name, e.ClientID.Kind, e.ClientID.Name, k)
				}
				for k, v := range a.Set {
					b.Queue(`INSERT INTO client_quotas (user_kind, user_name, client_kind, client_id, quota_key, value)
						VALUES ($1, $2, $3, $4, $5, $6)
						ON CONFLICT (user_kind, user_name, client_kind, client_id, quota_key) DO UPDATE SET value = excluded.value`,
						e.User.Kind, e.User.Name, e.ClientID.Kind, e.ClientID.Name, k, v)
				}
			}
			return tx.SendBatch(ctx, &b).Close()
		})
	})
	if err != nil {
		return fmt.Errorf("alter client quotas: %w", err)
	}
	return nil
}

// ClientQuotas implements metastore.ClientQuotaStore.
func (s *Store) ClientQuotas(ctx context.Context) ([]metastore.ClientQuota, int64, error) {
	var qs []metastore.ClientQuota
	var version int64
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT version FROM client_quotas_version`).Scan(&version); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT user_kind, user_name, client_kind, client_id, quota_key, value
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
	// ORDER BY text follows the database's collation; the contract is
	// byte order.
	metastore.SortClientQuotas(qs)
	return qs, version, nil
}

// ClientQuotasVersion implements metastore.ClientQuotaStore.
func (s *Store) ClientQuotasVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM client_quotas_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("client quotas version: %w", err)
	}
	return v, nil
}
