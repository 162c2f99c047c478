package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topics of the workloads.
const (
	TopicIdempotent  = "chaos-idempotent"
	TopicAtLeastOnce = "chaos-at-least-once"
	TopicRetention   = "chaos-retention"
	TopicTxn         = "chaos-transactional"
	churnPrefix      = "chaos-churn-"
	// Group is the consumer group of the group workload.
	Group = "chaos-group"
)

// WorkloadConfig sizes the workloads.
type WorkloadConfig struct {
	// IdempotentProducers and AtLeastOnceProducers are the producers of
	// workloads (1) and (2); GroupMembers the members of (3).
	IdempotentProducers  int
	AtLeastOnceProducers int
	GroupMembers         int
	// Partitions of the checked topics at the start.
	Partitions int32
	// Rate is the records per second of each producer.
	Rate int
	// Churn enables the admin churn workload (5).
	Churn bool
	// Transactions enables the transactional workload (4), which also
	// needs the cluster to support transactions.
	Transactions bool
	// Seed seeds the churn's choices.
	Seed uint64
}

func (c *WorkloadConfig) defaults() {
	if c.IdempotentProducers == 0 {
		c.IdempotentProducers = 2
	}
	if c.AtLeastOnceProducers == 0 {
		c.AtLeastOnceProducers = 2
	}
	if c.GroupMembers == 0 {
		c.GroupMembers = 3
	}
	if c.Partitions == 0 {
		c.Partitions = 6
	}
	if c.Rate == 0 {
		c.Rate = 150
	}
}

// Workloads runs the client workloads against a cluster and records their
// operations in a history.
type Workloads struct {
	cfg     WorkloadConfig
	h       *History
	brokers []string
	logf    func(string, ...any)

	cancel context.CancelFunc
	wg     sync.WaitGroup
	// producers is closed to stop the producers, before the consumers.
	producers chan struct{}
	prodWG    sync.WaitGroup

	errMu  sync.Mutex
	errs   map[string]int // client errors by workload and message
	acked  atomic.Int64
	churnN atomic.Int64
	// TxnNote says why the transactional workload did not run.
	TxnNote string
}

// NewWorkloads prepares the workloads; Start starts them.
func NewWorkloads(cfg WorkloadConfig, h *History, brokers []string, logf func(string, ...any)) *Workloads {
	cfg.defaults()
	return &Workloads{cfg: cfg, h: h, brokers: brokers, logf: logf, errs: map[string]int{}, producers: make(chan struct{})}
}

// CheckedTopics are the topics the final read covers.
func CheckedTopics() []string { return []string{TopicIdempotent, TopicAtLeastOnce} }

func (w *Workloads) client(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(w.brokers...),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.MetadataMaxAge(2 * time.Second),
		kgo.RetryTimeout(20 * time.Second),
	}
	return kgo.NewClient(append(base, opts...)...)
}

func (w *Workloads) countErr(workload string, err error) {
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160]
	}
	w.errMu.Lock()
	w.errs[workload+": "+msg]++
	w.errMu.Unlock()
}

// Errors returns the client errors seen, by workload and message.
func (w *Workloads) Errors() map[string]int {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	out := make(map[string]int, len(w.errs))
	for k, v := range w.errs {
		out[k] = v
	}
	return out
}

// Acked is the number of acknowledged records so far.
func (w *Workloads) Acked() int64 { return w.acked.Load() }

// CreateTopics creates the workloads' topics.
func (w *Workloads) CreateTopics(ctx context.Context) error {
	cl, err := w.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range []struct {
		name    string
		parts   int32
		configs map[string]*string
	}{
		{TopicIdempotent, w.cfg.Partitions, nil},
		{TopicAtLeastOnce, w.cfg.Partitions, nil},
		{TopicRetention, 2, map[string]*string{"retention.ms": kadm.StringPtr("5000")}},
	} {
		resp, err := adm.CreateTopic(ctx, t.parts, 1, t.configs, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("chaos: create topic %s: %w", t.name, err)
		}
	}
	return nil
}

