package proc

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// handedOut holds the addresses FreeAddr returned, so that it never returns
// one twice in a process: the kernel may give a port that was just closed
// to the next bind of port 0, and a node whose Kafka and admin listeners
// got the same port fails to start.
var handedOut sync.Map

// FreeAddr returns an address of 127.0.0.1 whose TCP port was free a moment
// ago and that no earlier call returned. A server given it may still lose
// the port to another process before it binds: where that matters, bind
// 127.0.0.1:0 instead, or retry.
func FreeAddr() (string, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("find a free port: %w", err)
		}
		addr := l.Addr().String()
		l.Close()
		if _, dup := handedOut.LoadOrStore(addr, true); !dup {
			return addr, nil
		}
	}
	return "", errors.New("find a free port: 100 tries gave ports already handed out")
}

// FreePort is FreeAddr's port.
func FreePort() (int, error) {
	addr, err := FreeAddr()
	if err != nil {
		return 0, err
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return int(ap.Port()), nil
}

// RepoRoot returns the nearest directory, from the working directory up,
// that holds a go.mod file: in a test, the root of the test's module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("look for go.mod: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above")
		}
		dir = parent
	}
}

// EnvMinioBin names the MinIO server binary to use.
const EnvMinioBin = "STRATA_MINIO_BIN"

// MinioBinary finds the MinIO server: $STRATA_MINIO_BIN, else bin/minio
// under the repository root (see RepoRoot; `make tools` builds it there),
// else minio on PATH.
func MinioBinary() (string, error) {
	if p := os.Getenv(EnvMinioBin); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", EnvMinioBin, err)
		}
		return p, nil
	}
	var tried []string
	if root, err := RepoRoot(); err == nil {
		p := filepath.Join(root, "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	tried = append(tried, "minio on PATH")
	return "", fmt.Errorf("no MinIO binary: %s not set, none at %s (make tools builds bin/minio)", EnvMinioBin, strings.Join(tried, " or "))
}

// PostgresBinDir returns the directory holding PostgreSQL's initdb and
// postgres: the highest version under /usr/lib/postgresql (Debian and
// Ubuntu packages), else the one of initdb on PATH.
func PostgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		return versionLess(filepath.Base(filepath.Dir(dirs[i])), filepath.Base(filepath.Dir(dirs[j])))
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if hasPostgresBins(dirs[i]) {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); hasPostgresBins(dir) {
			return dir, nil
		}
	}
	return "", errors.New("no initdb and postgres in /usr/lib/postgresql/*/bin or on PATH")
}

func hasPostgresBins(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionLess compares dotted version numbers ("9.6" < "15").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx != nil || erry != nil {
			if as[i] != bs[i] {
				return as[i] < bs[i]
			}
			continue
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// PostgresCredential returns the credential to run PostgreSQL's programs
// with: the postgres user when running as root (the server refuses to run
// as root), nil (this user) otherwise.
func PostgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and no postgres user to run the server as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user id %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres group id %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// InitPostgres creates the data directory data of a PostgreSQL server with
// the initdb of bin, as cred: a superuser postgres trusted without a
// password, UTF8, the C locale. Its output goes to logPath.
func InitPostgres(bin, data, logPath string, cred *syscall.Credential) error {
	cmd := exec.Command(filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "--no-sync",
		"-E", "UTF8", "--locale=C", "--no-instructions")
	cmd.Dir = filepath.Dir(data)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return RunLogged(cmd, logPath)
}
