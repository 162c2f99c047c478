package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file checks consumer-protocol (KIP-848) groups with franz-go's
// kgo.ServerSideBalancer(): the broker assigns the partitions and members
// reconcile through ConsumerGroupHeartbeat.

// consumerProtocolGroups are strata's settings for these tests: members
// whose session ends 6 seconds after their last heartbeat, heartbeating
// every half second.
var consumerProtocolGroups = []string{"-groups.consumer-session-timeout=6s", "-groups.consumer-heartbeat-interval=500ms"}

// describeConsumerGroup describes a consumer-protocol group with
// ConsumerGroupDescribe; nil on error.
func describeConsumerGroup(ctx context.Context, cl *kgo.Client, group string) *kmsg.ConsumerGroupDescribeResponseGroup {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
		return nil
	}
	return &resp.Groups[0]
}

// settledConsumers reports whether a consumer-protocol group is Stable
// with exactly members members, every one at the assignment epoch and
// owning its target, which between them own each partition exactly once.
// It returns the owner of each partition by client id.
func settledConsumers(g *kmsg.ConsumerGroupDescribeResponseGroup, members int, topic string, partitions int32) (map[int32]string, error) {
	if g == nil || g.State != "Stable" || len(g.Members) != members {
		return nil, fmt.Errorf("group not Stable with %d members: %+v", members, g)
	}
	owner := map[int32]string{}
	for _, m := range g.Members {
		if m.MemberEpoch != g.AssignmentEpoch {
			return nil, fmt.Errorf("member %s at epoch %d, the assignment's is %d", m.ClientID, m.MemberEpoch, g.AssignmentEpoch)
		}
		for _, at := range m.Assignment.TopicPartitions {
			if at.Topic != topic {
				return nil, fmt.Errorf("member %s: assigned topic %q", m.ClientID, at.Topic)
			}
			for _, p := range at.Partitions {
				if prev, dup := owner[p]; dup {
					return nil, fmt.Errorf("partition %d owned by %s and %s", p, prev, m.ClientID)
				}
				owner[p] = m.ClientID
			}
		}
	}
	if int32(len(owner)) != partitions {
		return nil, fmt.Errorf("%d of %d partitions assigned: %v", len(owner), partitions, owner)
	}
	return owner, nil
}

func ownedBy(owner map[int32]string, clientID string) []int32 {
	var ps []int32
	for p, o := range owner {
		if o == clientID {
			ps = append(ps, p)
		}
	}
	return ps
}

// TestFranzConsumerProtocolGroupChurn is TestFranzConsumerGroupChurn with
// KIP-848 groups: franz-go consumers with kgo.ServerSideBalancer() on a
// 12-partition topic while a producer writes; three members start, one
// leaves, another joins, one dies without leaving (its session ends on the
// broker). Every produced record is consumed at least once, committed
// offsets never go back, and the settled group owns each partition
// exactly once; with the uniform assignor (franz-go's sticky balancers)
// and with range.
func TestFranzConsumerProtocolGroupChurn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
		assignor string
	}{
		{"uniform", kgo.CooperativeStickyBalancer(), "uniform"},
		{"range", kgo.RangeBalancer(), "range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testConsumerProtocolChurn(t, tc.balancer, tc.assignor)
		})
	}
}

