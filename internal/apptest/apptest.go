// Package apptest runs strata nodes inside the test process, built by
// internal/app as the strata command builds them: the flags of `strata dev`
// or `strata serve` go through app.Load, the node through app.New and
// App.Run. A test that needs a whole node but not a process of its own (no
// signals, no crash, no exit code) uses one: it starts in milliseconds, the
// race detector sees the node's goroutines, and a failure's log is the
// test's.
//
// It is a package of its own, beside internal/testenv, because internal/app
// imports every role: a role's tests use testenv, so testenv cannot import
// internal/app. The tests of internal/kafka, internal/cli and
// internal/bench, packages internal/app imports, cannot use it either and
// run a strata process instead (testenv.StartStrata).
package apptest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/app"
)

// Timeouts of Start and Node.Stop.
const (
	readyTimeout = time.Minute
	stopTimeout  = time.Minute // App.Run gives its shutdown 30s
)

// logMax is how much of a node's log is shown when its test fails.
const logMax = 64 << 10

// Modes of the strata command whose flags Config takes.
const (
	Dev   = "dev"   // SQLite metastore and local-directory objects under -data-dir
	Serve = "serve" // PostgreSQL metastore and S3 objects, named by flags
)

// Config returns the configuration `strata mode args...` would run with,
// without the environment (STRATA_* variables are not read; -config.file
// is). Both listeners default to 127.0.0.1:0, so that the node binds free
// ports itself; args may name others. In dev mode -data-dir defaults to a
// fresh directory of the test.
func Config(t testing.TB, mode string, args ...string) app.Config {
	t.Helper()
	var cfg app.Config
	fs := flag.NewFlagSet("strata "+mode, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	var defaults func()
	switch mode {
	case Dev:
		dataDir := filepath.Join(t.TempDir(), "data")
		fs.StringVar(&dataDir, "data-dir", dataDir, "directory of the objects and the SQLite metastore")
		defaults = func() {
			app.DevDefaults(&cfg, dataDir)
			cfg.Kafka.ListenAddress, cfg.AdminAddress = "127.0.0.1:0", "127.0.0.1:0"
			if err := os.MkdirAll(dataDir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	case Serve:
		defaults = func() { cfg.Kafka.ListenAddress, cfg.AdminAddress = "127.0.0.1:0", "127.0.0.1:0" }
	default:
		t.Fatalf("apptest: unknown mode %q, want %q or %q", mode, Dev, Serve)
	}
	if err := app.Load(&cfg, fs, args, defaults); err != nil {
		t.Fatalf("apptest: strata %s flags: %v", mode, err)
	}
	return cfg
}

// Node is a strata node running in the test process.
type Node struct {
	KafkaAddr string // host:port of the Kafka listener
	AdminAddr string // host:port of the admin HTTP listener
	App       *app.App

	t      testing.TB
	log    *logBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	runErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// Start runs a node of `strata mode args...` (see Config) and returns once
// its /readyz answers 200 OK. The node stops when the test ends; an error
// of its run or shutdown then fails the test, and a failed test shows the
// node's log.
func Start(t testing.TB, mode string, args ...string) *Node {
	t.Helper()
	return StartConfig(t, Config(t, mode, args...))
}

// StartConfig is Start with a configuration built by the test. The admin
// listener must be enabled: readiness is read there.
func StartConfig(t testing.TB, cfg app.Config) *Node {
	t.Helper()
	if cfg.AdminAddress == "" {
		t.Fatal("apptest: the admin listener is disabled; Start waits for its /readyz")
	}
	n := &Node{t: t, log: &logBuffer{}, done: make(chan struct{})}
	a, err := app.New(context.Background(), cfg, newLogger(cfg, n.log))
	if err != nil {
		t.Fatalf("apptest: new node: %v\n%s", err, n.log.tail())
	}
	n.App, n.KafkaAddr, n.AdminAddr = a, a.KafkaAddr().String(), a.AdminAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		defer close(n.done)
		n.runErr = a.Run(ctx)
	}()
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("apptest: node: %v", err)
		}
		if t.Failed() {
			t.Logf("log of the node on %s:\n%s", n.KafkaAddr, n.log.tail())
		}
	})
	if err := n.waitReady(); err != nil {
		t.Fatalf("apptest: node on %s: %v", n.KafkaAddr, err)
	}
	return n
}

// waitReady polls /readyz until it answers 200 OK or Run returns.
func (n *Node) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	url := "http://" + n.AdminAddr + "/readyz"
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		last = err
		select {
		case <-n.done:
			return fmt.Errorf("stopped during start-up: %v", n.runErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", readyTimeout, last)
		case <-tick.C:
		}
	}
}

// Stop shuts the node down as SIGTERM does the process's, and returns the
// error of its run: nil when it served until Stop and shut down cleanly.
// Calls after the first return the same error.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		n.cancel()
		select {
		case <-n.done:
			n.stopErr = n.runErr
		case <-time.After(stopTimeout):
			n.stopErr = fmt.Errorf("did not stop within %v", stopTimeout)
		}
	})
	return n.stopErr
}

// Done returns a channel that is closed once the node has stopped, by Stop
// or because a role it needs failed (see Err).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is why the node stopped; nil while it runs or after a clean Stop.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.runErr
	default:
		return nil
	}
}

// Log returns the node's log so far.
func (n *Node) Log() string { return n.log.String() }

// newLogger is app.NewLogger's logger writing to w.
func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// logBuffer keeps a node's log in memory, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// tail is the end of the log, for failure messages.
func (b *logBuffer) tail() string {
	s := b.String()
	if len(s) > logMax {
		s = "...\n" + s[len(s)-logMax:]
	}
	return s
}
