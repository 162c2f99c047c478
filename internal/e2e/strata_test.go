package e2e

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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/internal/testenv/proc"
)

// This file is the harness of the end-to-end tests that run a real strata
// process and talk to it with real Kafka clients.

// envBinary names a prebuilt strata binary to test instead of building
// ./cmd/strata.
const envBinary = "STRATA_E2E_BINARY"

// Modes of the strata command the client tests run against.
const (
	modeDev   = "dev"   // SQLite metastore and local-directory objects
	modeServe = "serve" // PostgreSQL metastore and S3 (MinIO) objects
)

var modes = []string{modeDev, modeServe}

// forEachMode runs fn as one subtest per mode: the same end-to-end suite runs
// against strata dev and strata serve.
func forEachMode(t *testing.T, fn func(t *testing.T, mode string)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m, func(t *testing.T) { fn(t, m) })
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// strataBinary returns the path of a strata binary, built from ./cmd/strata
// once per test binary unless STRATA_E2E_BINARY names one.
func strataBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() { binPath, binErr = buildStrata() })
	if binErr != nil {
		t.Fatalf("strata binary: %v", binErr)
	}
	return binPath
}

// buildStrata builds ./cmd/strata into a temporary directory, opens the
// binary and removes the directory at once: children run the open file
// through /proc, so nothing is left behind whatever way the test binary
// ends. Where /proc is missing the directory is kept.
func buildStrata() (string, error) {
	if p := os.Getenv(envBinary); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", envBinary, err)
		}
		return abs, nil
	}
	root, err := proc.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "strata-e2e-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "strata")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "build", "-o", out, "./cmd/strata")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build ./cmd/strata: %w\n%s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		return "", err
	}
	viaProc := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
	if _, err := os.Stat(viaProc); err != nil {
		f.Close()
		return out, nil
	}
	os.RemoveAll(dir)
	openBinary = f // kept open for the life of the test binary
	return viaProc, nil
}

// openBinary keeps the built binary alive after its directory is removed.
var openBinary *os.File

var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

// startCmd starts cmd from a goroutine locked to an OS thread that never
// exits: the parent-death signal is tied to the thread that started a child,
// so starting every child there ties strata's life to the test binary's.
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

// strataOpts are the settings of one strata process.
type strataOpts struct {
	// KafkaAddr is the Kafka listen address; empty picks a free port of
	// 127.0.0.1.
	KafkaAddr string
	// Advertised is -kafka.advertised-address; empty means the listener.
	Advertised string
	// FlushInterval is -ingest.flush-interval; zero means 20ms, negative
	// passes none (the node's own PUT budget).
	FlushInterval time.Duration
	// Args are more command-line flags.
	Args []string
	// Shared, in serve mode, is the database and bucket of the cluster the
	// process joins; nil gives it fresh ones.
	Shared *serveData
}

// serveData is a PostgreSQL database and an object store bucket: what
// strata serve processes of one cluster share.
type serveData struct {
	args []string // flags naming the bucket
	env  []string // the metastore URL, as a deployment passes it
}

// newServeData provides a fresh database and bucket.
func newServeData(t testing.TB) *serveData {
	t.Helper()
	pgURL := testenv.PostgresURL(t)
	env := testenv.S3(t)
	return &serveData{
		// The metastore URL goes through the environment, as in a
		// deployment where it carries a password.
		env: []string{"STRATA_METASTORE_POSTGRES_URL=" + pgURL},
		args: []string{
			"-objstore.url", "s3://" + env.Bucket,
			"-objstore.endpoint", env.Endpoint,
			"-objstore.region", env.Region,
			"-objstore.access-key-id", env.AccessKeyID,
			"-objstore.secret-access-key", env.SecretAccessKey,
			"-objstore.path-style=true",
		},
	}
}

// strata is a strata process under test and the data it keeps: restarting
// it runs a new process on the same data directory, or the same database
// and bucket.
type strata struct {
	t         *testing.T
	mode      string
	opts      strataOpts
	KafkaAddr string // host:port the Kafka listener binds
	AdminAddr string // host:port of the admin HTTP listener
	dataArgs  []string
	dataEnv   []string
	logPath   string
	starts    int

	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	waitErr error         // set before done is closed
}

// startStrata starts strata in mode on fresh data and waits until it
// serves. The process is killed when the test ends, and its log is printed
// when the test failed.
func startStrata(t *testing.T, mode string, opts strataOpts) *strata {
	t.Helper()
	s := &strata{t: t, mode: mode, opts: opts, logPath: filepath.Join(t.TempDir(), "strata.log")}
	switch mode {
	case modeDev:
		s.dataArgs = []string{"-data-dir", filepath.Join(t.TempDir(), "data")}
	case modeServe:
		data := opts.Shared
		if data == nil {
			data = newServeData(t)
		}
		s.dataEnv, s.dataArgs = data.env, data.args
	default:
		t.Fatalf("unknown strata mode %q", mode)
	}
	s.KafkaAddr = opts.KafkaAddr
	if s.KafkaAddr == "" {
		s.KafkaAddr = freeAddr(t)
	}
	s.AdminAddr = freeAddr(t)
	t.Cleanup(func() {
		if s.running() {
			s.kill()
		}
		if t.Failed() {
			t.Logf("strata %s log (%d starts):\n%s", mode, s.starts, readLog(s.logPath))
		}
	})
	s.Start()
	return s
}

