package groups

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cgSim drives the consumer-protocol state machine as clients do, with an
// injected clock.
type cgSim struct {
	t      *testing.T
	cg     *consumerGroup
	topics topicSnapshot
	now    time.Time
	cfg    cgConfig
}

// simMember is a client's view of its membership: what it owns after
// applying every assignment it was given (revoking at once).
type simMember struct {
	id       string
	instance *string
	epoch    int32
	owned    assignment
	names    []string
	regex    *string
	assignor *string
}

var (
	topicA = uuid.MustParse("00000000-0000-0000-0000-00000000000a")
	topicB = uuid.MustParse("00000000-0000-0000-0000-00000000000b")
	topicC = uuid.MustParse("00000000-0000-0000-0000-00000000000c")
)

func newCGSim(t *testing.T) *cgSim {
	return &cgSim{
		t:  t,
		cg: newConsumerGroup(),
		topics: topicSnapshot{
			"orders":   {ID: topicA, Name: "orders", Partitions: 6},
			"payments": {ID: topicB, Name: "payments", Partitions: 2},
		},
		now: time.Unix(1_000_000, 0),
		cfg: cgConfig{sessionTimeout: 45 * time.Second, heartbeatInterval: 5 * time.Second, maxSize: 100},
	}
}

func (s *cgSim) req(m *simMember, epoch int32, full bool) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group = "g"
	r.MemberID = m.id
	r.MemberEpoch = epoch
	r.InstanceID = m.instance
	r.RebalanceTimeoutMillis = -1
	if full || epoch == 0 {
		r.RebalanceTimeoutMillis = 60_000
		r.SubscribedTopicNames = m.names
		if r.SubscribedTopicNames == nil && m.regex == nil {
			r.SubscribedTopicNames = []string{}
		}
		r.SubscribedTopicRegex = m.regex
		r.ServerAssignor = m.assignor
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for _, t := range m.owned.sortedTopics() {
			r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t, Partitions: slices.Clone(m.owned[t])})
		}
	}
	return r
}

func (s *cgSim) send(r *kmsg.ConsumerGroupHeartbeatRequest) heartbeatResult {
	s.t.Helper()
	res := s.cg.heartbeat(r, Client{ID: "c", Host: "/127.0.0.1"}, s.topics, s.now, s.cfg)
	s.checkOwnership()
	return res
}

// apply updates the client's view from a successful response.
func (m *simMember) apply(t *testing.T, res heartbeatResult) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("member %s: error %d %s", m.id, res.err.code, res.err.msg)
	}
	m.epoch = res.epoch
	if res.assignment != nil {
		m.owned = res.assignment.clone()
	}
}

func (s *cgSim) join(id string, names ...string) *simMember {
	s.t.Helper()
	m := &simMember{id: id, names: names, owned: assignment{}}
	m.apply(s.t, s.send(s.req(m, 0, true)))
	return m
}

// poll sends a full heartbeat and applies the response.
func (s *cgSim) poll(m *simMember) heartbeatResult {
	s.t.Helper()
	res := s.send(s.req(m, m.epoch, true))
	m.apply(s.t, res)
	return res
}

// settle polls every member until nothing changes.
func (s *cgSim) settle(ms ...*simMember) {
	s.t.Helper()
	for range 20 {
		changed := false
		for _, m := range ms {
			before, epoch := m.owned.clone(), m.epoch
			s.poll(m)
			if !before.equal(m.owned) || epoch != m.epoch {
				changed = true
			}
		}
		if !changed {
			return
		}
	}
	s.t.Fatal("the group did not settle in 20 rounds")
}

// checkOwnership fails when a partition is owned (assigned or pending
// revocation) by two members.
func (s *cgSim) checkOwnership() {
	s.t.Helper()
	seen := map[topicPartitionID]string{}
	for _, m := range s.cg.sortedMembers() {
		for _, a := range []assignment{m.Assigned, m.Revoking} {
			for tp, ps := range a {
				for _, p := range ps {
					k := topicPartitionID{tp, p}
					if other, ok := seen[k]; ok && other != m.ID {
						s.t.Fatalf("partition %v-%d owned by %s and %s", tp, p, other, m.ID)
					}
					seen[k] = m.ID
				}
			}
		}
	}
}

