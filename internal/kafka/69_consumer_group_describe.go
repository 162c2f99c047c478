package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// ConsumerGroupDescribe v0-v1 (KIP-848): consumer-protocol groups with
// their epochs, assignor and members (epoch, subscription, assignment and
// target assignment). A classic group, or none, is GROUP_ID_NOT_FOUND.
func init() {
	registerNeeding(kmsg.ConsumerGroupDescribe.Int16(), 0, 1, needGroups, (*Server).handleConsumerGroupDescribe)
}

// Authorization, as Kafka: a group the principal may not Describe is
// GROUP_AUTHORIZATION_FAILED; a group whose members' assignments name a
// topic the principal may not Describe is TOPIC_AUTHORIZATION_FAILED; the
// authorized operations are the principal's on each group.
func (s *Server) handleConsumerGroupDescribe(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ConsumerGroupDescribeRequest)
	az := s.authz(r)
	sub := *req
	sub.Groups = nil
	var refused []kmsg.ConsumerGroupDescribeResponseGroup
	for _, g := range req.Groups {
		if az.group(acl.OpDescribe, g) {
			sub.Groups = append(sub.Groups, g)
			continue
		}
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		refused = append(refused, rg)
	}
	finish := func(resp *kmsg.ConsumerGroupDescribeResponse) *kmsg.ConsumerGroupDescribeResponse {
		for i := range resp.Groups {
			g := &resp.Groups[i]
			if g.ErrorCode == 0 && !describableTopics(az, g) {
				*g = kmsg.NewConsumerGroupDescribeResponseGroup()
				g.Group, g.ErrorCode = resp.Groups[i].Group, kerr.TopicAuthorizationFailed.Code
				continue
			}
			if req.IncludeAuthorizedOperations {
				g.AuthorizedOperations = az.ops(acl.ResourceGroup, g.Group)
			}
		}
		resp.Groups = append(resp.Groups, refused...)
		return resp
	}
	if len(sub.Groups) == 0 {
		return respond(finish(req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)))
	}
	return s.groupOverview(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		cg, ok := g.(ConsumerGroupCoordinator)
		if !ok {
			resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
			for _, name := range sub.Groups {
				rg := kmsg.NewConsumerGroupDescribeResponseGroup()
				rg.Group, rg.ErrorCode = name, kerr.GroupIDNotFound.Code
				resp.Groups = append(resp.Groups, rg)
			}
			return finish(resp)
		}
		return finish(cg.ConsumerGroupDescribe(ctx, &sub))
	})
}

// describableTopics reports whether the principal may Describe every
// topic of the group's assignments and target assignments.
func describableTopics(az *authz, g *kmsg.ConsumerGroupDescribeResponseGroup) bool {
	seen := map[string]bool{}
	for _, m := range g.Members {
		for _, a := range []kmsg.Assignment{m.Assignment, m.TargetAssignment} {
			for _, t := range a.TopicPartitions {
				if seen[t.Topic] {
					continue
				}
				seen[t.Topic] = true
				if !az.topic(acl.OpDescribe, t.Topic) {
					return false
				}
			}
		}
	}
	return true
}
