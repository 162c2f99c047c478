package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat; 100
// on every Linux this runs on.
const clockTicks = 100

// procStat returns a process's parent pid, and its CPU time and that of its
// waited-for children, in seconds.
func procStat(pid int) (ppid int, self, children float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// its last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is the state (field 3); utime is field 14, stime 15, cutime 16,
	// cstime 17.
	ppid, _ = strconv.Atoi(f[1])
	ticks := func(k int) float64 { v, _ := strconv.ParseFloat(f[k], 64); return v / clockTicks }
	return ppid, ticks(11) + ticks(12), ticks(13) + ticks(14), nil
}

// treeCPU returns the CPU seconds of process root and its children: its
// own, its live children's, and those of the children it has reaped, so
// that backends that exit in between still count.
func treeCPU(root int) (float64, error) {
	_, self, reaped, err := procStat(root)
	if err != nil {
		return 0, err
	}
	total := self + reaped
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == root {
			continue
		}
		ppid, self, _, err := procStat(pid)
		if err != nil || ppid != root {
			continue
		}
		total += self
	}
	return total, nil
}

// postmasterPid finds the postmaster of a local server: the parent of the
// backend serving a connection. 0 when the server is not on this machine
// (its backend is not in /proc, or not a child of a postgres process).
func postmasterPid(ctx context.Context, url string) int {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0
	}
	defer c.Close(ctx)
	var backend int
	if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	ppid, _, _, err := procStat(backend)
	if err != nil {
		return 0
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres") {
		return 0
	}
	return ppid
}

// selfCPU returns the CPU seconds this process has used.
func selfCPU() float64 {
	_, self, _, err := procStat(os.Getpid())
	if err != nil {
		return 0
	}
	return self
}

// loadAverage returns the one-minute load average.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func numCPU() int { return runtime.NumCPU() }
