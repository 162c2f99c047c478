package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Share groups (KIP-932) with franz-go share consumers against strata
// serve nodes sharing PostgreSQL and MinIO.

// shareNodeArgs make share-group members learn their assignment quickly.
var shareNodeArgs = []string{"-kafka.share-heartbeat-interval", "1s"}

// setShareConfigs sets a group's configs with IncrementalAlterConfigs on
// resource type GROUP, as a user does.
func setShareConfigs(t testing.TB, cl *kgo.Client, group string, kv ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	for i := 0; i < len(kv); i += 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = kv[i], &kv[i+1]
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("set group configs: %v", err)
	}
}

// shareLag is the sum of the share group's lag on topic (records not yet
// acknowledged or archived), from DescribeShareGroupOffsets; -1 when a
// partition has no state.
func shareLag(t testing.TB, cl *kgo.Client, group, topic string, parts int) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	g := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	g.GroupID = group
	rt := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
	rt.Topic = topic
	for p := range parts {
		rt.Partitions = append(rt.Partitions, int32(p))
	}
	g.Topics = append(g.Topics, rt)
	req.Groups = append(req.Groups, g)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Groups[0].ErrorCode != 0 || len(resp.Groups[0].Topics) != 1 {
		return -1
	}
	var lag int64
	for _, p := range resp.Groups[0].Topics[0].Partitions {
		if p.ErrorCode != 0 || p.Lag < 0 {
			return -1
		}
		lag += p.Lag
	}
	return lag
}

// shareMembersSettled is the number of the group's members that have the
// group's current assignment and a partition in it.
func shareMembersSettled(cl *kgo.Client, group string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.GroupIDs = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
		return 0
	}
	g := resp.Groups[0]
	n := 0
	for _, m := range g.Members {
		if m.MemberEpoch == g.GroupEpoch && len(m.Assignment.TopicPartitions) > 0 {
			n++
		}
	}
	return n
}

// produceShare writes values over the topic's partitions in turn.
func produceShare(t testing.TB, c *testCluster, seeds []string, topic string, parts int, values []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := c.client(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	rs := make([]*kgo.Record, len(values))
	for i, v := range values {
		rs[i] = &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: []byte(v)}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// delivery is one record as a member received it.
type delivery struct {
	member int
	value  string
	count  int32
}

// shareLog collects the deliveries of every member.
type shareLog struct {
	mu  sync.Mutex
	all []delivery
}

func (l *shareLog) add(d delivery) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

func (l *shareLog) snapshot() []delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]delivery(nil), l.all...)
}

