package e2e

import (
	"context"
	"fmt"
	"maps"
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

// TestGroupCoordinatorMove moves a consumer group's coordinator while two
// franz-go members consume and commit: the node coordinating the group is
// stopped (SIGTERM, which hands the group over) or killed (SIGKILL, after
// which the other node takes the group when the dead one's lease ends).
// In both cases the members keep their member ids, no commit is refused
// with UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or FENCED_INSTANCE_ID,
// committed offsets never move back, and the last commits are kept.
//
// After a stop the members do not notice: same generation, no rejoin, no
// revocation, no failed commit, every acked record consumed exactly once.
// After a kill franz-go may give up a heartbeat while no node can answer
// for the group (about a second of refused connections before the lease
// ends, up to -cluster.lease) and rejoin with its member id, which starts
// a new generation: a partition may then be consumed again, but from no
// lower than the offset committed before the kill.
func TestGroupCoordinatorMove(t *testing.T) {
	for _, how := range []string{"stop", "kill"} {
		t.Run(how, func(t *testing.T) { testGroupCoordinatorMove(t, how, false) })
	}
}

// commitResult is the outcome of one partition of an OffsetCommit, as the
// member saw it once the client's retries were done; partition -1 is a
// request that failed as a whole.
type commitResult struct {
	partition int32
	code      int16
}

// rewind is a partition consumed again from an offset at or below one
// consumed before.
type rewind struct {
	partition int32
	from, to  int64
}

// movingMember is one consumer of the test and what it saw.
type movingMember struct {
	cl *kgo.Client

	mu            sync.Mutex
	assigned      int // OnPartitionsAssigned calls
	lostOrRevoked int
	commits       []commitResult
}

func (m *movingMember) results() []commitResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.commits)
}

