package kafka

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/share"
)

// ShareGroupHeartbeat v1 (the version Kafka 4.2 made stable): joins (member
// epoch 0), keeps in (the member's epoch) and leaves (-1) a share group on
// its coordinator, and hands each member its partitions. Member ids are
// the client's, as KIP-932 has it. Read on the group and Describe on each
// subscribed topic, as Kafka.
func init() {
	registerNeeding(kmsg.ShareGroupHeartbeat.Int16(), 1, 1, needReader, (*Server).handleShareGroupHeartbeat)
}

// shareGroup is a share group's membership on its coordinator.
type shareGroup struct {
	epoch   int32
	members map[string]*shareMember
	// topology is what the assignment was computed from: the members'
	// subscriptions and their topics' ids and partition counts.
	topology   string
	assignment map[string][]share.TopicPartitions
}

type shareMember struct {
	id, clientID, clientHost string
	rack                     *string
	subscribed               []string
	epoch, prevEpoch         int32
	last                     time.Time
}

func (s *Server) handleShareGroupHeartbeat(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ShareGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	fail := func(code *kerr.Error, msg string) (Reply, error) {
		resp.ErrorCode, resp.ErrorMessage = code.Code, strPtr(msg)
		return respond(resp)
	}
	az := s.authz(r)
	switch {
	case strings.TrimSpace(req.GroupID) == "":
		return fail(kerr.InvalidRequest, "the group id is empty")
	case !az.group(acl.OpRead, req.GroupID):
		return fail(kerr.GroupAuthorizationFailed, "not authorized to read the group")
	case req.MemberID == "" || len(req.MemberID) > 36:
		return fail(kerr.InvalidRequest, "the member id must have 1 to 36 characters")
	case req.MemberEpoch < -1:
		return fail(kerr.InvalidRequest, "invalid member epoch")
	case req.MemberEpoch == 0 && len(req.SubscribedTopicNames) == 0:
		return fail(kerr.InvalidRequest, "a member joins with the topics it subscribes to")
	case req.RackID != nil && strings.TrimSpace(*req.RackID) == "":
		return fail(kerr.InvalidRequest, "the rack id is empty")
	}
	for _, t := range req.SubscribedTopicNames {
		if !az.topic(acl.OpDescribe, t) {
			return fail(kerr.TopicAuthorizationFailed, "not authorized to describe topic "+t)
		}
	}
	client := clientOf(r)
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		if !s.isShareCoordinator(ctx, req.GroupID) {
			resp.ErrorCode = kerr.NotCoordinator.Code
			return resp
		}
		s.share.heartbeat(ctx, req, resp, client)
		return resp
	}}, nil
}

// shareClient is who sent a heartbeat, for ShareGroupDescribe.
type shareClient struct{ id, host string }

func clientOf(r *request) shareClient {
	c := shareClient{id: r.clientID}
	if r.conn != nil {
		c.host = "/" + r.clientHost()
	}
	return c
}

// isShareCoordinator reports whether this node coordinates group: the node
// FindCoordinator names for it.
func (s *Server) isShareCoordinator(ctx context.Context, group string) bool {
	if s.cluster == nil {
		return true
	}
	self := s.cluster.Self().ID
	if l, held, err := s.meta.GroupLeaseHolder(ctx, group); err == nil && held {
		if _, live := s.cluster.Node(l.NodeID); live {
			return l.NodeID == self
		}
	}
	n, ok := s.cluster.CoordinatorFor(group)
	return ok && n.ID == self
}

