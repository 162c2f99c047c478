package testenv

import (
	"testing"
	"time"
)

// maxPoll is the longest pause between two checks of WaitFor.
const maxPoll = 10 * time.Millisecond

// WaitFor checks cond until it returns true, and fails the test when
// timeout passes first, saying what it waited for. It is how a test waits
// for another goroutine or process: a fixed sleep instead would let the
// test pass without the awaited thing having happened, or fail on a slow
// machine. The first checks follow each other within a millisecond, later
// ones every 10ms, so that a short wait stays short and a long one costs
// little. Call it from the test's goroutine.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := 500 * time.Microsecond
	timer := time.NewTimer(pause)
	defer timer.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
			return
		}
		timer.Reset(pause)
		<-timer.C
		pause = min(2*pause, maxPoll)
	}
}
