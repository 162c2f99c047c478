package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete v0: deletes a group's committed offsets of topics its
// members do not subscribe to.
func init() {
	registerNeeding(kmsg.OffsetDelete.Int16(), 0, 0, needGroups, (*Server).handleOffsetDelete)
}

func (s *Server) handleOffsetDelete(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.OffsetDeleteRequest)
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.OffsetDelete(ctx, req)
	})
}