// TestShareGroupQueue: eight franz-go share consumers on a two-partition
// topic, spread over two nodes. Every member receives records; every
// record accepted is delivered once; records released once are delivered
// again (with a higher delivery count) and then accepted; rejected ones
// are never delivered again; a poison record, released on every delivery,
// is delivered share.delivery.count.limit times and then archived; in the
// end the group has no lag.
func TestShareGroupQueue(t *testing.T) {
	c := startCluster(t, nodeSpec{ID: 1, Args: shareNodeArgs}, nodeSpec{ID: 2, Args: shareNodeArgs})
	const (
		topic   = "jobs"
		group   = "workers"
		members = 8
		n       = 400
	)
	createTopic(t, c.addr(1), topic, 2)
	admin := c.client(t, c.addrs())
	setShareConfigs(t, admin, group, "share.auto.offset.reset", "earliest", "share.delivery.count.limit", "3",
		"share.record.lock.duration.ms", "5000")
	var values []string
	for i := range n {
		switch {
		case i == 7:
			values = append(values, "poison")
		case i%10 == 3:
			values = append(values, fmt.Sprintf("release-%d", i))
		case i%10 == 5:
			values = append(values, fmt.Sprintf("reject-%d", i))
		default:
			values = append(values, fmt.Sprintf("accept-%d", i))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log shareLog
	var wg sync.WaitGroup
	for m := range members {
		cl := c.client(t, c.addrs(), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.ShareMaxRecords(5),
			kgo.ClientID(fmt.Sprintf("worker-%d", m)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cl.PollRecords(ctx, 5).EachRecord(func(r *kgo.Record) {
					v := string(r.Value)
					log.add(delivery{member: m, value: v, count: r.DeliveryCount()})
					switch {
					case v == "poison", strings.HasPrefix(v, "release-") && r.DeliveryCount() == 1:
						r.Ack(kgo.AckRelease)
					case strings.HasPrefix(v, "reject-"):
						r.Ack(kgo.AckReject)
					default:
						r.Ack(kgo.AckAccept)
					}
				})
			}
		}()
	}
	waitFor(t, 60*time.Second, "every member in the group with its partition", func() bool {
		return shareMembersSettled(admin, group) == members
	})
	produceShare(t, c, c.addrs(), topic, 2, values)
	waitFor(t, 90*time.Second, "every record acknowledged or archived", func() bool {
		return shareLag(t, admin, group, topic, 2) == 0
	})
	cancel()
	wg.Wait()

	got := map[string][]delivery{}
	perMember := map[int]int{}
	for _, d := range log.snapshot() {
		got[d.value] = append(got[d.value], d)
		perMember[d.member]++
	}
	for m := range members {
		if perMember[m] == 0 {
			t.Errorf("member %d received nothing (per member %v)", m, perMember)
		}
	}
	for _, v := range values {
		ds := got[v]
		switch {
		case v == "poison":
			if len(ds) != 3 {
				t.Errorf("poison record delivered %d times, want the delivery limit 3", len(ds))
			}
		case strings.HasPrefix(v, "release-"):
			if len(ds) != 2 || ds[1].count != 2 {
				t.Errorf("%s: deliveries %+v, want two, the second with count 2", v, ds)
			}
		default:
			if len(ds) != 1 {
				t.Errorf("%s: delivered %d times, want once", v, len(ds))
			}
		}
	}
}

// TestShareGroupLockExpiry: a member that acquires records and stops
// (hangs: its connection stays open, it never acknowledges) loses them
// when their lock runs out, and another member receives them, as a
// second delivery.
func TestShareGroupLockExpiry(t *testing.T) {
	c := startCluster(t, nodeSpec{ID: 1, Args: shareNodeArgs})
	const topic, group = "locks", "lock-group"
	createTopic(t, c.addr(1), topic, 1)
	admin := c.client(t, c.addrs())
	setShareConfigs(t, admin, group, "share.auto.offset.reset", "earliest", "share.record.lock.duration.ms", "2000")
	produceShare(t, c, c.addrs(), topic, 1, []string{"a", "b", "c"})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hung := c.client(t, c.addrs(), kgo.ShareGroup(group), kgo.ConsumeTopics(topic))
	first := map[string]bool{}
	for len(first) < 3 && ctx.Err() == nil {
		hung.PollRecords(ctx, 10).EachRecord(func(r *kgo.Record) { first[string(r.Value)] = true })
	}
	if len(first) != 3 {
		t.Fatalf("the first member received %v", first)
	}
	start := time.Now()
	other := c.client(t, c.addrs(), kgo.ShareGroup(group), kgo.ConsumeTopics(topic))
	again := map[string]int32{}
	for len(again) < 3 && ctx.Err() == nil {
		other.PollRecords(ctx, 10).EachRecord(func(r *kgo.Record) {
			again[string(r.Value)] = r.DeliveryCount()
			r.Ack(kgo.AckAccept)
		})
	}
	if len(again) != 3 {
		t.Fatalf("the second member received %v", again)
	}
	for v, n := range again {
		// At least 2: the hung member's client may fetch them again in
		// the background once their lock runs out, without handing them
		// to its (stopped) application.
		if n < 2 {
			t.Errorf("%s redelivered with count %d, want at least 2", v, n)
		}
	}
	if waited := time.Since(start); waited < 1500*time.Millisecond {
		t.Errorf("redelivered after %s, before the lock ran out", waited)
	}
	if err := other.FlushAcks(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the redelivered records acknowledged", func() bool { return shareLag(t, admin, group, topic, 1) == 0 })
}

// TestShareGroupNodeKilled: four members consume on two nodes while a
// producer writes; one node is killed (SIGKILL). Every record ends
// acknowledged (no acknowledgement is lost: the group's lag reaches zero)
// and no record whose acceptance the broker confirmed is delivered again.
func TestShareGroupNodeKilled(t *testing.T) {
	c := startCluster(t, nodeSpec{ID: 1, Args: shareNodeArgs}, nodeSpec{ID: 2, Args: shareNodeArgs})
	const (
		topic   = "survive"
		group   = "survivors"
		members = 4
		n       = 600
	)
	createTopic(t, c.addr(1), topic, 2)
	admin := c.client(t, c.addrs(2))
	setShareConfigs(t, admin, group, "share.auto.offset.reset", "earliest", "share.record.lock.duration.ms", "3000")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu        sync.Mutex
		confirmed = map[string]bool{} // accepted, and the broker said so
		again     []string            // confirmed, then delivered again
		seen      = map[string]bool{}
	)
	var wg sync.WaitGroup
	for range members {
		var failed sync.Map
		cl := c.client(t, c.addrs(), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.ShareMaxRecords(20),
			kgo.ShareAckCallback(func(_ *kgo.Client, rs kgo.ShareAckResults) {
				for _, r := range rs {
					if r.Err != nil {
						failed.Store(r.Partition, true)
					}
				}
			}))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var polled []string
				cl.PollRecords(ctx, 20).EachRecord(func(r *kgo.Record) {
					v := string(r.Value)
					mu.Lock()
					if confirmed[v] {
						again = append(again, v)
					}
					seen[v] = true
					mu.Unlock()
					polled = append(polled, fmt.Sprintf("%d/%s", r.Partition, v))
					r.Ack(kgo.AckAccept)
				})
				if len(polled) == 0 {
					continue
				}
				fctx, fcancel := context.WithTimeout(ctx, 20*time.Second)
				err := cl.FlushAcks(fctx)
				fcancel()
				if err != nil {
					continue
				}
				mu.Lock()
				for _, pv := range polled {
					var p int32
					var v string
					fmt.Sscanf(pv, "%d/%s", &p, &v)
					if _, bad := failed.Load(p); !bad {
						confirmed[v] = true
					}
				}
				mu.Unlock()
				failed.Clear()
			}
		}()
	}
	var values []string
	for i := range n {
		values = append(values, fmt.Sprintf("r%04d", i))
	}
	produceShare(t, c, c.addrs(2), topic, 2, values[:n/2])
	waitFor(t, 60*time.Second, "members to be consuming", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(confirmed) > 50
	})
	c.nodes[1].Signal(syscall.SIGKILL)
	produceShare(t, c, c.addrs(2), topic, 2, values[n/2:])
	waitFor(t, 120*time.Second, "every record acknowledged", func() bool {
		return shareLag(t, admin, group, topic, 2) == 0
	})
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, v := range values {
		if !seen[v] {
			t.Errorf("record %s never delivered", v)
		}
	}
	if len(again) > 0 {
		t.Errorf("records delivered again after their acceptance was confirmed: %v", again)
	}
	t.Logf("%d records confirmed accepted", len(confirmed))
}
