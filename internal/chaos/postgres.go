package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	procs "github.com/stratalog/strata/internal/testenv/proc"
)

// Postgres is a PostgreSQL primary and, optionally, a streaming standby
// that the primary waits for on every commit (synchronous replication), so
// that promoting it loses no acknowledged transaction. Each server keeps
// its port for the whole run: after a failover the old primary's slot is
// rebuilt as the new standby, so the nodes' two-host URL stays valid.
type Postgres struct {
	bin  string
	cred *syscall.Credential
	dir  string

	mu      sync.Mutex
	slots   [2]*pgSlot
	primary int
	standby bool
}

type pgSlot struct {
	n       int
	data    string
	logPath string
	port    int
	proc    *procs.Process
}

// Database is the database the nodes use.
const pgDatabase = "strata"

// StartPostgres initialises and starts a primary under dir and, when
// standby is set, a synchronous standby built from it with pg_basebackup.
func StartPostgres(ctx context.Context, dir string, standby bool) (*Postgres, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := procs.PostgresCredential()
	if err != nil {
		return nil, err
	}
	pgDir := filepath.Join(dir, "postgres")
	if err := os.MkdirAll(pgDir, 0o755); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(pgDir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	p := &Postgres{bin: bin, cred: cred, dir: pgDir, standby: standby}
	for i := range p.slots {
		port, err := procs.FreePort()
		if err != nil {
			return nil, err
		}
		p.slots[i] = &pgSlot{
			n:       i,
			data:    filepath.Join(pgDir, fmt.Sprintf("data%d", i)),
			logPath: filepath.Join(dir, fmt.Sprintf("postgres%d.log", i)),
			port:    port,
		}
	}
	s := p.slots[0]
	if err := runLogged(ctx, s.logPath, cred, filepath.Join(bin, "initdb"),
		"-D", s.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions"); err != nil {
		return nil, err
	}
	if err := p.startSlot(ctx, 0); err != nil {
		return nil, err
	}
	conn, err := p.connect(ctx, 0, "postgres")
	if err != nil {
		return nil, err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgDatabase)
	conn.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("chaos: create database: %w", err)
	}
	if standby {
		if err := p.buildStandby(ctx, 1); err != nil {
			p.Stop()
			return nil, err
		}
	}
	return p, nil
}

// Addrs are the host:port of both slots; the second serves only with a
// standby.
func (p *Postgres) Addrs() [2]string {
	return [2]string{
		fmt.Sprintf("127.0.0.1:%d", p.slots[0].port),
		fmt.Sprintf("127.0.0.1:%d", p.slots[1].port),
	}
}

// Primary is the slot of the primary.
func (p *Postgres) Primary() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.primary
}

// HasStandby reports whether failover is possible.
func (p *Postgres) HasStandby() bool { return p.standby }

func (p *Postgres) settings(port int) []string {
	return []string{
		"-D", "", // replaced by startSlot
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		// No OS crash happens here: what a killed server wrote is in the
		// page cache, so fsync buys nothing but time.
		"-c", "fsync=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
		"-c", "wal_level=replica",
		"-c", "max_wal_senders=10",
		"-c", "wal_keep_size=512MB",
		"-c", "hot_standby=on",
		"-c", "wal_sender_timeout=5s",
		"-c", "wal_receiver_timeout=5s",
		"-c", "wal_retrieve_retry_interval=200ms",
		"-c", "log_min_messages=warning",
	}
}

