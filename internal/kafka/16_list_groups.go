package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// ListGroups v0-v5 (v4+ filter by state, v5+ by type): the groups this node
// coordinates.
func init() {
	registerNeeding(kmsg.ListGroups.Int16(), 0, 5, needGroups, (*Server).handleListGroups)
}

// Authorization, as Kafka: Describe on the cluster lists every group;
// otherwise only the groups the principal may Describe are listed.
func (s *Server) handleListGroups(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ListGroupsRequest)
	az := s.authz(r)
	all := az.may(acl.OpDescribe, acl.ResourceCluster, acl.ClusterName)
	return s.groupOverview(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		resp := g.ListGroups(ctx, req)
		if !all {
			kept := resp.Groups[:0]
			for _, lg := range resp.Groups {
				if az.may(acl.OpDescribe, acl.ResourceGroup, lg.Group) {
					kept = append(kept, lg)
				}
			}
			resp.Groups = kept
		}
		return resp
	})
}
