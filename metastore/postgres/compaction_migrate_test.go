package postgres

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestCompactionMigrationBackfills migrates a database holding chunks to
// schema version 3: the backlog counts the existing level-0 chunks, and an
// object without chunks is marked unreferenced.
func TestCompactionMigrationBackfills(t *testing.T) {
	ctx := t.Context()
	pool := newPool(t)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := applyMigrations(ctx, pool, ms[:2], nil); err != nil {
		t.Fatal(err)
	}
	topic := uuid.New()
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO topics (id, name, partitions) VALUES ($1, 't', 2)`, topic)
	b.Queue(`INSERT INTO partitions (topic_id, partition, next_offset) VALUES ($1, 0, 30), ($1, 1, 5)`, topic)
	b.Queue(`INSERT INTO objects (key, size, level, created_at) VALUES
		('a', 100, 0, now() - interval '1 hour'), ('b', 100, 0, now()), ('c', 100, 0, now())`)
	b.Queue(`INSERT INTO chunks (topic_id, partition, base_offset, end_offset, object_key, level, start, length,
		raw_length, batch_count, max_timestamp, max_timestamp_run) VALUES
		($1, 0, 0, 10, 'a', 0, 0, 40, 100, 1, 1, 1),
		($1, 1, 0, 5, 'a', 0, 40, 20, 100, 1, 1, 1),
		($1, 0, 10, 30, 'b', 0, 0, 60, 100, 1, 1, 1)`, topic)
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	if err := applyMigrations(ctx, pool, ms, nil); err != nil {
		t.Fatal(err)
	}
	var n, bytes, first int64
	var old bool
	err = pool.QueryRow(ctx, `SELECT level0_chunks, level0_bytes, first_level0_offset, oldest_level0 < now() - interval '30 minutes'
		FROM compaction_backlog WHERE topic_id = $1 AND partition = 0`, topic).Scan(&n, &bytes, &first, &old)
	if err != nil || n != 2 || bytes != 100 || first != 0 || !old {
		t.Errorf("backlog of partition 0: %d chunks, %d bytes from %d, old %v, %v", n, bytes, first, old, err)
	}
	var marked []string
	rows, err := pool.Query(ctx, `SELECT key FROM objects WHERE unreferenced_at IS NOT NULL ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		marked = append(marked, k)
	}
	if rows.Err() != nil || len(marked) != 1 || marked[0] != "c" {
		t.Errorf("marked unreferenced: %v, %v; want [c]", marked, rows.Err())
	}
}
