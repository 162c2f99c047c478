package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// runID tells apart the databases and buckets of concurrent test binaries
// sharing one server.
var runID = func() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("testenv: random run id: %v", err))
	}
	return hex.EncodeToString(b[:])
}()

var (
	stopMu  sync.Mutex
	stopFns []func()
)

// atExit registers fn to run when Main stops the services, in reverse order
// of registration.
func atExit(fn func()) {
	stopMu.Lock()
	defer stopMu.Unlock()
	stopFns = append(stopFns, fn)
}

// stopAll runs the functions registered with atExit, last first.
func stopAll() {
	stopMu.Lock()
	fns := stopFns
	stopFns = nil
	stopMu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// Main runs the tests, then stops the servers the test binary started and
// removes their directories, and exits with the tests' status. Use it as the
// body of TestMain.
func Main(m *testing.M) {
	code := m.Run()
	stopAll()
	os.Exit(code)
}

// RepoRoot returns the nearest directory, from the working directory up,
// that holds a go.mod file.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testenv: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("testenv: look for go.mod: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.mod in the working directory or above")
		}
		dir = parent
	}
}

// setup is the outcome of finding a server for one kind of service.
type setup struct {
	// tried lists, one line each, every source that was tried and why it
	// did not work.
	tried []string
	// fatal is set when a source was explicitly configured and failed:
	// the test fails even outside CI.
	fatal bool
}

func (s *setup) fail(source string, err error) {
	s.tried = append(s.tried, fmt.Sprintf("%s: %v", source, err))
}

func (s *setup) message(service string) string {
	return fmt.Sprintf("testenv: no %s available; tried:\n  %s", service, strings.Join(s.tried, "\n  "))
}

// unavailable ends the test because no server could be provided: it fails
// when CI=true or the failing source was explicitly configured, and skips
// otherwise.
func unavailable(t testing.TB, service string, s *setup) {
	t.Helper()
	msg := s.message(service)
	if s.fatal || os.Getenv("CI") == "true" {
		t.Fatal(msg)
		return
	}
	t.Skip(msg)
}
