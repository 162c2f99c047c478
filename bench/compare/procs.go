package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// proc is a child process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

func start(name, logPath string, cmd *exec.Cmd) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	cmd.Stderr = f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop signals the process and kills it after grace.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitFor polls check until it succeeds, the process exits or timeout passes.
func (p *proc) waitFor(timeout time.Duration, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, tail(p.log))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %v\n%s", p.name, timeout, last, tail(p.log))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func freePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// freePorts returns n distinct free loopback ports: their listeners are
// open at once, so that the kernel cannot hand the same port out twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
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
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return a < b
	})
	bin := ""
	if len(dirs) > 0 {
		bin = dirs[len(dirs)-1]
	} else if p, err := exec.LookPath("initdb"); err == nil {
		bin = filepath.Dir(p)
	} else {
		return nil, errors.New("postgres: no /usr/lib/postgresql/*/bin and no initdb on PATH")
	}
	var attr *syscall.SysProcAttr
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("postgres: running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions")
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	initdb.SysProcAttr = attr
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
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
	attr2 := &syscall.SysProcAttr{}
	if attr != nil {
		attr2.Credential = attr.Credential
	}
	cmd.SysProcAttr = attr2
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

func minioBinary(root string) (string, error) {
	if p := os.Getenv("STRATA_MINIO_BIN"); p != "" {
		return p, nil
	}
	if p := filepath.Join(root, "bin", "minio"); fileExists(p) {
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", errors.New("minio: not in STRATA_MINIO_BIN, bin/minio or PATH (make tools builds it)")
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
