package groups

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// This file serves consumer-protocol (KIP-848) groups on the group's
// goroutine: ConsumerGroupHeartbeat and ConsumerGroupDescribe, the checks
// of offset commits and fetches against member epochs, and the group's
// persistence. The state machine itself is consumer_group_state.go.
//
// A group is either classic or consumer-protocol. A group with classic
// members refuses ConsumerGroupHeartbeat (GROUP_ID_NOT_FOUND, as Kafka
// answers for a group that is not a consumer group) and a consumer group
// with members refuses JoinGroup (INCONSISTENT_GROUP_PROTOCOL); an empty
// group of either kind becomes the other kind when a member of that kind
// joins.

// topicListTTL is how long the coordinator reuses its list of topics for
// consumer-protocol groups: a topic created or grown reaches the groups
// subscribing to it within about that.
const topicListTTL = time.Second

// topicLister lists the topics, for subscriptions by regex and the
// partition counts of subscribed topics. metastore.Store implements it.
type topicLister interface {
	ListTopics(ctx context.Context) ([]metastore.Topic, error)
}

// topicCache is the coordinator's list of topics for consumer-protocol
// groups, refreshed at most every topicListTTL.
type topicCache struct {
	mu   sync.Mutex
	at   time.Time
	snap topicSnapshot
}

// consumerTopics returns the topics as of at most topicListTTL ago.
func (c *Coordinator) consumerTopics(ctx context.Context) (topicSnapshot, error) {
	c.cgTopics.mu.Lock()
	defer c.cgTopics.mu.Unlock()
	if c.cgTopics.snap != nil && time.Since(c.cgTopics.at) < topicListTTL {
		return c.cgTopics.snap, nil
	}
	lister, ok := c.topics.(topicLister)
	if !ok {
		return topicSnapshot{}, nil
	}
	ts, err := lister.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	snap := make(topicSnapshot, len(ts))
	for _, t := range ts {
		snap[t.Name] = topicInfo{ID: t.ID, Name: t.Name, Partitions: t.Partitions}
	}
	c.cgTopics.snap, c.cgTopics.at = snap, time.Now()
	return snap, nil
}

func (c *Coordinator) cgConfig() cgConfig {
	cfg := cgConfig{sessionTimeout: c.cfg.ConsumerSessionTimeout, heartbeatInterval: c.cfg.ConsumerHeartbeatInterval, maxSize: c.cfg.MaxGroupSize}
	if cfg.sessionTimeout <= 0 {
		cfg.sessionTimeout = DefaultConsumerSessionTimeout
	}
	if cfg.heartbeatInterval <= 0 || cfg.heartbeatInterval >= cfg.sessionTimeout {
		cfg.heartbeatInterval = min(DefaultConsumerHeartbeatInterval, cfg.sessionTimeout/3)
	}
	return cfg
}

// ConsumerGroupHeartbeat serves KIP-848's one request of a member: join,
// heartbeat, subscription change, acknowledging a reconciliation, leave.
// The response waits for the metastore when the group changed, so that a
// coordinator taking the group over knows every epoch a member was told.
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	fail := func(code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.MemberEpoch = req.MemberEpoch
		return resp
	}
	if code := c.groupIDError(req.Group); code != 0 {
		return fail(code, "")
	}
	topics, err := c.consumerTopics(ctx)
	if err != nil {
		return fail(c.storeErrorCode("list_topics", err), "")
	}
	client := clientFrom(ctx)
	resp, err := call(ctx, c, req.Group, func(g *group, reply chan<- *kmsg.ConsumerGroupHeartbeatResponse) {
		g.consumerHeartbeat(req, client, topics, reply)
	})
	if err != nil {
		return fail(errorCode(err), "")
	}
	return resp
}

// consumerHeartbeat runs on the group's goroutine.
func (g *group) consumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, client Client, topics topicSnapshot, reply chan<- *kmsg.ConsumerGroupHeartbeatResponse) {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.MemberEpoch = req.MemberEpoch
	if code := g.unavailable(); code != 0 {
		resp.ErrorCode = code
		reply <- resp
		return
	}
	if len(g.members) > 0 || len(g.pending) > 0 || g.state != Empty {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		resp.ErrorMessage = kmsg.StringPtr("group " + g.name + " is a classic group with members, not a consumer group")
		reply <- resp
		return
	}
	if g.cg == nil {
		if req.MemberEpoch != 0 {
			resp.ErrorCode = kerr.UnknownMemberID.Code
			reply <- resp
			return
		}
		g.cg = newConsumerGroup()
	}
	cfg := g.c.cfgCG
	res := g.cg.heartbeat(req, client, topics, g.c.now(), cfg)
	if res.err != nil {
		resp.ErrorCode = res.err.code
		resp.ErrorMessage = kmsg.StringPtr(res.err.msg)
		reply <- resp
		return
	}
	resp.MemberID = kmsg.StringPtr(res.memberID)
	resp.MemberEpoch = res.epoch
	resp.HeartbeatIntervalMillis = int32(cfg.heartbeatInterval.Milliseconds())
	if res.assignment != nil {
		resp.Assignment = toResponseAssignment(res.assignment)
	}
	if !res.dirty {
		reply <- resp
		return
	}
	g.saveConsumer(func(err error) {
		if err != nil {
			code := g.c.storeErrorCode("save_consumer_group", err)
			resp = req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
			resp.ErrorCode, resp.MemberEpoch = code, req.MemberEpoch
		}
		reply <- resp
	})
}

