package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/internal/topicconfig"
	"github.com/stratalog/strata/metastore"
)

// startClusterServer is startServer for a node of a cluster: the server
// sees the given view, and runs the data path of the roles the view gives
// it.
func startClusterServer(t testing.TB, viewOf func(host string, port int32) ClusterView) *testServer {
	t.Helper()
	cfg := testConfig(t)
	ln, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		t.Fatal(err)
	}
	host, port := advertisedFromListener(ln.Addr())
	view := viewOf(host, port)
	cfg.NodeID = view.Self().ID
	cfg.Rack = view.Self().Rack
	store := newTestStore(t)
	logger := testLogger(t)
	ts := &testServer{store: store}
	ts.ingest, ts.reader = newDataPath(t, store, logger)
	deps := Deps{Meta: store, Ingest: ts.ingest, Reader: ts.reader, Cluster: view}
	s := NewServer(cfg, deps, logger, prometheus.NewRegistry())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	ts.Server, ts.addr = s, ln.Addr().String()
	return ts
}

// createTopic creates a topic in the server's metastore.
func (s *testServer) createTopic(t testing.TB, name string, partitions int32) uuid.UUID {
	t.Helper()
	topic, err := s.store.CreateTopic(testContext(t), name, partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	return topic.ID
}

// roundTripAs sends req at version v with the given client id.
func (c *rawConn) roundTripAs(clientID string, req kmsg.Request, v int16) kmsg.Response {
	c.t.Helper()
	req.SetVersion(v)
	c.write(kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, 42))
	return c.recv(req, 42)
}

// Three nodes: this one (7, zone-a, every role), 8 (zone-b, every role)
// and 9 (zone-c, reader only).
func threeNodeView(host string, port int32) ClusterView {
	self := cluster.Node{ID: testNodeID, Host: host, Port: port, Rack: "zone-a", Roles: cluster.AllRoles}
	return cluster.NewStaticView(self,
		cluster.Node{ID: 8, Host: "node-8", Port: 9092, Rack: "zone-b", Roles: cluster.AllRoles},
		cluster.Node{ID: 9, Host: "node-9", Port: 9092, Rack: "zone-c", Roles: cluster.RoleReader},
	)
}

func metadataAll(c *rawConn, clientID string) *kmsg.MetadataResponse {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = nil // every topic
	resp := c.roundTripAs(clientID, req, 12).(*kmsg.MetadataResponse)
	// Kafka's internal topics, which TestInternalTopicsInMetadata checks,
	// are not the topics these tests created.
	resp.Topics = slices.DeleteFunc(resp.Topics, func(t kmsg.MetadataResponseTopic) bool { return t.IsInternal })
	return resp
}

