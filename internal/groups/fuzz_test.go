package groups

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// FuzzConsumerTopics feeds arbitrary member metadata, as a client sends it
// in JoinGroup, to the subscription decoder used by OffsetDelete.
func FuzzConsumerTopics(f *testing.F) {
	f.Add(subscription("orders", "payments"))
	f.Add(subscription())
	md := kmsg.NewConsumerMemberMetadata()
	md.Version = 3
	md.Topics = []string{"t"}
	md.UserData = []byte("user")
	md.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: "t", Partitions: []int32{0, 1}}}
	f.Add(md.AppendTo(nil))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		topics, ok := consumerTopics(b)
		if !ok {
			if topics != nil {
				t.Fatalf("failed decode returned topics %q", topics)
			}
			return
		}
		total := 0
		for _, tp := range topics {
			total += len(tp)
		}
		if total > len(b) {
			t.Fatalf("decoded %d bytes of topic names from %d bytes", total, len(b))
		}
		// What decodes re-encodes to metadata with the same topics.
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(b); err != nil {
			t.Fatalf("second decode: %v", err)
		}
		again, ok := consumerTopics(md.AppendTo(nil))
		if !ok || !slices.Equal(again, topics) {
			t.Fatalf("re-encoded topics %q (ok %v), want %q", again, ok, topics)
		}
	})
}

// memStore is an in-memory Store for the state machine fuzzer: it keeps
// the last group row saved, which a coordinator taking the group over
// loads.
type memStore struct {
	mu    sync.Mutex
	saved *metastore.GroupInfo
}

func (*memStore) AcquireGroupLease(_ context.Context, group string, node int32, inst uuid.UUID, _ time.Duration) (metastore.GroupLease, error) {
	return metastore.GroupLease{Group: group, NodeID: node, Instance: inst, Epoch: 1}, nil
}
func (*memStore) RenewGroupLeases(context.Context, uuid.UUID, []string, time.Duration) ([]metastore.GroupLease, error) {
	return nil, nil
}
func (*memStore) ReleaseGroupLease(context.Context, metastore.GroupLease) error { return nil }
func (*memStore) ReleaseGroupLeases(context.Context, uuid.UUID) error           { return nil }
func (*memStore) CommitOffsets(context.Context, metastore.GroupLease, []metastore.GroupOffset) error {
	return nil
}
func (*memStore) FetchOffsets(context.Context, string, []string) ([]metastore.GroupOffset, error) {
	return nil, nil
}
func (*memStore) DeleteOffsets(context.Context, metastore.GroupLease, []metastore.TopicPartition) error {
	return nil
}
func (s *memStore) SaveGroup(_ context.Context, _ metastore.GroupLease, g metastore.GroupInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saved = &g
	return nil
}
func (*memStore) LoadGroup(context.Context, string) (metastore.GroupInfo, error) {
	return metastore.GroupInfo{}, metastore.ErrUnknownGroup
}
func (*memStore) ListGroups(context.Context) ([]metastore.GroupInfo, error) { return nil, nil }
func (*memStore) DeleteGroup(context.Context, metastore.GroupLease) error   { return nil }

type noTopics struct{}

func (noTopics) TopicByName(context.Context, string) (metastore.Topic, error) {
	return metastore.Topic{}, metastore.ErrUnknownTopic
}
func (noTopics) TopicByID(context.Context, uuid.UUID) (metastore.Topic, error) {
	return metastore.Topic{}, metastore.ErrUnknownTopic
}

// machine drives one group's state machine directly, on a fake clock,
// from fuzzer bytes.
type machine struct {
	t       *testing.T
	c       *Coordinator
	store   *memStore
	g       *group
	now     time.Time
	ids     []string // member ids ever seen
	joins   []chan *kmsg.JoinGroupResponse
	syncs   []chan *kmsg.SyncGroupResponse
	lastGen int32
}