// saveConsumer persists the consumer group's state, then calls then (if
// not nil) with the error.
func (g *group) saveConsumer(then func(err error)) {
	data, err := g.cg.encode()
	if err != nil {
		if then != nil {
			then(err)
		}
		return
	}
	st := metastore.ConsumerGroupState{Name: g.name, Epoch: g.cg.Epoch, State: g.cg.state(), Data: data}
	lease := g.lease
	g.enqueue(job{
		run: func(ctx context.Context) error { return g.c.store.SaveConsumerGroup(ctx, lease, st) },
		after: func(err error) {
			if err == nil {
				g.known = true
			}
			if then != nil {
				then(err)
			} else if err != nil {
				g.c.storeErrorCode("save_consumer_group", err)
			}
		},
	})
}

// loadConsumer restores the group's consumer-protocol state, if it has
// one: its members continue with their epochs and partitions.
func (g *group) loadConsumer(ctx context.Context) {
	st, err := g.c.store.LoadConsumerGroup(ctx, g.name)
	switch {
	case errors.Is(err, metastore.ErrUnknownGroup):
		return
	case err != nil:
		g.c.storeErrorCode("load_consumer_group", err)
		g.loadErr = err
		return
	}
	cg, err := decodeConsumerGroup(st.Data, g.c.now(), g.c.cfgCG)
	if err != nil {
		g.c.log.Error("stored consumer group unreadable", "group", g.name, "err", err)
		g.loadErr = err
		return
	}
	g.cg = cg
	g.known = true
	if len(cg.Members) > 0 {
		g.c.m.takeovers.Inc()
		g.c.log.Info("consumer group taken over", "group", g.name, "epoch", cg.Epoch,
			"members", len(cg.Members), "lease_epoch", g.lease.Epoch)
	}
}

// consumerBusy reports whether the group has consumer-protocol members,
// which keep it in memory.
func (g *group) consumerBusy() bool { return g.cg != nil && len(g.cg.Members) > 0 }

// consumerDeadline is the next deadline of the consumer-protocol members.
func (g *group) consumerDeadline() time.Time {
	if g.cg == nil {
		return time.Time{}
	}
	return g.cg.nextDeadline()
}

// consumerTick removes the consumer-protocol members whose session or
// revocation time ran out.
func (g *group) consumerTick(now time.Time) {
	if g.cg == nil || g.gone {
		return
	}
	sessions, revocations := g.cg.expire(now)
	for _, id := range sessions {
		g.c.m.expirations.WithLabelValues("session").Inc()
		g.c.log.Info("member session expired", "group", g.name, "member", id)
	}
	for _, id := range revocations {
		g.c.m.expirations.WithLabelValues("revocation").Inc()
		g.c.log.Info("member did not revoke its partitions in time", "group", g.name, "member", id)
	}
	if len(sessions)+len(revocations) > 0 {
		g.saveConsumer(nil)
	}
}

// classicRefused is the error of a classic JoinGroup: a consumer group
// with members refuses it; an empty one becomes a classic group.
func (g *group) classicRefused() int16 {
	if g.cg == nil {
		return 0
	}
	if len(g.cg.Members) > 0 {
		return kerr.InconsistentGroupProtocol.Code
	}
	g.cg = nil
	lease := g.lease
	g.enqueue(job{
		run: func(ctx context.Context) error { return g.c.store.DeleteConsumerGroup(ctx, lease) },
		after: func(err error) {
			if err != nil {
				g.c.storeErrorCode("delete_consumer_group", err)
			}
		},
	})
	return 0
}

// consumerCommitCheck validates an OffsetCommit of a consumer group; ok
// false means the group is classic and the classic checks apply.
func (g *group) consumerCommitCheck(generation int32, memberID string, offsets []metastore.GroupOffset) (code int16, ok bool) {
	if g.cg == nil {
		return 0, false
	}
	snap := g.c.cgTopics.cached()
	parts := make([]topicPartitionID, 0, len(offsets))
	for _, o := range offsets {
		parts = append(parts, topicPartitionID{id: snap[o.Topic].ID, partition: o.Partition})
	}
	code = g.cg.checkCommit(memberID, generation, parts, g.c.now())
	if code == 0 {
		if m := g.cg.Members[memberID]; m != nil {
			m.deadline = g.c.now().Add(g.c.cfgCG.sessionTimeout)
		}
	}
	return code, true
}

