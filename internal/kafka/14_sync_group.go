package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup v0-v5: the leader's request carries every member's
// assignment; the other members wait for it, off the read loop.
func init() {
	registerNeeding(kmsg.SyncGroup.Int16(), 0, 5, needGroups, (*Server).handleSyncGroup)
}

func (s *Server) handleSyncGroup(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.SyncGroupRequest)
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.SyncGroup(ctx, req)
	})
}