// testGroupCoordinatorMove runs the test with classic members, or with
// consumer-protocol (KIP-848) members when nextGen is set.
func testGroupCoordinatorMove(t *testing.T, how string, nextGen bool) {
	var protocol []kgo.Opt
	var nodeArgs []string
	if nextGen {
		protocol = []kgo.Opt{kgo.ServerSideBalancer()}
		nodeArgs = consumerProtocolGroups
	}
	c := startCluster(t, nodeSpec{ID: 1, Args: nodeArgs}, nodeSpec{ID: 2, Args: nodeArgs})
	const (
		topic = "moves"
		group = "moves-group"
		parts = 4
	)
	createTopic(t, c.addr(1), topic, parts)
	seeds := c.addrs()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// What the group consumed: value -> times consumed, and per partition
	// the last offset, which must only go up: no member restarts a
	// partition from its committed offset.
	var (
		mu        sync.Mutex
		consumed  = map[int]int{}
		last      = map[int32]int64{}
		orderErrs []string
		rewinds   []rewind
	)
	var members []*movingMember
	var consuming sync.WaitGroup
	for i := range 2 {
		m := &movingMember{}
		m.cl = c.client(t, seeds, append(slices.Clip(protocol),
			kgo.ClientID(fmt.Sprintf("mover-%d", i)),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.AutoCommitInterval(100*time.Millisecond),
			kgo.FetchMaxWait(200*time.Millisecond),
			kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
				m.mu.Lock()
				m.assigned++
				m.mu.Unlock()
			}),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, p map[string][]int32) {
				if len(p[topic]) > 0 {
					m.mu.Lock()
					m.lostOrRevoked++
					m.mu.Unlock()
				}
			}),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, p map[string][]int32) {
				if len(p[topic]) > 0 {
					m.mu.Lock()
					m.lostOrRevoked++
					m.mu.Unlock()
				}
			}),
			kgo.AutoCommitCallback(func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				m.mu.Lock()
				defer m.mu.Unlock()
				if err != nil {
					m.commits = append(m.commits, commitResult{partition: -1, code: -1})
					t.Logf("mover-%d: commit failed: %v", i, err)
					return
				}
				for _, rt := range resp.Topics {
					for _, rp := range rt.Partitions {
						m.commits = append(m.commits, commitResult{partition: rp.Partition, code: rp.ErrorCode})
					}
				}
			}),
			kgo.WithLogger(kgo.BasicLogger(testLog{t}, kgo.LogLevelInfo, func() string { return fmt.Sprintf("%s mover-%d ", time.Now().Format("15:04:05.000"), i) })),
		)...)
		members = append(members, m)
		consuming.Add(1)
		go func() {
			defer consuming.Done()
			for ctx.Err() == nil {
				fs := m.cl.PollFetches(ctx)
				fs.EachRecord(func(r *kgo.Record) {
					n, err := strconv.Atoi(string(r.Value))
					mu.Lock()
					defer mu.Unlock()
					if err != nil || n%parts != int(r.Partition) {
						orderErrs = append(orderErrs, fmt.Sprintf("partition %d offset %d: value %q", r.Partition, r.Offset, r.Value))
						return
					}
					consumed[n]++
					if prev, ok := last[r.Partition]; ok && r.Offset <= prev {
						rewinds = append(rewinds, rewind{r.Partition, prev, r.Offset})
					}
					last[r.Partition] = r.Offset
				})
			}
		}()
	}
	consumedAll := func(acked map[int]ack) bool {
		mu.Lock()
		defer mu.Unlock()
		for n := range acked {
			if consumed[n] == 0 {
				return false
			}
		}
		return true
	}

	// Committed offsets, watched from outside the group: they never go
	// back.
	var (
		commitMu   sync.Mutex
		committed  = map[int32]int64{}
		commitErrs []string
	)
	// The watcher's client is replaced after an error, seeded with the
	// nodes still running: a client keeps a dead coordinator cached for a
	// while, which is the client's business, not what this test checks.
	var (
		watchMu   sync.Mutex
		watcher   *kgo.Client
		liveSeeds = seeds
	)
	fetchCommitted := func() (kadm.OffsetResponses, error) {
		watchMu.Lock()
		if watcher == nil {
			var err error
			if watcher, err = kgo.NewClient(kgo.SeedBrokers(liveSeeds...)); err != nil {
				watchMu.Unlock()
				return nil, err
			}
		}
		cl := watcher
		watchMu.Unlock()
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		defer rcancel()
		offs, err := kadm.NewClient(cl).FetchOffsets(rctx, group)
		if err == nil {
			err = offs.Error()
		}
		if err != nil {
			watchMu.Lock()
			if watcher == cl {
				watcher = nil
			}
			watchMu.Unlock()
			cl.Close()
		}
		return offs, err
	}
	defer func() {
		watchMu.Lock()
		defer watchMu.Unlock()
		if watcher != nil {
			watcher.Close()
		}
	}()
	var watching sync.WaitGroup
	watching.Add(1)
	go func() {
		defer watching.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			if offs, err := fetchCommitted(); err == nil {
				commitMu.Lock()
				offs.Each(func(o kadm.OffsetResponse) {
					if o.Err != nil || o.Topic != topic {
						return
					}
					if prev, ok := committed[o.Partition]; ok && o.At < prev {
						commitErrs = append(commitErrs, fmt.Sprintf("partition %d: committed offset went from %d to %d", o.Partition, prev, o.At))
					}
					committed[o.Partition] = max(committed[o.Partition], o.At)
				})
				commitMu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	committedNow := func() map[int32]int64 {
		commitMu.Lock()
		defer commitMu.Unlock()
		return maps.Clone(committed)
	}

	// The producer: record n goes to partition n % parts.
	acks := &ackLog{acked: map[int]ack{}}
	producer := c.client(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic))
	stopProducing := make(chan struct{})
	produced := make(chan int)
	go func() {
		n := 0
		defer func() { produced <- n }()
		for ; ; n++ {
			select {
			case <-stopProducing:
				return
			default:
			}
			i := n
			producer.Produce(context.Background(), &kgo.Record{Partition: int32(i % parts), Value: []byte(strconv.Itoa(i))},
				func(r *kgo.Record, err error) { acks.add(i, r, err) })
			time.Sleep(2 * time.Millisecond) // a steady rate, not a synchronisation
		}
	}()

	// Both members in one generation, consuming and committing.
	type session struct {
		member string
		gen    int32
	}
	sessions := func() []session {
		var out []session
		for _, m := range members {
			id, gen := m.cl.GroupMetadata()
			out = append(out, session{id, gen})
		}
		return out
	}
	waitFor(t, 30*time.Second, "both members in one generation", func() bool {
		s := sessions()
		return s[0].gen > 0 && s[0].gen == s[1].gen && s[0].member != s[1].member
	})
	waitFor(t, 30*time.Second, "commits of every partition", func() bool {
		n := 0
		for _, o := range committedNow() {
			if o > 0 {
				n++
			}
		}
		return n == parts
	})
	before := sessions()
	// Consumer-protocol members form the group incrementally, the first
	// one revoking what the second gets: what they saw up to here is the
	// baseline. Classic members joined in one rebalance.
	wantAssigned, wantLost := []int{1, 1}, []int{0, 0}
	if nextGen {
		for i, m := range members {
			m.mu.Lock()
			wantAssigned[i], wantLost[i] = m.assigned, m.lostOrRevoked
			m.mu.Unlock()
		}
	}

	adm := kadm.NewClient(c.client(t, seeds))
	var victim int32 = -1
	waitFor(t, 10*time.Second, "the group's coordinator", func() bool {
		dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
		defer dcancel()
		if nextGen {
			groups, err := adm.DescribeConsumerGroups(dctx, group)
			if err != nil || groups[group].Err != nil || groups[group].State != "Stable" {
				return false
			}
			victim = groups[group].Coordinator.NodeID
			return c.nodes[victim] != nil
		}
		groups, err := adm.DescribeGroups(dctx, group)
		if err != nil || groups[group].Err != nil || groups[group].State != "Stable" {
			return false
		}
		victim = groups[group].Coordinator.NodeID
		return c.nodes[victim] != nil
	})
	atMove := committedNow()
	movedAt := time.Now()
	t.Logf("%s node %d, the group coordinator, at generation %d with %d records acked, offsets %v committed",
		how, victim, before[0].gen, acks.count(), atMove)
	watchMu.Lock()
	liveSeeds = nil
	for id := range c.nodes {
		if id != victim {
			liveSeeds = append(liveSeeds, c.addr(id))
		}
	}
	watchMu.Unlock()
	if how == "stop" {
		if code := c.nodes[victim].Stop(30 * time.Second); code != 0 {
			t.Fatalf("node %d exited with code %d on SIGTERM", victim, code)
		}
	} else {
		c.nodes[victim].kill()
	}

	// Commits resume through the other node: for every partition, a
	// commit acknowledged after the move, above the offset committed at
	// the move.
	waitFor(t, 60*time.Second, "commits through the new coordinator", func() bool {
		now := committedNow()
		for p := range int32(parts) {
			if now[p] <= atMove[p] {
				return false
			}
		}
		return true
	})
	t.Logf("every partition committed again %v after the move", time.Since(movedAt).Round(time.Millisecond))
	close(stopProducing)
	total := <-produced
	fctx, fcancel := context.WithTimeout(ctx, time.Minute)
	if err := producer.Flush(fctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	fcancel()
	acked, failed := acks.snapshot()
	t.Logf("%d records produced, %d acked, %d failed", total, len(acked), failed)
	waitFor(t, 60*time.Second, "the group to consume every acked record", func() bool { return consumedAll(acked) })

	// The members kept their member ids. After a stop they never rejoined
	// either: same generation, one assignment each, nothing revoked or
	// lost.
	after := sessions()
	for i := range members {
		m := members[i]
		m.mu.Lock()
		assigned, lost := m.assigned, m.lostOrRevoked
		m.mu.Unlock()
		switch {
		case after[i].member != before[i].member:
			t.Errorf("member %d: id %s before the move, %s after", i, before[i].member, after[i].member)
		case how == "stop" && (after[i] != before[i] || assigned != wantAssigned[i] || lost != wantLost[i]):
			t.Errorf("member %d: generation %d before the move, %d after, %d assignments and %d revocations or losses: it had to rejoin",
				i, before[i].gen, after[i].gen, assigned, lost)
		case after[i] != before[i]:
			t.Logf("member %d rejoined with its id: generation %d before the kill, %d after", i, before[i].gen, after[i].gen)
		}
	}
	// No commit was refused for the member, its generation or instance.
	var ok, failedCommits int
	for i, m := range members {
		for _, r := range m.results() {
			switch r.code {
			case 0:
				ok++
			case kerr.UnknownMemberID.Code, kerr.IllegalGeneration.Code, kerr.FencedInstanceID.Code:
				t.Errorf("member %d: commit of partition %d refused with %v", i, r.partition, kerr.ErrorForCode(r.code))
			default:
				failedCommits++
				t.Logf("member %d: commit of partition %d failed with code %d", i, r.partition, r.code)
			}
		}
	}
	t.Logf("%d partition commits acknowledged, %d failed otherwise", ok, failedCommits)
	if how == "stop" && failedCommits > 0 {
		t.Errorf("%d commits failed across a clean handover", failedCommits)
	}

	// After a stop of a classic group every acked record was consumed exactly once: no member
	// went back to a committed offset. After a kill a member that rejoined
	// goes back no further than the offsets committed before the kill.
	mu.Lock()
	for _, e := range orderErrs {
		t.Error(e)
	}
	// A consumer-protocol member that takes over partitions in the
	// reconciliation before the move may read again what the previous
	// owner read but had not committed when it acknowledged the
	// revocation: on a stop too, it goes back no further than the
	// committed offsets.
	strict := how == "stop" && !nextGen
	for _, r := range rewinds {
		if strict || r.to < atMove[r.partition] {
			t.Errorf("partition %d: offset %d consumed after offset %d (committed at the move: %d)", r.partition, r.to, r.from, atMove[r.partition])
		}
	}
	dups := 0
	for n := range acked {
		if consumed[n] > 1 {
			dups++
		}
	}
	mu.Unlock()
	t.Logf("%d of %d acked records consumed more than once, %d rewinds", dups, len(acked), len(rewinds))
	if strict && dups > 0 {
		t.Errorf("%d of %d acked records consumed more than once", dups, len(acked))
	}
	// The final committed offsets hold the last commits: the consumed
	// position of every partition once the members have committed it.
	mu.Lock()
	want := map[int32]int64{}
	for p, o := range last {
		want[p] = o + 1
	}
	mu.Unlock()
	var lastSeen string
	defer func() {
		if t.Failed() {
			t.Logf("committed offsets last seen: %s", lastSeen)
		}
	}()
	waitFor(t, 30*time.Second, fmt.Sprintf("the last positions %v to be committed", want), func() bool {
		offs, err := fetchCommitted()
		done := err == nil
		for p, o := range want {
			if r, ok := offs.Lookup(topic, p); !ok || r.Err != nil || r.At != o {
				done = false
			}
		}
		if !done {
			lastSeen = fmt.Sprintf("%v (%v)", offs, err)
		}
		return done
	})
	cancel()
	consuming.Wait()
	watching.Wait()
	commitMu.Lock()
	for _, e := range commitErrs {
		t.Error(e)
	}
	commitMu.Unlock()
}