func TestMetadataReportsClusterLeadersAndZones(t *testing.T) {
	s := startClusterServer(t, threeNodeView)
	s.createTopic(t, "zones", 24)
	c := s.dial(t)

	resp := metadataAll(c, "plain-client")
	var brokers []int32
	racks := map[int32]string{}
	for _, b := range resp.Brokers {
		brokers = append(brokers, b.NodeID)
		if b.Rack != nil {
			racks[b.NodeID] = *b.Rack
		}
	}
	if !slices.Equal(brokers, []int32{7, 8, 9}) || racks[8] != "zone-b" || racks[9] != "zone-c" {
		t.Errorf("brokers %v racks %v, want 7, 8, 9 in zones a, b, c", brokers, racks)
	}
	if resp.ControllerID != testNodeID {
		t.Errorf("controller %d, want %d", resp.ControllerID, testNodeID)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 24 {
		t.Fatalf("metadata topics: %+v", resp.Topics)
	}
	led := map[int32]int{}
	for _, p := range resp.Topics[0].Partitions {
		led[p.Leader]++
		if len(p.Replicas) == 0 || p.Replicas[0] != p.Leader || !slices.Contains(p.Replicas, 9) {
			t.Errorf("partition %d: replicas %v, want the leader %d first and the reader node 9", p.Partition, p.Replicas, p.Leader)
		}
	}
	// Only ingest nodes lead; with no assignment yet the partitions are
	// spread over them by hash.
	if led[9] != 0 || led[7] == 0 || led[8] == 0 || led[7]+led[8] != 24 {
		t.Errorf("leaders per node %v: want 7 and 8 only, both used", led)
	}

	// A client in zone b is given the zone-b node for every partition; a
	// client in a zone without an ingest node gets the usual leaders.
	for _, tc := range []struct {
		clientID string
		want     int32 // -1: any ingest node
	}{
		{"app-1,zone=zone-b", 8},
		{"zone=zone-a", 7},
		{"app zone=zone-c", -1},
	} {
		resp := metadataAll(c, tc.clientID)
		for _, p := range resp.Topics[0].Partitions {
			if tc.want >= 0 && p.Leader != tc.want || tc.want < 0 && p.Leader != 7 && p.Leader != 8 {
				t.Errorf("client %q: partition %d led by %d, want %d", tc.clientID, p.Partition, p.Leader, tc.want)
				break
			}
		}
	}

	dc := c.roundTrip(kmsg.NewPtrDescribeClusterRequest(), 1).(*kmsg.DescribeClusterResponse)
	if len(dc.Brokers) != 3 || dc.ControllerID != testNodeID {
		t.Errorf("describe cluster: %d brokers, controller %d", len(dc.Brokers), dc.ControllerID)
	}
}

func TestFetchPreferredReadReplica(t *testing.T) {
	s := startClusterServer(t, threeNodeView)
	id := s.createTopic(t, "kip392", 1)
	c := s.dial(t)
	c.mustProduce("kip392", 0, batchtest.Values(noProducer(1000), "a", "b"))

	fetch := func(v int16, rack, clientID string) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := fetchRequest(1<<20, fetchAt{topic: "kip392", topicID: id, partition: 0, maxBytes: 1 << 20, epoch: -1})
		req.Rack = rack
		resp := c.roundTripAs(clientID, req, v).(*kmsg.FetchResponse)
		return resp.Topics[0].Partitions[0]
	}
	for _, tc := range []struct {
		name      string
		v         int16
		rack, cid string
		replica   int32 // -1: served here
	}{
		{"no zone", 13, "", "c", -1},
		{"own zone", 13, "zone-a", "c", -1},
		{"rack of a reader-only zone", 13, "zone-c", "c", 9},
		{"rack of another zone", 11, "zone-b", "c", 8},
		{"zone in the client id", 13, "", "app,zone=zone-c", 9},
		{"rack wins over the client id", 13, "zone-a", "zone=zone-c", -1},
		{"too old for KIP-392", 10, "", "zone=zone-c", -1},
	} {
		p := fetch(tc.v, tc.rack, tc.cid)
		if p.ErrorCode != 0 || p.PreferredReadReplica != tc.replica {
			t.Errorf("%s: error %v, preferred replica %d, want %d", tc.name, kerr.ErrorForCode(p.ErrorCode), p.PreferredReadReplica, tc.replica)
			continue
		}
		if served := len(p.RecordBatches) > 0; served != (tc.replica < 0) {
			t.Errorf("%s: %d record bytes with preferred replica %d", tc.name, len(p.RecordBatches), p.PreferredReadReplica)
		}
	}
	if n := testutil.ToFloat64(s.fetchRedirects); n != 3 {
		t.Errorf("strata_kafka_fetch_redirects_total = %v, want 3", n)
	}
}

