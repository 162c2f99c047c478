package testenv

import (
	"os"
	"sync"
	"testing"

	"github.com/stratalog/strata/internal/testenv/proc"
)

var (
	strataOnce sync.Once
	strataBin  string
	strataErr  error
)

// StrataBinary returns the strata binary of this test binary:
// $STRATA_BINARY, else ./cmd/strata built once into a directory that Main
// removes (and that the next test binary removes if this one dies first).
// A failed build fails the test.
func StrataBinary(t testing.TB) string {
	t.Helper()
	strataOnce.Do(func() {
		if os.Getenv(proc.EnvStrataBinary) != "" {
			strataBin, strataErr = proc.BuildStrata("")
			return
		}
		dir, err := serverDir("strata")
		if err != nil {
			strataErr = err
			return
		}
		atExit(func() { _ = os.RemoveAll(dir) })
		strataBin, strataErr = proc.BuildStrata(dir)
	})
	if strataErr != nil {
		t.Fatalf("testenv: strata binary: %v", strataErr)
	}
	return strataBin
}

// NewStrata prepares `strata args...` (args start with the mode) for the
// calling test, in a directory of its own, on free ports unless args name
// them (see proc.NewStrata); call Start to run it. It is killed when the
// test ends, and its log is shown when the test failed.
func NewStrata(t testing.TB, args ...string) *proc.Strata {
	t.Helper()
	s, err := proc.NewStrata(StrataBinary(t), t.TempDir(), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() && s.Starts() > 0 {
			t.Logf("log of strata (%d starts):\n%s", s.Starts(), s.LogTail())
		}
	})
	return s
}

// StartStrata is NewStrata followed by Start: it returns once strata
// serves, and fails the test when it does not.
func StartStrata(t testing.TB, args ...string) *proc.Strata {
	t.Helper()
	s := NewStrata(t, args...)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}
