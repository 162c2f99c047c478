// Package proc runs the child processes of Strata's tests and test
// harnesses: strata itself (StartStrata), PostgreSQL and MinIO servers,
// client programs. It finds the programs they need on the machine
// (RepoRoot, MinioBinary, PostgresBinDir) and free ports (FreeAddr).
//
// Every child is tied to the process that started it: it receives SIGKILL
// when that process dies, whatever way it dies, and runs in its own process
// group so that stopping it also reaches its own children. Nothing here
// imports the testing package or the test services of the parent package
// testenv, so that commands (cmd/strata-chaos, the benchmark harness) use
// the same code as the tests without linking them.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child process whose standard output and error go to a log
// file, unless the command set them.
type Process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited
	waitErr error         // set before done is closed
}

var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

// startCmd starts cmd from one goroutine locked to its OS thread for the
// life of the process. The kernel sends the parent-death signal when the
// thread that started a child exits, not the whole process; starting every
// child from a thread that never exits ties the children to the process
// itself.
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

// Start starts cmd as a child named name (for messages). Its standard
// output and error, where cmd leaves them nil, are appended to logPath,
// after a line that says when and what started. The credential of
// cmd.SysProcAttr, if any, is kept; the parent-death signal and the
// process group are set here.
func Start(name string, cmd *exec.Cmd, logPath string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	defer f.Close() // the child holds its own descriptor
	fmt.Fprintf(f, "=== %s %s\n", time.Now().Format("15:04:05.000"), strings.Join(cmd.Args, " "))
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	if cmd.Stderr == nil {
		cmd.Stderr = f
	}
	attr := &syscall.SysProcAttr{}
	if cmd.SysProcAttr != nil {
		attr.Credential = cmd.SysProcAttr.Credential
	}
	attr.Pdeathsig, attr.Setpgid = syscall.SIGKILL, true
	cmd.SysProcAttr = attr
	if err := startCmd(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// RunLogged runs a short-lived command to completion with its output
// appended to logPath. The error carries the tail of the log.
func RunLogged(cmd *exec.Cmd, logPath string) error {
	p, err := Start(cmd.Args[0], cmd, logPath)
	if err != nil {
		return err
	}
	<-p.done
	if p.waitErr != nil {
		return fmt.Errorf("%s: %w; log %s:\n%s", strings.Join(cmd.Args, " "), p.waitErr, logPath, LogTail(logPath, 25))
	}
	return nil
}

// Name is the name given to Start.
func (p *Process) Name() string { return p.name }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath is the log file given to Start.
func (p *Process) LogPath() string { return p.logPath }

// Done returns a channel that is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Running reports whether the process has not exited yet (a stopped
// process runs).
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Err is how the process ended, as exec.Cmd.Wait returns it: nil for exit
// status 0. It is nil while the process runs.
func (p *Process) Err() error {
	if p.Running() {
		return nil
	}
	return p.waitErr
}

// ExitCode is the exit status of an exited process; -1 while it runs or
// when a signal ended it.
func (p *Process) ExitCode() int {
	if p.Running() {
		return -1
	}
	if p.waitErr == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// Exited describes how the process ended, for messages.
func (p *Process) Exited() string {
	switch {
	case p.Running():
		return "running"
	case p.waitErr == nil:
		return "exited 0"
	default:
		return p.waitErr.Error()
	}
}

// Signal sends sig to the process alone.
func (p *Process) Signal(sig syscall.Signal) error {
	if !p.Running() {
		return fmt.Errorf("%s is not running", p.name)
	}
	return p.cmd.Process.Signal(sig)
}

// SignalGroup sends sig to the process and its children.
func (p *Process) SignalGroup(sig syscall.Signal) error {
	if !p.Running() {
		return fmt.Errorf("%s is not running", p.name)
	}
	return syscall.Kill(-p.Pid(), sig)
}

// Wait waits up to timeout for the process to exit and reports whether it
// did.
func (p *Process) Wait(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// Kill sends SIGKILL to the whole process group and waits for the exit.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.Pid(), syscall.SIGCONT) // a stopped process dies only once it runs
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
}

// Stop sends sig to the process, waits up to grace for it to exit, then
// kills what is left of its process group. It reports whether the process
// exited within grace (also when it had exited before).
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) bool {
	exited := !p.Running()
	if !exited {
		_ = syscall.Kill(p.Pid(), syscall.SIGCONT) // a stopped process handles sig only once it runs
		_ = p.cmd.Process.Signal(sig)
		exited = p.Wait(grace)
	}
	// Whatever is left of the group (server children) goes too.
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
	return exited
}

// WaitReady polls check, every 20ms, until it succeeds, the process exits
// or ctx ends. Each check gets a context of at most a second. The error
// carries the tail of the process log.
func (p *Process) WaitReady(ctx context.Context, check func(ctx context.Context) error) error {
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
			return fmt.Errorf("%s exited during start-up (%s); log %s:\n%s", p.name, p.Exited(), p.logPath, LogTail(p.logPath, 25))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last check: %v); log %s:\n%s", p.name, ctx.Err(), err, p.logPath, LogTail(p.logPath, 25))
		case <-tick.C:
		}
	}
}

// LogTail returns the last lines (at most 16 KiB) of the log file at path,
// indented for error messages.
func LogTail(path string, lines int) string {
	const maxBytes = 16 << 10
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
	ls := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return "    " + string(bytes.Join(ls, []byte("\n    ")))
}