func TestRolesWithoutIngestOrReader(t *testing.T) {
	// This node runs neither ingest nor reader; node 8 runs both.
	s := startClusterServer(t, func(host string, port int32) ClusterView {
		self := cluster.Node{ID: testNodeID, Host: host, Port: port, Roles: cluster.RoleCoordinator | cluster.RoleController}
		return cluster.NewStaticView(self, cluster.Node{ID: 8, Host: "node-8", Port: 9092, Roles: cluster.AllRoles})
	})
	id := s.createTopic(t, "roles", 3)
	c := s.dial(t)

	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "test", "1.0"
	versions := c.roundTrip(av, 3).(*kmsg.ApiVersionsResponse)
	if !slices.ContainsFunc(versions.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool { return k.ApiKey == kmsg.Produce.Int16() }) {
		t.Error("Produce is not advertised: clients with stale metadata would fail instead of looking for the leader")
	}
	p := c.produce(9, -1, rawPart{topic: "roles", partition: 0, records: batchtest.Values(noProducer(1), "x")})[0]
	if p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Errorf("produce to a node without the ingest role: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(p.ErrorCode))
	}

	for _, mp := range metadataAll(c, "c").Topics[0].Partitions {
		if mp.Leader != 8 {
			t.Errorf("partition %d led by %d, want the only ingest node 8", mp.Partition, mp.Leader)
		}
	}
	// Fetches go to the reader, whatever the client's zone.
	resp := c.roundTrip(fetchRequest(1<<20, fetchAt{topic: "roles", topicID: id, partition: 1, maxBytes: 1 << 20, epoch: -1}), 13).(*kmsg.FetchResponse)
	if fp := resp.Topics[0].Partitions[0]; fp.ErrorCode != 0 || fp.PreferredReadReplica != 8 {
		t.Errorf("fetch from a node without the reader role: error %v, preferred replica %d, want 8", kerr.ErrorForCode(fp.ErrorCode), fp.PreferredReadReplica)
	}
	// Clients that cannot follow are served here.
	resp = c.roundTrip(fetchRequest(1<<20, fetchAt{topic: "roles", partition: 1, maxBytes: 1 << 20, epoch: -1}), 10).(*kmsg.FetchResponse)
	if fp := resp.Topics[0].Partitions[0]; fp.ErrorCode != 0 || fp.PreferredReadReplica != -1 || fp.HighWatermark != 0 {
		t.Errorf("fetch v10: error %v, preferred replica %d, high watermark %d", kerr.ErrorForCode(fp.ErrorCode), fp.PreferredReadReplica, fp.HighWatermark)
	}
}

// moveLeader moves a partition's leadership to node to through the
// metastore, as the controller does, and returns the new epoch.
func moveLeader(t testing.TB, store metastore.ClusterStore, meta MetaStore, topicID uuid.UUID, p, to int32) int32 {
	t.Helper()
	ctx := testContext(t)
	instance := uuid.New()
	term, err := store.AcquireController(ctx, testNodeID, instance, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := store.ReleaseController(ctx, instance); err != nil {
			t.Error(err)
		}
	}()
	parts, err := meta.Partitions(ctx, topicID)
	if err != nil {
		t.Fatal(err)
	}
	cur := parts[p]
	moved, err := store.MoveLeaders(ctx, instance, term, []metastore.LeaderMove{{TopicID: topicID, Partition: p, From: cur.LeaderNode, FromEpoch: cur.LeaderEpoch, To: to}})
	if err != nil || len(moved) != 1 {
		t.Fatalf("move leader: %v (%d moved)", err, len(moved))
	}
	return moved[0].Epoch
}