func (s *cgSim) member(id string) *cgMember {
	s.t.Helper()
	m := s.cg.Members[id]
	if m == nil {
		s.t.Fatalf("member %s not in the group", id)
	}
	return m
}

func wantHB(t *testing.T, res heartbeatResult, want *kerr.Error) {
	t.Helper()
	if res.err == nil || res.err.code != want.Code {
		t.Fatalf("result %+v, want %s", res, want.Message)
	}
}

func parts(a assignment, t uuid.UUID) []int32 { return a[t] }

func TestConsumerGroupFirstMemberGetsEverything(t *testing.T) {
	s := newCGSim(t)
	a := s.join("a", "orders", "payments")
	if a.epoch < 1 || a.epoch != s.cg.Epoch {
		t.Fatalf("member epoch %d, group epoch %d", a.epoch, s.cg.Epoch)
	}
	if got := a.owned.size(); got != 8 {
		t.Fatalf("first member owns %d partitions, want 8: %v", got, a.owned)
	}
	if s.cg.state() != cgStateStable {
		t.Fatalf("state %s", s.cg.state())
	}
	// A keepalive changes nothing and carries no assignment.
	res := s.send(s.req(a, a.epoch, false))
	if res.err != nil || res.assignment != nil || res.dirty || res.epoch != a.epoch {
		t.Fatalf("keepalive: %+v", res)
	}
}

