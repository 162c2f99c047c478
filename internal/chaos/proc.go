package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	procs "github.com/stratalog/strata/internal/testenv/proc"
)

// The harness's processes are those of the tests (internal/testenv/proc):
// each is killed when the harness dies and runs in its own process group,
// so that signals reach its children too.

// startProc starts cmd, as cred when not nil, with its output appended to
// logPath.
func startProc(name string, cmd *exec.Cmd, logPath string, cred *syscall.Credential) (*procs.Process, error) {
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	p, err := procs.Start(name, cmd, logPath)
	if err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	return p, nil
}

// rssBytes is the resident set size of a process, from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

// setAddressSpaceLimit caps a process's virtual memory, so that a node
// asked to allocate tens of GiB fails at once instead of taking the
// machine's memory.
func setAddressSpaceLimit(pid int, limit uint64) error {
	lim := syscall.Rlimit{Cur: limit, Max: limit}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_AS),
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// runLogged runs a short command to completion, output appended to
// logPath; the error carries the log's tail.
func runLogged(ctx context.Context, logPath string, cred *syscall.Credential, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := procs.RunLogged(cmd, logPath); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	return nil
}
