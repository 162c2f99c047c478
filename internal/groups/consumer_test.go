package groups

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// simConsumer runs the client side of the classic protocol against the
// coordinator, as a Kafka consumer does: join (handling
// MEMBER_ID_REQUIRED), sync (assigning partitions when leader), then
// heartbeat and commit until told to rejoin.
type simConsumer struct {
	e          *env
	group      string
	partitions int32
	cancel     context.CancelFunc
	done       chan struct{}

	mu         sync.Mutex
	id         string
	generation int32
	assigned   []int32
	badCode    error // an error code no consumer should ever see
}

func startConsumer(e *env, group string, partitions int32) *simConsumer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &simConsumer{e: e, group: group, partitions: partitions, cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

// crash stops the consumer without leaving the group.
func (s *simConsumer) crash() {
	s.cancel()
	<-s.done
}

// leave stops the consumer and leaves the group.
func (s *simConsumer) leave() {
	s.crash()
	r := kmsg.NewPtrLeaveGroupRequest()
	r.Version = 5
	r.Group = s.group
	r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: s.id}}
	s.e.c.LeaveGroup(context.Background(), r)
}

func (s *simConsumer) state() (string, int32, []int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, s.generation, slices.Clone(s.assigned), s.badCode
}

func (s *simConsumer) check(what string, code int16, allowed ...*kerr.Error) bool {
	if code == 0 {
		return true
	}
	for _, a := range allowed {
		if code == a.Code {
			return false
		}
	}
	s.mu.Lock()
	if s.badCode == nil {
		s.badCode = fmt.Errorf("%s: unexpected %s", what, codeName(code))
	}
	s.mu.Unlock()
	return false
}

func (s *simConsumer) run(ctx context.Context) {
	defer close(s.done)
	c := s.e.c
	id := ""
	for ctx.Err() == nil {
		jr := c.JoinGroup(ctx, joinReq(s.group, id, withSession(500*time.Millisecond), withRebalance(5*time.Second)))
		switch jr.ErrorCode {
		case kerr.MemberIDRequired.Code:
			id = jr.MemberID
			continue
		case kerr.UnknownMemberID.Code:
			id = ""
			continue
		}
		if ctx.Err() != nil || !s.check("join", jr.ErrorCode, kerr.RebalanceInProgress) {
			continue
		}
		id = jr.MemberID
		sr := syncReq(s.group, id, jr.Generation, nil)
		if jr.LeaderID == id {
			var ids []string
			for _, m := range jr.Members {
				ids = append(ids, m.MemberID)
			}
			slices.Sort(ids)
			plan := map[string][]string{}
			for p := range s.partitions {
				owner := ids[int(p)%len(ids)]
				plan[owner] = append(plan[owner], strconv.Itoa(int(p)))
			}
			for _, m := range ids {
				sr.GroupAssignment = append(sr.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(strings.Join(plan[m], ","))})
			}
		}
		sy := c.SyncGroup(ctx, sr)
		if ctx.Err() != nil || !s.check("sync", sy.ErrorCode, kerr.RebalanceInProgress, kerr.IllegalGeneration, kerr.UnknownMemberID) {
			continue
		}
		var assigned []int32
		for _, f := range strings.Split(string(sy.MemberAssignment), ",") {
			if p, err := strconv.Atoi(f); err == nil {
				assigned = append(assigned, int32(p))
			}
		}
		s.mu.Lock()
		s.id, s.generation, s.assigned = id, jr.Generation, assigned
		s.mu.Unlock()

		tick := time.NewTicker(50 * time.Millisecond) // heartbeat.interval.ms
	heartbeats:
		for {
			select {
			case <-ctx.Done():
				tick.Stop()
				return
			case <-tick.C:
			}
			offsets := map[string]map[int32]int64{"orders": {}}
			for _, p := range assigned {
				offsets["orders"][p] = int64(jr.Generation)*1000 + int64(p)
			}
			if len(assigned) > 0 {
				for _, code := range commitCodes(c.OffsetCommit(ctx, commitReq(s.group, id, jr.Generation, offsets))) {
					s.check("commit", code, kerr.RebalanceInProgress, kerr.IllegalGeneration, kerr.UnknownMemberID)
				}
			}
			hb := kmsg.NewPtrHeartbeatRequest()
			hb.Version = 4
			hb.Group, hb.MemberID, hb.Generation = s.group, id, jr.Generation
			if code := c.Heartbeat(ctx, hb).ErrorCode; code != 0 {
				s.check("heartbeat", code, kerr.RebalanceInProgress, kerr.IllegalGeneration, kerr.UnknownMemberID)
				if code == kerr.UnknownMemberID.Code {
					id = ""
				}
				break heartbeats
			}
		}
		tick.Stop()
	}
}

// converged waits until the running consumers share one generation, own
// every partition exactly once, and the group is Stable with them.
func converged(t *testing.T, e *env, group string, partitions int32, consumers []*simConsumer) int32 {
	t.Helper()
	var gen int32
	waitFor(t, fmt.Sprintf("%d consumers to converge", len(consumers)), func() bool {
		owners := map[int32]int{}
		gen = -1
		for _, s := range consumers {
			_, g, assigned, bad := s.state()
			if bad != nil {
				t.Fatal(bad)
			}
			if gen != -1 && g != gen || g == 0 {
				return false
			}
			gen = g
			for _, p := range assigned {
				owners[p]++
			}
		}
		for p := range partitions {
			if owners[p] != 1 {
				return false
			}
		}
		d := e.describe(group)
		return d.State == "Stable" && len(d.Members) == len(consumers) && len(owners) == int(partitions)
	})
	return gen
}

func TestConsumersConverge(t *testing.T) {
	e := newEnv(t)
	const partitions = 4
	var cs []*simConsumer
	for range 4 {
		cs = append(cs, startConsumer(e, "sim", partitions))
	}
	t.Cleanup(func() {
		for _, s := range cs {
			s.crash()
		}
	})
	gen := converged(t, e, "sim", partitions, cs)
	t.Logf("4 consumers stable at generation %d", gen)

	// A consumer crashes: its session ends and the rest take its partitions.
	cs[3].crash()
	gen2 := converged(t, e, "sim", partitions, cs[:3])
	if gen2 <= gen {
		t.Fatalf("generation %d after a crash, want above %d", gen2, gen)
	}
	// Another leaves cleanly.
	cs[2].leave()
	gen3 := converged(t, e, "sim", partitions, cs[:2])
	if gen3 <= gen2 {
		t.Fatalf("generation %d after a leave, want above %d", gen3, gen2)
	}
	// Every partition's committed offset was committed by its owner in
	// some generation (offset = generation*1000 + partition).
	waitFor(t, "commits of the last generation", func() bool {
		got := e.committed("sim")
		for p := range int32(partitions) {
			if got["orders/"+itoa(p)] != int64(gen3)*1000+int64(p) {
				return false
			}
		}
		return true
	})
	for _, s := range cs[:2] {
		if _, _, _, bad := s.state(); bad != nil {
			t.Fatal(bad)
		}
	}
}