// cached returns the last list of topics without refreshing it.
func (tc *topicCache) cached() topicSnapshot {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.snap
}

// checkOffsetFetch validates the member of an OffsetFetch v9+ group
// against a consumer group's member epochs.
func (c *Coordinator) checkOffsetFetch(ctx context.Context, name string, memberID *string, epoch int32) int16 {
	if memberID == nil || *memberID == "" && epoch < 0 {
		return 0
	}
	code, err := call(ctx, c, name, func(g *group, reply chan<- int16) {
		switch {
		case g.unavailable() != 0:
			reply <- g.unavailable()
		case g.cg == nil:
			reply <- 0
		default:
			reply <- g.cg.checkFetch(*memberID, epoch)
		}
	})
	if err != nil {
		return errorCode(err)
	}
	return code
}

// ConsumerGroupDescribe describes consumer-protocol groups: epochs, the
// assignor, and each member with its assignment and target. A classic
// group, or one that does not exist, is GROUP_ID_NOT_FOUND.
func (c *Coordinator) ConsumerGroupDescribe(ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	topics, _ := c.consumerTopics(ctx)
	names := make(map[uuid.UUID]string, len(topics))
	for _, t := range topics {
		names[t.ID] = t.Name
	}
	for _, name := range req.Groups {
		dg := c.describeConsumer(ctx, name, names)
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeConsumer(ctx context.Context, name string, names map[uuid.UUID]string) kmsg.ConsumerGroupDescribeResponseGroup {
	dg := kmsg.NewConsumerGroupDescribeResponseGroup()
	dg.Group = name
	if code := c.groupIDError(name); code != 0 {
		dg.ErrorCode = code
		return dg
	}
	describe := func(g *group, reply chan<- kmsg.ConsumerGroupDescribeResponseGroup) {
		reply <- g.describeConsumer(names)
	}
	reply := make(chan kmsg.ConsumerGroupDescribeResponseGroup, 1)
	g, err := c.do(ctx, name, false, func(g *group) { describe(g, reply) })
	if err == nil && g != nil {
		var d kmsg.ConsumerGroupDescribeResponseGroup
		if d, err = await(ctx, g, reply); err == nil {
			return d
		}
	}
	if err == nil {
		// Not in memory: load it only if the metastore has it.
		_, err = c.store.LoadConsumerGroup(ctx, name)
		switch {
		case errors.Is(err, metastore.ErrUnknownGroup):
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = kmsg.StringPtr("group " + name + " is not a consumer group")
			return dg
		case err != nil:
			dg.ErrorCode = c.storeErrorCode("load_consumer_group", err)
			return dg
		}
		var d kmsg.ConsumerGroupDescribeResponseGroup
		if d, err = call(ctx, c, name, describe); err == nil {
			return d
		}
	}
	dg.ErrorCode = errorCode(err)
	return dg
}

// describeConsumer runs on the group's goroutine.
func (g *group) describeConsumer(names map[uuid.UUID]string) kmsg.ConsumerGroupDescribeResponseGroup {
	dg := kmsg.NewConsumerGroupDescribeResponseGroup()
	dg.Group = g.name
	if code := g.unavailable(); code != 0 {
		dg.ErrorCode = code
		return dg
	}
	if g.cg == nil {
		dg.ErrorCode = kerr.GroupIDNotFound.Code
		dg.ErrorMessage = kmsg.StringPtr("group " + g.name + " is not a consumer group")
		return dg
	}
	cg := g.cg
	dg.State = cg.state()
	dg.Epoch = cg.Epoch
	dg.AssignmentEpoch = cg.AssignmentEpoch
	dg.AssignorName = cg.Assignor
	if dg.AssignorName == "" {
		dg.AssignorName = assignorUniform
	}
	for _, m := range cg.sortedMembers() {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID = m.ID
		dm.InstanceID = cloneString(m.InstanceID)
		dm.RackID = cloneString(m.RackID)
		dm.MemberEpoch = m.Epoch
		if m.Left {
			dm.MemberEpoch = -2
		}
		dm.ClientID, dm.ClientHost = m.ClientID, m.ClientHost
		dm.SubscribedTopics = slices.Clone(m.SubscribedNames)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		if m.SubscribedRegex != "" {
			dm.SubscribedTopicRegex = kmsg.StringPtr(m.SubscribedRegex)
		}
		dm.Assignment = toDescribeAssignment(m.Assigned, names)
		dm.TargetAssignment = toDescribeAssignment(cg.Target[m.ID], names)
		dm.MemberType = 1 // a consumer-protocol member
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

// listConsumerGroups returns the consumer-protocol groups the metastore
// knows, by name, with their state.
func (c *Coordinator) listConsumerGroups(ctx context.Context) (map[string]string, error) {
	rows, err := c.store.ListConsumerGroups(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Name] = r.State
	}
	return out, nil
}