// Start starts every workload.
func (w *Workloads) Start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(ctx)
	for i := range w.cfg.IdempotentProducers {
		w.goProducer(func() { w.produce(ctx, fmt.Sprintf("idem-%d", i), WorkloadIdempotent, TopicIdempotent) })
	}
	for i := range w.cfg.AtLeastOnceProducers {
		w.goProducer(func() { w.produce(ctx, fmt.Sprintf("alo-%d", i), WorkloadAtLeastOnce, TopicAtLeastOnce) })
	}
	for i := range w.cfg.GroupMembers {
		w.goRun(func() { w.groupMember(ctx, fmt.Sprintf("group-%d", i)) })
	}
	w.goRun(func() { w.reader(ctx) })
	w.goRun(func() { w.watcher(ctx) })
	if w.cfg.Churn {
		w.goProducer(func() { w.churn(ctx) })
	}
	w.goProducer(func() { w.transactional(ctx) })
}

func (w *Workloads) goProducer(fn func()) {
	w.prodWG.Add(1)
	go func() {
		defer w.prodWG.Done()
		fn()
	}()
}

func (w *Workloads) goRun(fn func()) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		fn()
	}()
}

// StopProducers stops producing: every record in flight completes or
// times out.
func (w *Workloads) StopProducers() {
	close(w.producers)
	w.prodWG.Wait()
}

// Stop stops the consumers and watchers, after StopProducers.
func (w *Workloads) Stop() {
	w.cancel()
	w.wg.Wait()
}

// produce is workloads (1) and (2): one producer writing unique values,
// idempotent to fixed partitions in turn, or at-least-once (idempotence
// off, acks=all) where the partitioner puts them.
func (w *Workloads) produce(ctx context.Context, name, workload, topic string) {
	opts := []kgo.Opt{
		kgo.ClientID(name),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(20 * time.Second),
		kgo.ProduceRequestTimeout(10 * time.Second),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if workload == WorkloadIdempotent {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	} else {
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	}
	cl, err := w.client(opts...)
	if err != nil {
		w.countErr(workload, err)
		return
	}
	defer func() {
		// Give what is in flight time to finish; the rest fails with
		// the client closed, indeterminate.
		fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = cl.Flush(fctx)
		cancel()
		cl.Close()
	}()
	inflight := make(chan struct{}, 64)
	tick := time.NewTicker(time.Second / time.Duration(w.cfg.Rate))
	defer tick.Stop()
	seqs := map[int32]int64{}
	var seq int64
	for n := int64(0); ; n++ {
		select {
		case <-w.producers:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case inflight <- struct{}{}:
		case <-w.producers:
			return
		}
		rec := &kgo.Record{}
		op := Op{Process: name, Type: OpProduce, Workload: workload, Topic: topic, Partition: -1, Offset: -1}
		if workload == WorkloadIdempotent {
			part := int32(n % int64(w.cfg.Partitions))
			op.Partition, op.Seq = part, seqs[part]
			seqs[part]++
			rec.Partition = part
			op.Value = fmt.Sprintf("%s/%d/%d", name, part, op.Seq)
		} else {
			op.Seq = seq
			seq++
			op.Value = fmt.Sprintf("%s/%d", name, op.Seq)
		}
		rec.Value = []byte(op.Value)
		op.Invoke = w.h.Now()
		cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
			op.Complete = w.h.Now()
			if err == nil {
				op.Outcome, op.Partition, op.Offset = OK, r.Partition, r.Offset
				w.acked.Add(1)
			} else {
				// Whether a failed record was written is unknown: its
				// request may have been applied before the error.
				op.Outcome, op.Err = Indeterminate, err.Error()
				w.countErr(workload, err)
			}
			w.h.Add(op)
			<-inflight
		})
	}
}

// recordPolls adds one poll op per partition with records, and a high
// watermark op per partition whose watermark changed.
func (w *Workloads) recordPolls(process, group, iso string, epoch int64, seq int64, invoke int64, fs kgo.Fetches, hwms map[tp]int64) {
	now := w.h.Now()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil {
			if !errors.Is(p.Err, context.Canceled) {
				w.countErr(process, p.Err)
			}
			return
		}
		if len(p.Records) > 0 {
			recs := make([]Rec, len(p.Records))
			for i, r := range p.Records {
				recs[i] = Rec{Offset: r.Offset, Value: string(r.Value)}
			}
			w.h.Add(Op{Process: process, Type: OpPoll, Outcome: OK, Group: group, Isolation: iso, Topic: p.Topic, Partition: p.Partition,
				Epoch: epoch, Seq: seq, Records: recs, Invoke: invoke, Complete: now})
		}
		k := tp{p.Topic, p.Partition}
		if p.HighWatermark >= 0 {
			if last, ok := hwms[k]; !ok || last != p.HighWatermark {
				hwms[k] = p.HighWatermark
				w.h.Add(Op{Process: process, Type: OpHWM, Outcome: OK, Topic: p.Topic, Partition: p.Partition, Offset: p.HighWatermark, Invoke: invoke, Complete: now})
			}
		}
	})
}

