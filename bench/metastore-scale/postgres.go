package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	procs "github.com/stratalog/strata/internal/testenv/proc"
)

// pgServer is a throwaway PostgreSQL server, started as the test
// environment and the side-by-side harness start theirs (the Debian
// binaries, as the postgres user when running as root), with room for the
// connections of every simulated node.
type pgServer struct {
	p   *procs.Process
	url string
}

func startPostgres(dir string, maxConns int, fsync bool, settings []string) (*pgServer, error) {
	bin, err := procs.PostgresBinDir()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cred, err := procs.PostgresCredential()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := procs.InitPostgres(bin, data, filepath.Join(dir, "initdb.log"), cred); err != nil {
		return nil, err
	}
	port, err := procs.FreePort()
	if err != nil {
		return nil, err
	}
	onOff := map[bool]string{true: "on", false: "off"}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "unix_socket_directories=", "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync="+onOff[fsync], "-c", "synchronous_commit="+onOff[fsync], "-c", "full_page_writes="+onOff[fsync],
		"-c", "max_connections="+strconv.Itoa(maxConns), "-c", "shared_buffers=256MB",
		// Which statements take the server's time (see topStatements).
		"-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all")
	for _, kv := range settings {
		cmd.Args = append(cmd.Args, "-c", kv)
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	p, err := procs.Start("postgres", cmd, filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = p.WaitReady(ctx, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
	if err != nil {
		p.Stop(syscall.SIGINT, 5*time.Second)
		return nil, err
	}
	return &pgServer{p: p, url: u}, nil
}

func (pg *pgServer) stop() { pg.p.Stop(syscall.SIGINT, 10*time.Second) }

// createDB creates a fresh database on the server of base and returns its
// URL.
func createDB(ctx context.Context, base, name string) (string, error) {
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func dropDB(ctx context.Context, base, name string) error {
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// statement is one row of pg_stat_statements.
type statement struct {
	query       string
	calls       int64
	total, mean float64 // ms
	rows        int64
}

// topStatements returns the statements that took most of the server's time
// in database db, or nil when pg_stat_statements is not loaded.
func topStatements(ctx context.Context, db string, n int) []statement {
	c, err := pgx.Connect(ctx, db)
	if err != nil {
		return nil
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT regexp_replace(query, '\s+', ' ', 'g'), calls, total_exec_time, mean_exec_time, rows
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = current_database()
		ORDER BY total_exec_time DESC LIMIT $1`, n)
	if err != nil {
		return nil
	}
	var out []statement
	for rows.Next() {
		var st statement
		if rows.Scan(&st.query, &st.calls, &st.total, &st.mean, &st.rows) == nil {
			out = append(out, st)
		}
	}
	return out
}

// resetStatements creates pg_stat_statements in db (when the server loads
// it) and forgets what it counted so far.
func resetStatements(ctx context.Context, db string) {
	c, err := pgx.Connect(ctx, db)
	if err != nil {
		return
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return
	}
	_, _ = c.Exec(ctx, "SELECT pg_stat_statements_reset()")
}