func TestConsumerGroupRevokeBeforeAssign(t *testing.T) {
	s := newCGSim(t)
	a := s.join("a", "orders")
	epochA := a.epoch
	b := s.join("b", "orders")
	// b joined: the group epoch moved, but b gets nothing a still owns.
	if b.owned.size() != 0 {
		t.Fatalf("b owns %v before a revoked", b.owned)
	}
	if s.cg.state() != cgStateReconciling {
		t.Fatalf("state %s, want Reconciling", s.cg.state())
	}
	// a's keepalive tells it to revoke: a smaller assignment, same epoch.
	res := s.send(s.req(a, a.epoch, false))
	if res.err != nil || res.epoch != epochA || res.assignment == nil || res.assignment.size() != 3 {
		t.Fatalf("a's revocation: %+v", res)
	}
	if s.member("a").State != cgUnrevoked {
		t.Fatalf("a is %s, want unrevoked", s.member("a").State)
	}
	// a has not released yet (its keepalive says nothing): still revoking.
	a.apply(t, res)
	res = s.send(s.req(a, a.epoch, false))
	if res.err != nil || res.epoch != epochA {
		t.Fatalf("a's keepalive while revoking: %+v", res)
	}
	// a reports it released them: it takes the new epoch.
	s.poll(a)
	if a.epoch != s.cg.AssignmentEpoch || s.member("a").State != cgStable {
		t.Fatalf("a at epoch %d (%s), want %d stable", a.epoch, s.member("a").State, s.cg.AssignmentEpoch)
	}
	// b gets the released partitions on its next heartbeat.
	s.poll(b)
	if b.owned.size() != 3 || b.epoch != s.cg.AssignmentEpoch {
		t.Fatalf("b owns %v at epoch %d", b.owned, b.epoch)
	}
	if s.cg.state() != cgStateStable {
		t.Fatalf("state %s, want Stable", s.cg.state())
	}
	all := append(slices.Clone(a.owned[topicA]), b.owned[topicA]...)
	slices.Sort(all)
	if !slices.Equal(all, []int32{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("partitions owned %v", all)
	}
}

func TestConsumerGroupLeaveReassigns(t *testing.T) {
	s := newCGSim(t)
	a := s.join("a", "orders")
	b := s.join("b", "orders")
	s.settle(a, b)
	epoch := s.cg.Epoch
	res := s.send(s.req(b, -1, false))
	if res.err != nil || res.epoch != -1 || !res.dirty {
		t.Fatalf("leave: %+v", res)
	}
	if _, ok := s.cg.Members["b"]; ok || s.cg.Epoch <= epoch {
		t.Fatalf("after the leave: members %v, epoch %d (was %d)", s.cg.Members, s.cg.Epoch, epoch)
	}
	s.poll(a)
	if a.owned.size() != 6 {
		t.Fatalf("a owns %v after b left", a.owned)
	}
	// Leaving twice: the member is unknown.
	wantHB(t, s.send(s.req(b, -1, false)), kerr.UnknownMemberID)
}

func TestConsumerGroupStaticMembership(t *testing.T) {
	s := newCGSim(t)
	a := &simMember{id: "a1", instance: kmsg.StringPtr("i-a"), names: []string{"orders"}, owned: assignment{}}
	a.apply(t, s.send(s.req(a, 0, true)))
	b := s.join("b", "orders")
	s.settle(a, b)
	owned, epoch := a.owned.clone(), a.epoch
	groupEpoch := s.cg.Epoch

	// Another process with the same instance id while a is live.
	a2 := &simMember{id: "a2", instance: kmsg.StringPtr("i-a"), names: []string{"orders"}, owned: assignment{}}
	wantHB(t, s.send(s.req(a2, 0, true)), kerr.UnreleasedInstanceID)

	// a leaves for a restart (-2): its partitions stay reserved.
	res := s.send(s.req(a, -2, false))
	if res.err != nil || res.epoch != -2 {
		t.Fatalf("static leave: %+v", res)
	}
	if s.cg.Epoch != groupEpoch {
		t.Fatalf("a static leave moved the group epoch %d -> %d", groupEpoch, s.cg.Epoch)
	}
	s.poll(b)
	if b.owned.size() != 3 {
		t.Fatalf("b took a's partitions: %v", b.owned)
	}
	// The restarted instance takes over a's partitions and epoch.
	res = s.send(s.req(a2, 0, true))
	a2.apply(t, res)
	if a2.epoch != epoch || !a2.owned.equal(owned) {
		t.Fatalf("replacement at epoch %d owning %v, want %d owning %v", a2.epoch, a2.owned, epoch, owned)
	}
	if _, ok := s.cg.Members["a1"]; ok {
		t.Fatal("the old member id is still in the group")
	}
	// The old member id is gone.
	wantHB(t, s.send(s.req(a, epoch, true)), kerr.UnknownMemberID)
	// A static member whose session ends is removed.
	s.now = s.now.Add(46 * time.Second)
	s.poll(b)
	sessions, _ := s.cg.expire(s.now)
	if !slices.Equal(sessions, []string{"a2"}) {
		t.Fatalf("expired %v, want a2", sessions)
	}
}

func TestConsumerGroupStaticLeaveThenSessionEnds(t *testing.T) {
	s := newCGSim(t)
	a := &simMember{id: "a", instance: kmsg.StringPtr("i"), names: []string{"orders"}, owned: assignment{}}
	a.apply(t, s.send(s.req(a, 0, true)))
	b := s.join("b", "orders")
	s.settle(a, b)
	s.send(s.req(a, -2, false))
	s.now = s.now.Add(30 * time.Second)
	s.poll(b)
	s.now = s.now.Add(20 * time.Second)
	if sessions, _ := s.cg.expire(s.now); !slices.Equal(sessions, []string{"a"}) {
		t.Fatalf("expired %v, want a", sessions)
	}
	s.settle(b)
	if b.owned.size() != 6 {
		t.Fatalf("b owns %v once a's session ended", b.owned)
	}
}

func TestConsumerGroupEpochFencing(t *testing.T) {
	s := newCGSim(t)
	a := s.join("a", "orders")
	b := s.join("b", "orders")
	s.settle(a, b)
	// Ahead of the member's epoch.
	wantHB(t, s.send(s.req(a, a.epoch+1, true)), kerr.FencedMemberEpoch)
	// Behind it, and not the previous epoch.
	if m := s.member("a"); m.Epoch == 1 || m.PrevEpoch == 1 {
		t.Fatalf("member a at epoch %d, previous %d", m.Epoch, m.PrevEpoch)
	}
	wantHB(t, s.send(s.req(a, 1, true)), kerr.FencedMemberEpoch)
	// Epoch -2 is for static members.
	wantHB(t, s.send(s.req(a, -2, false)), kerr.InvalidRequest)
	// The previous epoch with a subset of the assignment: the response
	// that bumped the epoch was lost, the member is taken back.
	m := s.member("a")
	old := &simMember{id: "a", names: a.names, owned: a.owned.clone()}
	res := s.send(s.req(old, m.PrevEpoch, true))
	if res.err != nil || res.epoch != m.Epoch {
		t.Fatalf("previous epoch: %+v", res)
	}
	// The previous epoch while claiming more than the assignment.
	old.owned.add(topicA, 99)
	wantHB(t, s.send(s.req(old, m.PrevEpoch, true)), kerr.FencedMemberEpoch)
	// An unknown member.
	wantHB(t, s.send(s.req(&simMember{id: "nobody"}, 3, true)), kerr.UnknownMemberID)
}

func TestConsumerGroupRejoinAtEpochZero(t *testing.T) {
	s := newCGSim(t)
	a := s.join("a", "orders")
	b := s.join("b", "orders")
	s.settle(a, b)
	kept := a.owned.clone()
	// a was fenced and abandoned its partitions: it rejoins with its id.
	a.owned = assignment{}
	a.apply(t, s.send(s.req(a, 0, true)))
	if !a.owned.equal(kept) || a.epoch != s.cg.AssignmentEpoch {
		t.Fatalf("rejoined owning %v at %d, want %v at %d", a.owned, a.epoch, kept, s.cg.AssignmentEpoch)
	}
}

func TestConsumerGroupRequestChecks(t *testing.T) {
	s := newCGSim(t)
	m := &simMember{id: "a", names: []string{"orders"}, owned: assignment{}}
	m.assignor = kmsg.StringPtr("sticky")
	wantHB(t, s.send(s.req(m, 0, true)), kerr.UnsupportedAssignor)
	m.assignor = nil
	m.regex = kmsg.StringPtr("orders(")
	wantHB(t, s.send(s.req(m, 0, true)), kerr.InvalidRegularExpression)
	m.regex = nil
	r := s.req(m, 0, true)
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicA, Partitions: []int32{0}}}
	wantHB(t, s.send(r), kerr.InvalidRequest)
	r = s.req(m, 0, true)
	r.RebalanceTimeoutMillis = -1
	wantHB(t, s.send(r), kerr.InvalidRequest)
	r = s.req(m, 0, true)
	r.SubscribedTopicNames, r.SubscribedTopicRegex = nil, nil
	wantHB(t, s.send(r), kerr.InvalidRequest)
	wantHB(t, s.send(s.req(m, -3, false)), kerr.InvalidRequest)
	r = s.req(&simMember{id: ""}, 0, true)
	wantHB(t, s.send(r), kerr.InvalidRequest)
	// v0: the coordinator names a member that has no id.
	r.Version = 0
	res := s.send(r)
	if res.err != nil || res.memberID == "" {
		t.Fatalf("v0 join without an id: %+v", res)
	}
	if len(s.cg.Members) != 1 {
		t.Fatalf("members %v", s.cg.Members)
	}
	// The group's size limit.
	s.cfg.maxSize = 1
	wantHB(t, s.send(s.req(&simMember{id: "b", names: []string{"orders"}}, 0, true)), kerr.GroupMaxSizeReached)
}

