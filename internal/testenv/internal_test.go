package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/stratalog/strata/internal/testenv/proc"
)

// fakeTB records how unavailable ended a test.
type fakeTB struct {
	testing.TB
	failed, skipped string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Fatal(args ...any) { f.failed = fmt.Sprint(args...) }
func (f *fakeTB) Skip(args ...any)  { f.skipped = fmt.Sprint(args...) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
}

func TestUnavailableFailsInCIAndSkipsElsewhere(t *testing.T) {
	s := &setup{}
	s.fail("environment", errors.New("STRATA_TEST_POSTGRES_URL not set"))
	s.fail("docker", errors.New("no Docker engine answered"))
	s.fail("local", errors.New("no initdb"))

	for _, tc := range []struct {
		ci, fatal bool
		wantFail  bool
	}{
		{ci: true, wantFail: true},
		{ci: false, wantFail: false},
		{ci: false, fatal: true, wantFail: true},
	} {
		t.Run(fmt.Sprintf("ci=%v/configured=%v", tc.ci, tc.fatal), func(t *testing.T) {
			if tc.ci {
				t.Setenv("CI", "true")
			} else {
				t.Setenv("CI", "")
			}
			s.fatal = tc.fatal
			f := &fakeTB{}
			unavailable(f, "PostgreSQL", s)
			msg := f.skipped
			if tc.wantFail {
				msg = f.failed
				if f.failed == "" || f.skipped != "" {
					t.Fatalf("want a failure, got failed=%q skipped=%q", f.failed, f.skipped)
				}
			} else if f.skipped == "" || f.failed != "" {
				t.Fatalf("want a skip, got failed=%q skipped=%q", f.failed, f.skipped)
			}
			for _, want := range []string{"PostgreSQL", "environment: STRATA_TEST_POSTGRES_URL not set", "docker: no Docker engine", "local: no initdb"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
		})
	}
}

func TestMissingFailsInCIAndSkipsElsewhere(t *testing.T) {
	for _, ci := range []string{"true", "", "false"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			f := &fakeTB{}
			Missing(f, "no %s here; install it", "kcat")
			got, other := f.skipped, f.failed
			if ci == "true" {
				got, other = f.failed, f.skipped
			}
			if got != "no kcat here; install it" || other != "" {
				t.Errorf("failed=%q skipped=%q, want the message as a %s", f.failed, f.skipped, map[bool]string{true: "failure", false: "skip"}[ci == "true"])
			}
		})
	}
}

func TestDockerPingGivesUpFast(t *testing.T) {
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	// A listener that never answers: the connection is accepted by the
	// kernel, the HTTP request hangs.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	hosts := []string{
		"unix://" + filepath.Join(t.TempDir(), "docker.sock"), // missing socket
		"tcp://" + silent.Addr().String(),
		"tcp://10.255.255.1:2375", // unroutable: connect hangs
	}
	hosts = append(hosts, dockerHosts()...) // this machine's
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), dockerPingTimeout)
	defer cancel()
	err = pingAny(ctx, hosts)
	if elapsed := time.Since(start); elapsed >= time.Second {
		t.Fatalf("detection took %v, want < 1s", elapsed)
	}
	if err == nil && os.Getenv("DOCKER_HOST") == "" {
		if _, serr := os.Stat("/var/run/docker.sock"); serr != nil {
			t.Fatalf("ping succeeded with no engine")
		}
	}
	if err != nil && !strings.Contains(err.Error(), silent.Addr().String()) {
		t.Errorf("error %q does not name the host tried", err)
	}
}

func TestDockerPingFindsEngine(t *testing.T) {
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_ping" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("OK"))
	}))
	defer engine.Close()
	host := "tcp://" + strings.TrimPrefix(engine.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), dockerPingTimeout)
	defer cancel()
	if err := pingAny(ctx, []string{"unix:///nonexistent/docker.sock", host}); err != nil {
		t.Fatalf("engine at %s not found: %v", host, err)
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "engine starting", http.StatusServiceUnavailable)
	}))
	defer broken.Close()
	if err := pingDocker(ctx, "tcp://"+strings.TrimPrefix(broken.URL, "http://")); err == nil {
		t.Fatal("an engine answering 503 counted as available")
	}
}

const helperEnv = "STRATA_TESTENV_HELPER"

// TestHelperProcess is not a test: TestLocalServersDieWithTestBinary runs
// the test binary with it to start servers, then kills the binary.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestLocalServersDieWithTestBinary")
	}
	pg, s3 := postgresServer(), s3Endpoint()
	for _, p := range []*proc.Process{pg.proc, s3.proc} {
		if p == nil {
			fmt.Println("NOLOCAL")
			os.Exit(0)
		}
		fmt.Printf("PROC %d %s\n", p.Pid(), filepath.Dir(p.LogPath()))
	}
	fmt.Println("READY")
	select {} // until killed
}

func TestLocalServersDieWithTestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second set of servers")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	type child struct {
		pid int
		dir string
	}
	var children []child
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] == "NOLOCAL" {
			t.Skip("servers do not run as local processes here (environment or Docker)")
		}
		if f[0] == "READY" {
			break
		}
		if f[0] == "PROC" && len(f) == 3 {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			children = append(children, child{pid, f[2]})
		}
	}
	if len(children) != 2 {
		t.Fatalf("helper reported %d servers, want 2 (scan error %v)", len(children), lines.Err())
	}
	for _, c := range children {
		if !alive(c.pid) {
			t.Fatalf("server %d not running before the kill", c.pid)
		}
	}

	// SIGKILL: the test binary gets no chance to clean up.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for _, c := range children {
		WaitFor(t, 10*time.Second, fmt.Sprintf("server %d to die with its test binary", c.pid), func() bool { return !alive(c.pid) })
	}

	// The next test binary removes the directories left behind.
	removeStaleDirs()
	for _, c := range children {
		if _, err := os.Stat(c.dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("directory %s of a dead test binary not removed: %v", c.dir, err)
		}
	}
}

// alive reports whether pid runs (exists and is not a zombie).
func alive(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name in parentheses.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

func TestStaleDirKeptWhileOwnerRuns(t *testing.T) {
	dir, err := serverDir("probe")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	removeStaleDirs()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("directory of a running test binary removed: %v", err)
	}
}

// TestPostgresFromEnvironment points STRATA_TEST_POSTGRES_URL at the
// server this binary found and checks that it is the one used.
func TestPostgresFromEnvironment(t *testing.T) {
	base := postgresServer()
	if base.admin == nil {
		unavailable(t, "PostgreSQL", &base.setup)
		return
	}
	t.Setenv(envPostgresURL, base.server.String())
	s := findPostgres()
	if s.admin == nil || s.source != "env" {
		t.Fatalf("server from %s not used: source %q, %s", envPostgresURL, s.source, s.setup.message("PostgreSQL"))
	}
	dbURL := s.database(t)
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var db string
	if err := conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(db, "test_") || !strings.Contains(dbURL, "/"+db+"?") {
		t.Fatalf("connected to %q through %s", db, dbURL)
	}

	// A configured server that does not answer fails the test, CI or not.
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envPostgresURL, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=1", port))
	s = findPostgres()
	if s.admin != nil || !s.setup.fatal || !strings.Contains(s.setup.message("PostgreSQL"), envPostgresURL) {
		t.Fatalf("unreachable configured server: admin=%v fatal=%v message=%q", s.admin != nil, s.setup.fatal, s.setup.message("PostgreSQL"))
	}
}

// TestS3FromEnvironment points STRATA_TEST_S3_* at the endpoint this
// binary found and checks that it is the one used.
func TestS3FromEnvironment(t *testing.T) {
	base := s3Endpoint()
	if base.client == nil {
		unavailable(t, "S3 endpoint", &base.setup)
		return
	}
	t.Setenv(envS3Endpoint, strings.TrimPrefix(base.env.Endpoint, "http://")) // scheme optional
	t.Setenv(envS3AccessKey, base.env.AccessKeyID)
	t.Setenv(envS3SecretKey, base.env.SecretAccessKey)
	t.Setenv(envS3Region, "")
	s := findS3()
	if s.client == nil || s.source != "env" {
		t.Fatalf("endpoint from %s not used: source %q, %s", envS3Endpoint, s.source, s.setup.message("S3"))
	}
	env := s.bucket(t)
	if env.Endpoint != base.env.Endpoint || env.Region != defaultRegion {
		t.Fatalf("environment %+v, want endpoint %s region %s", env, base.env.Endpoint, defaultRegion)
	}
	if _, err := base.client.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: &env.Bucket}); err != nil {
		t.Fatalf("bucket %s not on the configured endpoint: %v", env.Bucket, err)
	}

	// Wrong credentials on a configured endpoint fail the test, CI or not.
	t.Setenv(envS3SecretKey, "wrong-secret")
	s = findS3()
	if s.client != nil || !s.setup.fatal || !strings.Contains(s.setup.message("S3"), envS3Endpoint) {
		t.Fatalf("bad credentials: client=%v fatal=%v message=%q", s.client != nil, s.setup.fatal, s.setup.message("S3"))
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, time.Minute, "the third check", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("checked %d times, want 3", n)
	}
	f := &fakeTB{}
	start := time.Now()
	WaitFor(f, 30*time.Millisecond, "nothing", func() bool { return false })
	if elapsed := time.Since(start); elapsed < 30*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("gave up after %v, want about 30ms", elapsed)
	}
	if f.failed != "timed out after 30ms waiting for nothing" {
		t.Errorf("failure %q", f.failed)
	}
}