func (p *Postgres) startSlot(ctx context.Context, n int) error {
	s := p.slots[n]
	args := p.settings(s.port)
	args[1] = s.data
	cmd := exec.Command(filepath.Join(p.bin, "postgres"), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	pr, err := startProc(fmt.Sprintf("postgres%d", n), cmd, s.logPath, p.cred)
	if err != nil {
		return err
	}
	s.proc = pr
	deadline, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = pr.WaitReady(deadline, func(ctx context.Context) error {
		conn, err := p.connect(ctx, n, "postgres")
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	return nil
}

func (p *Postgres) connect(ctx context.Context, n int, db string) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return pgx.Connect(cctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.slots[n].port, db))
}

func (p *Postgres) exec(ctx context.Context, n int, sql string) error {
	conn, err := p.connect(ctx, n, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// buildStandby makes slot n a standby of the primary: a base backup, then
// streaming, then the primary waits for it on every commit.
func (p *Postgres) buildStandby(ctx context.Context, n int) error {
	s, prim := p.slots[n], p.slots[1-n]
	if err := os.RemoveAll(s.data); err != nil {
		return err
	}
	if err := runLogged(ctx, s.logPath, p.cred, filepath.Join(p.bin, "pg_basebackup"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(prim.port), "-U", "postgres",
		"-D", s.data, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"); err != nil {
		return err
	}
	if err := p.startSlot(ctx, n); err != nil {
		return err
	}
	deadline, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		conn, err := p.connect(deadline, 1-n, "postgres")
		var streaming int
		if err == nil {
			err = conn.QueryRow(deadline, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").Scan(&streaming)
			conn.Close(deadline)
		}
		if err == nil && streaming > 0 {
			break
		}
		select {
		case <-deadline.Done():
			return fmt.Errorf("chaos: standby %d not streaming: %v\n%s", n, err, procs.LogTail(s.logPath, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := p.exec(ctx, 1-n, "ALTER SYSTEM SET synchronous_standby_names = '*'"); err != nil {
		return fmt.Errorf("chaos: synchronous standby: %w", err)
	}
	return p.exec(ctx, 1-n, "SELECT pg_reload_conf()")
}

// StopPrimary stops the primary: "fast" (SIGINT, a clean shutdown),
// "immediate" (SIGQUIT, no checkpoint, crash recovery at start) or "kill"
// (SIGKILL of every server process).
func (p *Postgres) StopPrimary(mode string) {
	p.mu.Lock()
	s := p.slots[p.primary]
	p.mu.Unlock()
	switch mode {
	case "fast":
		s.proc.Stop(syscall.SIGINT, 30*time.Second)
	case "immediate":
		s.proc.Stop(syscall.SIGQUIT, 10*time.Second)
	default:
		s.proc.Kill()
	}
}

// StartPrimary starts the primary again after StopPrimary.
func (p *Postgres) StartPrimary(ctx context.Context) error {
	p.mu.Lock()
	n := p.primary
	p.mu.Unlock()
	return p.startSlot(ctx, n)
}

// Promote promotes the standby after the primary was stopped, stops the
// new primary from waiting for a standby, and rebuilds the old primary's
// slot as its standby.
func (p *Postgres) Promote(ctx context.Context) error {
	if !p.standby {
		return errors.New("chaos: no standby to promote")
	}
	p.mu.Lock()
	old := p.primary
	p.mu.Unlock()
	next := 1 - old
	s := p.slots[next]
	if err := runLogged(ctx, s.logPath, p.cred, filepath.Join(p.bin, "pg_ctl"), "promote", "-D", s.data, "-w", "-t", "60"); err != nil {
		return err
	}
	p.mu.Lock()
	p.primary = next
	p.mu.Unlock()
	// Until a new standby streams, commits must not wait for one.
	if err := p.exec(ctx, next, "ALTER SYSTEM SET synchronous_standby_names = ''"); err != nil {
		return fmt.Errorf("chaos: after promotion: %w", err)
	}
	if err := p.exec(ctx, next, "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	return nil
}

// RebuildStandby makes the old primary's slot the standby of the new one.
func (p *Postgres) RebuildStandby(ctx context.Context) error {
	p.mu.Lock()
	n := 1 - p.primary
	p.mu.Unlock()
	if s := p.slots[n]; s.proc != nil && s.proc.Running() {
		s.proc.Kill()
	}
	return p.buildStandby(ctx, n)
}

// Stop stops both servers.
func (p *Postgres) Stop() {
	for _, s := range p.slots {
		if s != nil && s.proc != nil && s.proc.Running() {
			s.proc.Stop(syscall.SIGINT, 10*time.Second)
		}
	}
}

// postgresBinDir returns the directory of PostgreSQL's server programs
// (see proc.PostgresBinDir), which must also hold the replication tools.
func postgresBinDir() (string, error) {
	dir, err := procs.PostgresBinDir()
	if err != nil {
		return "", fmt.Errorf("chaos: %w; install Debian's postgresql", err)
	}
	if !hasFiles(dir, "pg_basebackup", "pg_ctl") {
		return "", fmt.Errorf("chaos: no pg_basebackup and pg_ctl beside initdb in %s", dir)
	}
	return dir, nil
}

func hasFiles(dir string, names ...string) bool {
	for _, n := range names {
		if st, err := os.Stat(filepath.Join(dir, n)); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}
