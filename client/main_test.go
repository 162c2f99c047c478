package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

// The tests and the examples of this package run against a real strata:
// TestMain builds ./cmd/strata (or takes $STRATA_BINARY), starts `strata
// dev` on free ports and points $STRATA_BROKERS at it, which is where the
// examples, like any program using the SDK, look for brokers. A test that
// needs PostgreSQL and S3 starts its own `strata serve`.
//
// TestMain does not use testenv.Main because it must stop strata after the
// tests and testenv.Main exits the process itself; the PostgreSQL and MinIO
// processes testenv may start die with the test binary all the same.

var (
	strataBin string      // path of the strata binary
	dev       *strataProc // the strata dev every test shares
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "strata-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	strataBin, err = buildStrata(tmp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client tests need a strata binary: %v\n", err)
		return 1
	}
	dev, err = startStrata(tmp, "dev", "-data-dir", filepath.Join(tmp, "dev"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "client tests need strata dev: %v\n", err)
		return 1
	}
	defer dev.stop()
	os.Setenv("STRATA_BROKERS", dev.KafkaAddr)
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "strata dev log:\n%s\n", dev.logTail())
	}
	return code
}

// buildStrata returns $STRATA_BINARY, or builds ./cmd/strata into dir.
func buildStrata(dir string) (string, error) {
	if p := os.Getenv("STRATA_BINARY"); p != "" {
		return filepath.Abs(p)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "strata")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/strata")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/strata: %w\n%s", err, b)
	}
	return out, nil
}

// strataProc is a running strata process.
type strataProc struct {
	KafkaAddr string
	AdminAddr string

	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

// startStrata runs `strata <mode> <args>` on free ports of 127.0.0.1 with a
// 10ms flush interval and waits until /readyz answers.
func startStrata(tmp, mode string, args ...string) (*strataProc, error) {
	kafka, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args = append([]string{mode}, args...)
	args = append(args,
		"-kafka.listen-address", kafka,
		"-admin.listen-address", admin,
		"-ingest.flush-interval", "10ms",
	)
	p := &strataProc{KafkaAddr: kafka, AdminAddr: admin, log: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(strataBin, args...)
	p.cmd.Dir = tmp
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	setPdeathsig(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start strata %s: %w", mode, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	if err := p.waitReady(60 * time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("strata %s: %w\n%s", mode, err, p.logTail())
	}
	return p, nil
}

func (p *strataProc) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	url := "http://" + p.AdminAddr + "/readyz"
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
		case <-p.done:
			return errors.New("exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", timeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (p *strataProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *strataProc) logTail() string {
	b := p.log.Bytes()
	if len(b) > 32<<10 {
		b = b[len(b)-32<<10:]
	}
	return string(b)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}
