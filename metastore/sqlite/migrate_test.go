package sqlite

import (
	"context"
	"errors"
	"flag"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stratalog/strata/migrations"
)

func TestMigrationsRecorded(t *testing.T) {
	s := openTemp(t)
	files, err := fs.Glob(migrations.SQLite, "sqlite/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v, %v", files, err)
	}
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM schema_version`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(files) {
		t.Fatalf("schema_version has %d rows, %d migrations embedded", n, len(files))
	}
}

func TestConnectionSettings(t *testing.T) {
	s := openTemp(t)
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := s.w.QueryRow("PRAGMA " + tc.pragma).Scan(&got); err != nil || got != tc.want {
			t.Errorf("writer PRAGMA %s = %q (%v), want %q", tc.pragma, got, err, tc.want)
		}
	}
	if _, err := s.r.Exec(`DELETE FROM topics`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestReopenAppliesNothingTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := openAt(t, path)
	createTopic(t, s, "kept", 1)
	s.Close()
	// Several processes' worth of stores opening at once.
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	for i := range stores {
		wg.Go(func() {
			st, err := New(context.Background(), Config{Path: path}, nil, nil)
			if err != nil {
				t.Error(err)
				return
			}
			stores[i] = st
		})
	}
	wg.Wait()
	for _, st := range stores {
		if st == nil {
			t.FailNow()
		}
		defer st.Close()
		if _, err := st.TopicByName(context.Background(), "kept"); err != nil {
			t.Errorf("topic lost on reopen: %v", err)
		}
	}
}

func TestConcurrentFirstOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			st, err := New(context.Background(), Config{Path: path}, nil, nil)
			errs[i] = err
			if err == nil {
				st.Close()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent first open: %v", err)
		}
	}
	s := openAt(t, path)
	var n, distinct int
	if err := s.r.QueryRow(`SELECT count(*), count(DISTINCT version) FROM schema_version`).Scan(&n, &distinct); err != nil || n != distinct {
		t.Fatalf("schema_version: %d rows, %d versions (%v)", n, distinct, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := openAt(t, path)
	if _, err := s.w.Exec(`INSERT INTO schema_version (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if st, err := New(context.Background(), Config{Path: path}, nil, nil); !errors.Is(err, ErrSchemaTooNew) {
		if st != nil {
			st.Close()
		}
		t.Fatalf("New on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte(`CREATE TABLE a (x INTEGER);`)},
		"m/0002_b.sql": {Data: []byte(`CREATE TABLE b (x INTEGER); INSERT INTO no_such_table VALUES (1);`)},
	}
	if _, err := s.w.Exec(`DROP TABLE schema_version`); err != nil {
		t.Fatal(err)
	}
	ms, err := migrations.Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, s.w, ms, s.logger); err == nil {
		t.Fatal("broken migration applied without error")
	}
	var versions []int
	rows, err := s.w.Query(`SELECT version FROM schema_version ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		rows.Scan(&v)
		versions = append(versions, v)
	}
	rows.Close()
	if len(versions) != 1 || versions[0] != 1 {
		t.Errorf("recorded versions %v, want [1]", versions)
	}
	var n int
	s.w.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name IN ('a', 'b')`).Scan(&n)
	if n != 1 {
		t.Errorf("%d of tables a, b exist, want only a", n)
	}
	// A renamed, already applied migration is refused.
	fsys["m/0001_renamed.sql"] = fsys["m/0001_a.sql"]
	delete(fsys, "m/0001_a.sql")
	delete(fsys, "m/0002_b.sql")
	ms, _ = migrations.Load(fsys, "m")
	if err := migrate(ctx, s.w, ms, s.logger); err == nil {
		t.Error("renamed applied migration accepted")
	}
}

func TestRegisterFlags(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if err := fs.Parse([]string{"-metastore.sqlite.path=x/y.db", "-metastore.sqlite.busy-timeout=2s", "-metastore.sqlite.read-conns=8"}); err != nil {
		t.Fatal(err)
	}
	if want := (Config{Path: "x/y.db", BusyTimeout: 2 * time.Second, ReadConns: 8}); cfg != want {
		t.Errorf("parsed %+v, want %+v", cfg, want)
	}
}
