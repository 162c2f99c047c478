package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts of StartStrata and Strata.Stop.
const (
	// StrataReadyTimeout bounds the wait for /readyz after start.
	StrataReadyTimeout = 60 * time.Second
	// StrataStopGrace is how long Stop waits after SIGTERM before SIGKILL.
	StrataStopGrace = 15 * time.Second
)

// strataLogMax is how much of a strata's output LogTail returns.
const strataLogMax = 32 << 10

// BuildStrata returns the absolute path of $STRATA_BINARY when it is set,
// and otherwise builds ./cmd/strata of the repository (see RepoRoot) into
// dir and returns the path of the binary. It takes no testing.TB so that
// TestMain can use it.
func BuildStrata(dir string) (string, error) {
	if p := os.Getenv("STRATA_BINARY"); p != "" {
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
	cmd := exec.Command("go", "build", "-o", out, "./cmd/strata")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/strata: %w\n%s", err, b)
	}
	return out, nil
}

// handedOut holds the addresses FreeAddr returned, so that it never returns
// one twice in a process: the kernel may give a port that was just closed
// to the next bind of port 0, and a node whose Kafka and admin listeners
// got the same port fails to start.
var handedOut sync.Map

// FreeAddr returns an address of 127.0.0.1 whose TCP port was free a moment
// ago and that no earlier call returned.
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
	return "", fmt.Errorf("find a free port: 100 tries gave ports already handed out")
}

// Strata is a running strata process started by StartStrata.
type Strata struct {
	KafkaAddr string // host:port of the Kafka listener
	AdminAddr string // host:port of the admin HTTP listener

	cmd      *exec.Cmd
	log      *syncBuffer
	done     chan struct{} // closed once the process has exited
	waitErr  error         // set before done is closed
	stopOnce sync.Once
	stopErr  error
}

// StartStrata runs `bin args...` (args start with the mode, e.g. "dev",
// "-data-dir", dir) in workDir and waits until its /readyz answers 200 OK.
// Unless args set them, -kafka.listen-address and -admin.listen-address are
// added on free ports of 127.0.0.1. Standard output and error are kept in
// memory for LogTail. The process receives SIGKILL when the test binary
// dies; call Stop to end it sooner. The error of a failed start carries the
// tail of the log.
func StartStrata(bin, workDir string, args ...string) (*Strata, error) {
	s := &Strata{log: new(syncBuffer), done: make(chan struct{})}
	args = append([]string(nil), args...)
	for _, l := range []struct {
		flag string
		addr *string
	}{
		{"kafka.listen-address", &s.KafkaAddr},
		{"admin.listen-address", &s.AdminAddr},
	} {
		if v, ok := flagValue(args, l.flag); ok {
			*l.addr = v
			continue
		}
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		*l.addr = addr
		args = append(args, "-"+l.flag, addr)
	}
	name := "strata"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name += " " + args[0]
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = workDir
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = sysProcAttr(nil)
	if err := startCmd(s.cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(StrataReadyTimeout); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%s: %w\n%s", name, err, s.LogTail())
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

// waitReady polls /readyz until it answers 200 OK, the process exits or
// timeout passes.
func (s *Strata) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	url := "http://" + s.AdminAddr + "/readyz"
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
		}
		last = err
		select {
		case <-s.done:
			return fmt.Errorf("exited during start-up: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", timeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM, waits up to StrataStopGrace for the process to exit,
// then kills it with SIGKILL. It returns an error when strata had to be
// killed or did not exit with status 0 (also when it had exited before
// Stop). Calls after the first return the same error.
func (s *Strata) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			if s.waitErr != nil {
				s.stopErr = fmt.Errorf("strata exited before Stop: %w", s.waitErr)
			}
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
			if s.waitErr != nil {
				s.stopErr = fmt.Errorf("strata: %w", s.waitErr)
			}
		case <-time.After(StrataStopGrace):
			s.stopErr = fmt.Errorf("strata did not exit %v after SIGTERM; killed", StrataStopGrace)
		}
		// Whatever is left of its process group goes too.
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	})
	return s.stopErr
}

// Exited returns a channel that is closed once the process has exited.
func (s *Strata) Exited() <-chan struct{} { return s.done }

// LogTail returns the last 32 KiB of the process's standard output and
// error.
func (s *Strata) LogTail() string {
	b := s.log.Bytes()
	if len(b) > strataLogMax {
		b = b[len(b)-strataLogMax:]
	}
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.b.Bytes()...)
}
