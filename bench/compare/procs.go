package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	procs "github.com/stratalog/strata/internal/testenv/proc"
)

// proc is a child process whose output goes to a log file: a process of
// the tests' harness (internal/testenv/proc), which kills it when the
// benchmark dies and reports start-up failures with its log.
type proc struct{ *procs.Process }

func start(name, logPath string, cmd *exec.Cmd) (*proc, error) {
	p, err := procs.Start(name, cmd, logPath)
	if err != nil {
		return nil, err
	}
	return &proc{p}, nil
}

// stop signals the process and kills it after grace.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	if p == nil {
		return
	}
	p.Stop(sig, grace)
}

// waitFor polls check until it succeeds, the process exits or timeout passes.
func (p *proc) waitFor(timeout time.Duration, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.WaitReady(ctx, check)
}

func freePort() (int, error) { return procs.FreePort() }

// freePorts returns n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		port, err := procs.FreePort()
		if err != nil {
			return nil, err
		}
		ports = append(ports, port)
	}
	return ports, nil
}

// twoPorts returns two free loopback addresses: a Kafka listener's and an
// admin listener's.
func twoPorts() (kafka, admin string, err error) {
	ports, err := freePorts(2)
	if err != nil {
		return "", "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1]), nil
}

func httpOK(u string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", u, resp.Status)
		}
		return nil
	}
}

// postgres is a throwaway PostgreSQL server, started the way the test
// environment starts it: initdb and postgres from the Debian packages, as the
// postgres user when running as root, fsync off.
type postgres struct {
	p   *proc
	dir string
	url string
}

func startPostgres(dir string) (*postgres, error) {
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
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "unix_socket_directories=", "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	p, err := start("postgres", filepath.Join(dir, "postgres.log"), cmd)
	if err != nil {
		return nil, err
	}
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	err = p.waitFor(30*time.Second, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
	if err != nil {
		p.stop(syscall.SIGINT, 5*time.Second)
		return nil, err
	}
	return &postgres{p: p, dir: dir, url: u}, nil
}

// createDB creates a fresh database and returns its URL.
func (pg *postgres) createDB(ctx context.Context, name string) (string, error) {
	c, err := pgx.Connect(ctx, pg.url)
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u, _ := url.Parse(pg.url)
	u.Path = "/" + name
	return u.String(), nil
}

func (pg *postgres) stop() { pg.p.stop(syscall.SIGINT, 10*time.Second) }

// minio is a throwaway single-drive MinIO server.
type minio struct {
	p        *proc
	endpoint string
}

const (
	minioUser   = "strata-bench"
	minioSecret = "strata-bench-secret"
)

// minioBinary is $STRATA_MINIO_BIN, else the repository's bin/minio (which
// proc.MinioBinary, looking from bench/, does not find), else minio on PATH.
func minioBinary(root string) (string, error) {
	if p := filepath.Join(root, "bin", "minio"); os.Getenv(procs.EnvMinioBin) == "" && fileExists(p) {
		return p, nil
	}
	return procs.MinioBinary()
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func startMinio(root, dir string) (*minio, error) {
	bin, err := minioBinary(root)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2) // API and console
	if err != nil {
		return nil, err
	}
	port := ports[0]
	cmd := exec.Command(bin, "server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", ports[1]), filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioSecret,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	p, err := start("minio", filepath.Join(dir, "minio.log"), cmd)
	if err != nil {
		return nil, err
	}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := p.waitFor(60*time.Second, httpOK(endpoint+"/minio/health/live")); err != nil {
		p.stop(syscall.SIGTERM, 5*time.Second)
		return nil, err
	}
	return &minio{p: p, endpoint: endpoint}, nil
}

func (m *minio) stop() { m.p.stop(syscall.SIGTERM, 10*time.Second) }

// firstLine reads the first line a process prints on stdout.
func firstLine(r io.Reader, timeout time.Duration) (string, error) {
	ch := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		if sc.Scan() {
			ch <- strings.TrimSpace(sc.Text())
		}
		close(ch)
		io.Copy(io.Discard, r)
	}()
	select {
	case l, ok := <-ch:
		if !ok {
			return "", errors.New("no output")
		}
		return l, nil
	case <-time.After(timeout):
		return "", errors.New("no output in time")
	}
}