func TestConsumerGroupSessionTimeout(t *testing.T) {
	s := newCGSim(t)
	a := s.join("a", "orders")
	b := s.join("b", "orders")
	s.settle(a, b)
	for range 10 {
		s.now = s.now.Add(10 * time.Second)
		s.poll(a)
	}
	if s.cg.nextDeadline().IsZero() {
		t.Fatal("no deadline")
	}
	sessions, revocations := s.cg.expire(s.now)
	if !slices.Equal(sessions, []string{"b"}) || len(revocations) != 0 {
		t.Fatalf("expired %v %v, want b's session", sessions, revocations)
	}
	s.poll(a)
	if a.owned.size() != 6 {
		t.Fatalf("a owns %v once b expired", a.owned)
	}
}

func TestConsumerGroupRevocationTimeout(t *testing.T) {
	s := newCGSim(t)
	s.cfg.sessionTimeout = 5 * time.Minute
	a := s.join("a", "orders")
	b := s.join("b", "orders")
	// a is told to revoke, and never does.
	s.send(s.req(a, a.epoch, false))
	if s.member("a").State != cgUnrevoked {
		t.Fatalf("a is %s", s.member("a").State)
	}
	s.now = s.now.Add(61 * time.Second)
	s.poll(b)
	_, revocations := s.cg.expire(s.now)
	if !slices.Equal(revocations, []string{"a"}) {
		t.Fatalf("revocations %v, want a", revocations)
	}
	s.settle(b)
	if b.owned.size() != 6 {
		t.Fatalf("b owns %v once a was fenced", b.owned)
	}
}

