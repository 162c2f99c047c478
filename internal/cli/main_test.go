package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratalog/strata/internal/testenv/proc"
)

// The commands are tested against a real strata: TestMain builds
// ./cmd/strata (or takes $STRATA_BINARY) and starts `strata dev` on free
// ports. It does not use testenv.Main, which exits the process itself,
// because it must stop strata after the tests.

var (
	strataBin string      // path of the strata binary
	dev       *strataProc // the strata dev every test shares
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "strata-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	strataBin, err = proc.BuildStrata(tmp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cli tests need a strata binary: %v\n", err)
		return 1
	}
	dev, err = startStrata(tmp, "dev", "-data-dir", filepath.Join(tmp, "dev"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cli tests need strata dev: %v\n", err)
		return 1
	}
	defer dev.stop()
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "strata dev log:\n%s\n", dev.logTail())
	}
	return code
}

// strataProc is a strata started by startStrata.
type strataProc struct{ *proc.Strata }

// startStrata runs `strata <mode> <args>` in dir on free ports of 127.0.0.1
// with a 10ms flush interval and waits until /readyz answers.
func startStrata(dir, mode string, args ...string) (*strataProc, error) {
	args = append(append([]string{mode}, args...), "-ingest.flush-interval", "10ms")
	s, err := proc.StartStrata(strataBin, dir, args...)
	if err != nil {
		return nil, err
	}
	return &strataProc{s}, nil
}

// stop ends the process; its error does not matter to the tests.
func (p *strataProc) stop() { _ = p.Stop() }

func (p *strataProc) logTail() string { return p.LogTail() }

func freeAddr() (string, error) { return proc.FreeAddr() }
