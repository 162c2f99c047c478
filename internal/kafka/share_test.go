package kafka

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/share"
	"github.com/stratalog/strata/metastore"
)

// shareEarliest makes group read its topics from the start.
func shareEarliest(t testing.TB, s *testServer, group string, more map[string]string) {
	t.Helper()
	set := map[string]*string{shareAutoOffsetReset: strPtr("earliest")}
	for k, v := range more {
		set[k] = strPtr(v)
	}
	if err := s.store.SetShareGroupConfigs(context.Background(), group, set); err != nil {
		t.Fatal(err)
	}
}

func produceValues(t testing.TB, s *testServer, topic string, partitions, n int) {
	t.Helper()
	cl, _ := s.clients(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: fmt.Appendf(nil, "v%d", i)}
	}
	if err := cl.ProduceSync(testContext(t), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// shareConsumer is a franz-go share-group member.
func shareConsumer(t testing.TB, s *testServer, group, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.addr), kgo.ShareGroup(group), kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestShareGroupFranzAcceptOnce: eight franz-go share consumers on a
// two-partition topic receive every record, and each record is delivered
// (and accepted) once overall, and every member receives some; the share partitions' start offsets end at
// the high watermarks.
func TestShareGroupFranzAcceptOnce(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Share.HeartbeatInterval = time.Second })
	top := mustCreateTopic(t, s, "queue", 2)
	shareEarliest(t, s, "sg", nil)
	const n, members = 400, 8

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	perMember := map[int]int{}
	total := 0
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range members {
		cl := shareConsumer(t, s, "sg", "queue", kgo.ClientID(fmt.Sprintf("c%d", i)), kgo.ShareMaxRecords(5))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				fs := cl.PollRecords(ctx, 50)
				if ctx.Err() != nil {
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					r.Ack(kgo.AckAccept)
					mu.Lock()
					seen[string(r.Value)]++
					perMember[i]++
					total++
					if total == n {
						close(done)
					}
					mu.Unlock()
				})
				select {
				case <-done:
					fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = cl.FlushAcks(fctx)
					fcancel()
					return
				default:
				}
			}
		}()
	}
	eventually(t, 20*time.Second, "every member with its partition", func() bool {
		s.share.mu.Lock()
		defer s.share.mu.Unlock()
		g := s.share.groups["sg"]
		if g == nil || len(g.members) != members {
			return false
		}
		for _, m := range g.members {
			if m.epoch != g.epoch {
				return false
			}
		}
		return true
	})
	produceValues(t, s, "queue", 2, n)
	select {
	case <-done:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		sts, _ := s.store.ShareStates(context.Background(), "sg")
		for _, st := range sts {
			p, _ := share.Decode(st.StartOffset, st.State)
			t.Logf("partition %d: start %d end %d %v", st.Key.Partition, p.Start, p.End(), p.Count())
		}
		t.Fatalf("received %d distinct records, want %d", len(seen), n)
	}
	for i := range members {
		if perMember[i] == 0 {
			t.Errorf("member %d received nothing: %v", i, perMember)
		}
	}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("record %s delivered %d times", v, c)
		}
	}
	// The acknowledgements are in the metastore: both partitions' start
	// offsets reach their high watermarks.
	eventually(t, 10*time.Second, "share start offsets at the high watermarks", func() bool {
		sts, err := s.store.ShareStates(context.Background(), "sg")
		if err != nil || len(sts) != 2 {
			return false
		}
		for _, st := range sts {
			if st.Key.TopicID != top.ID || st.StartOffset != n/2 {
				return false
			}
		}
		return true
	})
}

// countingShare counts the share-state transactions.
type countingShare struct {
	metastore.ShareStore
	updates atomic.Int64
}

func (c *countingShare) UpdateShareStates(ctx context.Context, keys []metastore.SharePartitionKey,
	fn func([]metastore.ShareState) ([]metastore.ShareState, error)) error {
	c.updates.Add(1)
	return c.ShareStore.UpdateShareStates(ctx, keys, fn)
}

// startShareServer is startServer with the share-state transactions
// counted.
func startShareServer(t *testing.T, opts ...any) (*testServer, *countingShare) {
	t.Helper()
	var counted *countingShare
	s := startServer(t, append(opts, func(s *Server) {
		counted = &countingShare{ShareStore: s.share.store}
		s.share.store = counted
	})...)
	return s, counted
}