func testConsumerProtocolChurn(t *testing.T, balancer kgo.GroupBalancer, assignor string) {
	s := startStrata(t, modeDev, strataOpts{Args: append(append([]string{}, fastGroups...), consumerProtocolGroups...)})
	const topic, group, partitions = "churn", "churn-group", 12
	createTopic(t, s.KafkaAddr, topic, partitions)
	admCl := newClient(t, s.KafkaAddr)
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	type pos struct {
		p int32
		o int64
	}
	var mu sync.Mutex
	consumed := map[pos]string{}
	reads := 0
	var mismatch []string

	acked := map[pos]string{}
	var ackMu sync.Mutex
	producer := newClient(t, s.KafkaAddr, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	stopProducing := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; ; i++ {
			select {
			case <-stopProducing:
				return
			case <-time.After(3 * time.Millisecond): // a steady rate, not a synchronisation
			}
			r := &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}
			producer.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
					return
				}
				ackMu.Lock()
				acked[pos{r.Partition, r.Offset}] = string(r.Value)
				ackMu.Unlock()
			})
		}
	}()

	start := func(name string, commitEvery time.Duration) *groupMember {
		m := &groupMember{name: name, ks: &killSwitch{}, done: make(chan struct{}), next: map[int32]int64{}}
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr), kgo.ClientID(name), kgo.Dialer(m.ks.dial),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(balancer), kgo.ServerSideBalancer(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.RebalanceTimeout(20*time.Second), kgo.AutoCommitInterval(commitEvery),
			kgo.FetchMaxWait(500*time.Millisecond), kgo.RetryTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		m.cl = cl
		pctx, pcancel := context.WithCancel(ctx)
		m.cancel = pcancel
		go func() {
			defer close(m.done)
			for pctx.Err() == nil {
				fs := cl.PollFetches(pctx)
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					defer mu.Unlock()
					k := pos{r.Partition, r.Offset}
					if v, ok := consumed[k]; ok && v != string(r.Value) {
						mismatch = append(mismatch, fmt.Sprintf("%d/%d: %q then %q", k.p, k.o, v, r.Value))
					}
					consumed[k] = string(r.Value)
					reads++
					m.next[r.Partition] = r.Offset + 1
				})
			}
		}()
		return m
	}
	stopPolling := func(m *groupMember) {
		m.cancel()
		<-m.done
	}

	highest := map[int32]int64{}
	var regressions []string
	stopWatching := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatching:
				return
			case <-time.After(50 * time.Millisecond):
			}
			offs, err := committed(ctx, adm, group, topic)
			if err != nil {
				continue
			}
			mu.Lock()
			for p, o := range offs {
				if o.At < highest[p] {
					regressions = append(regressions, fmt.Sprintf("partition %d: %d after %d", p, o.At, highest[p]))
				}
				highest[p] = max(highest[p], o.At)
			}
			mu.Unlock()
		}
	}()

	var lastDescribed *kmsg.ConsumerGroupDescribeResponseGroup
	waitSettled := func(what string, members int) map[int32]string {
		t.Helper()
		var owner map[int32]string
		var last error
		waitFor(t, 45*time.Second, what, func() bool {
			lastDescribed = describeConsumerGroup(ctx, admCl, group)
			owner, last = settledConsumers(lastDescribed, members, topic, partitions)
			return last == nil
		})
		return owner
	}
	const commitEvery = 300 * time.Millisecond
	a, b, c := start("member-a", commitEvery), start("member-b", time.Hour), start("member-c", commitEvery)
	defer func() {
		stopPolling(c)
		c.cl.Close()
	}()
	t.Logf("three members: %v", waitSettled("three members to share the partitions", 3))
	if lastDescribed.AssignorName != assignor {
		t.Errorf("assignor %q, want %q", lastDescribed.AssignorName, assignor)
	}
	// The group is a consumer-protocol group: classic DescribeGroups
	// does not know it, and ListGroups says so.
	if d, err := adm.DescribeGroups(ctx, group); err == nil && d[group].Err == nil {
		t.Errorf("DescribeGroups describes the consumer group: %+v", d[group])
	}
	if lg, err := adm.ListGroups(ctx); err != nil || lg[group].ProtocolType != "consumer" {
		t.Errorf("ListGroups: %+v, %v", lg[group], err)
	}
	lgr := kmsg.NewPtrListGroupsRequest()
	lgr.TypesFilter = []string{"consumer"}
	if resp, err := lgr.RequestWith(ctx, admCl); err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupType != "consumer" {
		t.Errorf("ListGroups of consumer groups: %+v, %v", resp, err)
	}

	stopPolling(a)
	a.cl.Close() // commits and leaves the group (epoch -1)
	t.Logf("member-a left: %v", waitSettled("two members after member-a left", 2))

	d := start("member-d", commitEvery)
	defer func() {
		stopPolling(d)
		d.cl.Close()
	}()
	t.Logf("member-d joined: %v", waitSettled("three members after member-d joined", 3))

	// member-b commits only when partitions are revoked: it dies with
	// records read and not committed, which the others must read again.
	var ahead int64
	waitFor(t, 30*time.Second, "member-b to read 20 records past its last commit", func() bool {
		offs, err := committed(ctx, adm, group, topic)
		if err != nil {
			return false
		}
		owner, err := settledConsumers(describeConsumerGroup(ctx, admCl, group), 3, topic, partitions)
		if err != nil {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		ahead = 0
		for _, p := range ownedBy(owner, "member-b") {
			ahead += max(0, b.next[p]-offs[p].At)
		}
		return ahead >= 20
	})
	killed := time.Now()
	b.ks.kill()
	stopPolling(b)
	go b.cl.Close() // its leave cannot reach the broker
	offs, err := committed(ctx, adm, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ahead = 0
	for p, next := range b.next {
		ahead += max(0, next-offs[p].At)
	}
	rereadBefore := reads - len(consumed)
	mu.Unlock()
	t.Logf("member-b died %d records past its last commit", ahead)
	owner := waitSettled("member-b's session to end", 2)
	t.Logf("member-b removed after %v: %v", time.Since(killed).Round(time.Millisecond), owner)

	ackMu.Lock()
	settledAt := len(acked)
	ackMu.Unlock()
	waitFor(t, 30*time.Second, "300 more records written to the settled group", func() bool {
		ackMu.Lock()
		defer ackMu.Unlock()
		return len(acked) >= settledAt+300
	})
	close(stopProducing)
	<-produced
	if err := producer.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	ends := endOffsets(t, s.KafkaAddr, topic)
	waitFor(t, 30*time.Second, "every record to be consumed and committed", func() bool {
		offs, err := committed(ctx, adm, group, topic)
		if err != nil {
			return false
		}
		for p, end := range ends {
			if offs[p].At != end {
				return false
			}
		}
		return true
	})
	close(stopWatching)
	<-watched

	mu.Lock()
	defer mu.Unlock()
	ackMu.Lock()
	defer ackMu.Unlock()
	missing := 0
	for k, v := range acked {
		got, ok := consumed[k]
		if !ok {
			if missing++; missing <= 10 {
				t.Errorf("record %q at %d/%d never consumed", v, k.p, k.o)
			}
			continue
		}
		if got != v {
			t.Errorf("record at %d/%d: consumed %q, produced %q", k.p, k.o, got, v)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d records never consumed", missing, len(acked))
	}
	for _, m := range mismatch {
		t.Errorf("one position read with two values: %s", m)
	}
	for _, r := range regressions {
		t.Errorf("committed offset went back: %s", r)
	}
	reread := reads - len(consumed) - rereadBefore
	t.Logf("%d records produced and consumed; %d read again after member-b died", len(acked), reread)
	if int64(reread) < ahead {
		t.Errorf("%d records read again after member-b died, want at least the %d it read and did not commit", reread, ahead)
	}
	final, err := settledConsumers(describeConsumerGroup(ctx, admCl, group), 2, topic, partitions)
	if err != nil {
		t.Errorf("settled group: %v", err)
	}
	for p, o := range final {
		if o != "member-c" && o != "member-d" {
			t.Errorf("partition %d owned by %s, want member-c or member-d", p, o)
		}
	}
}

// TestFranzConsumerProtocolRefusesClassic: a group is of one kind. A
// classic franz-go consumer cannot join a consumer-protocol group that has
// members, and the consumer-protocol member keeps its partitions.
func TestFranzConsumerProtocolRefusesClassic(t *testing.T) {
	s := startStrata(t, modeDev, strataOpts{Args: append(append([]string{}, fastGroups...), consumerProtocolGroups...)})
	const topic, group = "kinds", "kinds-group"
	createTopic(t, s.KafkaAddr, topic, 4)
	admCl := newClient(t, s.KafkaAddr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	newClient(t, s.KafkaAddr, kgo.ClientID("next"), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer())
	waitFor(t, 30*time.Second, "the consumer-protocol member to own the partitions", func() bool {
		_, err := settledConsumers(describeConsumerGroup(ctx, admCl, group), 1, topic, 4)
		return err == nil
	})
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType = group, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 10_000, 10_000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: (&kmsg.ConsumerMemberMetadata{Topics: []string{topic}}).AppendTo(nil)}}
	resp, err := join.RequestWith(ctx, admCl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic JoinGroup of a consumer group: error %d, want INCONSISTENT_GROUP_PROTOCOL", resp.ErrorCode)
	}
	if _, err := settledConsumers(describeConsumerGroup(ctx, admCl, group), 1, topic, 4); err != nil {
		t.Fatalf("after the refused join: %v", err)
	}
}

// TestConsumerProtocolCoordinatorMove is TestGroupCoordinatorMove with
// consumer-protocol (KIP-848) members: the group's coordinator is stopped
// or killed while two franz-go members with kgo.ServerSideBalancer()
// consume and commit. After a stop the members keep their ids and epochs
// and never reconcile again; after a kill they keep their ids and no
// committed offset goes back.
func TestConsumerProtocolCoordinatorMove(t *testing.T) {
	for _, how := range []string{"stop", "kill"} {
		t.Run(how, func(t *testing.T) { testGroupCoordinatorMove(t, how, true) })
	}
}

// TestFranzConsumerProtocolStaticMember: a static member (kgo.InstanceID)
// of a consumer-protocol group that restarts gets its partitions back
// without a rebalance: the group epoch does not move and the other member
// gives up nothing.
func TestFranzConsumerProtocolStaticMember(t *testing.T) {
	s := startStrata(t, modeDev, strataOpts{Args: consumerProtocolGroups})
	const topic, group = "static", "static-group"
	createTopic(t, s.KafkaAddr, topic, 6)
	admCl := newClient(t, s.KafkaAddr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	revokedB := 0
	member := func(name, instance string, opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.KafkaAddr), kgo.ClientID(name), kgo.InstanceID(instance),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer()}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	b := member("member-b", "ib", kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
		mu.Lock()
		revokedB += len(r[topic])
		mu.Unlock()
	}))
	defer b.Close()
	a := member("member-a", "ia")
	var owner map[int32]string
	var epoch int32
	waitFor(t, 30*time.Second, "two static members to share the partitions", func() bool {
		g := describeConsumerGroup(ctx, admCl, group)
		var err error
		if owner, err = settledConsumers(g, 2, topic, 6); err != nil {
			return false
		}
		epoch = g.Epoch
		return true
	})
	mu.Lock()
	revokedB = 0
	mu.Unlock()
	ownedA := ownedBy(owner, "member-a")
	a.Close() // a static leave (epoch -2): the partitions wait for the instance
	g := describeConsumerGroup(ctx, admCl, group)
	if g == nil || len(g.Members) != 2 || g.Epoch != epoch {
		t.Fatalf("after the static leave: %+v", g)
	}
	a2 := member("member-a", "ia")
	defer a2.Close()
	waitFor(t, 30*time.Second, "the restarted instance to own its partitions", func() bool {
		g := describeConsumerGroup(ctx, admCl, group)
		o, err := settledConsumers(g, 2, topic, 6)
		if err != nil {
			return false
		}
		for _, m := range g.Members {
			if m.ClientID == "member-a" && m.MemberEpoch == -2 {
				return false
			}
		}
		owner = o
		return true
	})
	g = describeConsumerGroup(ctx, admCl, group)
	if g.Epoch != epoch {
		t.Errorf("group epoch %d after the restart, %d before", g.Epoch, epoch)
	}
	got := ownedBy(owner, "member-a")
	slices.Sort(got)
	slices.Sort(ownedA)
	if !slices.Equal(got, ownedA) {
		t.Errorf("the restarted instance owns %v, before %v", got, ownedA)
	}
	mu.Lock()
	defer mu.Unlock()
	if revokedB != 0 {
		t.Errorf("member-b had %d partitions revoked across the restart", revokedB)
	}
}
