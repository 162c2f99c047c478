package client_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
	strataBin, err = testenv.BuildStrata(tmp)
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

// strataProc is a strata started by startStrata.
type strataProc struct{ *testenv.Strata }

// startStrata runs `strata <mode> <args>` in dir on free ports of 127.0.0.1
// with a 10ms flush interval and waits until /readyz answers.
func startStrata(dir, mode string, args ...string) (*strataProc, error) {
	// No compactor role: several tests produce records with fixed 2025
	// timestamps, which time-based retention (7 days by default) would
	// delete while the test still reads them.
	args = append(append([]string{mode}, args...), "-ingest.flush-interval", "10ms",
		"-roles", "ingest,reader,coordinator,controller")
	s, err := testenv.StartStrata(strataBin, dir, args...)
	if err != nil {
		return nil, err
	}
	return &strataProc{s}, nil
}

// stop ends the process; its error does not matter to the tests.
func (p *strataProc) stop() { _ = p.Stop() }

func (p *strataProc) logTail() string { return p.LogTail() }

func freeAddr() (string, error) { return testenv.FreeAddr() }