func (ss *shareServer) heartbeat(ctx context.Context, req *kmsg.ShareGroupHeartbeatRequest, resp *kmsg.ShareGroupHeartbeatResponse, client shareClient) {
	cfg := ss.s.cfg.Share
	resp.HeartbeatIntervalMillis = int32(cfg.heartbeatInterval().Milliseconds())
	// Topic lookups may reach the metastore: before taking the lock.
	subs := req.SubscribedTopicNames
	ss.mu.Lock()
	g := ss.groups[req.GroupID]
	var known []string
	if g != nil {
		for _, m := range g.members {
			known = append(known, m.subscribed...)
		}
	}
	ss.mu.Unlock()
	topics := ss.resolveTopics(ctx, append(known, subs...))

	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	g = ss.groups[req.GroupID]
	if g == nil {
		if req.MemberEpoch != 0 {
			resp.ErrorCode = kerr.UnknownMemberID.Code
			return
		}
		g = &shareGroup{members: map[string]*shareMember{}}
		ss.groups[req.GroupID] = g
	}
	ss.expireMembers(g, now)
	m := g.members[req.MemberID]
	switch {
	case req.MemberEpoch == -1:
		if m == nil {
			resp.ErrorCode = kerr.UnknownMemberID.Code
			return
		}
		delete(g.members, req.MemberID)
		resp.MemberID, resp.MemberEpoch = &req.MemberID, -1
		ss.reassign(g, topics)
		return
	case req.MemberEpoch == 0:
		if m == nil {
			m = &shareMember{id: req.MemberID}
			g.members[m.id] = m
		}
	case m == nil:
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return
	case req.MemberEpoch != m.epoch && req.MemberEpoch != m.prevEpoch:
		resp.ErrorCode = kerr.FencedMemberEpoch.Code
		return
	}
	m.last, m.clientID, m.clientHost = now, client.id, client.host
	if req.RackID != nil {
		m.rack = req.RackID
	}
	if subs != nil {
		m.subscribed = slices.Compact(slices.Sorted(slices.Values(subs)))
	}
	ss.reassign(g, topics)
	changed := false
	if m.epoch != g.epoch {
		m.prevEpoch, m.epoch, changed = m.epoch, g.epoch, true
	}
	resp.MemberID, resp.MemberEpoch = &req.MemberID, m.epoch
	if changed || subs != nil {
		a := new(kmsg.ShareGroupHeartbeatResponseAssignment)
		for _, tps := range g.assignment[m.id] {
			t := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
			t.TopicID, t.Partitions = tps.TopicID, tps.Partitions
			a.TopicPartitions = append(a.TopicPartitions, t)
		}
		resp.Assignment = a
	}
}

// expireMembers drops the members whose session timed out.
func (ss *shareServer) expireMembers(g *shareGroup, now time.Time) {
	timeout := ss.s.cfg.Share.sessionTimeout()
	for id, m := range g.members {
		if now.Sub(m.last) > timeout {
			delete(g.members, id)
		}
	}
}

// shareTopic is a subscribed topic as the assignment sees it.
type shareTopic struct {
	id    uuid.UUID
	parts int32
}

// resolveTopics looks up the named topics; unknown ones are left out.
func (ss *shareServer) resolveTopics(ctx context.Context, names []string) map[string]shareTopic {
	out := map[string]shareTopic{}
	for _, n := range names {
		if _, ok := out[n]; ok {
			continue
		}
		if info, err := ss.s.topics.topicByName(ctx, n); err == nil {
			out[n] = shareTopic{id: info.ID, parts: info.Partitions}
		}
	}
	return out
}

// reassign recomputes the assignment when the members, their
// subscriptions or their topics changed, and then bumps the group epoch.
func (ss *shareServer) reassign(g *shareGroup, topics map[string]shareTopic) {
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	members := map[string][]uuid.UUID{}
	counts := map[uuid.UUID]int32{}
	for _, id := range ids {
		fmt.Fprintf(&b, "%s:", id)
		for _, t := range g.members[id].subscribed {
			st, ok := topics[t]
			if !ok {
				fmt.Fprintf(&b, "%s=?,", t)
				continue
			}
			fmt.Fprintf(&b, "%s=%s/%d,", t, st.id, st.parts)
			members[id] = append(members[id], st.id)
			counts[st.id] = st.parts
		}
		b.WriteByte(';')
	}
	if b.String() == g.topology {
		return
	}
	g.topology = b.String()
	g.assignment = share.Assign(members, counts)
	g.epoch++
}
