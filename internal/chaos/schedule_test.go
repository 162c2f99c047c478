package chaos

import (
	"reflect"
	"testing"
	"time"
)

func TestScheduleIsSeeded(t *testing.T) {
	a := NewSchedule(42, 2*time.Minute, AllFaults, 3, 2*time.Second)
	b := NewSchedule(42, 2*time.Minute, AllFaults, 3, 2*time.Second)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different schedules:\n%s\n%s", a, b)
	}
	c := NewSchedule(43, 2*time.Minute, AllFaults, 3, 2*time.Second)
	if reflect.DeepEqual(a.Faults, c.Faults) {
		t.Fatalf("seeds 42 and 43 gave the same schedule:\n%s", a)
	}
}

func TestScheduleCoversEveryKind(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		s := NewSchedule(seed, 90*time.Second, AllFaults, 3, 2*time.Second)
		seen := map[FaultKind]bool{}
		var last time.Duration
		for i, f := range s.Faults {
			seen[f.Kind] = true
			if f.Node < 0 || f.Node >= 3 {
				t.Fatalf("seed %d: fault %d targets node %d", seed, i, f.Node)
			}
			if i > 0 && f.At <= last {
				t.Fatalf("seed %d: fault %d at %v does not follow the previous one's heal at %v", seed, i, f.At, last)
			}
			last = f.At + f.Hold + expectedHeal(f.Kind, 2*time.Second)
			if f.Kind == FaultNodePause && f.Hold <= 2*time.Second {
				t.Fatalf("seed %d: pause of %v is not past the 2s lease", seed, f.Hold)
			}
		}
		for _, k := range AllFaults {
			if !seen[k] {
				t.Fatalf("seed %d: no %s in\n%s", seed, k, s)
			}
		}
	}
}

func TestScheduleFillsALongRun(t *testing.T) {
	s := NewSchedule(7, 30*time.Minute, AllFaults, 3, 2*time.Second)
	if n := len(s.Faults); n < 200 {
		t.Fatalf("30 minutes hold %d faults, want at least 200", n)
	}
	if l := s.Length(2 * time.Second); l > 30*time.Minute {
		t.Fatalf("schedule of 30 minutes ends at %v", l)
	}
}

func TestParseFaults(t *testing.T) {
	if ks, err := ParseFaults("node-kill, pg-failover"); err != nil || !reflect.DeepEqual(ks, []FaultKind{FaultNodeKill, FaultPGFailover}) {
		t.Fatalf("got %v, %v", ks, err)
	}
	if _, err := ParseFaults("node-kill,meteor"); err == nil {
		t.Fatal("unknown fault accepted")
	}
	if ks, _ := ParseFaults("none"); len(ks) != 0 {
		t.Fatalf("none gave %v", ks)
	}
}