func newMachine(t *testing.T) *machine {
	cfg := testConfig()
	cfg.MaxGroupSize = 6
	store := &memStore{}
	c, err := New(cfg, store, noTopics{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	m := &machine{t: t, c: c, store: store, now: time.Unix(1_700_000_000, 0)}
	c.now = func() time.Time { return m.now }
	m.g = newGroup(c, "g")
	m.g.lastActive = m.now
	return m
}

func (m *machine) member(b byte) string {
	if len(m.ids) == 0 {
		return "nobody"
	}
	return m.ids[int(b)%len(m.ids)]
}

// settle waits for the group's metastore writes, as its goroutine would.
func (m *machine) settle() {
	for m.g.writing {
		m.g.finishWrites(<-m.g.written)
	}
}

func (m *machine) step(op, arg byte) {
	g := m.g
	protocols := [][]string{{"range"}, {"range", "roundrobin"}, {"roundrobin"}, {"sticky", "range"}}[arg%4]
	opts := []joinOpt{withProtocols(protocols...), withSession(time.Duration(1+arg%7) * 100 * time.Millisecond), withRebalance(time.Duration(1+arg%5) * 150 * time.Millisecond)}
	join := func(req *kmsg.JoinGroupRequest) {
		ch := make(chan *kmsg.JoinGroupResponse, 2)
		m.joins = append(m.joins, ch)
		g.join(req, Client{ID: "c"}, ch)
	}
	switch op % 10 {
	case 0: // a new dynamic member (v9: MEMBER_ID_REQUIRED first)
		ch := make(chan *kmsg.JoinGroupResponse, 2)
		g.join(joinReq("g", "", opts...), Client{ID: "c"}, ch)
		if r := <-ch; r.ErrorCode == kerr.MemberIDRequired.Code {
			m.ids = append(m.ids, r.MemberID)
			join(joinReq("g", r.MemberID, opts...))
		}
	case 1: // a static member (re)starting
		join(joinReq("g", "", append(opts, withInstance(fmt.Sprintf("i-%d", arg%3)))...))
	case 2: // a known member rejoining
		id := m.member(arg)
		var inst *string
		if mm := g.members[id]; mm != nil {
			inst = mm.instanceID
		}
		req := joinReq("g", id, opts...)
		req.InstanceID = inst
		join(req)
	case 3: // sync, with the current generation or a stale one
		id := m.member(arg)
		gen := g.generation
		if arg&0x80 != 0 {
			gen--
		}
		assign := map[string]string{}
		for i, mid := range m.ids {
			assign[mid] = fmt.Sprint(i)
		}
		ch := make(chan *kmsg.SyncGroupResponse, 2)
		m.syncs = append(m.syncs, ch)
		g.sync(syncReq("g", id, gen, assign), ch)
	case 4:
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.MemberID, hb.Generation = "g", m.member(arg), g.generation
		g.heartbeat(hb)
	case 5:
		g.leave(m.member(arg), nil)
	case 6: // time passes
		m.now = m.now.Add(time.Duration(arg) * 10 * time.Millisecond)
		g.tick(m.now)
	case 7: // a commit
		ch := make(chan int16, 1)
		g.commit(g.generation, m.member(arg), nil, []metastore.GroupOffset{{Topic: "t"}}, ch)
		m.settle()
		<-ch
	case 8: // the next deadline arrives
		if next := g.nextDeadline(); !next.IsZero() && next.After(m.now) {
			m.now = next
		}
		g.tick(m.now)
	case 9: // the group moves to another coordinator, which loads it
		g.relinquish("moved")
		ng := newGroup(m.c, "g")
		ng.lastActive = m.now
		m.store.mu.Lock()
		saved := m.store.saved
		m.store.mu.Unlock()
		if saved != nil {
			ng.restore(*saved)
		}
		m.g = ng
		if ng.generation != g.generation {
			m.t.Fatalf("the group moved at generation %d, loaded at %d", g.generation, ng.generation)
		}
	}
	m.settle()
	for _, mm := range g.members {
		if !slices.Contains(m.ids, mm.id) {
			m.ids = append(m.ids, mm.id)
		}
	}
	m.check()
}

// check asserts the invariants of the state machine.
func (m *machine) check() {
	t, g := m.t, m.g
	if g.generation < m.lastGen {
		t.Fatalf("generation went back from %d to %d", m.lastGen, g.generation)
	}
	m.lastGen = g.generation
	switch g.state {
	case Empty:
		if len(g.members) != 0 {
			t.Fatalf("Empty with %d members", len(g.members))
		}
	case CompletingRebalance, Stable:
		if g.members[g.leader] == nil {
			t.Fatalf("%s with leader %q not a member", g.state, g.leader)
		}
	case PreparingRebalance:
		if g.rebalanceDeadline.IsZero() {
			t.Fatal("PreparingRebalance without a deadline")
		}
	}
	for iid, id := range g.static {
		if mm := g.members[id]; mm == nil || mm.instanceID == nil || *mm.instanceID != iid {
			t.Fatalf("static %q -> %q is not that member", iid, id)
		}
	}
	for id, mm := range g.members {
		if mm.instanceID != nil && g.static[*mm.instanceID] != id {
			t.Fatalf("static member %q missing from the instance map", id)
		}
		if mm.join != nil && g.state != PreparingRebalance {
			t.Fatalf("member waiting in JoinGroup while %s", g.state)
		}
		if mm.sync != nil && g.state != CompletingRebalance {
			t.Fatalf("member waiting in SyncGroup while %s", g.state)
		}
		if mm.join == nil && mm.sync == nil && mm.deadline.IsZero() {
			t.Fatalf("member %q without a session deadline", id)
		}
	}
	for id := range g.awaitingSync {
		if g.state != CompletingRebalance || g.members[id] == nil {
			t.Fatalf("awaiting sync of %q while %s", id, g.state)
		}
	}
	if len(g.members) > 0 && g.nextDeadline().IsZero() {
		t.Fatal("members but no deadline: sessions would never end")
	}
}

// finish lets time run until every member's session has ended, then checks
// that every JoinGroup and SyncGroup got exactly one answer.
func (m *machine) finish() {
	for range 1000 {
		if len(m.g.members) == 0 && len(m.g.pending) == 0 && m.g.state == Empty {
			break
		}
		next := m.g.nextDeadline()
		if next.IsZero() {
			m.t.Fatalf("stuck in %s with %d members and no deadline", m.g.state, len(m.g.members))
		}
		if next.After(m.now) {
			m.now = next
		}
		m.g.tick(m.now)
		m.settle()
		m.check()
	}
	if m.g.state != Empty || len(m.g.members) != 0 {
		m.t.Fatalf("group never emptied: %s with %d members", m.g.state, len(m.g.members))
	}
	for i, ch := range m.joins {
		if n := len(ch); n != 1 {
			m.t.Fatalf("join %d got %d answers", i, n)
		}
		if r := <-ch; r.ErrorCode == 0 && (r.Generation < 1 || r.MemberID == "" || r.LeaderID == "" ||
			r.LeaderID == r.MemberID && !r.SkipAssignment && !slices.ContainsFunc(r.Members, func(x kmsg.JoinGroupResponseMember) bool { return x.MemberID == r.MemberID })) {
			m.t.Fatalf("join %d: inconsistent success %+v", i, r)
		}
	}
	for i, ch := range m.syncs {
		if n := len(ch); n != 1 {
			m.t.Fatalf("sync %d got %d answers", i, n)
		}
	}
}

func FuzzGroupStateMachine(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 3, 0, 3, 1, 4, 0, 6, 50, 8, 0})
	f.Add([]byte{1, 0, 1, 1, 3, 0, 1, 0, 2, 1, 8, 0, 8, 0, 5, 0})
	f.Add([]byte{0, 0, 0, 1, 8, 0, 3, 0, 3, 1, 0, 2, 2, 0, 7, 0, 5, 1, 8, 0})
	// Moves while Stable, while joining and while waiting for the leader.
	f.Add([]byte{0, 1, 0, 2, 8, 0, 3, 0, 3, 1, 9, 0, 4, 0, 3, 1, 7, 0, 9, 0, 8, 0})
	f.Add([]byte{0, 0, 8, 0, 9, 0, 3, 0, 1, 1, 9, 0, 2, 1, 8, 0, 3, 1, 9, 0, 5, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			ops = ops[:400]
		}
		m := newMachine(t)
		for i := 0; i+1 < len(ops); i += 2 {
			m.step(ops[i], ops[i+1])
		}
		m.finish()
	})
}
