package postgres

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stratalog/strata/migrations"
)

// migrationLockKey is the pg_advisory_lock key held while migrating, so that
// nodes starting together apply each migration once.
const migrationLockKey int64 = 0x5374726174614d31 // "StrataM1"

// Migrations returns the embedded PostgreSQL migrations in version order.
func Migrations() ([]migrations.Migration, error) {
	return migrations.Load(migrations.Postgres, "postgres")
}

// Migrate applies the embedded migrations that the database at url lacks.
// It is safe to run from several processes at once.
func Migrate(ctx context.Context, url string, logger *slog.Logger) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("connect metastore: %w", err)
	}
	defer pool.Close()
	return MigratePool(ctx, pool, logger)
}

// MigratePool is Migrate on an existing pool.
func MigratePool(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	return applyMigrations(ctx, pool, ms, logger)
}

// applyMigrations applies, in order, each migration newer than the database's
// schema version, each in its own transaction, holding an advisory lock.
func applyMigrations(ctx context.Context, pool *pgxpool.Pool, ms []migrations.Migration, logger *slog.Logger) (err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// A failed unlock leaves the lock to the session; close it so the
		// lock is not held by a pooled connection.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey); uerr != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
			if err == nil {
				err = fmt.Errorf("migrate: unlock: %w", uerr)
			}
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_version: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if n := len(ms); n > 0 && current > ms[n-1].Version {
		// A newer binary migrated this database. Migrations are additive,
		// so older nodes keep working during a rolling upgrade.
		logger.Warn("metastore schema is newer than this binary", "schema_version", current, "known_version", ms[n-1].Version)
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// The simple protocol runs the file's statements one after the other.
			if err := tx.Conn().PgConn().Exec(ctx, m.SQL).Close(); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_version (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.Name, err)
		}
		logger.Info("applied metastore migration", "version", m.Version, "name", m.Name)
	}
	return nil
}

// SchemaVersion returns the highest migration version applied to the database.
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var v int
	err := pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
