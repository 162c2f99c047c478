package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv/proc"
)

// rebalanceMember is one consumer of BenchmarkGroupRebalance and what its
// callbacks saw.
type rebalanceMember struct {
	cl *kgo.Client

	mu      sync.Mutex
	stopped int // revocations or losses of at least one partition
	owned   map[int32]bool
	revoked map[int32]bool // partitions revoked or lost since the count began
	joins   atomic.Int64   // JoinGroup requests sent
}

// OnBrokerWrite counts the member's JoinGroup requests.
func (m *rebalanceMember) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == kmsg.JoinGroup.Int16() && err == nil {
		m.joins.Add(1)
	}
}

func (m *rebalanceMember) lose(ps []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(ps) > 0 {
		m.stopped++
	}
	if m.revoked == nil {
		m.revoked = map[int32]bool{}
	}
	for _, p := range ps {
		delete(m.owned, p)
		m.revoked[p] = true
	}
}

// revokedOnce reports whether p was revoked or lost since the count began.
func (m *rebalanceMember) revokedOnce(p int32) bool { return m.revoked[p] }

// BenchmarkGroupRebalance: a group of 50 franz-go members on a
// 200-partition topic, and a 51st member joining, with the classic
// protocol (eager range, cooperative-sticky) and KIP-848's
// (kgo.ServerSideBalancer, uniform). rebalance-ms is from the new member's
// start until the group is settled again with 51 members owning every
// partition once; members-stopped is how many of the 50 had partitions
// revoked (consumption of a revoked partition stops until it is assigned
// again); kept-paused is how many partitions were revoked from a member
// that was given them back, consumption stopped for nothing;
// members-rejoined counts the JoinGroup requests of the 50 (classic
// members all rejoin, whether or not their partitions move).
//
//	go test -run '^$' -bench GroupRebalance -benchtime 1x ./internal/e2e/
func BenchmarkGroupRebalance(b *testing.B) {
	dir := b.TempDir()
	bin, err := proc.BuildStrata(dir)
	if err != nil {
		b.Fatal(err)
	}
	st, err := proc.NewStrata(bin, dir, "dev", "-data-dir", filepath.Join(dir, "data"), "-log.level", "warn",
		"-groups.initial-rebalance-delay=0s", "-groups.consumer-heartbeat-interval=500ms")
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Start(); err != nil {
		b.Fatal(err)
	}
	defer st.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	const topic, partitions, members = "rebalance", 200, 50
	admCl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		b.Fatal(err)
	}

	for _, v := range []struct {
		name     string
		balancer kgo.GroupBalancer
		nextGen  bool
	}{
		{"classic-eager-range", kgo.RangeBalancer(), false},
		{"classic-cooperative-sticky", kgo.CooperativeStickyBalancer(), false},
		{"kip848-uniform", kgo.CooperativeStickyBalancer(), true},
	} {
		b.Run(v.name, func(b *testing.B) {
			group := "rebalance-" + v.name
			start := func(name string) *rebalanceMember {
				m := &rebalanceMember{owned: map[int32]bool{}}
				opts := []kgo.Opt{kgo.SeedBrokers(st.KafkaAddr), kgo.ClientID(name),
					kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(v.balancer),
					kgo.HeartbeatInterval(500 * time.Millisecond), kgo.SessionTimeout(30 * time.Second),
					kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
						m.mu.Lock()
						defer m.mu.Unlock()
						for _, p := range a[topic] {
							m.owned[p] = true
						}
					}),
					kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { m.lose(r[topic]) }),
					kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { m.lose(r[topic]) }),
					kgo.WithHooks(m),
				}
				if v.nextGen {
					opts = append(opts, kgo.ServerSideBalancer())
				}
				if m.cl, err = kgo.NewClient(opts...); err != nil {
					b.Fatal(err)
				}
				go func() {
					for ctx.Err() == nil && !m.cl.PollFetches(ctx).IsClientClosed() {
					}
				}()
				return m
			}
			settledWith := func(n int) bool {
				if v.nextGen {
					_, err := settledConsumers(describeConsumerGroup(ctx, admCl, group), n, topic, partitions)
					return err == nil
				}
				_, err := settled(describeGroup(ctx, adm, group), n, topic, partitions)
				return err == nil
			}
			waitSettled := func(n int) {
				deadline := time.Now().Add(5 * time.Minute)
				for !settledWith(n) {
					if time.Now().After(deadline) {
						b.Fatalf("the group did not settle with %d members", n)
					}
					time.Sleep(20 * time.Millisecond) // polling the group's state
				}
			}
			var group50 []*rebalanceMember
			for i := range members {
				group50 = append(group50, start(fmt.Sprintf("m%d", i)))
			}
			defer func() {
				for _, m := range group50 {
					m.cl.Close()
				}
			}()
			waitSettled(members)
			var total time.Duration
			var stopped, paused int
			var joins int64
			for range b.N {
				before := make([]map[int32]bool, members)
				for i, m := range group50 {
					m.mu.Lock()
					m.stopped = 0
					before[i] = map[int32]bool{}
					for p := range m.owned {
						before[i][p] = true
					}
					m.mu.Unlock()
				}
				joinsBefore := int64(0)
				for _, m := range group50 {
					joinsBefore += m.joins.Load()
				}
				began := time.Now()
				joiner := start("joiner")
				waitSettled(members + 1)
				total += time.Since(began)
				for _, m := range group50 {
					joins += m.joins.Load()
				}
				joins -= joinsBefore
				for i, m := range group50 {
					m.mu.Lock()
					if m.stopped > 0 {
						stopped++
					}
					for p := range before[i] {
						if m.owned[p] && m.stopped > 0 && m.revokedOnce(p) {
							paused++
						}
					}
					m.mu.Unlock()
				}
				joiner.cl.Close()
				waitSettled(members)
				for _, m := range group50 {
					m.mu.Lock()
					m.revoked = nil
					m.mu.Unlock()
				}
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "rebalance-ms")
			b.ReportMetric(float64(stopped)/float64(b.N), "members-stopped")
			b.ReportMetric(float64(paused)/float64(b.N), "kept-paused")
			b.ReportMetric(float64(joins)/float64(b.N), "members-rejoined")
		})
	}
}
