package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/internal/testenv/proc"
)

// This file is the harness of the end-to-end tests that run a real strata
// process and talk to it with real Kafka clients.

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
	// InProcess runs the node in the test process (internal/apptest), as
	// the strata command would build it, instead of a strata process. It
	// is for tests that need no process of their own: no signal, kill,
	// restart or exit code. Client programs dial it as any node.
	InProcess bool
}

// serveData is a PostgreSQL database and an object store bucket: what
// strata serve processes of one cluster share.
type serveData struct {
	args []string // flags naming the bucket
	env  []string // the metastore URL, as a deployment passes it
	url  string   // the metastore URL, for an in-process node
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
		url: pgURL,
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
// and bucket. The process is a proc.Strata of the shared harness.
type strata struct {
	t         *testing.T
	mode      string
	KafkaAddr string // host:port the Kafka listener binds
	AdminAddr string // host:port of the admin HTTP listener
	p         *proc.Strata
	node      *apptest.Node // instead of p, with strataOpts.InProcess
}

// startStrata starts strata in mode on fresh data and waits until it
// serves. The process is killed when the test ends, and its log is printed
// if the test failed.
func startStrata(t *testing.T, mode string, opts strataOpts) *strata {
	t.Helper()
	args := []string{mode}
	var env []string
	switch mode {
	case modeDev:
		args = append(args, "-data-dir", filepath.Join(t.TempDir(), "data"))
	case modeServe:
		data := opts.Shared
		if data == nil {
			data = newServeData(t)
		}
		args = append(args, data.args...)
		env = data.env
		if opts.InProcess {
			args = append(args, "-metastore.postgres.url", data.url)
		}
	default:
		t.Fatalf("unknown strata mode %q", mode)
	}
	flush := opts.FlushInterval
	if flush == 0 {
		flush = 20 * time.Millisecond
	}
	if opts.KafkaAddr != "" {
		args = append(args, "-kafka.listen-address", opts.KafkaAddr)
	}
	if flush > 0 {
		args = append(args, "-ingest.flush-interval", flush.String())
	}
	if opts.Advertised != "" {
		args = append(args, "-kafka.advertised-address", opts.Advertised)
	}
	args = append(args, opts.Args...)
	if opts.InProcess {
		n := apptest.Start(t, mode, args[1:]...) // stopped, and its log shown on failure, when the test ends
		return &strata{t: t, mode: mode, KafkaAddr: n.KafkaAddr, AdminAddr: n.AdminAddr, node: n}
	}
	p := testenv.NewStrata(t, args...) // killed, and its log shown on failure, when the test ends
	p.Env = append(p.Env, env...)
	s := &strata{t: t, mode: mode, KafkaAddr: p.KafkaAddr, AdminAddr: p.AdminAddr, p: p}
	s.Start()
	return s
}

// Start starts the process (again) on the same data and ports, and waits
// until /readyz answers 200.
func (s *strata) Start() {
	s.t.Helper()
	s.needProcess()
	if err := s.p.Start(); err != nil {
		s.t.Fatalf("strata %s: %v", s.mode, err)
	}
}

// needProcess fails the test when the node runs in the test process.
func (s *strata) needProcess() {
	s.t.Helper()
	if s.node != nil {
		s.t.Fatal("strata: the node runs in the test process (InProcess), which has no signals, kills or restarts of its own")
	}
}

func (s *strata) running() bool {
	if s.node != nil {
		select {
		case <-s.node.Done():
			return false
		default:
			return true
		}
	}
	return s.p.Running()
}

// Signal sends sig to the running process.
func (s *strata) Signal(sig syscall.Signal) {
	s.t.Helper()
	s.needProcess()
	if err := s.p.Signal(sig); err != nil {
		s.t.Fatalf("signal strata: %v", err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// code, or -1 and false when it is still running.
func (s *strata) Wait(timeout time.Duration) (int, bool) {
	s.t.Helper()
	s.needProcess()
	return s.p.Wait(timeout)
}

// Stop sends SIGTERM and waits up to timeout for the process to exit, then
// kills it. It returns the exit code; a killed process gives -1.
func (s *strata) Stop(timeout time.Duration) int {
	s.t.Helper()
	s.needProcess()
	p := s.p.Process()
	if p == nil {
		return 0
	}
	if !p.Running() {
		return p.ExitCode()
	}
	s.Signal(syscall.SIGTERM)
	if p.Wait(timeout) {
		return p.ExitCode()
	}
	s.t.Errorf("strata did not exit within %v of SIGTERM; killing it", timeout)
	p.Kill()
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
	s.t.Helper()
	s.needProcess()
	s.p.Kill()
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
	testenv.Missing(t, "%s is not available (%v); install it (%s) or set %s", e.name, err, e.hint, e.env)
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
