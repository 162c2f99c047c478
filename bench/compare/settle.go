package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// settle waits until the machine is nearly idle, so that no run starts
// while the work of the one before (a stopping server, MinIO or PostgreSQL
// catching up on writes) still takes the cores: the first run of a system
// would otherwise measure less than the next ones, and not the same for
// every system. It gives up after a while and says so.
func settle(ctx context.Context, what string) {
	const (
		window  = 500 * time.Millisecond
		idle    = 0.85 // of all cores, over one window
		giveUp  = 30 * time.Second
		logOver = 2 * time.Second
	)
	start := time.Now()
	prev, err := cpuTimes()
	if err != nil {
		logf("%s: cannot read CPU times: %v", what, err)
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(window):
		}
		cur, err := cpuTimes()
		if err != nil {
			logf("%s: cannot read CPU times: %v", what, err)
			return
		}
		total, idleTicks := cur.total-prev.total, cur.idle-prev.idle
		prev = cur
		frac := 1.0
		if total > 0 {
			frac = float64(idleTicks) / float64(total)
		}
		waited := time.Since(start)
		switch {
		case frac >= idle:
			if waited > logOver {
				logf("%s: waited %v for idle cores", what, waited.Round(100*time.Millisecond))
			}
			return
		case waited > giveUp:
			logf("%s: cores still %.0f%% busy after %v; starting anyway", what, 100*(1-frac), giveUp)
			return
		}
	}
}

type cpuSample struct{ total, idle uint64 }

// cpuTimes reads the machine's CPU time counters from /proc/stat: the sum of
// all states, and idle plus iowait.
func cpuTimes() (cpuSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return cpuSample{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var s cpuSample
	// user nice system idle iowait irq softirq steal; guest time is
	// already in user and nice.
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuSample{}, fmt.Errorf("/proc/stat: %w", err)
		}
		s.total += n
		if i == 3 || i == 4 { // idle, iowait
			s.idle += n
		}
	}
	return s, nil
}
