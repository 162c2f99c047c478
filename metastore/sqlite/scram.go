package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/stratalog/strata/metastore"
)

var _ metastore.ScramStore = (*Store)(nil)

// ScramCredential implements metastore.ScramStore.
func (s *Store) ScramCredential(ctx context.Context, user, mechanism string) (metastore.ScramCredential, error) {
	c := metastore.ScramCredential{User: user, Mechanism: mechanism}
	err := s.r.QueryRowContext(ctx, `SELECT salt, stored_key, server_key, iterations FROM scram_credentials
		WHERE username = ? AND mechanism = ?`, user, mechanism).Scan(&c.Salt, &c.StoredKey, &c.ServerKey, &c.Iterations)
	if errors.Is(err, sql.ErrNoRows) {
		return metastore.ScramCredential{}, metastore.ErrUnknownScramCredential
	}
	if err != nil {
		return metastore.ScramCredential{}, fmt.Errorf("SCRAM credential: %w", err)
	}
	return c, nil
}

// ScramCredentials implements metastore.ScramStore.
func (s *Store) ScramCredentials(ctx context.Context, users []string) ([]metastore.ScramCredential, error) {
	q := `SELECT username, mechanism, salt, stored_key, server_key, iterations FROM scram_credentials`
	args := make([]any, len(users))
	if len(users) > 0 {
		q += ` WHERE username IN (?` + strings.Repeat(",?", len(users)-1) + `)`
		for i, u := range users {
			args[i] = u
		}
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY username, mechanism`, args...)
	if err != nil {
		return nil, fmt.Errorf("SCRAM credentials: %w", err)
	}
	defer rows.Close()
	var out []metastore.ScramCredential
	for rows.Next() {
		var c metastore.ScramCredential
		if err := rows.Scan(&c.User, &c.Mechanism, &c.Salt, &c.StoredKey, &c.ServerKey, &c.Iterations); err != nil {
			return nil, fmt.Errorf("SCRAM credentials: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("SCRAM credentials: %w", err)
	}
	return out, nil
}

// UpsertScramCredential implements metastore.ScramStore.
func (s *Store) UpsertScramCredential(ctx context.Context, c metastore.ScramCredential) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO scram_credentials (username, mechanism, salt, stored_key, server_key, iterations, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (username, mechanism) DO UPDATE SET salt = excluded.salt, stored_key = excluded.stored_key,
			server_key = excluded.server_key, iterations = excluded.iterations, updated_at = excluded.updated_at`,
		c.User, c.Mechanism, c.Salt, c.StoredKey, c.ServerKey, c.Iterations, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("upsert SCRAM credential: %w", err)
	}
	return nil
}

// DeleteScramCredential implements metastore.ScramStore.
func (s *Store) DeleteScramCredential(ctx context.Context, user, mechanism string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM scram_credentials WHERE username = ? AND mechanism = ?`, user, mechanism)
	if err != nil {
		return fmt.Errorf("delete SCRAM credential: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete SCRAM credential: %w", err)
	} else if n == 0 {
		return metastore.ErrUnknownScramCredential
	}
	return nil
}
