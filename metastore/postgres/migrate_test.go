package postgres

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/migrations"
)

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("migrations %v: want version 1 first", ms)
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %s has version %d, want %d: versions are contiguous", m.Name, m.Version, i+1)
		}
		if strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %s is empty", m.Name)
		}
	}
}

func TestConcurrentMigrate(t *testing.T) {
	url := testenv.PostgresURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { errs[i] = Migrate(t.Context(), url, slog.New(slog.DiscardHandler)) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ms, _ := Migrations()
	var rows, distinct, maxV int
	if err := pool.QueryRow(t.Context(), "SELECT count(*), count(DISTINCT version), max(version) FROM schema_version").Scan(&rows, &distinct, &maxV); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) || distinct != len(ms) || maxV != ms[len(ms)-1].Version {
		t.Errorf("schema_version: %d rows, %d versions, max %d; want %d migrations applied once", rows, distinct, maxV, len(ms))
	}
	// Running again is a no-op, and a store opens on the migrated database.
	if err := Migrate(t.Context(), url, nil); err != nil {
		t.Fatal(err)
	}
	s, err := New(t.Context(), Config{URL: url, MaxConns: 2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := SchemaVersion(t.Context(), s.Pool()); err != nil || v != maxV {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, maxV)
	}
}

func TestMigrationIsAtomicAndForwardOnly(t *testing.T) {
	pool := newPool(t)
	ctx := t.Context()
	ms := []migrations.Migration{
		{Version: 1, Name: "0001_a.sql", SQL: "CREATE TABLE a (x int); INSERT INTO a VALUES (1);"},
		{Version: 2, Name: "0002_b.sql", SQL: "CREATE TABLE b (x int); INSERT INTO b VALUES ('not a number');"},
	}
	err := applyMigrations(ctx, pool, ms, nil)
	if err == nil || !strings.Contains(err.Error(), "0002_b.sql") {
		t.Fatalf("applying a broken migration: %v, want an error naming it", err)
	}
	if v, _ := SchemaVersion(ctx, pool); v != 1 {
		t.Errorf("schema version %d after failed migration 2, want 1", v)
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('b') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Errorf("table of the failed migration exists=%v (%v): the migration was not rolled back", exists, err)
	}
	// Fixed, it applies; migration 1 is not run again (it would fail: table a exists).
	ms[1].SQL = "CREATE TABLE b (x int);"
	if err := applyMigrations(ctx, pool, ms, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := SchemaVersion(ctx, pool); v != 2 {
		t.Errorf("schema version %d, want 2", v)
	}
	// A binary that knows fewer migrations than the database has applied
	// keeps working.
	if err := applyMigrations(ctx, pool, ms[:1], nil); err != nil {
		t.Errorf("older migration set on a newer database: %v", err)
	}
	// The advisory lock was released each time: another session can take it.
	var got bool
	if err := pool.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", migrationLockKey).Scan(&got); err != nil || !got {
		t.Errorf("migration lock still held: %v %v", got, err)
	}
}

func TestConfig(t *testing.T) {
	var c Config
	fs := flagSet()
	c.RegisterFlags(fs)
	if c.MaxConns != DefaultMaxConns || c.URL != "" {
		t.Errorf("defaults %+v", c)
	}
	if err := c.Validate(); err == nil {
		t.Error("empty URL validated")
	}
	if err := fs.Parse([]string{"-metastore.postgres.url", "postgres://u@h:5432/db", "-metastore.postgres.max-conns", "7"}); err != nil {
		t.Fatal(err)
	}
	if c.URL != "postgres://u@h:5432/db" || c.MaxConns != 7 {
		t.Errorf("parsed %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if err := fs.Parse([]string{"-metastore.postgres.max-conns", "3000000000"}); err == nil {
		t.Error("max-conns beyond int32 accepted")
	}
	for _, bad := range []Config{
		{URL: "postgres://u@h/db", MaxConns: 0},
		{URL: "::not a url::", MaxConns: 4},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	if _, err := New(t.Context(), Config{}, nil, nil); err == nil {
		t.Error("New with an empty config succeeded")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(t.Context(), Config{URL: testenv.PostgresURL(t), MaxConns: 4}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tp, err := s.CreateTopic(t.Context(), "m", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.CommitSegment(t.Context(), benchSegment(tp.ID, 1, i, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TopicByName(t.Context(), "nope"); err == nil {
		t.Fatal("unknown topic found")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var commits uint64
	tx, ops, errs := map[string]float64{}, map[string]uint64{}, map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "strata_metastore_commit_seconds":
				commits = m.GetHistogram().GetSampleCount()
			case "strata_metastore_transactions_total":
				tx[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			case "strata_metastore_operation_seconds":
				ops[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
			case "strata_metastore_operation_errors_total":
				errs[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if commits != 3 || tx["commit_segment"] != 3 || tx["create_topic"] != 1 {
		t.Errorf("commit histogram count %d, transactions %v; want 3 commits, 1 create_topic", commits, tx)
	}
	// The names every backend shares (SQLite's test checks the same).
	if ops["commit_segment"] != 3 || ops["create_topic"] != 1 || ops["topic_by_name"] != 1 {
		t.Errorf("operations %v; want 3 commit_segment, 1 create_topic, 1 topic_by_name", ops)
	}
	if errs["topic_by_name"] != 0 {
		t.Errorf("an unknown topic counted as an operation error: %v", errs)
	}
	// A second store on the same registry shares the collectors, as the
	// SQLite store's do.
	s2, err := New(t.Context(), Config{URL: testenv.PostgresURL(t), MaxConns: 2}, nil, reg)
	if err != nil {
		t.Fatalf("second store on one registry: %v", err)
	}
	s2.Close()
}

func TestListenCommits(t *testing.T) {
	url := testenv.PostgresURL(t)
	writer, err := New(t.Context(), Config{URL: url, MaxConns: 2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	listener, err := New(t.Context(), Config{URL: url, MaxConns: 2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	tp, err := writer.CreateTopic(t.Context(), "notify", 600, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan []HighWatermark, 100)
	done := make(chan error, 1)
	listening := make(chan struct{})
	go func() {
		done <- listener.listenCommits(ctx, listening, func(h []HighWatermark) { got <- h })
	}()
	<-listening
	// 600 partitions do not fit one notification.
	seg := benchSegment(tp.ID, 600, 0, nil)
	seg.Chunks = append(seg.Chunks, metastore.ChunkSpec{TopicID: tp.ID, Partition: 600, Batches: seg.Chunks[0].Batches}) // unknown: not announced
	if _, err := writer.CommitSegment(t.Context(), seg); err != nil {
		t.Fatal(err)
	}
	seen := map[int32]int64{}
	for len(seen) < 600 {
		select {
		case hws := <-got:
			for _, hw := range hws {
				if hw.TopicID != tp.ID {
					t.Fatalf("notification for topic %s", hw.TopicID)
				}
				seen[hw.Partition] = hw.NextOffset
			}
		case err := <-done:
			t.Fatalf("listener ended: %v", err)
		case <-t.Context().Done():
			t.Fatalf("saw %d of 600 partitions", len(seen))
		}
	}
	for p, next := range seen {
		if p < 0 || p >= 600 || next != 10 {
			t.Errorf("partition %d announced at %d, want 10", p, next)
		}
	}
	// A failed commit announces nothing.
	if _, err := writer.CommitSegment(t.Context(), seg); err == nil {
		t.Fatal("second commit of one object succeeded")
	}
	ok := benchSegment(tp.ID, 1, 1, nil)
	if _, err := writer.CommitSegment(t.Context(), ok); err != nil {
		t.Fatal(err)
	}
	hws := <-got
	if len(hws) != 1 || hws[0].Partition != 0 || hws[0].NextOffset != 20 {
		t.Errorf("after a failed and a good commit, got %+v; want only partition 0 at 20", hws)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("ListenCommits returned %v, want context.Canceled", err)
	}
}