func TestConsumerGroupRegexSubscription(t *testing.T) {
	s := newCGSim(t)
	a := &simMember{id: "a", regex: kmsg.StringPtr("pay.*"), owned: assignment{}}
	a.apply(t, s.send(s.req(a, 0, true)))
	if a.owned.size() != 2 || len(parts(a.owned, topicB)) != 2 {
		t.Fatalf("regex member owns %v, want payments' 2 partitions", a.owned)
	}
	// The whole name must match, as in Java's Pattern.matches.
	s.topics["prepayments"] = topicInfo{ID: topicC, Name: "prepayments", Partitions: 3}
	epoch := s.cg.Epoch
	s.poll(a)
	if s.cg.Epoch != epoch || a.owned.size() != 2 {
		t.Fatalf("prepayments matched pay.*: epoch %d -> %d, owned %v", epoch, s.cg.Epoch, a.owned)
	}
	// A new topic that matches moves the group epoch and is assigned.
	s.topics["payments-eu"] = topicInfo{ID: topicC, Name: "payments-eu", Partitions: 3}
	delete(s.topics, "prepayments")
	s.poll(a)
	if s.cg.Epoch == epoch || len(parts(a.owned, topicC)) != 3 {
		t.Fatalf("new matching topic: epoch %d, owned %v", s.cg.Epoch, a.owned)
	}
	// Partitions added to a subscribed topic are assigned too.
	s.topics["payments"] = topicInfo{ID: topicB, Name: "payments", Partitions: 4}
	s.poll(a)
	if len(parts(a.owned, topicB)) != 4 {
		t.Fatalf("grown topic: owned %v", a.owned)
	}
}

func TestConsumerGroupSubscriptionChange(t *testing.T) {
	s := newCGSim(t)
	a := s.join("a", "orders")
	epoch := s.cg.Epoch
	a.names = []string{"payments"}
	s.settle(a)
	if s.cg.Epoch == epoch || a.owned.size() != 2 || len(parts(a.owned, topicA)) != 0 {
		t.Fatalf("after switching to payments: epoch %d, owned %v", s.cg.Epoch, a.owned)
	}
}

func TestConsumerGroupRangeAssignor(t *testing.T) {
	s := newCGSim(t)
	s.topics["orders"] = topicInfo{ID: topicA, Name: "orders", Partitions: 5}
	s.topics["payments"] = topicInfo{ID: topicB, Name: "payments", Partitions: 5}
	rng := kmsg.StringPtr(assignorRange)
	a := &simMember{id: "a", names: []string{"orders", "payments"}, assignor: rng, owned: assignment{}}
	b := &simMember{id: "b", names: []string{"orders", "payments"}, assignor: rng, owned: assignment{}}
	a.apply(t, s.send(s.req(a, 0, true)))
	b.apply(t, s.send(s.req(b, 0, true)))
	s.settle(a, b)
	if s.cg.Assignor != assignorRange {
		t.Fatalf("assignor %q", s.cg.Assignor)
	}
	// Co-partitioned: the same partition numbers of both topics.
	for _, tc := range []struct {
		m    *simMember
		want []int32
	}{{a, []int32{0, 1, 2}}, {b, []int32{3, 4}}} {
		if !slices.Equal(tc.m.owned[topicA], tc.want) || !slices.Equal(tc.m.owned[topicB], tc.want) {
			t.Errorf("%s owns %v, want %v of both topics", tc.m.id, tc.m.owned, tc.want)
		}
	}
}