// groupMember is workload (3): a member of a consumer group that commits
// what it has consumed after every poll. Rebalances happen between polls
// only, so that every poll belongs to one assignment epoch.
func (w *Workloads) groupMember(ctx context.Context, name string) {
	var epoch atomic.Int64
	assignOp := func(typ OpType, value string) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
			e := epoch.Add(1)
			_, gen := cl.GroupMetadata()
			for topic, parts := range m {
				parts = append([]int32(nil), parts...)
				sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
				now := w.h.Now()
				w.h.Add(Op{Process: name, Type: typ, Outcome: OK, Group: Group, Topic: topic, Partitions: parts, Epoch: e, Generation: gen, Value: value, Invoke: now, Complete: now})
			}
		}
	}
	cl, err := w.client(
		kgo.ClientID(name),
		kgo.ConsumerGroup(Group),
		kgo.ConsumeTopics(TopicIdempotent),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.RebalanceTimeout(10*time.Second),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsAssigned(assignOp(OpAssign, "")),
		kgo.OnPartitionsRevoked(assignOp(OpRevoke, "revoked")),
		kgo.OnPartitionsLost(assignOp(OpRevoke, "lost")),
	)
	if err != nil {
		w.countErr("group", err)
		return
	}
	defer cl.Close() // leaves the group
	hwms := map[tp]int64{}
	for seq := int64(0); ctx.Err() == nil; seq++ {
		inv := w.h.Now()
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollRecords(pctx, 2000)
		cancel()
		e := epoch.Load()
		w.recordPolls(name, Group, "", e, seq, inv, fs, hwms)
		offsets := map[string]map[int32]kgo.EpochOffset{}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				last := p.Records[n-1]
				if offsets[p.Topic] == nil {
					offsets[p.Topic] = map[int32]kgo.EpochOffset{}
				}
				offsets[p.Topic][p.Partition] = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
			}
		})
		if len(offsets) > 0 {
			w.commit(ctx, cl, name, offsets)
		}
		cl.AllowRebalance()
	}
}

// commit commits offsets synchronously and records one op per partition.
func (w *Workloads) commit(ctx context.Context, cl *kgo.Client, name string, offsets map[string]map[int32]kgo.EpochOffset) {
	_, gen := cl.GroupMetadata()
	inv := w.h.Now()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl.CommitOffsetsSync(cctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		now := w.h.Now()
		codes := map[tp]int16{}
		if resp != nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					codes[tp{t.Topic, p.Partition}] = p.ErrorCode
				}
			}
		}
		for topic, parts := range offsets {
			for part, eo := range parts {
				op := Op{Process: name, Type: OpCommit, Group: Group, Topic: topic, Partition: part, Offset: eo.Offset, Generation: gen, Invoke: inv, Complete: now}
				code, answered := codes[tp{topic, part}]
				switch {
				case err != nil || !answered:
					op.Outcome = Indeterminate
					if err != nil {
						op.Err = err.Error()
						w.countErr("commit", err)
					} else {
						op.Err = "no answer for the partition"
					}
				case code != 0:
					// The coordinator refused it: not applied.
					op.Outcome, op.Err = Failed, kerr.ErrorForCode(code).Error()
					w.countErr("commit", kerr.ErrorForCode(code))
				default:
					op.Outcome = OK
				}
				w.h.Add(op)
			}
		}
	})
}

