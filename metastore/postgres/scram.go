package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/metastore"
)

var _ metastore.ScramStore = (*Store)(nil)

// ScramCredential implements metastore.ScramStore.
func (s *Store) ScramCredential(ctx context.Context, user, mechanism string) (metastore.ScramCredential, error) {
	c := metastore.ScramCredential{User: user, Mechanism: mechanism}
	err := s.pool.QueryRow(ctx, `SELECT salt, stored_key, server_key, iterations FROM scram_credentials
		WHERE username = $1 AND mechanism = $2`, user, mechanism).Scan(&c.Salt, &c.StoredKey, &c.ServerKey, &c.Iterations)
	if errors.Is(err, pgx.ErrNoRows) {
		return metastore.ScramCredential{}, metastore.ErrUnknownScramCredential
	}
	if err != nil {
		return metastore.ScramCredential{}, fmt.Errorf("SCRAM credential: %w", err)
	}
	return c, nil
}

// ScramCredentials implements metastore.ScramStore.
func (s *Store) ScramCredentials(ctx context.Context, users []string) ([]metastore.ScramCredential, error) {
	rows, err := s.pool.Query(ctx, `SELECT username, mechanism, salt, stored_key, server_key, iterations
		FROM scram_credentials WHERE coalesce(cardinality($1::text[]), 0) = 0 OR username = ANY ($1::text[])
		ORDER BY username, mechanism`, users)
	if err != nil {
		return nil, fmt.Errorf("SCRAM credentials: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (metastore.ScramCredential, error) {
		var c metastore.ScramCredential
		err := r.Scan(&c.User, &c.Mechanism, &c.Salt, &c.StoredKey, &c.ServerKey, &c.Iterations)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("SCRAM credentials: %w", err)
	}
	return out, nil
}

// UpsertScramCredential implements metastore.ScramStore.
func (s *Store) UpsertScramCredential(ctx context.Context, c metastore.ScramCredential) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO scram_credentials (username, mechanism, salt, stored_key, server_key, iterations)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (username, mechanism) DO UPDATE SET salt = excluded.salt, stored_key = excluded.stored_key,
			server_key = excluded.server_key, iterations = excluded.iterations, updated_at = now()`,
		c.User, c.Mechanism, c.Salt, c.StoredKey, c.ServerKey, c.Iterations)
	if err != nil {
		return fmt.Errorf("upsert SCRAM credential: %w", err)
	}
	return nil
}

// DeleteScramCredential implements metastore.ScramStore.
func (s *Store) DeleteScramCredential(ctx context.Context, user, mechanism string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM scram_credentials WHERE username = $1 AND mechanism = $2`, user, mechanism)
	if err != nil {
		return fmt.Errorf("delete SCRAM credential: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return metastore.ErrUnknownScramCredential
	}
	return nil
}
