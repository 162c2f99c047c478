package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// LeaveGroup v0-v5 (v3+ name several members, by member or instance id).
func init() {
	registerNeeding(kmsg.LeaveGroup.Int16(), 0, 5, needGroups, (*Server).handleLeaveGroup)
}

func (s *Server) handleLeaveGroup(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.LeaveGroupRequest)
	if !s.authz(r).group(acl.OpRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.LeaveGroup(ctx, req)
	})
}