// reader is the rest of workload (3): a consumer, in no group, reading
// every partition of the checked topics from the start, new partitions
// included, and checking as it reads that offsets go up by one.
func (w *Workloads) reader(ctx context.Context) {
	cl, err := w.client(
		kgo.ClientID("reader"),
		kgo.ConsumeTopics(CheckedTopics()...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		w.countErr("reader", err)
		return
	}
	defer cl.Close()
	hwms := map[tp]int64{}
	next := map[tp]int64{}
	for seq := int64(0); ctx.Err() == nil; seq++ {
		inv := w.h.Now()
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		w.recordPolls("reader", "", "", 0, seq, inv, fs, hwms)
		fs.EachRecord(func(r *kgo.Record) {
			k := tp{r.Topic, r.Partition}
			if want, ok := next[k]; ok && r.Offset != want {
				w.logf("reader: %s jumped from offset %d to %d", k, want-1, r.Offset)
			}
			next[k] = r.Offset + 1
		})
	}
}

// watcher observes, twice a second, the high watermarks of the checked
// topics and the group's committed offsets.
func (w *Workloads) watcher(ctx context.Context) {
	cl, err := w.client(kgo.ClientID("watch"))
	if err != nil {
		w.countErr("watch", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// One client per node, to ask each whether it coordinates the group.
	var nodes []*kgo.Client
	for _, b := range w.brokers {
		nc, err := kgo.NewClient(kgo.SeedBrokers(b), kgo.ClientID("watch"))
		if err != nil {
			w.countErr("watch", err)
			return
		}
		defer nc.Close()
		nodes = append(nodes, nc)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for round := int64(0); ; round++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.coordinators(ctx, nodes, round)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		inv := w.h.Now()
		ends, err := adm.ListEndOffsets(rctx, CheckedTopics()...)
		now := w.h.Now()
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err != nil {
					return
				}
				w.h.Add(Op{Process: "watch", Type: OpHWM, Outcome: OK, Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, Invoke: inv, Complete: now})
			})
		} else if ctx.Err() == nil {
			w.countErr("watch", err)
		}
		inv = w.h.Now()
		offs, err := adm.FetchOffsets(rctx, Group)
		now = w.h.Now()
		cancel()
		if err == nil {
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Err != nil {
					return
				}
				w.h.Add(Op{Process: "watch", Type: OpOffsets, Outcome: OK, Group: Group, Topic: o.Topic, Partition: o.Partition, Offset: o.At, Invoke: inv, Complete: now})
			})
		} else if ctx.Err() == nil && !errors.Is(err, kerr.GroupIDNotFound) {
			w.countErr("watch", err)
		}
	}
}

// coordinators asks every node, at once, to describe the group, and
// records which answer as its coordinator and with which generation.
func (w *Workloads) coordinators(ctx context.Context, nodes []*kgo.Client, round int64) {
	var wg sync.WaitGroup
	for i, nc := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			req := kmsg.NewPtrDescribeGroupsRequest()
			req.Groups = []string{Group}
			inv := w.h.Now()
			resp, err := nc.SeedBrokers()[0].Request(rctx, req)
			if err != nil {
				return
			}
			now := w.h.Now()
			for _, g := range resp.(*kmsg.DescribeGroupsResponse).Groups {
				if g.ErrorCode != 0 || g.State == "Dead" || g.State == "Empty" {
					continue
				}
				var members []string
				for _, m := range g.Members {
					members = append(members, m.ClientID+"/"+m.MemberID)
				}
				sort.Strings(members)
				w.h.Add(Op{Process: "watch", Type: OpCoordinator, Outcome: OK, Group: Group, Node: fmt.Sprintf("n%d", i+1),
					Value: g.State, Target: strings.Join(members, ","), Seq: round, Invoke: inv, Complete: now})
			}
		}()
	}
	wg.Wait()
}

