package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// FaultKind names a fault the nemesis injects.
type FaultKind string

// The faults. Each is healed before the next one starts.
const (
	// FaultNodeKill sends SIGKILL to a serve node and restarts it with
	// the same id.
	FaultNodeKill FaultKind = "node-kill"
	// FaultNodePause sends SIGSTOP to a serve node for longer than the
	// node lease, then SIGCONT: a zombie that wakes up believing what it
	// believed before.
	FaultNodePause FaultKind = "node-pause"
	// FaultPGRestart stops the PostgreSQL primary (fast or immediate
	// shutdown) and starts it again.
	FaultPGRestart FaultKind = "pg-restart"
	// FaultPGFailover kills the primary and promotes its synchronous
	// standby; the nodes' URL lists both servers with
	// target_session_attrs=read-write. A new standby is then built from
	// the new primary.
	FaultPGFailover FaultKind = "pg-failover"
	// FaultMinioKill sends SIGKILL to MinIO and restarts it on the same
	// data.
	FaultMinioKill FaultKind = "minio-kill"
	// FaultS3Slow delays one node's object store requests (or their
	// responses, after MinIO has served them).
	FaultS3Slow FaultKind = "s3-slow"
	// FaultS3Error answers some of one node's object store requests with
	// 500 InternalError, without forwarding them.
	FaultS3Error FaultKind = "s3-500"
	// FaultS3SlowDown answers them with 503 SlowDown.
	FaultS3SlowDown FaultKind = "s3-503"
	// FaultS3Timeout holds them unanswered until the client gives up.
	FaultS3Timeout FaultKind = "s3-timeout"
	// FaultS3LostResponse forwards them to MinIO, which applies them, and
	// drops the connection instead of answering.
	FaultS3LostResponse FaultKind = "s3-lost-response"
	// FaultPGCut resets one node's connections to PostgreSQL and refuses
	// new ones: a partition between a node and its metastore.
	FaultPGCut FaultKind = "pg-cut"
	// FaultPGDelay delays everything between one node and PostgreSQL.
	FaultPGDelay FaultKind = "pg-delay"
	// FaultCompactorKill kills the compactor node while it writes a
	// merged object (before the PUT reaches MinIO, or after it did and
	// before the chunk index is swapped), and restarts it.
	FaultCompactorKill FaultKind = "compactor-kill"
	// FaultClockSkew makes the compactor see every object as an hour
	// older than the object store says (as if its clock were an hour
	// ahead), while one ingest node's uploads are answered slowly: an
	// upload stalled past the orphan grace, judged by a skewed clock.
	FaultClockSkew FaultKind = "clock-skew"
)

// AllFaults lists every fault kind.
var AllFaults = []FaultKind{
	FaultNodeKill, FaultNodePause, FaultPGRestart, FaultPGFailover,
	FaultMinioKill, FaultS3Slow, FaultS3Error, FaultS3SlowDown,
	FaultS3Timeout, FaultS3LostResponse, FaultPGCut, FaultPGDelay,
	FaultCompactorKill, FaultClockSkew,
}

