package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups v0-v5 (v4+ filter by state, v5+ by type): the groups this node
// coordinates.
func init() {
	registerNeeding(kmsg.ListGroups.Int16(), 0, 5, needGroups, (*Server).handleListGroups)
}

func (s *Server) handleListGroups(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ListGroupsRequest)
	return s.groupOverview(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.ListGroups(ctx, req)
	})
}
