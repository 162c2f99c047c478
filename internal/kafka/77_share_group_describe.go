package kafka

import (
	"context"
	"slices"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// ShareGroupDescribe v1: the members of share groups this node
// coordinates, their subscriptions and assignments. Describe on the
// group, as Kafka; a group without members here is GROUP_ID_NOT_FOUND,
// and one another node coordinates NOT_COORDINATOR.
func init() {
	registerNeeding(kmsg.ShareGroupDescribe.Int16(), 1, 1, needReader, (*Server).handleShareGroupDescribe)
}

// shareAssignor is the name of the assignment rule (share.Assign) as
// ShareGroupDescribe reports it; Kafka's share groups call theirs simple.
const shareAssignor = "simple"

func (s *Server) handleShareGroupDescribe(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ShareGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	az := s.authz(r)
	allowed := make([]bool, len(req.GroupIDs))
	ops := make([]int32, len(req.GroupIDs))
	for i, g := range req.GroupIDs {
		allowed[i] = az.group(acl.OpDescribe, g)
		if req.IncludeAuthorizedOperations && allowed[i] {
			ops[i] = az.ops(acl.ResourceGroup, g)
		} else {
			ops[i] = -2147483648
		}
	}
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		for i, id := range req.GroupIDs {
			g := kmsg.NewShareGroupDescribeResponseGroup()
			g.GroupID, g.AuthorizedOperations = id, ops[i]
			switch {
			case !allowed[i]:
				g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			case !s.isShareCoordinator(ctx, id):
				g.ErrorCode = kerr.NotCoordinator.Code
			default:
				s.share.describe(ctx, id, &g)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}}, nil
}

func (ss *shareServer) describe(ctx context.Context, id string, out *kmsg.ShareGroupDescribeResponseGroup) {
	ss.mu.Lock()
	g := ss.groups[id]
	if g != nil {
		ss.expireMembers(g, ss.now())
	}
	if g == nil || len(g.members) == 0 {
		ss.mu.Unlock()
		out.ErrorCode = kerr.GroupIDNotFound.Code
		out.ErrorMessage = strPtr("no share group " + id + " has members")
		return
	}
	out.GroupState, out.GroupEpoch, out.AssignmentEpoch, out.Assignor = "Stable", g.epoch, g.epoch, shareAssignor
	type memberCopy struct {
		m      shareMember
		assign []kmsg.ShareGroupDescribeResponseGroupMemberAssignmentTopicPartition
	}
	var ms []memberCopy
	var ids []uuid.UUID
	for _, m := range g.members {
		mc := memberCopy{m: *m}
		for _, tps := range g.assignment[m.id] {
			t := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
			t.TopicID, t.Partitions = tps.TopicID, slices.Clone(tps.Partitions)
			mc.assign = append(mc.assign, t)
			ids = append(ids, tps.TopicID)
		}
		ms = append(ms, mc)
	}
	ss.mu.Unlock()
	names := map[uuid.UUID]string{}
	for _, id := range ids {
		if _, ok := names[id]; ok {
			continue
		}
		if info, err := ss.s.topics.topicByID(ctx, id); err == nil {
			names[id] = info.Name
		}
	}
	slices.SortFunc(ms, func(a, b memberCopy) int {
		if a.m.id < b.m.id {
			return -1
		}
		if a.m.id > b.m.id {
			return 1
		}
		return 0
	})
	for _, mc := range ms {
		m := kmsg.NewShareGroupDescribeResponseGroupMember()
		m.MemberID, m.RackID, m.MemberEpoch = mc.m.id, mc.m.rack, mc.m.epoch
		m.ClientID, m.ClientHost = mc.m.clientID, mc.m.clientHost
		m.SubscribedTopicNames = mc.m.subscribed
		for _, t := range mc.assign {
			t.Topic = names[t.TopicID]
			m.Assignment.TopicPartitions = append(m.Assignment.TopicPartitions, t)
		}
		out.Members = append(out.Members, m)
	}
}
