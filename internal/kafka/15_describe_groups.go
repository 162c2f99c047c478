package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups v0-v6: state, protocol and members (client id, address,
// metadata and assignment). An unknown group is Dead, with
// GROUP_ID_NOT_FOUND from v6.
func init() {
	registerNeeding(kmsg.DescribeGroups.Int16(), 0, 6, needGroups, (*Server).handleDescribeGroups)
}

func (s *Server) handleDescribeGroups(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeGroupsRequest)
	return s.groupOverview(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.DescribeGroups(ctx, req)
	})
}