// TestOffsetForLeaderEpochAcrossEpochs: each epoch ends where the next
// began, as consumers' truncation checks expect, and the records fetched
// carry an epoch no lower than the one they were committed in.
func TestOffsetForLeaderEpochAcrossEpochs(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	id := createTopic(t, adm, "epochs", 1, nil)
	c := s.dial(t)
	c.mustProduce("epochs", 0, batchtest.Values(noProducer(1), "a", "b", "c")) // 0-2, epoch 0
	e1 := moveLeader(t, s.store, s.store, id, 0, 1)
	c.mustProduce("epochs", 0, batchtest.Values(noProducer(2), "d", "e")) // 3-4
	e2 := moveLeader(t, s.store, s.store, id, 0, 2)
	c.mustProduce("epochs", 0, batchtest.Values(noProducer(3), "f")) // 5
	if e1 != 1 || e2 != 2 {
		t.Fatalf("epochs %d, %d", e1, e2)
	}

	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "epochs"
	for _, e := range []int32{0, 1, 2, 3} {
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.CurrentLeaderEpoch = 0, e, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	want := []struct {
		err   *kerr.Error
		epoch int32
		end   int64
	}{
		{nil, 0, 3},
		{nil, 1, 5},
		{nil, 2, 6},
		{kerr.UnknownLeaderEpoch, -1, -1},
	}
	got := c.roundTrip(req, 4).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions
	for i, w := range want {
		if got[i].ErrorCode != codeOf(w.err) || got[i].LeaderEpoch != w.epoch || got[i].EndOffset != w.end {
			t.Errorf("epoch %d: error %v, epoch %d end %d; want %v, %d, %d", i, kerr.ErrorForCode(got[i].ErrorCode), got[i].LeaderEpoch, got[i].EndOffset, w.err, w.epoch, w.end)
		}
	}

	// Every batch fetched carries the current epoch.
	_, parts := c.fetch(fetchRequest(1<<20, fetchAt{topic: "epochs", topicID: id, partition: 0, maxBytes: 1 << 20, epoch: -1}), 13)
	if parts[0].ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(parts[0].ErrorCode))
	}
	for i, b := range splitBatches(t, parts[0].RecordBatches) {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			t.Fatal(err)
		}
		if rb.PartitionLeaderEpoch != e2 {
			t.Errorf("batch %d at offset %d carries epoch %d, want %d", i, rb.FirstOffset, rb.PartitionLeaderEpoch, e2)
		}
	}
}

// BenchmarkMetadataTopicInCluster measures the per-partition cost of
// describing a topic with leaders from the cluster view.
func BenchmarkMetadataTopicInCluster(b *testing.B) {
	for _, zone := range []string{"", "zone-b"} {
		b.Run("zone="+zone, func(b *testing.B) {
			view := threeNodeView("127.0.0.1", 9092)
			s := NewServer(testConfig(b), Deps{Meta: newTestStore(b), Cluster: view}, nil, nil)
			id := uuid.New()
			parts := make([]metastore.Partition, 1000)
			for i := range parts {
				parts[i] = metastore.Partition{TopicID: id, Partition: int32(i), LeaderNode: -1}
			}
			info := newTopicInfo(metastore.Topic{ID: id, Name: "bench", Partitions: int32(len(parts))}, parts, time.Now(), topicconfig.Defaults{})
			req := kmsg.NewPtrMetadataRequest()
			mv := metadataView{brokers: s.brokers(), zone: zone}
			b.ReportAllocs()
			for b.Loop() {
				if mt := s.metadataTopic(info, req, mv); len(mt.Partitions) != len(parts) {
					b.Fatal(len(mt.Partitions))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(parts)), "ns/partition")
		})
	}
}

// BenchmarkPreferredReadReplica measures the per-partition cost of the
// KIP-392 decision in Fetch, on a node with and without the reader role.
func BenchmarkPreferredReadReplica(b *testing.B) {
	for _, roles := range []cluster.Role{cluster.AllRoles, cluster.RoleIngest} {
		b.Run(roles.String(), func(b *testing.B) {
			self := cluster.Node{ID: 1, Host: "h", Port: 1, Rack: "zone-a", Roles: roles}
			view := cluster.NewStaticView(self,
				cluster.Node{ID: 2, Host: "h", Port: 2, Rack: "zone-b", Roles: cluster.AllRoles},
				cluster.Node{ID: 3, Host: "h", Port: 3, Rack: "zone-c", Roles: cluster.RoleReader})
			s := NewServer(testConfig(b), Deps{Meta: newTestStore(b), Cluster: view}, nil, nil)
			tp := metastore.PartitionKey{TopicID: uuid.New()}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				tp.Partition = int32(i % 1024)
				_ = s.preferredReadReplica(tp, "")
			}
		})
	}
}

