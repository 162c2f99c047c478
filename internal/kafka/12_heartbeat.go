package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// Heartbeat v0-v4: keeps a member's session alive; REBALANCE_IN_PROGRESS
// tells it to rejoin.
func init() {
	registerNeeding(kmsg.Heartbeat.Int16(), 0, 4, needGroups, (*Server).handleHeartbeat)
}

func (s *Server) handleHeartbeat(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.HeartbeatRequest)
	if !s.authz(r).group(acl.OpRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.Heartbeat(ctx, req)
	})
}