func shareFetchReq(group, member string, epoch int32, topic [16]byte, parts ...int32) *kmsg.ShareFetchRequest {
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &group, &member, epoch
	req.MaxBytes, req.MaxRecords, req.BatchSize = 1<<20, 500, 500
	if len(parts) > 0 {
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = topic
		for _, p := range parts {
			rp := kmsg.NewShareFetchRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func withAck(req *kmsg.ShareFetchRequest, topic [16]byte, p int32, first, last int64, typ int8) *kmsg.ShareFetchRequest {
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewShareFetchRequestTopicPartition()
	rp.Partition = p
	b := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
	b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = first, last, []int8{typ}
	rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, b)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func shareAckReq(group, member string, epoch int32, topic [16]byte, p int32, first, last int64, typ int8) *kmsg.ShareAcknowledgeRequest {
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &group, &member, epoch
	rt := kmsg.NewShareAcknowledgeRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
	rp.Partition = p
	b := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
	b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = first, last, []int8{typ}
	rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, b)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// acquired returns the acquired ranges of the one partition of resp.
func acquired(t *testing.T, resp *kmsg.ShareFetchResponse) []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord {
	t.Helper()
	if resp.ErrorCode != 0 {
		t.Fatalf("share fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	var out []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("share fetch partition %d: %v", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
			}
			out = append(out, rp.AcquiredRecords...)
			if len(rp.AcquiredRecords) > 0 && len(rp.Records) == 0 {
				t.Fatalf("acquired %v without their records", rp.AcquiredRecords)
			}
		}
	}
	return out
}

func ackCode(resp *kmsg.ShareFetchResponse) int16 {
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.AcknowledgeErrorCode != 0 {
				return rp.AcknowledgeErrorCode
			}
		}
	}
	return 0
}