// churn is workload (5): topics created, written and deleted, partitions
// added to the at-least-once topic, configs altered; the retention topic,
// with a short retention.ms, gives the compactor records to expire.
func (w *Workloads) churn(ctx context.Context) {
	rng := rand.New(rand.NewPCG(w.cfg.Seed, 99))
	cl, err := w.client(kgo.ClientID("admin"), kgo.RecordDeliveryTimeout(10*time.Second))
	if err != nil {
		w.countErr("churn", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var live []string
	added := 0
	admin := func(what string, fn func(context.Context) error) {
		inv := w.h.Now()
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(actx)
		cancel()
		op := Op{Process: "admin", Type: OpAdmin, Value: what, Invoke: inv, Complete: w.h.Now(), Outcome: OK}
		if err != nil {
			op.Outcome, op.Err = Indeterminate, err.Error()
			w.countErr("churn", err)
		}
		w.h.Add(op)
	}
	write := func(topic string, n int) {
		for i := range n {
			v := fmt.Sprintf("admin/%s/%d", topic, i)
			inv := w.h.Now()
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(r *kgo.Record, err error) {
				op := Op{Process: "admin", Type: OpProduce, Workload: WorkloadChurn, Topic: topic, Partition: r.Partition, Offset: r.Offset, Value: v, Invoke: inv, Complete: w.h.Now(), Outcome: OK}
				if err != nil {
					op.Outcome, op.Err, op.Offset = Indeterminate, err.Error(), -1
				}
				w.h.Add(op)
			})
		}
	}
	tick := time.NewTicker(1500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.producers:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		write(TopicRetention, 20)
		switch rng.IntN(5) {
		case 0, 1:
			name := fmt.Sprintf("%s%d", churnPrefix, w.churnN.Add(1))
			parts := int32(1 + rng.IntN(3))
			admin(fmt.Sprintf("create %s with %d partitions", name, parts), func(ctx context.Context) error {
				r, err := adm.CreateTopic(ctx, parts, 1, nil, name)
				if err == nil {
					err = r.Err
				}
				return err
			})
			live = append(live, name)
			write(name, 10)
		case 2:
			if len(live) < 2 {
				continue
			}
			name := live[0]
			live = live[1:]
			admin("delete "+name, func(ctx context.Context) error {
				r, err := adm.DeleteTopics(ctx, name)
				if err == nil {
					err = r.Error()
				}
				return err
			})
		case 3:
			if added >= 3 {
				continue
			}
			added++
			admin("add a partition to "+TopicAtLeastOnce, func(ctx context.Context) error {
				r, err := adm.CreatePartitions(ctx, 1, TopicAtLeastOnce)
				if err == nil {
					err = r.Error()
				}
				return err
			})
		case 4:
			ms := []string{"3000", "5000", "8000"}[rng.IntN(3)]
			admin("set retention.ms="+ms+" on "+TopicRetention, func(ctx context.Context) error {
				r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr(ms)}}, TopicRetention)
				if err == nil {
					for _, x := range r {
						if x.Err != nil {
							err = x.Err
						}
					}
				}
				return err
			})
		}
	}
}

// transactional is workload (4): transactional producers and a
// read_committed consumer. It stays inert while the cluster does not
// support transactions (no EndTxn in ApiVersions).
func (w *Workloads) transactional(ctx context.Context) {
	cl, err := w.client(kgo.ClientID("txn-probe"))
	if err != nil {
		w.TxnNote = "transactional workload not run: " + err.Error()
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(rctx, cl)
	cancel()
	cl.Close()
	supported := false
	if err == nil {
		for _, k := range resp.ApiKeys {
			if k.ApiKey == kmsg.EndTxn.Int16() {
				supported = true
			}
		}
	}
	switch {
	case err != nil:
		w.TxnNote = "transactional workload not run: ApiVersions: " + err.Error()
		return
	case !supported:
		w.TxnNote = "transactional workload inert: the cluster lists no EndTxn in ApiVersions"
		return
	case !w.cfg.Transactions:
		w.TxnNote = "transactional workload not enabled"
		return
	}
	w.TxnNote = "transactional workload ran"
	w.runTransactions(ctx)
}

// runTransactions produces transactions of five records, committing or
// aborting each at random, while a read_committed consumer reads them.
func (w *Workloads) runTransactions(ctx context.Context) {
	rng := rand.New(rand.NewPCG(w.cfg.Seed, 4))
	cl, err := w.client(kgo.ClientID("txn-0"), kgo.TransactionalID("chaos-txn-0"), kgo.DefaultProduceTopic(TopicTxn),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		w.countErr("txn", err)
		return
	}
	defer cl.Close()
	rc, err := w.client(kgo.ClientID("rc"), kgo.ConsumeTopics(TopicTxn), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		w.countErr("txn", err)
		return
	}
	w.goRun(func() {
		defer rc.Close()
		hwms := map[tp]int64{}
		for seq := int64(0); ctx.Err() == nil; seq++ {
			inv := w.h.Now()
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			fs := rc.PollFetches(pctx)
			cancel()
			w.recordPolls("rc", "", "read_committed", 0, seq, inv, fs, hwms)
		}
	})
	for n := 0; ; n++ {
		select {
		case <-w.producers:
			return
		case <-ctx.Done():
			return
		default:
		}
		txn := fmt.Sprintf("txn-0/%d", n)
		if err := cl.BeginTransaction(); err != nil {
			w.countErr("txn", err)
			return
		}
		for i := range 5 {
			op := Op{Process: "txn-0", Type: OpProduce, Workload: WorkloadTransactional, Topic: TopicTxn, Partition: 0, Txn: txn,
				Seq: int64(n*5 + i), Value: fmt.Sprintf("%s/%d", txn, i), Invoke: w.h.Now()}
			r := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(op.Value)})
			op.Complete = w.h.Now()
			if rec, err := r.First(); err == nil {
				op.Outcome, op.Offset = OK, rec.Offset
			} else {
				op.Outcome, op.Err, op.Offset = Indeterminate, err.Error(), -1
			}
			w.h.Add(op)
		}
		commit := rng.IntN(2) == 0
		end := Op{Process: "txn-0", Type: OpTxn, Txn: txn, Value: map[bool]string{true: "commit", false: "abort"}[commit], Invoke: w.h.Now()}
		err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
		end.Complete = w.h.Now()
		end.Outcome = OK
		if err != nil {
			end.Outcome, end.Err = Indeterminate, err.Error()
		}
		w.h.Add(end)
	}
}