// Start starts the process (again) on the same data and ports, and waits
// until /readyz answers 200.
func (s *strata) Start() {
	s.t.Helper()
	if s.running() {
		s.t.Fatal("strata: Start while running")
	}
	flush := s.opts.FlushInterval
	if flush == 0 {
		flush = 20 * time.Millisecond
	}
	args := []string{s.mode}
	args = append(args, s.dataArgs...)
	args = append(args,
		"-kafka.listen-address", s.KafkaAddr,
		"-admin.listen-address", s.AdminAddr,
	)
	if flush > 0 {
		args = append(args, "-ingest.flush-interval", flush.String())
	}
	if s.opts.Advertised != "" {
		args = append(args, "-kafka.advertised-address", s.opts.Advertised)
	}
	args = append(args, s.opts.Args...)

	log, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close() // the child holds its own descriptor
	s.starts++
	fmt.Fprintf(log, "=== start %d: strata %s\n", s.starts, strings.Join(args, " "))

	cmd := exec.Command(strataBinary(s.t), args...)
	cmd.Args[0] = "strata"
	cmd.Env = append(childEnv(), s.dataEnv...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := startCmd(cmd); err != nil {
		s.t.Fatalf("start strata: %v", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	s.waitErr = nil
	done := s.done
	go func() {
		err := cmd.Wait()
		s.waitErr = err
		close(done)
	}()
	if err := s.waitReady(60 * time.Second); err != nil {
		s.kill()
		s.t.Fatalf("strata %s: %v\nlog:\n%s", s.mode, err, readLog(s.logPath))
	}
}

// waitReady polls /readyz until it answers 200, the process exits or
// timeout passes.
func (s *strata) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	url := "http://" + s.AdminAddr + "/readyz"
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
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
			err = fmt.Errorf("%s: %s %s", url, resp.Status, bytes.TrimSpace(body))
		}
		last = err
		select {
		case <-s.done:
			return fmt.Errorf("exited during start-up: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", timeout, last)
		case <-tick.C:
		}
	}
}

func (s *strata) running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the running process.
func (s *strata) Signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal strata: %v", err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// code, or -1 and false when it is still running.
func (s *strata) Wait(timeout time.Duration) (int, bool) {
	select {
	case <-s.done:
		return exitCode(s.waitErr), true
	case <-time.After(timeout):
		return -1, false
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to exit, then
// kills it. It returns the exit code; a killed process gives -1.
func (s *strata) Stop(timeout time.Duration) int {
	s.t.Helper()
	if !s.running() {
		return exitCode(s.waitErr)
	}
	s.Signal(syscall.SIGTERM)
	if code, ok := s.Wait(timeout); ok {
		return code
	}
	s.t.Errorf("strata did not exit within %v of SIGTERM; killing it", timeout)
	s.kill()
	return -1
}

// Restart stops the process, which must exit 0, and starts a new one on
// the same data.
func (s *strata) Restart() {
	s.t.Helper()
	if code := s.Stop(30 * time.Second); code != 0 {
		s.t.Fatalf("strata exited with code %d on SIGTERM, want 0", code)
	}
	s.Start()
}

func (s *strata) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// childEnv is the test's environment without STRATA_* variables, which
// would configure the process under test behind the harness's back.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			env = append(env, kv)
		}
	}
	return env
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// readLog returns a log file's content, its tail when long.
func readLog(path string) string {
	const max = 64 << 10
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	return string(b)
}

// external is a program the tests need from the machine.
type external struct {
	name string // for messages
	path string
	env  string // variable that overrides path
	hint string // how to install it
}

var (
	kcatProg   = external{"kcat", "/usr/bin/kcat", "STRATA_E2E_KCAT", "apt-get install kcat"}
	pythonProg = external{"kafka-python", "/usr/bin/python3", "STRATA_E2E_PYTHON", "apt-get install python3-kafka"}
)

// require returns the program's path. A missing program fails the test when
// CI=true and skips it otherwise.
func (e external) require(t testing.TB) string {
	t.Helper()
	path := e.path
	if p := os.Getenv(e.env); p != "" {
		path = p
	}
	err := e.check(path)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not available (%v); install it (%s) or set %s", e.name, err, e.hint, e.env)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func (e external) check(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	if e.name == "kafka-python" {
		out, err := exec.Command(path, "-c", "import kafka; print(kafka.__version__)").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s cannot import kafka: %w: %s", path, err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// run runs an external program with a timeout, stdin as its input, and
// returns its standard output. A failure or timeout fails the test with
// both outputs.
func run(t testing.TB, timeout time.Duration, stdin string, name string, args ...string) string {
	t.Helper()
	out, errOut, err := runErr(timeout, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// runErr is run without failing the test.
func runErr(timeout time.Duration, stdin string, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return o.String(), e.String(), err
}

// atoi parses a decimal number of test output or fails the test.
func atoi(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return n
}
