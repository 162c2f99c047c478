package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// dirPrefix starts the name of every directory a local server uses under
// os.TempDir().
const dirPrefix = "strata-testenv-"

// ownerFile, inside a server directory, holds the pid of the test binary
// that created it.
const ownerFile = "owner.pid"

// process is a server child process whose output goes to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited
	waitErr error         // set before done is closed
}

// sysProcAttr makes the child die with the test binary (SIGKILL when the
// thread that started it exits) and puts it in its own process group, so
// that stopping it also reaches its own children.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Pdeathsig:  syscall.SIGKILL,
		Setpgid:    true,
		Credential: cred,
	}
}

// openLog opens the log file of a server for appending.
func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return f, nil
}

// runLogged runs a short-lived command to completion with its output
// appended to logPath.
func runLogged(cmd *exec.Cmd, logPath string) error {
	f, err := openLog(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = startCmd(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return fmt.Errorf("%s: %w; log %s:\n%s", filepath.Base(cmd.Path), err, logPath, logTail(logPath))
	}
	return nil
}

var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

// startCmd starts cmd from one goroutine locked to its OS thread for the
// life of the test binary. The kernel sends the parent-death signal when
// the thread that started a child exits, not the whole process; starting
// every child from a thread that never exits ties the children to the
// test binary itself.
func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for fn := range spawnCh {
				fn()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnCh <- func() { errc <- cmd.Start() }
	return <-errc
}

// startProcess starts cmd with its output appended to logPath.
func startProcess(name string, cmd *exec.Cmd, logPath string) (*process, error) {
	f, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child holds its own descriptor
	cmd.Stdout, cmd.Stderr = f, f
	if err := startCmd(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends sig to the process and waits up to grace for it to exit, then
// kills its whole process group.
func (p *process) stop(sig syscall.Signal, grace time.Duration) {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	// Whatever is left of the group (server children) goes too.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// waitReady polls check until it succeeds, the process exits or ctx ends.
// The error carries the tail of the process log.
func (p *process) waitReady(ctx context.Context, check func(ctx context.Context) error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		err := check(attempt)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during start-up (%v); log %s:\n%s", p.name, p.waitErr, p.logPath, logTail(p.logPath))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last check: %v); log %s:\n%s", p.name, ctx.Err(), err, p.logPath, logTail(p.logPath))
		case <-tick.C:
		}
	}
}

// logTail returns the last lines of a log file, for error messages.
func logTail(path string) string {
	const maxBytes, maxLines = 4096, 25
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxBytes {
		if _, err := f.Seek(st.Size()-maxBytes, io.SeekStart); err != nil {
			return fmt.Sprintf("(read log: %v)", err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return "    " + string(bytes.Join(lines, []byte("\n    ")))
}

// portInUse reports whether a failed start-up looks like a lost race for
// the port picked by freePort.
func portInUse(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "address already in use") || strings.Contains(s, "port is already in use")
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
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

var staleOnce sync.Once

// serverDir creates a directory for a local server under os.TempDir(),
// recording the pid of this test binary in it. Directories left by test
// binaries that are gone are removed first.
func serverDir(service string) (string, error) {
	staleOnce.Do(removeStaleDirs)
	dir, err := os.MkdirTemp("", dirPrefix+service+"-")
	if err != nil {
		return "", fmt.Errorf("create %s directory: %w", service, err)
	}
	pid := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(pid), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("create %s directory: %w", service, err)
	}
	return dir, nil
}

// removeStaleDirs removes the server directories whose owning test binary
// no longer runs (it died without reaching Main's clean-up).
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		if staleDir(dir) {
			_ = os.RemoveAll(dir)
		}
	}
}

func staleDir(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		// A directory being created has no owner file for a moment.
		st, serr := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist) && serr == nil && time.Since(st.ModTime()) > time.Hour
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