// FinalRead reads every partition of topics from its log start to its
// high watermark, as the final process, and records what it read. It
// returns when every partition is read or timeout passes.
func FinalRead(ctx context.Context, h *History, brokers []string, topics []string, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID(ProcessFinal), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	inv := h.Now()
	starts, err := adm.ListStartOffsets(rctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	var ends kadm.ListedOffsets
	endInv := h.Now()
	if err == nil {
		ends, err = adm.ListEndOffsets(rctx, topics...)
		if err == nil {
			err = ends.Error()
		}
	}
	now := h.Now()
	cancel()
	if err != nil {
		return fmt.Errorf("chaos: final offsets: %w", err)
	}
	consume := map[string]map[int32]kgo.Offset{}
	want := map[tp]int64{}
	starts.Each(func(o kadm.ListedOffset) {
		h.Add(Op{Process: ProcessFinal, Type: OpHWM, Outcome: OK, Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, Value: "start", Invoke: inv, Complete: endInv})
	})
	ends.Each(func(o kadm.ListedOffset) {
		h.Add(Op{Process: ProcessFinal, Type: OpHWM, Outcome: OK, Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, Invoke: endInv, Complete: now})
		start := starts[o.Topic][o.Partition].Offset
		if o.Offset > start {
			if consume[o.Topic] == nil {
				consume[o.Topic] = map[int32]kgo.Offset{}
			}
			consume[o.Topic][o.Partition] = kgo.NewOffset().At(start)
			want[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID(ProcessFinal), kgo.ConsumePartitions(consume),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		return err
	}
	defer rd.Close()
	deadline, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got := map[tp]int64{}
	var lastErr error
	for seq := int64(0); ; seq++ {
		done := true
		for k, hwm := range want {
			if got[k] < hwm {
				done = false
			}
		}
		if done {
			return nil
		}
		inv := h.Now()
		fs := rd.PollFetches(deadline)
		now := h.Now()
		if deadline.Err() != nil {
			var short []string
			for k, hwm := range want {
				if got[k] < hwm {
					short = append(short, fmt.Sprintf("%s at %d of %d", k, got[k], hwm))
				}
			}
			sort.Strings(short)
			return fmt.Errorf("chaos: final read incomplete after %v: %s (last error: %v)", timeout, strings.Join(short, ", "), lastErr)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Err != nil {
				lastErr = p.Err
				return
			}
			if len(p.Records) == 0 {
				return
			}
			recs := make([]Rec, len(p.Records))
			for i, r := range p.Records {
				recs[i] = Rec{Offset: r.Offset, Value: string(r.Value)}
			}
			h.Add(Op{Process: ProcessFinal, Type: OpPoll, Outcome: OK, Topic: p.Topic, Partition: p.Partition, Seq: seq, Records: recs, Invoke: inv, Complete: now})
			k := tp{p.Topic, p.Partition}
			got[k] = max(got[k], p.Records[len(p.Records)-1].Offset+1)
		})
	}
}
