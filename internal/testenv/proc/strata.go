package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts of Strata.Start and Strata.Stop.
const (
	// StrataReadyTimeout bounds the wait for /readyz after a start.
	StrataReadyTimeout = 60 * time.Second
	// StrataStopGrace is how long Stop waits after SIGTERM before SIGKILL,
	// unless Strata.StopGrace says otherwise.
	StrataStopGrace = 15 * time.Second
)

// strataLogMax is how much of a strata's log LogTail returns.
const strataLogMax = 64 << 10

// EnvStrataBinary names a prebuilt strata binary to run instead of
// building ./cmd/strata.
const EnvStrataBinary = "STRATA_BINARY"

// BuildStrata returns the absolute path of $STRATA_BINARY when it is set,
// and otherwise builds ./cmd/strata of the repository (see RepoRoot) into
// dir and returns the path of the binary.
func BuildStrata(dir string) (string, error) {
	if p := os.Getenv(EnvStrataBinary); p != "" {
		return filepath.Abs(p)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(dir, "strata"))
	if err != nil {
		return "", err
	}
	// The go command of the toolchain running the tests, whatever PATH says.
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "build", "-o", out, "./cmd/strata")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/strata: %w\n%s", err, b)
	}
	return out, nil
}

// Strata is a strata process: `bin args...` run in a working directory. It
// can be stopped or killed and started again with the same arguments, so
// on the same ports and data. Its output is appended to LogPath.
type Strata struct {
	KafkaAddr string // host:port of the Kafka listener
	AdminAddr string // host:port of the admin HTTP listener

	// Env is the environment of the process. NewStrata sets it to this
	// process's environment without its STRATA_ variables, which would
	// configure strata behind the caller's back; add to it before Start.
	Env []string
	// LogPath is the file the output goes to: strata.log in the working
	// directory unless changed before Start.
	LogPath string
	// StopGrace is how long Stop waits after SIGTERM: StrataStopGrace
	// unless changed.
	StopGrace time.Duration

	bin, dir string
	args     []string
	name     string

	mu     sync.Mutex
	proc   *Process // the current or last process; nil before Start
	starts int

	stopMu  sync.Mutex // held by Stop, which may wait long
	stopped *Process   // the process Stop ended
	stopErr error      // what Stop said of it
}

// NewStrata prepares `bin args...` (args start with the mode: "dev",
// "-data-dir", dir) in workDir without starting it. Unless args set them,
// -kafka.listen-address and -admin.listen-address are added on free ports
// of 127.0.0.1 (see FreeAddr).
func NewStrata(bin, workDir string, args ...string) (*Strata, error) {
	s := &Strata{bin: bin, dir: workDir, LogPath: filepath.Join(workDir, "strata.log"), StopGrace: StrataStopGrace}
	s.args = append([]string(nil), args...)
	for _, l := range []struct {
		flag string
		addr *string
	}{
		{"kafka.listen-address", &s.KafkaAddr},
		{"admin.listen-address", &s.AdminAddr},
	} {
		if v, ok := flagValue(s.args, l.flag); ok {
			*l.addr = v
			continue
		}
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		*l.addr = addr
		s.args = append(s.args, "-"+l.flag, addr)
	}
	s.name = "strata"
	if len(s.args) > 0 && !strings.HasPrefix(s.args[0], "-") {
		s.name += " " + s.args[0]
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			s.Env = append(s.Env, kv)
		}
	}
	return s, nil
}

// StartStrata is NewStrata followed by Start. The process receives SIGKILL
// when this process dies; call Stop to end it sooner. The error of a failed
// start carries the tail of the log.
func StartStrata(bin, workDir string, args ...string) (*Strata, error) {
	s, err := NewStrata(bin, workDir, args...)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// flagValue returns the value args give to the flag name, written -name or
// --name, followed by its value or by =value.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// Start starts the process (again) and waits up to StrataReadyTimeout
// until its /readyz answers 200 OK. A process that does not get ready is
// killed; the error carries the tail of its log.
func (s *Strata) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), StrataReadyTimeout)
	defer cancel()
	if _, err := s.Spawn(); err != nil {
		return err
	}
	return s.WaitReady(ctx)
}

