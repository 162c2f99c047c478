package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
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

// AtExit registers fn to run when Main ends the test binary, after the
// tests and before the services stop; functions run last registered first.
// It is for what tests share beyond one test, such as a strata process
// started by the first test that needs it.
func AtExit(fn func()) { atExit(fn) }

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

// Missing ends a test that cannot get something it needs from the machine
// (a service, a server binary, a client program): the test fails when
// CI=true, where everything must be there, and is skipped elsewhere. The
// message says what is missing and how to get it. Every test of the
// module that depends on the machine goes through here, so that one
// policy decides.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
		return
	}
	t.Skip(msg)
}

// unavailable ends the test because no server could be provided: it fails
// when the failing source was explicitly configured, and otherwise as
// Missing says.
func unavailable(t testing.TB, service string, s *setup) {
	t.Helper()
	msg := s.message(service)
	if s.fatal {
		t.Fatal(msg)
		return
	}
	Missing(t, "%s", msg)
}
