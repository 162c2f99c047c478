package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// DescribeGroups v0-v6: state, protocol and members (client id, address,
// metadata and assignment). An unknown group is Dead, with
// GROUP_ID_NOT_FOUND from v6.
func init() {
	registerNeeding(kmsg.DescribeGroups.Int16(), 0, 6, needGroups, (*Server).handleDescribeGroups)
}

// Authorization, as Kafka: a group the principal may not Describe is
// GROUP_AUTHORIZATION_FAILED; the authorized operations (v3+, KIP-430)
// are the principal's on each group.
func (s *Server) handleDescribeGroups(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeGroupsRequest)
	az := s.authz(r)
	sub := *req
	sub.Groups = nil
	var refused []kmsg.DescribeGroupsResponseGroup
	for _, g := range req.Groups {
		if az.group(acl.OpDescribe, g) {
			sub.Groups = append(sub.Groups, g)
			continue
		}
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		refused = append(refused, rg)
	}
	finish := func(resp *kmsg.DescribeGroupsResponse) *kmsg.DescribeGroupsResponse {
		if req.IncludeAuthorizedOperations {
			for i := range resp.Groups {
				resp.Groups[i].AuthorizedOperations = az.ops(acl.ResourceGroup, resp.Groups[i].Group)
			}
		}
		resp.Groups = append(resp.Groups, refused...)
		return resp
	}
	if len(sub.Groups) == 0 {
		return respond(finish(req.ResponseKind().(*kmsg.DescribeGroupsResponse)))
	}
	return s.groupOverview(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return finish(g.DescribeGroups(ctx, &sub))
	})
}
