package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/stratalog/strata/internal/testenv/proc"
)

// Environment variables read by PostgresURL.
const (
	envPostgresURL   = "STRATA_TEST_POSTGRES_URL"
	envPostgresImage = "STRATA_TEST_POSTGRES_IMAGE"
)

// pgServer is the PostgreSQL server of this test binary.
type pgServer struct {
	source string   // "env", "docker" or "local"
	server *url.URL // URL of the server's maintenance database
	admin  *pgxpool.Pool
	proc   *proc.Process // local server only
	setup  setup         // why no server, when admin is nil
}

var (
	pgOnce sync.Once
	pg     *pgServer
	dbSeq  atomic.Int64
)

// PostgresURL returns the URL of a fresh, empty database, dropped when the
// test ends. Without a PostgreSQL server the test is skipped, or fails when
// CI=true.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return postgresServer().database(t)
}

// database creates a database on the server, dropped when the test ends.
func (s *pgServer) database(t testing.TB) string {
	t.Helper()
	if s.admin == nil {
		unavailable(t, "PostgreSQL", &s.setup)
		return ""
	}
	name := fmt.Sprintf("test_%s_%d", runID, dbSeq.Add(1))
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("testenv: create database %s on %s server: %v", name, s.source, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	u := *s.server
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// postgresServer finds or starts the server, once per test binary.
func postgresServer() *pgServer {
	pgOnce.Do(func() { pg = findPostgres() })
	return pg
}

func findPostgres() *pgServer {
	s := &pgServer{}
	if raw := os.Getenv(envPostgresURL); raw != "" {
		// Explicitly configured: the only source tried.
		u, err := url.Parse(raw)
		if err == nil && u.Scheme != "postgres" && u.Scheme != "postgresql" {
			err = fmt.Errorf("want a postgres:// URL, got scheme %q", u.Scheme)
		}
		if err == nil {
			err = s.connect("env", u)
		}
		if err != nil {
			s.setup.fail(envPostgresURL, err)
			s.setup.fatal = true
		}
		return s
	}
	s.setup.fail("environment", errors.New(envPostgresURL+" not set"))

	if err := dockerAvailable(); err != nil {
		s.setup.fail("docker", err)
	} else if u, err := startPostgresContainer(); err != nil {
		s.setup.fail("docker", err)
	} else if err := s.connect("docker", u); err != nil {
		s.setup.fail("docker", err)
	} else {
		return s
	}

	u, proc, err := startLocalPostgres()
	if err == nil {
		s.proc = proc
		err = s.connect("local", u)
	}
	if err != nil {
		s.setup.fail("local", err)
	}
	return s
}

// connect opens the admin pool on the server at u.
func (s *pgServer) connect(source string, u *url.URL) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return fmt.Errorf("parse server URL: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	s.source, s.server, s.admin = source, u, pool
	atExit(pool.Close)
	return nil
}

func startPostgresContainer() (*url.URL, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const password = "strata-test"
	ep, err := startContainer(ctx, testcontainers.ContainerRequest{
		Image:        imageFromEnv(envPostgresImage, "postgres:16-alpine"),
		ExposedPorts: []string{"5432/tcp"},
		Env: map[string]string{
			"POSTGRES_PASSWORD": password,
			"POSTGRES_DB":       "postgres",
		},
		Cmd: append([]string{"postgres"}, postgresSettings("*")...),
		// The image's entrypoint runs a temporary server first: the
		// second "ready" line is the real one.
		WaitingFor: wait.ForAll(
			wait.ForLog("database system is ready to accept connections").WithOccurrence(2),
			wait.ForListeningPort("5432/tcp"),
		).WithDeadline(2 * time.Minute),
	}, "5432/tcp")
	if err != nil {
		return nil, err
	}
	return &url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", password),
		Host:     ep,
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}, nil
}

// postgresSettings are the server options for a throwaway test server:
// durability off for speed, enough connections for parallel tests.
func postgresSettings(listen string) []string {
	return []string{
		"-c", "listen_addresses=" + listen,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
	}
}

// startLocalPostgres runs initdb and postgres from the machine's
// PostgreSQL server binaries.
func startLocalPostgres() (*url.URL, *proc.Process, error) {
	bin, err := proc.PostgresBinDir()
	if err != nil {
		return nil, nil, err
	}
	cred, err := proc.PostgresCredential()
	if err != nil {
		return nil, nil, err
	}
	dir, err := serverDir("postgres")
	if err != nil {
		return nil, nil, err
	}
	// The server refuses to run as root; when it runs as the postgres
	// user, it must be able to reach and write its directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("chmod %s: %w", dir, err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, nil, fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "postgres.log")
	ok := false
	defer func() {
		// On failure keep the log the error points to; the directory
		// goes once this test binary has ended (removeStaleDirs).
		if !ok {
			_ = os.RemoveAll(data)
		}
	}()
	if err := proc.InitPostgres(bin, data, logPath, cred); err != nil {
		return nil, nil, err
	}

	// The port is free when picked but may be taken before the server
	// binds it: try again with another one.
	for attempt := 0; ; attempt++ {
		port, err := proc.FreePort()
		if err != nil {
			return nil, nil, err
		}
		p, err := startPostgresProcess(bin, dir, data, logPath, port, cred)
		if err != nil {
			return nil, nil, err
		}
		u := &url.URL{
			Scheme:   "postgres",
			User:     url.User("postgres"),
			Host:     fmt.Sprintf("127.0.0.1:%d", port),
			Path:     "/postgres",
			RawQuery: "sslmode=disable",
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = waitPostgres(ctx, p, u.String())
		cancel()
		if err == nil {
			ok = true
			atExit(func() {
				// SIGINT: fast shutdown, no checkpoint wait.
				p.Stop(syscall.SIGINT, 10*time.Second)
				_ = os.RemoveAll(dir)
			})
			return u, p, nil
		}
		p.Stop(syscall.SIGINT, 5*time.Second)
		if attempt == 2 || !portInUse(err) {
			return nil, nil, err
		}
	}
}

// startPostgresProcess starts the server of data on port of 127.0.0.1,
// with the settings of a throwaway test server.
func startPostgresProcess(bin, dir, data, logPath string, port int, cred *syscall.Credential) (*proc.Process, error) {
	args := append([]string{"-D", data, "-p", strconv.Itoa(port),
		"-c", "unix_socket_directories="}, postgresSettings("127.0.0.1")...)
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return proc.Start("postgres", cmd, logPath)
}

// waitPostgres waits until the server p accepts connections to url.
func waitPostgres(ctx context.Context, p *proc.Process, url string) error {
	return p.WaitReady(ctx, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}
