//go:build race

package kafka

// raceEnabled: the race detector is on, and allocations differ (it keeps
// the compiler from folding some of them).
const raceEnabled = true
