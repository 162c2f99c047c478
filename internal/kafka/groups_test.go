package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/groups"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/metastore/sqlite"
)

// noGroups is a startServer option: serve without a group coordinator.
type noGroups struct{}

// newTestGroups returns a group coordinator over store, closed when the
// test ends. Rebalances start at once (no initial delay).
func newTestGroups(t testing.TB, store *sqlite.Store, logger *slog.Logger) *groups.Coordinator {
	t.Helper()
	cfg := groups.DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	c, err := groups.New(cfg, store, store, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// fakeCluster is a cluster view whose group coordinator is fixed; only
// FindCoordinator may use it.
type fakeCluster struct {
	ClusterView // nil: the other methods are not called
	coordinator cluster.Node
	ok          bool
}

func (f *fakeCluster) CoordinatorFor(string) (cluster.Node, bool) { return f.coordinator, f.ok }

// TestFindCoordinatorFromCluster: with a cluster view, the group's
// coordinator is the node the view names; with none alive, the answer is
// COORDINATOR_NOT_AVAILABLE, which clients retry.
func TestFindCoordinatorFromCluster(t *testing.T) {
	other := cluster.Node{ID: 3, Host: "node-3.example", Port: 19092}
	view := &fakeCluster{coordinator: other, ok: true}
	s := startServer(t, noDataPath{}, func(s *Server) { s.cluster = view })
	c := s.dial(t)

	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = "g"
	resp := c.roundTrip(req, 2).(*kmsg.FindCoordinatorResponse)
	if resp.ErrorCode != 0 || resp.NodeID != 3 || resp.Host != other.Host || resp.Port != other.Port {
		t.Errorf("v2: %+v, want node 3 at %s", resp, other.Addr())
	}
	batch := kmsg.NewPtrFindCoordinatorRequest()
	batch.CoordinatorKeys = []string{"g"}
	bresp := c.roundTrip(batch, 5).(*kmsg.FindCoordinatorResponse)
	if len(bresp.Coordinators) != 1 || bresp.Coordinators[0].NodeID != 3 || bresp.Coordinators[0].Host != other.Host {
		t.Errorf("v5: %+v", bresp.Coordinators)
	}

	view.ok = false
	resp = c.roundTrip(req, 2).(*kmsg.FindCoordinatorResponse)
	if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code || resp.NodeID != -1 {
		t.Errorf("no coordinator alive: error %d node %d, want COORDINATOR_NOT_AVAILABLE", resp.ErrorCode, resp.NodeID)
	}
	bresp = c.roundTrip(batch, 5).(*kmsg.FindCoordinatorResponse)
	if len(bresp.Coordinators) != 1 || bresp.Coordinators[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("v5, no coordinator alive: %+v", bresp.Coordinators)
	}
}

// TestOffsetCommitFetchAdmin: a simple consumer's commit (generation -1)
// through kadm, read back with its metadata and leader epoch.
func TestOffsetCommitFetchAdmin(t *testing.T) {
	s := startServer(t, noDataPath{})
	_, adm := s.clients(t)
	ctx := testContext(t)
	createTopic(t, adm, "orders", 3, nil)

	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 42, LeaderEpoch: -1, Metadata: "checkpoint 7"})
	offs.Add(kadm.Offset{Topic: "orders", Partition: 2, At: 9, LeaderEpoch: 0, Metadata: ""})
	cresp, err := adm.CommitOffsets(ctx, "tools", offs)
	if err == nil {
		err = cresp.Error()
	}
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	fetched, err := adm.FetchOffsets(ctx, "tools")
	if err == nil {
		err = fetched.Error()
	}
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if got := len(fetched.Sorted()); got != 2 {
		t.Errorf("fetched %d offsets, want 2: %+v", got, fetched)
	}
	for _, want := range []kadm.Offset{offs["orders"][0], offs["orders"][2]} {
		got, ok := fetched.Lookup(want.Topic, want.Partition)
		if !ok || got.At != want.At || got.Metadata != want.Metadata || got.LeaderEpoch != want.LeaderEpoch {
			t.Errorf("partition %d: fetched %+v, want %+v", want.Partition, got.Offset, want)
		}
	}

	// An unknown topic is refused and stores nothing.
	var bad kadm.Offsets
	bad.Add(kadm.Offset{Topic: "missing", Partition: 0, At: 1, LeaderEpoch: -1})
	cresp, err = adm.CommitOffsets(ctx, "tools", bad)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := cresp.Lookup("missing", 0); r.Err != kerr.UnknownTopicOrPartition {
		t.Errorf("commit to an unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}
}

// TestOffsetCommitFetchVersions commits at every OffsetCommit version and
// reads the commit back at every OffsetFetch version.
func TestOffsetCommitFetchVersions(t *testing.T) {
	s := startServer(t, noDataPath{})
	_, adm := s.clients(t)
	id := createTopic(t, adm, "t", 2, nil)
	c := s.dial(t)

	for cv := int16(0); cv <= 10; cv++ {
		offset, meta := 100+int64(cv), fmt.Sprintf("committed at v%d", cv)
		commit := kmsg.NewPtrOffsetCommitRequest()
		commit.Group = "simple"
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic, ct.TopicID = "t", id
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset, cp.Metadata, cp.LeaderEpoch = 1, offset, &meta, 5
		ct.Partitions = append(ct.Partitions, cp)
		commit.Topics = append(commit.Topics, ct)
		cresp := c.roundTrip(commit, cv).(*kmsg.OffsetCommitResponse)
		if len(cresp.Topics) != 1 || len(cresp.Topics[0].Partitions) != 1 || cresp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("OffsetCommit v%d: %+v", cv, cresp.Topics)
		}
		wantEpoch := int32(-1)
		if cv >= 6 {
			wantEpoch = 5
		}

		for fv := int16(0); fv <= 10; fv++ {
			fetch := kmsg.NewPtrOffsetFetchRequest()
			ps := []int32{0, 1}
			if fv >= 8 {
				g := kmsg.NewOffsetFetchRequestGroup()
				g.Group = "simple"
				gt := kmsg.NewOffsetFetchRequestGroupTopic()
				gt.Topic, gt.TopicID, gt.Partitions = "t", id, ps
				g.Topics = append(g.Topics, gt)
				fetch.Groups = append(fetch.Groups, g)
			} else {
				fetch.Group = "simple"
				ft := kmsg.NewOffsetFetchRequestTopic()
				ft.Topic, ft.Partitions = "t", ps
				fetch.Topics = append(fetch.Topics, ft)
			}
			fresp := c.roundTrip(fetch, fv).(*kmsg.OffsetFetchResponse)
			got := map[int32]kmsg.OffsetFetchResponseGroupTopicPartition{}
			if fv >= 8 {
				if len(fresp.Groups) != 1 || fresp.Groups[0].ErrorCode != 0 || len(fresp.Groups[0].Topics) != 1 {
					t.Fatalf("OffsetFetch v%d: %+v", fv, fresp.Groups)
				}
				for _, p := range fresp.Groups[0].Topics[0].Partitions {
					got[p.Partition] = p
				}
			} else {
				if fresp.ErrorCode != 0 || len(fresp.Topics) != 1 {
					t.Fatalf("OffsetFetch v%d: error %d, %+v", fv, fresp.ErrorCode, fresp.Topics)
				}
				for _, p := range fresp.Topics[0].Partitions {
					got[p.Partition] = kmsg.OffsetFetchResponseGroupTopicPartition{
						Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch,
						Metadata: p.Metadata, ErrorCode: p.ErrorCode,
					}
				}
			}
			if p := got[0]; p.Offset != -1 || p.ErrorCode != 0 {
				t.Errorf("commit v%d, fetch v%d: uncommitted partition 0 is offset %d error %d, want -1 and no error", cv, fv, p.Offset, p.ErrorCode)
			}
			p := got[1]
			if p.Offset != offset || p.ErrorCode != 0 || p.Metadata == nil || *p.Metadata != meta {
				t.Errorf("commit v%d, fetch v%d: partition 1 is %d %q error %d, want %d %q", cv, fv, p.Offset, deref(p.Metadata), p.ErrorCode, offset, meta)
			}
			if fv >= 5 && p.LeaderEpoch != wantEpoch {
				t.Errorf("commit v%d, fetch v%d: leader epoch %d, want %d", cv, fv, p.LeaderEpoch, wantEpoch)
			}
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestOffsetFetchUnknownGroup: Kafka answers offset -1 and no error for a
// group nobody knows, at every version.
func TestOffsetFetchUnknownGroup(t *testing.T) {
	s := startServer(t, noDataPath{})
	_, adm := s.clients(t)
	createTopic(t, adm, "t", 1, nil)
	c := s.dial(t)
	for v := int16(0); v <= 7; v++ {
		fetch := kmsg.NewPtrOffsetFetchRequest()
		fetch.Group = "nobody"
		ft := kmsg.NewOffsetFetchRequestTopic()
		ft.Topic, ft.Partitions = "t", []int32{0}
		fetch.Topics = append(fetch.Topics, ft)
		resp := c.roundTrip(fetch, v).(*kmsg.OffsetFetchResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if p := resp.Topics[0].Partitions[0]; p.Offset != -1 || p.ErrorCode != 0 {
			t.Errorf("v%d: offset %d error %d, want -1 and no error", v, p.Offset, p.ErrorCode)
		}
	}
	fetched, err := adm.FetchOffsets(testContext(t), "nobody")
	if err != nil || fetched.Error() != nil || len(fetched.Sorted()) != 0 {
		t.Errorf("kadm FetchOffsets of an unknown group: %v, %v, %+v", err, fetched.Error(), fetched)
	}
}

// TestOffsetCommitsKeepConnectionOrder: commits pipelined on one
// connection are stored in the order sent, and a fetch sent after them
// sees the last one.
func TestOffsetCommitsKeepConnectionOrder(t *testing.T) {
	s := startServer(t, noDataPath{})
	_, adm := s.clients(t)
	createTopic(t, adm, "t", 1, nil)
	c := s.dial(t)
	const n = 40
	for i := range n {
		commit := kmsg.NewPtrOffsetCommitRequest()
		commit.Group = "pipelined"
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic = "t"
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset = 0, int64(i+1)
		ct.Partitions = append(ct.Partitions, cp)
		commit.Topics = append(commit.Topics, ct)
		c.send(commit, 8, int32(i))
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = "pipelined"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "t", []int32{0}
	fetch.Topics = append(fetch.Topics, ft)
	c.send(fetch, 7, n)

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.SetVersion(8)
	for i := range n {
		resp := c.recv(commit, int32(i)).(*kmsg.OffsetCommitResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("commit %d: error %d", i, code)
		}
	}
	resp := c.recv(fetch, n).(*kmsg.OffsetFetchResponse)
	if got := resp.Topics[0].Partitions[0].Offset; got != n {
		t.Errorf("fetch after %d pipelined commits: offset %d, want %d", n, got, n)
	}
	fetched, err := adm.FetchOffsets(testContext(t), "pipelined")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fetched.Lookup("t", 0); o.At != n {
		t.Errorf("stored offset %d, want %d", o.At, n)
	}
}

// TestClassicGroupOldVersions runs one member through the v0 requests
// librdkafka and kafka-python start from: join, sync, heartbeat, commit
// inside the generation, leave.
func TestClassicGroupOldVersions(t *testing.T) {
	s := startServer(t, noDataPath{})
	_, adm := s.clients(t)
	createTopic(t, adm, "t", 2, nil)
	c := s.dial(t)

	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"t"}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = "old"
	join.SessionTimeoutMillis = 10000
	join.ProtocolType = "consumer"
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", meta.AppendTo(nil)
	join.Protocols = append(join.Protocols, proto)
	jresp := c.roundTrip(join, 0).(*kmsg.JoinGroupResponse)
	if jresp.ErrorCode != 0 || jresp.MemberID == "" || jresp.LeaderID != jresp.MemberID || jresp.Generation < 1 || *jresp.Protocol != "range" {
		t.Fatalf("JoinGroup v0: %+v", jresp)
	}
	if len(jresp.Members) != 1 || string(jresp.Members[0].ProtocolMetadata) != string(proto.Metadata) {
		t.Fatalf("JoinGroup v0: the leader did not get its member's metadata: %+v", jresp.Members)
	}

	assign := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = "t", []int32{0, 1}
	assign.Topics = append(assign.Topics, at)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = "old", jresp.Generation, jresp.MemberID
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID, sa.MemberAssignment = jresp.MemberID, assign.AppendTo(nil)
	sync.GroupAssignment = append(sync.GroupAssignment, sa)
	sresp := c.roundTrip(sync, 0).(*kmsg.SyncGroupResponse)
	if sresp.ErrorCode != 0 || string(sresp.MemberAssignment) != string(sa.MemberAssignment) {
		t.Fatalf("SyncGroup v0: error %d, assignment %x", sresp.ErrorCode, sresp.MemberAssignment)
	}

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.Generation, hb.MemberID = "old", jresp.Generation, jresp.MemberID
	if r := c.roundTrip(hb, 0).(*kmsg.HeartbeatResponse); r.ErrorCode != 0 {
		t.Fatalf("Heartbeat v0: error %d", r.ErrorCode)
	}
	stale := *hb
	stale.Generation = jresp.Generation + 1
	if r := c.roundTrip(&stale, 0).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.IllegalGeneration.Code {
		t.Errorf("Heartbeat v0 with another generation: error %d, want ILLEGAL_GENERATION", r.ErrorCode)
	}

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation, commit.MemberID = "old", jresp.Generation, jresp.MemberID
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "t"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = 1, 17
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	if r := c.roundTrip(commit, 2).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("OffsetCommit v2 in the generation: error %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	// A simple consumer's commit is refused while the group has members.
	simple := *commit
	simple.Generation, simple.MemberID = -1, ""
	if r := c.roundTrip(&simple, 2).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode == 0 {
		t.Errorf("OffsetCommit outside the generation of an active group succeeded")
	}

	d, err := adm.DescribeGroups(testContext(t), "old")
	if err != nil {
		t.Fatal(err)
	}
	g := d["old"]
	if g.State != "Stable" || len(g.Members) != 1 || g.Members[0].ClientID != "raw-test" || g.Members[0].ClientHost != "/127.0.0.1" {
		t.Errorf("DescribeGroups: %+v", g)
	}

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "old", jresp.MemberID
	if r := c.roundTrip(leave, 0).(*kmsg.LeaveGroupResponse); r.ErrorCode != 0 {
		t.Fatalf("LeaveGroup v0: error %d", r.ErrorCode)
	}
	if r := c.roundTrip(hb, 0).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("Heartbeat after leaving: error %d, want UNKNOWN_MEMBER_ID", r.ErrorCode)
	}
	fetched, err := adm.FetchOffsets(testContext(t), "old")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("t", 1); !ok || o.At != 17 {
		t.Errorf("committed offset after leaving: %+v", o)
	}
}

// TestGroupAdmin runs two franz-go group consumers, then lists, describes
// and deletes their group and its offsets through kadm.
func TestGroupAdmin(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)
	createTopic(t, adm, "events", 4, nil)

	producer, _ := s.clients(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 40 {
		r := &kgo.Record{Topic: "events", Partition: int32(i % 4), Value: []byte(strconv.Itoa(i))}
		if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	var members []*kgo.Client
	for i := range 2 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ClientID(fmt.Sprintf("member-%d", i)),
			kgo.ConsumerGroup("admin-group"), kgo.ConsumeTopics("events"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, cl)
		defer cl.Close()
	}
	// Both consume until the group is stable with both members and the
	// commits cover every record.
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	for _, cl := range members {
		go func() {
			for pollCtx.Err() == nil {
				cl.PollFetches(pollCtx)
			}
		}()
	}
	// Settled: Stable with both members owning the 4 partitions between
	// them (cooperative-sticky, franz-go's default, first revokes, then
	// assigns in a second rebalance), and every record committed.
	assigned := func(g kadm.DescribedGroup) (owners map[int32][]string) {
		owners = map[int32][]string{}
		for _, m := range g.Members {
			if ca, ok := m.Assigned.AsConsumer(); ok {
				for _, at := range ca.Topics {
					for _, p := range at.Partitions {
						owners[p] = append(owners[p], m.ClientID)
					}
				}
			}
		}
		return owners
	}
	var g kadm.DescribedGroup
	waitFor(t, 20*time.Second, func() bool {
		d, err := adm.DescribeGroups(ctx, "admin-group")
		if err != nil {
			return false
		}
		g = d["admin-group"]
		if g.State != "Stable" || len(g.Members) != 2 || len(assigned(g)) != 4 {
			return false
		}
		lag, err := adm.FetchOffsets(ctx, "admin-group")
		if err != nil {
			return false
		}
		sum := int64(0)
		lag.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum == 40
	})
	if g.ProtocolType != "consumer" || g.Protocol == "" {
		t.Errorf("described protocol %q/%q", g.ProtocolType, g.Protocol)
	}
	for _, m := range g.Members {
		if !slices.Contains([]string{"member-0", "member-1"}, m.ClientID) || m.ClientHost != "/127.0.0.1" {
			t.Errorf("member %s: client %q host %q", m.MemberID, m.ClientID, m.ClientHost)
		}
	}
	for p, owners := range assigned(g) {
		if len(owners) != 1 {
			t.Errorf("partition %d owned by %v", p, owners)
		}
	}

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lg, ok := listed["admin-group"]; !ok || lg.State != "Stable" || lg.ProtocolType != "consumer" {
		t.Errorf("ListGroups: %+v", listed)
	}

	// A group with members is not deleted.
	del, err := adm.DeleteGroups(ctx, "admin-group")
	if err != nil {
		t.Fatal(err)
	}
	if r := del["admin-group"]; r.Err != kerr.NonEmptyGroup {
		t.Errorf("DeleteGroups of a live group: %v, want NON_EMPTY_GROUP", r.Err)
	}
	// Offsets of a subscribed topic are kept.
	dop, err := adm.DeleteOffsets(ctx, "admin-group", kadm.TopicsSet{"events": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := dop["events"][0]; e != kerr.GroupSubscribedToTopic {
		t.Errorf("OffsetDelete of a subscribed topic: %v, want GROUP_SUBSCRIBED_TO_TOPIC", e)
	}

	stopPolling()
	for _, cl := range members {
		cl.Close() // leaves the group
	}
	waitFor(t, 10*time.Second, func() bool {
		d, err := adm.DescribeGroups(ctx, "admin-group")
		return err == nil && d["admin-group"].State == "Empty"
	})

	// Now empty: its offsets can go one by one, then the group.
	dop, err = adm.DeleteOffsets(ctx, "admin-group", kadm.TopicsSet{"events": {0: {}}})
	if err != nil || dop["events"][0] != nil {
		t.Fatalf("OffsetDelete of an empty group: %v %+v", err, dop)
	}
	fetched, err := adm.FetchOffsets(ctx, "admin-group")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fetched.Lookup("events", 0); ok {
		t.Errorf("offset of partition 0 still there after OffsetDelete")
	}
	if _, ok := fetched.Lookup("events", 1); !ok {
		t.Errorf("offset of partition 1 deleted with partition 0: %+v", fetched)
	}
	del, err = adm.DeleteGroups(ctx, "admin-group")
	if err != nil || del["admin-group"].Err != nil {
		t.Fatalf("DeleteGroups of an empty group: %v %+v", err, del)
	}
	fetched, err = adm.FetchOffsets(ctx, "admin-group")
	if err != nil || len(fetched.Sorted()) != 0 {
		t.Errorf("offsets after DeleteGroups: %v %+v", err, fetched)
	}
	listed, err = adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listed["admin-group"]; ok {
		t.Errorf("deleted group still listed")
	}
	d, err := adm.DescribeGroups(ctx, "admin-group")
	if err != nil {
		t.Fatal(err)
	}
	if st := d["admin-group"].State; st != "Dead" {
		t.Errorf("deleted group described as %q, want Dead", st)
	}
}

// TestHandlerTableWithoutGroups: a server without a coordinator neither
// advertises nor serves the group APIs.
func TestHandlerTableWithoutGroups(t *testing.T) {
	groupKeys := []kmsg.Key{kmsg.OffsetCommit, kmsg.OffsetFetch, kmsg.JoinGroup, kmsg.Heartbeat,
		kmsg.LeaveGroup, kmsg.SyncGroup, kmsg.DescribeGroups, kmsg.ListGroups, kmsg.DeleteGroups, kmsg.OffsetDelete}
	without := newHandlerTable(true, true, false, true)
	with := newHandlerTable(true, true, true, true)
	for _, k := range groupKeys {
		if _, ok := without[k.Int16()]; ok {
			t.Errorf("%s served without a coordinator", k.Name())
		}
		if h, ok := with[k.Int16()]; !ok || h.minVersion != 0 {
			t.Errorf("%s not served from v0 with a coordinator", k.Name())
		}
	}
	if _, ok := without[kmsg.FindCoordinator.Int16()]; !ok {
		t.Errorf("FindCoordinator not served without a coordinator")
	}
}

// waitFor polls cond until it holds or the timeout ends.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, timeout, "the condition", cond)
}

// BenchmarkOffsetCommit measures a consumer's commit of 12 partitions
// through the front door and the coordinator into the SQLite metastore,
// one request at a time on one connection.
func BenchmarkOffsetCommit(b *testing.B) {
	s := startServer(b, noDataPath{})
	_, adm := s.clients(b)
	createTopic(b, adm, "bench", 12, nil)
	c := s.dial(b)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group = "bench-group"
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "bench"
	for p := range int32(12) {
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition = p
		ct.Partitions = append(ct.Partitions, cp)
	}
	commit.Topics = append(commit.Topics, ct)
	b.ResetTimer()
	for i := range b.N {
		for j := range commit.Topics[0].Partitions {
			commit.Topics[0].Partitions[j].Offset = int64(i)
		}
		c.nc.SetDeadline(time.Now().Add(20 * time.Second))
		resp := c.roundTrip(commit, 8).(*kmsg.OffsetCommitResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			b.Fatalf("commit: error %d", code)
		}
	}
}