// TestShareSessionsAndAcks walks a share session through its epochs with
// raw requests: what a wrong epoch, a missing session and bad
// acknowledgements get; a release redelivers with a higher delivery
// count; a closed session releases what its member held; and each request
// is at most one share-state transaction.
func TestShareSessionsAndAcks(t *testing.T) {
	s, counted := startShareServer(t)
	top := mustCreateTopic(t, s, "q", 1)
	shareEarliest(t, s, "g", nil)
	produceValues(t, s, "q", 1, 10)
	id := [16]byte(top.ID)
	c := s.dial(t)

	if resp := c.roundTrip(shareFetchReq("g", "m1", 3, id, 0), 2).(*kmsg.ShareFetchResponse); resp.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("fetch without a session: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if resp := c.roundTrip(withAck(shareFetchReq("g", "m1", 0, id), id, 0, 0, 0, 1), 2).(*kmsg.ShareFetchResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("acks opening a session: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	before := counted.updates.Load()
	resp := c.roundTrip(shareFetchReq("g", "m1", 0, id, 0), 2).(*kmsg.ShareFetchResponse)
	got := acquired(t, resp)
	if len(got) != 1 || got[0].FirstOffset != 0 || got[0].LastOffset != 9 || got[0].DeliveryCount != 1 {
		t.Fatalf("acquired %+v, want 0-9 once", got)
	}
	if resp.AcquisitionLockTimeoutMillis != 30000 {
		t.Fatalf("lock timeout %d", resp.AcquisitionLockTimeoutMillis)
	}
	if n := counted.updates.Load() - before; n != 1 {
		t.Fatalf("%d transactions for one fetch", n)
	}
	if resp := c.roundTrip(shareFetchReq("g", "m1", 5, id), 2).(*kmsg.ShareFetchResponse); resp.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("wrong epoch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	// Another member cannot acknowledge m1's records.
	c2 := s.dial(t)
	c2.roundTrip(shareFetchReq("g", "m2", 0, id, 0), 2)
	if resp := c2.roundTrip(withAck(shareFetchReq("g", "m2", 1, id), id, 0, 0, 0, 1), 2).(*kmsg.ShareFetchResponse); ackCode(resp) != kerr.InvalidRecordState.Code {
		t.Fatalf("ack of another member's record: %v", kerr.ErrorForCode(ackCode(resp)))
	}
	// m1 accepts 0-4 and releases 5-9 in one request: one transaction,
	// and 5-9 go to m2 with a second delivery.
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = strPtr("g"), strPtr("m1"), 1
	rt := kmsg.NewShareAcknowledgeRequestTopic()
	rt.TopicID = id
	rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
	for _, b := range [][3]int64{{0, 4, 1}, {5, 9, 2}} {
		ab := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
		ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes = b[0], b[1], []int8{int8(b[2])}
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, ab)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	before = counted.updates.Load()
	ack := c.roundTrip(req, 2).(*kmsg.ShareAcknowledgeResponse)
	if ack.ErrorCode != 0 || ack.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("acknowledge: %v %v", kerr.ErrorForCode(ack.ErrorCode), kerr.ErrorForCode(ack.Topics[0].Partitions[0].ErrorCode))
	}
	if n := counted.updates.Load() - before; n != 1 {
		t.Fatalf("%d transactions for one acknowledge of ten records", n)
	}
	got = acquired(t, c2.roundTrip(shareFetchReq("g", "m2", 2, id), 2).(*kmsg.ShareFetchResponse))
	if len(got) != 1 || got[0].FirstOffset != 5 || got[0].LastOffset != 9 || got[0].DeliveryCount != 2 {
		t.Fatalf("redelivered %+v, want 5-9 a second time", got)
	}
	// Accepting again what is done is refused, as is acknowledging
	// past what was handed out.
	if resp := c.roundTrip(shareAckReq("g", "m1", 2, id, 0, 5, 9, 1), 2).(*kmsg.ShareAcknowledgeResponse); resp.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRecordState.Code {
		t.Fatalf("ack of records held by another: %v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}
	if resp := c.roundTrip(shareAckReq("g", "m1", 3, id, 0, 20, 30, 1), 2).(*kmsg.ShareAcknowledgeResponse); resp.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("ack past the end: %v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}
	// m2's connection closes: its records go back at once, to m3.
	c2.nc.Close()
	c3 := s.dial(t)
	eventually(t, 10*time.Second, "m2's records released", func() bool {
		resp := c3.roundTrip(shareFetchReq("g", "m3", 0, id, 0), 2).(*kmsg.ShareFetchResponse)
		got := acquired(t, resp)
		if len(got) == 0 {
			c3.roundTrip(shareFetchReq("g", "m3", -1, id), 2)
			return false
		}
		if got[0].FirstOffset != 5 || got[0].DeliveryCount != 3 {
			t.Fatalf("after the close acquired %+v", got)
		}
		return true
	})
	sts, err := s.store.ShareStates(context.Background(), "g")
	if err != nil || len(sts) != 1 || sts[0].StartOffset != 5 {
		t.Fatalf("stored state %+v %v, want start 5", sts, err)
	}
}

// TestShareFetchRenew: a v2 renewing fetch extends the lock and asks for
// nothing; renew types are refused without IsRenewAck.
func TestShareFetchRenew(t *testing.T) {
	s, _ := startShareServer(t)
	top := mustCreateTopic(t, s, "q", 1)
	shareEarliest(t, s, "g", nil)
	produceValues(t, s, "q", 1, 3)
	id := [16]byte(top.ID)
	c := s.dial(t)
	acquired(t, c.roundTrip(shareFetchReq("g", "m", 0, id, 0), 2).(*kmsg.ShareFetchResponse))
	if resp := c.roundTrip(withAck(shareFetchReq("g", "m", 1, id), id, 0, 0, 2, 4), 2).(*kmsg.ShareFetchResponse); ackCode(resp) != kerr.InvalidRequest.Code {
		t.Fatalf("renew without IsRenewAck: %v", kerr.ErrorForCode(ackCode(resp)))
	}
	req := withAck(shareFetchReq("g", "m", 2, id), id, 0, 0, 2, 4)
	req.MaxBytes, req.MaxRecords, req.BatchSize = 0, 0, 0
	req.IsRenewAck = true
	resp := c.roundTrip(req, 2).(*kmsg.ShareFetchResponse)
	if resp.ErrorCode != 0 || ackCode(resp) != 0 {
		t.Fatalf("renew: %v %v", kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(ackCode(resp)))
	}
	if got := acquired(t, resp); len(got) != 0 {
		t.Fatalf("a renewing fetch acquired %v", got)
	}
	req.MaxRecords = 5
	if resp := c.roundTrip(req, 2).(*kmsg.ShareFetchResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("renewing fetch asking for records: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}

// TestShareHeartbeatMembership: members join with epoch 0, get a higher
// epoch and partitions; with more members than partitions they share
// them; a stale epoch is fenced, an unknown member told so; describe shows
// the members.
func TestShareHeartbeatMembership(t *testing.T) {
	s, _ := startShareServer(t)
	top := mustCreateTopic(t, s, "q", 2)
	c := s.dial(t)
	hb := func(member string, epoch int32, topics ...string) *kmsg.ShareGroupHeartbeatResponse {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = "g", member, epoch, topics
		return c.roundTrip(req, 1).(*kmsg.ShareGroupHeartbeatResponse)
	}
	if r := hb("a", 0); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("join without topics: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := hb("zz", 4); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	parts := map[int32]int{}
	epochs := map[string]int32{}
	for _, m := range []string{"a", "b", "c"} {
		r := hb(m, 0, "q")
		if r.ErrorCode != 0 || r.MemberEpoch <= 0 || r.Assignment == nil {
			t.Fatalf("join %s: %v epoch %d assignment %v", m, kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch, r.Assignment)
		}
		epochs[m] = r.MemberEpoch
	}
	// Each member's next heartbeat brings it the group's final assignment.
	for _, m := range []string{"a", "b", "c"} {
		r := hb(m, epochs[m])
		if r.ErrorCode != 0 {
			t.Fatalf("heartbeat %s: %v", m, kerr.ErrorForCode(r.ErrorCode))
		}
		if r.Assignment == nil {
			r = hb(m, r.MemberEpoch, "q") // a full heartbeat always has it
		}
		for _, tp := range r.Assignment.TopicPartitions {
			if tp.TopicID != [16]byte(top.ID) || len(tp.Partitions) != 1 {
				t.Fatalf("%s assigned %+v, want one partition of q", m, r.Assignment)
			}
			parts[tp.Partitions[0]]++
		}
		epochs[m] = r.MemberEpoch
	}
	if parts[0]+parts[1] != 3 || parts[0] == 0 || parts[1] == 0 {
		t.Fatalf("members per partition %v", parts)
	}
	if r := hb("a", epochs["a"]+5); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("stale epoch: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	dreq := kmsg.NewPtrShareGroupDescribeRequest()
	dreq.GroupIDs = []string{"g", "none"}
	d := c.roundTrip(dreq, 1).(*kmsg.ShareGroupDescribeResponse)
	if g := d.Groups[0]; g.ErrorCode != 0 || len(g.Members) != 3 || g.GroupState != "Stable" || g.Assignor != "simple" ||
		g.Members[0].Assignment.TopicPartitions[0].Topic != "q" {
		t.Fatalf("describe: %+v", g)
	}
	if d.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe of an unknown group: %v", kerr.ErrorForCode(d.Groups[1].ErrorCode))
	}
	if r := hb("b", -1); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %v %d", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
	}
	d = c.roundTrip(dreq, 1).(*kmsg.ShareGroupDescribeResponse)
	if len(d.Groups[0].Members) != 2 {
		t.Fatalf("after a leave %d members", len(d.Groups[0].Members))
	}
}

// TestShareACLs: each share API asks for Kafka's ACLs (Read on the group,
// Read or Describe on the topics, Describe on the group to describe it).
func TestShareACLs(t *testing.T) {
	withTopic := func(t *testing.T, s *testServer, _ *rawConn) { mustCreateTopic(t, s, "orders", 1) }
	topicID := func(t *testing.T, c *rawConn) [16]byte {
		md := c.roundTrip(metadataRequest(false, "orders"), 12).(*kmsg.MetadataResponse)
		return md.Topics[0].TopicID
	}
	hb := func(t *testing.T, c *rawConn) int16 {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.SubscribedTopicNames = "sg", "m", []string{"orders"}
		return c.roundTrip(req, 1).(*kmsg.ShareGroupHeartbeatResponse).ErrorCode
	}
	fetch := func(t *testing.T, c *rawConn) int16 {
		resp := c.roundTrip(shareFetchReq("sg", "m", 0, [16]byte{}, 0), 2).(*kmsg.ShareFetchResponse)
		return resp.ErrorCode
	}
	fetchTopic := func(t *testing.T, c *rawConn) int16 {
		id := topicID(t, c)
		resp := c.roundTrip(shareFetchReq("sg", "m", 0, id, 0), 2).(*kmsg.ShareFetchResponse)
		if resp.ErrorCode != 0 {
			return resp.ErrorCode
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	ackTopic := func(t *testing.T, c *rawConn) int16 {
		id := topicID(t, c)
		c.roundTrip(shareFetchReq("sg", "m", 0, id), 2)
		resp := c.roundTrip(shareAckReq("sg", "m", 1, id, 0, 0, 0, 1), 2).(*kmsg.ShareAcknowledgeResponse)
		if resp.ErrorCode != 0 {
			return resp.ErrorCode
		}
		return allowedMeans(resp.Topics[0].Partitions[0].ErrorCode, kerr.InvalidRecordState)
	}
	describe := func(t *testing.T, c *rawConn) int16 {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{"sg"}
		return allowedMeans(c.roundTrip(req, 1).(*kmsg.ShareGroupDescribeResponse).Groups[0].ErrorCode, kerr.GroupIDNotFound)
	}
	describeOffsets := func(t *testing.T, c *rawConn) int16 {
		req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
		req.Groups = []kmsg.DescribeShareGroupOffsetsRequestGroup{{GroupID: "sg"}}
		return c.roundTrip(req, 1).(*kmsg.DescribeShareGroupOffsetsResponse).Groups[0].ErrorCode
	}
	alterOffsets := func(t *testing.T, c *rawConn) int16 {
		req := kmsg.NewPtrAlterShareGroupOffsetsRequest()
		req.GroupID = "sg"
		return c.roundTrip(req, 0).(*kmsg.AlterShareGroupOffsetsResponse).ErrorCode
	}
	deleteOffsets := func(t *testing.T, c *rawConn) int16 {
		req := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
		req.GroupID = "sg"
		return c.roundTrip(req, 0).(*kmsg.DeleteShareGroupOffsetsResponse).ErrorCode
	}
	groupConfigs := func(t *testing.T, c *rawConn) int16 {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "sg"
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value = "share.auto.offset.reset", strPtr("earliest")
		res.Configs = append(res.Configs, cfg)
		req.Resources = append(req.Resources, res)
		return c.roundTrip(req, 1).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
	}
	cases := []matrixCase{
		{name: "DescribeShareGroupOffsets", call: describeOffsets, denied: kerr.GroupAuthorizationFailed, audit: "sg",
			grants: []grantSpec{g(acl.ResourceGroup, "sg", acl.OpDescribe)}},
		{name: "AlterShareGroupOffsets", call: alterOffsets, denied: kerr.GroupAuthorizationFailed, audit: "sg",
			grants: []grantSpec{g(acl.ResourceGroup, "sg", acl.OpRead)}},
		{name: "DeleteShareGroupOffsets", call: deleteOffsets, denied: kerr.GroupAuthorizationFailed, audit: "sg",
			grants: []grantSpec{g(acl.ResourceGroup, "sg", acl.OpDelete)}},
		{name: "IncrementalAlterConfigs/group", call: groupConfigs, denied: kerr.GroupAuthorizationFailed, audit: "sg",
			grants: []grantSpec{g(acl.ResourceGroup, "sg", acl.OpAlterConfigs)}},
		{name: "ShareGroupHeartbeat/group", setup: withTopic, call: hb, denied: kerr.GroupAuthorizationFailed, audit: "sg",
			grants: []grantSpec{g(acl.ResourceGroup, "sg", acl.OpRead), g(acl.ResourceTopic, "orders", acl.OpDescribe)}},
		{name: "ShareGroupHeartbeat/topic", setup: withTopic, call: hb, denied: kerr.TopicAuthorizationFailed, audit: "orders",
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpDescribe), g(acl.ResourceGroup, "sg", acl.OpRead)}},
		{name: "ShareGroupDescribe", call: describe, denied: kerr.GroupAuthorizationFailed, audit: "sg",
			grants: []grantSpec{g(acl.ResourceGroup, "sg", acl.OpDescribe)}},
		{name: "ShareFetch/group", call: fetch, denied: kerr.GroupAuthorizationFailed, audit: "sg",
			grants: []grantSpec{g(acl.ResourceGroup, "sg", acl.OpRead)}},
		{name: "ShareFetch/topic", setup: withTopic, call: fetchTopic, denied: kerr.TopicAuthorizationFailed, audit: "orders",
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpRead, acl.OpDescribe), g(acl.ResourceGroup, "sg", acl.OpRead)}},
		{name: "ShareAcknowledge/topic", setup: withTopic, call: ackTopic, denied: kerr.TopicAuthorizationFailed, audit: "orders",
			grants: []grantSpec{g(acl.ResourceTopic, "orders", acl.OpRead, acl.OpDescribe), g(acl.ResourceGroup, "sg", acl.OpRead)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, audit := startACLServer(t)
			root := s.dialAs(t, admin)
			if tc.setup != nil {
				tc.setup(t, s, root)
			}
			c := s.dialAs(t, alice)
			for _, gs := range tc.grants[1:] {
				grant(t, s, alice, gs.rt, gs.name, gs.ops...)
			}
			if got := tc.call(t, c); got != tc.denied.Code {
				t.Fatalf("without the ACL: %v, want %v", kerr.ErrorForCode(got), tc.denied)
			}
			if lines := audit.lines("component=audit", "msg=denied", "principal="+alice, "resource="+tc.audit); len(lines) == 0 {
				t.Errorf("no denial of %s in the audit log:\n%s", tc.audit, audit)
			}
			grant(t, s, alice, tc.grants[0].rt, tc.grants[0].name, tc.grants[0].ops...)
			if got := tc.call(t, c); got != 0 {
				t.Fatalf("with the ACLs: %v", kerr.ErrorForCode(got))
			}
		})
	}
}

// TestShareOffsetsAndGroupConfigs: the group configs through
// IncrementalAlterConfigs and DescribeConfigs on resource type GROUP, and
// DescribeShareGroupOffsets, AlterShareGroupOffsets and
// DeleteShareGroupOffsets sent by franz-go to the coordinator.
func TestShareOffsetsAndGroupConfigs(t *testing.T) {
	s, _ := startShareServer(t)
	top := mustCreateTopic(t, s, "q", 1)
	produceValues(t, s, "q", 1, 10)
	cl, _ := s.clients(t)
	ctx := testContext(t)
	alter := func(name string, op kmsg.IncrementalAlterConfigOp, value *string) int16 {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "g"
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = name, op, value
		res.Configs = append(res.Configs, c)
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources[0].ErrorCode
	}
	set := kmsg.IncrementalAlterConfigOpSet
	for _, bad := range [][2]string{{"share.delivery.count.limit", "1"}, {"share.auto.offset.reset", "middle"},
		{"share.record.lock.duration.ms", "x"}, {"session.timeout.ms", "1"}} {
		if code := alter(bad[0], set, strPtr(bad[1])); code != kerr.InvalidConfig.Code {
			t.Errorf("%s=%s: %v", bad[0], bad[1], kerr.ErrorForCode(code))
		}
	}
	for _, good := range [][2]string{{"share.auto.offset.reset", "earliest"}, {"share.delivery.count.limit", "3"}, {"share.isolation.level", "read_committed"}} {
		if code := alter(good[0], set, strPtr(good[1])); code != 0 {
			t.Fatalf("%s=%s: %v", good[0], good[1], kerr.ErrorForCode(code))
		}
	}
	if code := alter("share.isolation.level", kmsg.IncrementalAlterConfigOpDelete, nil); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dres := kmsg.NewDescribeConfigsRequestResource()
	dres.ResourceType, dres.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "g"
	dreq.Resources = append(dreq.Resources, dres)
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil || dresp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe configs: %v %+v", err, dresp)
	}
	got := map[string]string{}
	for _, c := range dresp.Resources[0].Configs {
		src := "default"
		if c.Source == kmsg.ConfigSourceGroupConfig {
			src = "group"
		}
		got[c.Name] = *c.Value + "/" + src
	}
	want := map[string]string{"share.auto.offset.reset": "earliest/group", "share.delivery.count.limit": "3/group",
		"share.isolation.level": "read_uncommitted/default", "share.record.lock.duration.ms": "30000/default"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("group configs %v, want %v", got, want)
	}

	id := [16]byte(top.ID)
	c := s.dial(t)
	acquired(t, c.roundTrip(shareFetchReq("g", "m", 0, id, 0), 2).(*kmsg.ShareFetchResponse))
	c.roundTrip(shareAckReq("g", "m", 1, id, 0, 0, 3, 1), 2)
	describe := func() kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition {
		req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
		g := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
		g.GroupID = "g"
		req.Groups = append(req.Groups, g)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Groups[0].ErrorCode != 0 {
			t.Fatalf("describe share offsets: %v %+v", err, resp)
		}
		if len(resp.Groups[0].Topics) == 0 {
			return kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition{StartOffset: -1}
		}
		return resp.Groups[0].Topics[0].Partitions[0]
	}
	if p := describe(); p.StartOffset != 4 || p.Lag != 6 {
		t.Fatalf("describe: start %d lag %d, want 4 and 6", p.StartOffset, p.Lag)
	}
	alterOffsets := func(off int64) (int16, int16) {
		req := kmsg.NewPtrAlterShareGroupOffsetsRequest()
		req.GroupID = "g"
		rt := kmsg.NewAlterShareGroupOffsetsRequestTopic()
		rt.Topic = "q"
		rp := kmsg.NewAlterShareGroupOffsetsRequestTopicPartition()
		rp.StartOffset = off
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 {
			return resp.ErrorCode, 0
		}
		return 0, resp.Topics[0].Partitions[0].ErrorCode
	}
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.SubscribedTopicNames = "g", "m", []string{"q"}
	if resp, err := hb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("join: %v %v", err, resp)
	}
	if top, _ := alterOffsets(8); top != kerr.NonEmptyGroup.Code {
		t.Fatalf("alter with a member: %v", kerr.ErrorForCode(top))
	}
	hb.MemberEpoch, hb.SubscribedTopicNames = -1, nil
	if resp, err := hb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("leave: %v %v", err, resp)
	}
	if _, p := alterOffsets(11); p != kerr.OffsetOutOfRange.Code {
		t.Fatalf("alter past the end: %v", kerr.ErrorForCode(p))
	}
	if top, p := alterOffsets(8); top != 0 || p != 0 {
		t.Fatalf("alter: %v %v", kerr.ErrorForCode(top), kerr.ErrorForCode(p))
	}
	if p := describe(); p.StartOffset != 8 || p.Lag != 2 {
		t.Fatalf("after alter: start %d lag %d", p.StartOffset, p.Lag)
	}
	c2 := s.dial(t)
	if got := acquired(t, c2.roundTrip(shareFetchReq("g", "m2", 0, id, 0), 2).(*kmsg.ShareFetchResponse)); len(got) != 1 || got[0].FirstOffset != 8 || got[0].LastOffset != 9 {
		t.Fatalf("after alter acquired %+v, want 8-9", got)
	}
	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = "g"
	del.Topics = []kmsg.DeleteShareGroupOffsetsRequestTopic{{Topic: "q"}}
	if resp, err := del.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete: %v %+v", err, resp)
	}
	if p := describe(); p.StartOffset != -1 {
		t.Fatalf("after delete start %d", p.StartOffset)
	}
}

// shareFuzzSeeds are the share-group requests among FuzzDispatch's seeds:
// a join, a session opened and continued with acknowledgements, an
// acknowledgement, the offsets APIs.
func shareFuzzSeeds() []kmsg.Request {
	var id [16]byte
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.SubscribedTopicNames = "fuzz-g", "m", []string{"fuzz-a"}
	desc := kmsg.NewPtrShareGroupDescribeRequest()
	desc.GroupIDs = []string{"fuzz-g"}
	offs := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	offs.Groups = []kmsg.DescribeShareGroupOffsetsRequestGroup{{GroupID: "fuzz-g"}}
	alter := kmsg.NewPtrAlterShareGroupOffsetsRequest()
	alter.GroupID = "fuzz-g"
	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = "fuzz-g"
	return []kmsg.Request{hb, desc, shareFetchReq("fuzz-g", "m", 0, id, 0),
		withAck(shareFetchReq("fuzz-g", "m", 1, id), id, 0, 0, 3, 1),
		shareAckReq("fuzz-g", "m", 2, id, 0, 0, 3, 2), offs, alter, del}
}
