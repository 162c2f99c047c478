package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// SyncGroup v0-v5: the leader's request carries every member's
// assignment; the other members wait for it, off the read loop.
func init() {
	registerNeeding(kmsg.SyncGroup.Int16(), 0, 5, needGroups, (*Server).handleSyncGroup)
}

func (s *Server) handleSyncGroup(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.SyncGroupRequest)
	if !s.authz(r).group(acl.OpRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.SyncGroup(ctx, req)
	})
}
