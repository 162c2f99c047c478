package sqlite

import (
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/migrations"
)

// TestCompactionMigrationBackfills migrates a database holding chunks to
// schema version 3: the backlog counts the existing level-0 chunks, and an
// object without chunks is marked unreferenced.
func TestCompactionMigrationBackfills(t *testing.T) {
	ctx := t.Context()
	db, err := openDB(ctx, filepath.Join(t.TempDir(), "m.db"), time.Second, url.Values{"_foreign_keys": {"1"}, "_txlock": {"immediate"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := migrations.Load(migrations.SQLite, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, ms[:2], slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	topic := uuid.New()
	old := time.Now().Add(-time.Hour).UnixMilli()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO topics (id, name, partitions, created_at) VALUES (?, 't', 2, 0)`, []any{topic[:]}},
		{`INSERT INTO partitions (topic_id, partition, next_offset) VALUES (?, 0, 30), (?, 1, 5)`, []any{topic[:], topic[:]}},
		{`INSERT INTO objects (key, size, level, created_at) VALUES ('a', 100, 0, ?), ('b', 100, 0, ?), ('c', 100, 0, ?)`, []any{old, old + 1, old + 2}},
		{`INSERT INTO chunks (topic_id, partition, base_offset, end_offset, object_key, level, byte_start, byte_length,
			raw_length, batch_count, max_timestamp) VALUES
			(?, 0, 0, 10, 'a', 0, 0, 40, 100, 1, 1), (?, 1, 0, 5, 'a', 0, 40, 20, 100, 1, 1), (?, 0, 10, 30, 'b', 0, 0, 60, 100, 1, 1)`,
			[]any{topic[:], topic[:], topic[:]}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := migrate(ctx, db, ms, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	var n, bytes, first, oldest int64
	err = db.QueryRowContext(ctx, `SELECT level0_chunks, level0_bytes, first_level0_offset, oldest_level0
		FROM compaction_backlog WHERE topic_id = ? AND partition = 0`, topic[:]).Scan(&n, &bytes, &first, &oldest)
	if err != nil || n != 2 || bytes != 100 || first != 0 || oldest != old {
		t.Errorf("backlog of partition 0: %d chunks, %d bytes from %d, oldest %d, %v", n, bytes, first, oldest, err)
	}
	var key string
	err = db.QueryRowContext(ctx, `SELECT group_concat(key) FROM objects WHERE unreferenced_at IS NOT NULL`).Scan(&key)
	if err != nil || key != "c" {
		t.Errorf("marked unreferenced: %q, %v; want c", key, err)
	}
}
