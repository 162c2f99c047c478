package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	proc *process // nil while stopped
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
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
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
	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"-D", p.data, "-U", "postgres", "--auth=trust", "--no-sync",
		"-E", "UTF8", "--locale=C", "--no-instructions")
	initdb.Dir = dir
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	initdb.SysProcAttr = sysProcAttr(cred)
	if err := runLogged(initdb, p.logPath); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if p.port, err = freePort(); err != nil {
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
	args := append([]string{"-D", p.data, "-p", strconv.Itoa(p.port),
		"-c", "unix_socket_directories="}, postgresSettings("127.0.0.1")...)
	cmd := exec.Command(filepath.Join(p.bin, "postgres"), args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = sysProcAttr(p.cred)
	proc, err := startProcess("postgres", cmd, p.logPath)
	if err != nil {
		p.t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = proc.waitReady(ctx, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, p.url("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		proc.stop(syscall.SIGINT, 5*time.Second)
		p.t.Fatalf("testenv: start own PostgreSQL on port %d: %v", p.port, err)
	}
	p.proc = proc
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
	p.proc.stop(syscall.SIGINT, 10*time.Second)
	p.proc = nil
}

// Running reports whether the server runs.
func (p *PostgresServer) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc != nil
}
