package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/internal/testenv/proc"
)

// PostgresServer is a PostgreSQL server of one test's own, which the test
// may stop and start again under a running system, as a database restart
// would. It runs from the machine's server binaries (see the package
// documentation), whatever PostgresURL uses, and keeps its port and data
// across restarts.
type PostgresServer struct {
	t       testing.TB
	bin     string
	dir     string
	data    string
	logPath string
	cred    *syscall.Credential
	port    int

	mu   sync.Mutex
	proc *proc.Process // nil while stopped
}

// StartPostgres starts a PostgreSQL server for the calling test, with an
// empty database named strata, and stops it when the test ends. Without
// the server binaries the test is skipped, or fails when CI=true.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	var s setup
	p, err := initPostgres(t)
	if err != nil {
		s.fail("local", err)
		unavailable(t, "PostgreSQL server binaries", &s)
		return nil
	}
	t.Cleanup(func() {
		p.Stop()
		_ = os.RemoveAll(p.dir)
	})
	p.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.url("postgres"))
	if err != nil {
		t.Fatalf("testenv: connect to own PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE strata"); err != nil {
		t.Fatalf("testenv: create database on own PostgreSQL: %v", err)
	}
	return p
}

// initPostgres creates the data directory of a server and picks its port.
func initPostgres(t testing.TB) (*PostgresServer, error) {
	bin, err := proc.PostgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := proc.PostgresCredential()
	if err != nil {
		return nil, err
	}
	dir, err := serverDir("postgres")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("chmod %s: %w", dir, err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	p := &PostgresServer{t: t, bin: bin, dir: dir, data: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "postgres.log"), cred: cred}
	if err := proc.InitPostgres(bin, p.data, p.logPath, cred); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if p.port, err = proc.FreePort(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// URL is the URL of the strata database.
func (p *PostgresServer) URL() string { return p.url("strata") }

func (p *PostgresServer) url(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     fmt.Sprintf("127.0.0.1:%d", p.port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Start starts the server on its port and data, and waits until it accepts
// connections. It fails the test when the server does not come up.
func (p *PostgresServer) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		p.t.Fatal("testenv: PostgresServer.Start while running")
	}
	pr, err := startPostgresProcess(p.bin, p.dir, p.data, p.logPath, p.port, p.cred)
	if err != nil {
		p.t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitPostgres(ctx, pr, p.url("postgres")); err != nil {
		pr.Stop(syscall.SIGINT, 5*time.Second)
		p.t.Fatalf("testenv: start own PostgreSQL on port %d: %v", p.port, err)
	}
	p.proc = pr
}

// Stop shuts the server down as a restart does (fast shutdown: sessions
// are terminated, then the server exits) and waits until it has exited.
// Stopping a stopped server does nothing.
func (p *PostgresServer) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return
	}
	p.proc.Stop(syscall.SIGINT, 10*time.Second)
	p.proc = nil
}

// Running reports whether the server runs.
func (p *PostgresServer) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc != nil
}