// TestFindCoordinatorNamesTheLeaseHolder: a group's coordinator is the live
// node that holds its lease, whatever the view's hashing would pick, so
// that a group stays where it is while its holder is live. A group nobody
// holds, or held by a node that is gone or does not coordinate, goes where
// the view says.
func TestFindCoordinatorNamesTheLeaseHolder(t *testing.T) {
	s := startClusterServer(t, threeNodeView)
	c := s.dial(t)
	find := func(group string) int32 {
		t.Helper()
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{group}
		resp := c.roundTrip(req, 4).(*kmsg.FindCoordinatorResponse)
		if len(resp.Coordinators) != 1 || resp.Coordinators[0].ErrorCode != 0 {
			t.Fatalf("FindCoordinator %q: %+v", group, resp.Coordinators)
		}
		return resp.Coordinators[0].NodeID
	}
	view := threeNodeView("h", 1)
	// Groups the view gives to node 7 and to node 8.
	var onSeven, onEight string
	for i := 0; onSeven == "" || onEight == ""; i++ {
		g := fmt.Sprintf("g%d", i)
		if n, _ := view.CoordinatorFor(g); n.ID == testNodeID && onSeven == "" {
			onSeven = g
		} else if n.ID == 8 && onEight == "" {
			onEight = g
		}
	}
	if find(onSeven) != testNodeID || find(onEight) != 8 {
		t.Fatal("groups nobody holds do not go where the view says")
	}
	ctx := testContext(t)
	if _, err := s.store.AcquireGroupLease(ctx, onSeven, 8, uuid.New(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := find(onSeven); got != 8 {
		t.Fatalf("group held by node 8: coordinator %d, want 8", got)
	}
	// Node 9 runs no coordinator; node 42 is not live.
	if _, err := s.store.AcquireGroupLease(ctx, onEight, 9, uuid.New(), time.Hour); err != nil {
		t.Fatal(err)
	}
	held, err := s.store.AcquireGroupLease(ctx, "gone-holder", 42, uuid.New(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := view.CoordinatorFor(held.Group)
	if find(onEight) != 8 || find(held.Group) != want.ID {
		t.Fatal("a group held by a node that cannot coordinate it is not sent where the view says")
	}
}

// A partition led by a node without the client's listener is answered
// LISTENER_NOT_FOUND with no leader, as Kafka answers it, and that node is
// not among the brokers.
func TestMetadataListenerNotFound(t *testing.T) {
	s := startClusterServer(t, func(host string, port int32) ClusterView {
		self := cluster.Node{ID: testNodeID, Host: host, Port: port, Rack: "zone-a", Roles: cluster.AllRoles}
		// Node 8 serves only a listener named INTERNAL.
		other := cluster.Node{ID: 8, Host: "node-8", Port: 9093, Rack: "zone-b", Roles: cluster.AllRoles,
			Listeners: []cluster.Endpoint{{Listener: "INTERNAL", Host: "node-8", Port: 9093}}}
		return cluster.NewStaticView(self, other)
	})
	s.createTopic(t, "split", 12)
	c := s.dial(t)
	resp := metadataAll(c, "plain-client")
	for _, b := range resp.Brokers {
		if b.NodeID == 8 {
			t.Errorf("node 8, which has no PLAINTEXT listener, is among the brokers")
		}
	}
	var missing, served int
	for _, p := range resp.Topics[0].Partitions {
		switch p.ErrorCode {
		case kerr.ListenerNotFound.Code:
			missing++
			if p.Leader != -1 || slices.Contains(p.Replicas, -1) || slices.Contains(p.Replicas, 8) {
				t.Errorf("partition %d: leader %d replicas %v, want no leader and no node 8", p.Partition, p.Leader, p.Replicas)
			}
		case 0:
			served++
			if p.Leader != testNodeID {
				t.Errorf("partition %d: leader %d", p.Partition, p.Leader)
			}
		default:
			t.Errorf("partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if missing == 0 || served == 0 {
		t.Errorf("%d partitions LISTENER_NOT_FOUND, %d served: want both, the leaders being spread over the two nodes", missing, served)
	}
}