// Spawn starts the process (again) without waiting for it to serve; see
// WaitReady.
func (s *Strata) Spawn() (*Process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && s.proc.Running() {
		return nil, fmt.Errorf("%s: started while running", s.name)
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	cmd.Env = s.Env
	s.starts++
	p, err := Start(fmt.Sprintf("%s (start %d)", s.name, s.starts), cmd, s.LogPath)
	if err != nil {
		return nil, err
	}
	s.proc = p
	return p, nil
}

// WaitReady polls /readyz until it answers 200 OK, the process exits or
// ctx ends. A process that is not ready is killed; the error carries the
// tail of its log.
func (s *Strata) WaitReady(ctx context.Context) error {
	p := s.Process()
	if p == nil {
		return fmt.Errorf("%s: not started", s.name)
	}
	url := "http://" + s.AdminAddr + "/readyz"
	err := p.WaitReady(ctx, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
		}
		return nil
	})
	if err != nil {
		p.Kill()
		return err
	}
	return nil
}

// Process is the current process, or the last one when none runs; nil
// before the first start.
func (s *Strata) Process() *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Running reports whether a process runs (also when stopped by SIGSTOP).
func (s *Strata) Running() bool {
	p := s.Process()
	return p != nil && p.Running()
}

// Starts is how many times the process was started.
func (s *Strata) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// Signal sends sig to the running process.
func (s *Strata) Signal(sig syscall.Signal) error {
	p := s.Process()
	if p == nil {
		return fmt.Errorf("%s: not started", s.name)
	}
	return p.Signal(sig)
}

// Kill sends SIGKILL and waits for the exit; it does nothing when no
// process runs.
func (s *Strata) Kill() {
	if p := s.Process(); p != nil && p.Running() {
		p.Kill()
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// code, or -1 and false when it is still running. A process ended by a
// signal gives -1 and true.
func (s *Strata) Wait(timeout time.Duration) (code int, exited bool) {
	p := s.Process()
	if p == nil {
		return -1, true
	}
	if !p.Wait(timeout) {
		return -1, false
	}
	return p.ExitCode(), true
}

// Stop sends SIGTERM, waits up to StopGrace for the process to exit, then
// kills it with SIGKILL. It returns an error when strata had to be killed
// or did not exit with status 0 (also when it had exited before Stop).
// Calls after the first, until the next start, return the same error.
func (s *Strata) Stop() error {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	p := s.Process()
	if p == nil {
		return nil
	}
	if p == s.stopped {
		return s.stopErr
	}
	s.stopped, s.stopErr = p, nil
	if !p.Running() {
		if err := p.Err(); err != nil {
			s.stopErr = fmt.Errorf("%s exited before Stop: %w", s.name, err)
		}
		return s.stopErr
	}
	_ = p.Signal(syscall.SIGTERM)
	if !p.Wait(s.StopGrace) {
		s.stopErr = fmt.Errorf("%s did not exit %v after SIGTERM; killed", s.name, s.StopGrace)
	} else if err := p.Err(); err != nil {
		s.stopErr = fmt.Errorf("%s: %w", s.name, err)
	}
	// Whatever is left of its process group goes too.
	p.Kill()
	return s.stopErr
}

// Exited returns a channel that is closed once the current process has
// exited.
func (s *Strata) Exited() <-chan struct{} {
	if p := s.Process(); p != nil {
		return p.Done()
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

// LogTail returns the last 64 KiB of the log, of every start.
func (s *Strata) LogTail() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ""
		}
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > strataLogMax {
		b = append([]byte("...\n"), b[len(b)-strataLogMax:]...)
	}
	return string(b)
}
