package client_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The tests and the examples of this package run against a real strata:
// TestMain builds cmd/strata of the repository this module lives in (or
// takes $STRATA_BINARY), starts `strata dev` on free ports and points
// $STRATA_BROKERS at it, which is where the examples, like any program using
// the SDK, look for brokers.
//
// The SDK is a module of its own so that a program using it gets franz-go
// and little else in its go.sum. Its tests therefore import nothing of the
// broker's module, internal/testenv included: they run the strata command
// as a user would. The round trip against strata serve on PostgreSQL and S3
// is in internal/e2e of the broker's module.

var dev *strataDev // the strata dev every test shares

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// strata is started from this goroutine, locked to its thread for
	// good: the kernel sends the parent-death signal when the thread
	// that started a child exits, and this one lasts as long as the test
	// binary, however it ends.
	runtime.LockOSThread()
	tmp, err := os.MkdirTemp("", "strata-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bin, err := strataBinary(tmp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client tests need a strata binary: %v\n", err)
		return 1
	}
	dev, err = startDev(bin, tmp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client tests need strata dev: %v\n", err)
		return 1
	}
	defer dev.stop()
	os.Setenv("STRATA_BROKERS", dev.KafkaAddr)
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "strata dev log:\n%s\n", dev.log())
	}
	return code
}

// strataBinary returns the absolute path of $STRATA_BINARY when it is set,
// and otherwise builds the repository's cmd/strata into dir. go test runs
// in the package directory, client/ of the repository.
func strataBinary(dir string) (string, error) {
	if p := os.Getenv("STRATA_BINARY"); p != "" {
		return filepath.Abs(p)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(repo, "cmd", "strata")); err != nil {
		return "", fmt.Errorf("%w; outside a clone of the repository set STRATA_BINARY", err)
	}
	out := filepath.Join(dir, "strata")
	build := exec.Command("go", "build", "-o", out, "./cmd/strata")
	build.Dir = repo
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/strata: %w\n%s", err, b)
	}
	return out, nil
}

// strataDev is a `strata dev` process with its data and log under one
// directory.
type strataDev struct {
	KafkaAddr string
	logPath   string
	cmd       *exec.Cmd
	exited    chan struct{} // closed once the process has exited
	err       error         // its exit status, set before exited is closed
}

// startDev runs strata dev with a 10ms flush interval on free ports of
// 127.0.0.1 and waits until its /readyz answers 200 OK.
func startDev(bin, dir string) (*strataDev, error) {
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "strata-dev.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own descriptor
	// No compactor role: several tests produce records with fixed 2025
	// timestamps, which time-based retention (7 days by default) would
	// delete while the test still reads them.
	cmd := exec.Command(bin, "dev", "-data-dir", filepath.Join(dir, "data"),
		"-kafka.listen-address", addrs[0], "-admin.listen-address", addrs[1],
		"-ingest.flush-interval", "10ms", "-roles", "ingest,reader,coordinator,controller")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &strataDev{KafkaAddr: addrs[0], logPath: log.Name(), cmd: cmd, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	if err := d.waitReady("http://"+addrs[1]+"/readyz", time.Minute); err != nil {
		d.stop()
		return nil, fmt.Errorf("%w\n%s", err, d.log())
	}
	return d, nil
}

// waitReady polls url until it answers 200 OK, the process exits or timeout
// passes.
func (d *strataDev) waitReady(url string, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v", url, timeout, err)
		}
		select {
		case <-d.exited:
			return fmt.Errorf("strata dev exited during start-up: %v", d.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and kills the process if it has not exited 15 seconds
// later. How it exited does not matter to the tests.
func (d *strataDev) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// log returns the process's output, its last 32 KiB when longer.
func (d *strataDev) log() string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-32<<10):])
}

// freeAddrs returns n addresses of 127.0.0.1 whose ports were free a moment
// ago. The listeners are open all at once, so the ports differ.
func freeAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