// ParseFaults parses a comma-separated list of fault kinds; "all" or ""
// is every kind, "none" none.
func ParseFaults(s string) ([]FaultKind, error) {
	switch s {
	case "", "all":
		return AllFaults, nil
	case "none":
		return nil, nil
	}
	var out []FaultKind
	for _, name := range strings.Split(s, ",") {
		k := FaultKind(strings.TrimSpace(name))
		found := false
		for _, a := range AllFaults {
			if a == k {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("chaos: unknown fault %q", name)
		}
		out = append(out, k)
	}
	return out, nil
}

// Fault is one entry of a schedule.
type Fault struct {
	// At is when it starts, from the start of the fault phase. A fault
	// whose predecessor took longer to heal starts late, never early.
	At   time.Duration `json:"at"`
	Kind FaultKind     `json:"kind"`
	// Node is the serve node it targets (index from 0), where it targets
	// one.
	Node int `json:"node"`
	// Hold is how long it lasts before it is healed.
	Hold time.Duration `json:"hold"`
	// Mode refines it: "immediate" or "fast" shutdown for pg-restart,
	// "request" or "response" for s3-slow, "before-put" or "after-put"
	// for compactor-kill.
	Mode string `json:"mode,omitempty"`
	// Delay is the latency of s3-slow, pg-delay and the slow uploads of
	// clock-skew.
	Delay time.Duration `json:"delay,omitempty"`
	// Ratio is the share of requests an s3 fault hits.
	Ratio float64 `json:"ratio,omitempty"`
}

func (f Fault) String() string {
	s := fmt.Sprintf("+%6.1fs %-17s", f.At.Seconds(), f.Kind)
	if f.targetsNode() {
		s += fmt.Sprintf(" n%d", f.Node+1)
	}
	s += fmt.Sprintf(" hold %.1fs", f.Hold.Seconds())
	if f.Mode != "" {
		s += " " + f.Mode
	}
	if f.Delay > 0 {
		s += " delay " + f.Delay.String()
	}
	if f.Ratio > 0 {
		s += fmt.Sprintf(" %.0f%% of requests", f.Ratio*100)
	}
	return s
}

// targetsNode reports whether the fault hits one serve node.
func (f Fault) targetsNode() bool {
	switch f.Kind {
	case FaultNodeKill, FaultNodePause, FaultS3Slow, FaultS3Error, FaultS3SlowDown,
		FaultS3Timeout, FaultS3LostResponse, FaultPGCut, FaultPGDelay, FaultClockSkew:
		return true
	}
	return false
}

// Target names what the fault hits, for the history.
func (f Fault) Target() string {
	switch {
	case f.targetsNode():
		return fmt.Sprintf("n%d", f.Node+1)
	case f.Kind == FaultCompactorKill:
		return "compactor"
	case f.Kind == FaultMinioKill:
		return "minio"
	default:
		return "postgres"
	}
}

// expectedHeal is about how long healing takes after the hold, for
// spacing the schedule.
func expectedHeal(k FaultKind, lease time.Duration) time.Duration {
	switch k {
	case FaultNodeKill:
		return 2*lease + 2*time.Second
	case FaultCompactorKill:
		return 3 * time.Second
	case FaultPGFailover:
		return 4 * time.Second
	case FaultPGRestart, FaultMinioKill:
		return 2 * time.Second
	}
	return 500 * time.Millisecond
}

// Schedule is a seeded fault schedule.
type Schedule struct {
	Seed   uint64  `json:"seed"`
	Faults []Fault `json:"faults"`
}

// NewSchedule draws faults from kinds for a fault phase of length: first
// every kind once, in an order drawn from the seed, then kinds drawn at
// random while time remains. The same arguments give the same schedule.
// nodes is the number of serve nodes; lease the node lease.
func NewSchedule(seed uint64, length time.Duration, kinds []FaultKind, nodes int, lease time.Duration) Schedule {
	s := Schedule{Seed: seed}
	if len(kinds) == 0 || nodes < 1 {
		return s
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	between := func(lo, hi time.Duration) time.Duration {
		return (lo + time.Duration(rng.Int64N(int64(hi-lo)+1))).Round(time.Millisecond)
	}
	order := make([]FaultKind, len(kinds))
	for i, j := range rng.Perm(len(kinds)) {
		order[i] = kinds[j]
	}
	at := between(time.Second, 3*time.Second)
	for i := 0; ; i++ {
		var k FaultKind
		if i < len(order) {
			k = order[i]
		} else {
			k = kinds[rng.IntN(len(kinds))]
		}
		f := Fault{At: at, Kind: k, Node: rng.IntN(nodes)}
		switch k {
		case FaultNodeKill:
			f.Hold = between(time.Second, 3*time.Second)
		case FaultNodePause:
			// Past the lease, so that the others declare it dead and it
			// wakes up as a zombie.
			f.Hold = between(lease*3/2, lease*5/2)
		case FaultPGRestart:
			f.Hold = between(500*time.Millisecond, 2*time.Second)
			f.Mode = []string{"fast", "immediate"}[rng.IntN(2)]
		case FaultPGFailover:
			f.Hold = between(200*time.Millisecond, 1500*time.Millisecond)
		case FaultMinioKill:
			f.Hold = between(time.Second, 3*time.Second)
		case FaultS3Slow:
			f.Hold = between(2*time.Second, 5*time.Second)
			f.Mode = []string{"request", "response"}[rng.IntN(2)]
			f.Delay = between(500*time.Millisecond, 3*time.Second)
			f.Ratio = 1
		case FaultS3Error, FaultS3SlowDown, FaultS3LostResponse:
			f.Hold = between(2*time.Second, 5*time.Second)
			f.Ratio = float64(3+rng.IntN(8)) / 10
		case FaultS3Timeout:
			f.Hold = between(2*time.Second, 5*time.Second)
			f.Ratio = float64(3+rng.IntN(8)) / 10
		case FaultPGCut:
			f.Hold = between(time.Second, 4*time.Second)
		case FaultPGDelay:
			f.Hold = between(2*time.Second, 5*time.Second)
			f.Delay = between(50*time.Millisecond, 800*time.Millisecond)
		case FaultCompactorKill:
			f.Hold = between(500*time.Millisecond, 2*time.Second)
			f.Mode = []string{"before-put", "after-put"}[rng.IntN(2)]
		case FaultClockSkew:
			f.Hold = between(4*time.Second, 7*time.Second)
			f.Delay = between(time.Second, 3*time.Second)
		}
		// Keep the last fault inside the phase, except the first
		// round that covers every kind.
		end := at + f.Hold + expectedHeal(k, lease)
		if i >= len(order) && end > length {
			break
		}
		s.Faults = append(s.Faults, f)
		at = end + between(500*time.Millisecond, 2*time.Second)
	}
	return s
}

// Length is when the last fault is expected to be healed.
func (s Schedule) Length(lease time.Duration) time.Duration {
	if len(s.Faults) == 0 {
		return 0
	}
	f := s.Faults[len(s.Faults)-1]
	return f.At + f.Hold + expectedHeal(f.Kind, lease)
}

func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fault schedule, seed %d, %d faults:\n", s.Seed, len(s.Faults))
	for _, f := range s.Faults {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}