func TestConsumerGroupUniformIsBalancedAndSticky(t *testing.T) {
	s := newCGSim(t)
	s.topics["orders"] = topicInfo{ID: topicA, Name: "orders", Partitions: 12}
	var ms []*simMember
	for i := range 3 {
		ms = append(ms, s.join(fmt.Sprintf("m%d", i), "orders"))
	}
	s.settle(ms...)
	for _, m := range ms {
		if m.owned.size() != 4 {
			t.Fatalf("%s owns %d partitions, want 4", m.id, m.owned.size())
		}
	}
	before := map[string]assignment{}
	for _, m := range ms {
		before[m.id] = m.owned.clone()
	}
	ms = append(ms, s.join("m3", "orders"))
	s.settle(ms...)
	moved := 0
	for _, m := range ms[:3] {
		if m.owned.size() != 3 {
			t.Fatalf("%s owns %d partitions, want 3", m.id, m.owned.size())
		}
		if m.owned.minus(before[m.id]).size() != 0 {
			t.Fatalf("%s gained partitions %v when a member joined", m.id, m.owned.minus(before[m.id]))
		}
		moved += before[m.id].minus(m.owned).size()
	}
	if moved != 3 || ms[3].owned.size() != 3 {
		t.Fatalf("%d partitions moved, the new member owns %d; want 3 and 3", moved, ms[3].owned.size())
	}
}

func TestConsumerGroupUniformHeterogeneous(t *testing.T) {
	s := newCGSim(t)
	a := s.join("a", "orders", "payments")
	b := s.join("b", "payments")
	s.settle(a, b)
	if len(parts(b.owned, topicA)) != 0 || a.owned.size()+b.owned.size() != 8 {
		t.Fatalf("a %v, b %v", a.owned, b.owned)
	}
	if b.owned.size() == 0 {
		t.Fatalf("b, subscribed to payments only, got nothing: a %v", a.owned)
	}
}

func TestConsumerGroupCommitChecks(t *testing.T) {
	s := newCGSim(t)
	// Outside group management while the group is empty.
	if code := s.cg.checkCommit("", -1, nil, s.now); code != 0 {
		t.Fatalf("admin commit on an empty group: %d", code)
	}
	a := s.join("a", "orders")
	b := s.join("b", "orders")
	s.settle(a, b)
	own := topicPartitionID{topicA, a.owned[topicA][0]}
	other := topicPartitionID{topicA, b.owned[topicA][0]}
	m := s.member("a")
	for _, tc := range []struct {
		name   string
		member string
		epoch  int32
		parts  []topicPartitionID
		want   *kerr.Error
	}{
		{"current epoch", "a", m.Epoch, []topicPartitionID{own}, nil},
		{"ahead", "a", m.Epoch + 1, []topicPartitionID{own}, kerr.FencedMemberEpoch},
		{"older epoch, owned partition", "a", m.Epoch - 1, []topicPartitionID{own}, nil},
		{"older epoch, another's partition", "a", m.Epoch - 1, []topicPartitionID{other}, kerr.StaleMemberEpoch},
		{"unknown member", "zz", m.Epoch, nil, kerr.UnknownMemberID},
		{"admin commit on a group with members", "", -1, nil, kerr.UnknownMemberID},
	} {
		code := s.cg.checkCommit(tc.member, tc.epoch, tc.parts, s.now)
		want := int16(0)
		if tc.want != nil {
			want = tc.want.Code
		}
		if code != want {
			t.Errorf("%s: code %d, want %d", tc.name, code, want)
		}
	}
	if code := s.cg.checkFetch("a", m.Epoch); code != 0 {
		t.Errorf("fetch at the member's epoch: %d", code)
	}
	if code := s.cg.checkFetch("a", m.Epoch-1); code != kerr.StaleMemberEpoch.Code {
		t.Errorf("fetch at an old epoch: %d", code)
	}
	if code := s.cg.checkFetch("zz", 1); code != kerr.UnknownMemberID.Code {
		t.Errorf("fetch of an unknown member: %d", code)
	}
	if code := s.cg.checkFetch("", -1); code != 0 {
		t.Errorf("fetch outside group management: %d", code)
	}
}

