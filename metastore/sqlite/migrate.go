package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stratalog/strata/migrations"
)

// ErrSchemaTooNew means the database was migrated by a newer version of
// Strata than this one: migrations are forward-only, so it cannot be used.
var ErrSchemaTooNew = errors.New("sqlite metastore: database schema is newer than this program")

// migrate applies the migrations that db lacks, in order, each in its own
// transaction together with its schema_version row. db must begin its
// transactions with BEGIN IMMEDIATE so that two processes starting at once
// apply each migration once.
func migrate(ctx context.Context, db *sql.DB, ms []migrations.Migration, logger *slog.Logger) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	applied, err := appliedMigrations(ctx, db)
	if err != nil {
		return err
	}
	known := make(map[int]string, len(ms))
	for _, m := range ms {
		known[m.Version] = m.Name
	}
	for v, name := range applied {
		want, ok := known[v]
		if !ok {
			return fmt.Errorf("%w: applied migration %d (%s) is unknown", ErrSchemaTooNew, v, name)
		}
		if want != name {
			return fmt.Errorf("sqlite metastore: applied migration %d is %s, this program has %s", v, name, want)
		}
	}
	for _, m := range ms {
		if _, ok := applied[m.Version]; ok {
			continue
		}
		ok, err := applyMigration(ctx, db, m)
		if err != nil {
			return err
		}
		if ok {
			logger.Info("applied migration", "version", m.Version, "name", m.Name)
		}
	}
	return nil
}

func appliedMigrations(ctx context.Context, db *sql.DB) (map[int]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT version, name FROM schema_version`)
	if err != nil {
		return nil, fmt.Errorf("read schema_version: %w", err)
	}
	defer rows.Close()
	applied := map[int]string{}
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return nil, fmt.Errorf("read schema_version: %w", err)
		}
		applied[v] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_version: %w", err)
	}
	return applied, nil
}

// applyMigration runs m in a transaction; false when another process applied
// it first.
func applyMigration(ctx context.Context, db *sql.DB, m migrations.Migration) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migration %s: begin: %w", m.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_version WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixMilli()); err != nil {
		return false, fmt.Errorf("migration %s: record version: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %s: commit: %w", m.Name, err)
	}
	return true, nil
}
