package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

// startCmd starts cmd from one goroutine locked to an OS thread that never
// exits: the parent-death signal follows the thread that started a child,
// so this ties every child to the harness process itself.
func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked
			for fn := range spawnCh {
				fn()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnCh <- func() { errc <- cmd.Start() }
	return <-errc
}

// proc is a child process whose output is appended to a log file. It is
// killed when the harness dies, and runs in its own process group so that
// signals reach its children too.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// startProc starts cmd, as cred when not nil.
func startProc(name string, cmd *exec.Cmd, logPath string, cred *syscall.Credential) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("chaos: %s log: %w", name, err)
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s: %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: cred}
	if err := startCmd(cmd); err != nil {
		return nil, fmt.Errorf("chaos: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process alone.
func (p *proc) signal(sig syscall.Signal) error {
	if !p.running() {
		return fmt.Errorf("chaos: %s is not running", p.name)
	}
	return p.cmd.Process.Signal(sig)
}

// signalGroup sends sig to the process and its children.
func (p *proc) signalGroup(sig syscall.Signal) error {
	if !p.running() {
		return fmt.Errorf("chaos: %s is not running", p.name)
	}
	return syscall.Kill(-p.pid(), sig)
}

// wait waits up to timeout for the process to exit.
func (p *proc) wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// kill sends SIGKILL to the whole group and waits for the exit.
func (p *proc) kill() {
	_ = syscall.Kill(-p.pid(), syscall.SIGCONT) // a stopped process dies only once it runs
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// stop sends sig, waits up to grace, then kills what is left.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	if p.running() {
		_ = syscall.Kill(-p.pid(), syscall.SIGCONT)
		_ = p.signalGroup(sig)
		p.wait(grace)
	}
	p.kill()
}

// exited describes how the process ended, for messages.
func (p *proc) exited() string {
	if p.running() {
		return "running"
	}
	if p.waitErr == nil {
		return "exited 0"
	}
	return p.waitErr.Error()
}

// rssBytes is the resident set size of a process, from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

// setAddressSpaceLimit caps a process's virtual memory, so that a node
// asked to allocate tens of GiB fails at once instead of taking the
// machine's memory.
func setAddressSpaceLimit(pid int, limit uint64) error {
	lim := syscall.Rlimit{Cur: limit, Max: limit}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_AS),
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// runLogged runs a short command to completion, output appended to
// logPath; the error carries the log's tail.
func runLogged(ctx context.Context, logPath string, cred *syscall.Credential, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	p, err := startProc(name, cmd, logPath, cred)
	if err != nil {
		return err
	}
	<-p.done
	if p.waitErr != nil {
		return fmt.Errorf("chaos: %s: %w\n%s", strings.Join(append([]string{name}, args...), " "), p.waitErr, logTail(logPath, 20))
	}
	return nil
}

// logTail returns the last lines of a log file.
func logTail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const max = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	ls := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return "    " + string(bytes.Join(ls, []byte("\n    ")))
}