// TestConsumerGroupStateRoundTrip: what a coordinator taking the group
// over decodes lets every member continue at its epoch, mid-revocation.
func TestConsumerGroupStateRoundTrip(t *testing.T) {
	s := newCGSim(t)
	a := &simMember{id: "a", instance: kmsg.StringPtr("i"), regex: kmsg.StringPtr("ord.*"), owned: assignment{}}
	a.apply(t, s.send(s.req(a, 0, true)))
	b := s.join("b", "orders")
	s.send(s.req(a, a.epoch, false)) // a is told to revoke
	data, err := s.cg.encode()
	if err != nil {
		t.Fatal(err)
	}
	later := s.now.Add(time.Minute)
	cg, err := decodeConsumerGroup(data, later, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cg.Epoch != s.cg.Epoch || cg.AssignmentEpoch != s.cg.AssignmentEpoch || len(cg.Members) != 2 || cg.static["i"] != "a" {
		t.Fatalf("decoded %+v", cg)
	}
	ma := cg.Members["a"]
	if ma.State != cgUnrevoked || ma.Revoking.size() == 0 || ma.regex == nil || !ma.deadline.Equal(later.Add(s.cfg.sessionTimeout)) {
		t.Fatalf("decoded member a %+v", ma)
	}
	s.cg, s.now = cg, later
	a.owned = a.owned.intersect(ma.Assigned)
	s.settle(a, b)
	if a.owned.size()+b.owned.size() != 6 || b.owned.size() != 3 {
		t.Fatalf("after the takeover: a %v, b %v", a.owned, b.owned)
	}
	if _, err := decodeConsumerGroup([]byte(`{"members":{"x":{"id":"y"}}}`), later, s.cfg); err == nil {
		t.Fatal("a malformed member decoded")
	}
}

// TestConsumerGroupRandomOwnership runs random joins, leaves, heartbeats,
// lost responses and expirations, checking after every step that no
// partition is owned twice, and at the end that a settled group owns
// every partition exactly once.
func TestConsumerGroupRandomOwnership(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			s := newCGSim(t)
			live := map[string]*simMember{}
			next := 0
			ids := func() []string {
				var out []string
				for id := range live {
					out = append(out, id)
				}
				slices.Sort(out)
				return out
			}
			for range 300 {
				switch op := r.IntN(10); {
				case op < 2 && len(live) < 8:
					id := fmt.Sprintf("m%d", next)
					next++
					names := []string{"orders"}
					if r.IntN(2) == 0 {
						names = append(names, "payments")
					}
					live[id] = s.join(id, names...)
				case op < 3 && len(live) > 0:
					id := ids()[r.IntN(len(live))]
					if res := s.send(s.req(live[id], -1, false)); res.err != nil {
						t.Fatalf("leave: %+v", res)
					}
					delete(live, id)
				case op < 4 && len(live) > 0:
					// A lost response: the server moved on, the client not.
					id := ids()[r.IntN(len(live))]
					s.send(s.req(live[id], live[id].epoch, true))
				case op < 5 && len(live) > 0:
					s.now = s.now.Add(time.Duration(r.IntN(20)) * time.Second)
					sessions, revocations := s.cg.expire(s.now)
					for _, id := range append(sessions, revocations...) {
						delete(live, id)
					}
				default:
					for _, id := range ids() {
						m := live[id]
						res := s.send(s.req(m, m.epoch, r.IntN(3) > 0))
						if res.err != nil {
							// Fenced by a lost response: rejoin.
							m.owned = assignment{}
							m.apply(t, s.send(s.req(m, 0, true)))
							continue
						}
						m.apply(t, res)
					}
				}
			}
			var ms []*simMember
			for _, id := range ids() {
				ms = append(ms, live[id])
			}
			if len(ms) == 0 {
				return
			}
			s.settle(ms...)
			count := map[topicPartitionID]int{}
			for _, m := range ms {
				for tp, ps := range m.owned {
					for _, p := range ps {
						count[topicPartitionID{tp, p}]++
					}
				}
			}
			want := 6
			for _, m := range ms {
				if slices.Contains(m.names, "payments") {
					want = 8
				}
			}
			if len(count) != want {
				t.Fatalf("settled group owns %d partitions, want %d", len(count), want)
			}
			for k, n := range count {
				if n != 1 {
					t.Fatalf("partition %v owned %d times", k, n)
				}
			}
		})
	}
}
