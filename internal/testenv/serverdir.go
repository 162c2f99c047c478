package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// dirPrefix starts the name of every directory a local server uses under
// os.TempDir().
const dirPrefix = "strata-testenv-"

// ownerFile, inside a server directory, holds the pid of the test binary
// that created it.
const ownerFile = "owner.pid"

// portInUse reports whether a failed start-up looks like a lost race for
// the port picked by proc.FreePort.
func portInUse(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "address already in use") || strings.Contains(s, "port is already in use")
}

var staleOnce sync.Once

// serverDir creates a directory for a local server under os.TempDir(),
// recording the pid of this test binary in it. Directories left by test
// binaries that are gone are removed first.
func serverDir(service string) (string, error) {
	staleOnce.Do(removeStaleDirs)
	dir, err := os.MkdirTemp("", dirPrefix+service+"-")
	if err != nil {
		return "", fmt.Errorf("create %s directory: %w", service, err)
	}
	pid := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(pid), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("create %s directory: %w", service, err)
	}
	return dir, nil
}

// removeStaleDirs removes the server directories whose owning test binary
// no longer runs (it died without reaching Main's clean-up).
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		if staleDir(dir) {
			_ = os.RemoveAll(dir)
		}
	}
}

func staleDir(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		// A directory being created has no owner file for a moment.
		st, serr := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist) && serr == nil && time.Since(st.ModTime()) > time.Hour
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
