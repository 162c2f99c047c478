package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups v0-v3: deletes empty groups and their committed offsets; a
// group with members is NON_EMPTY_GROUP.
func init() {
	registerNeeding(kmsg.DeleteGroups.Int16(), 0, 3, needGroups, (*Server).handleDeleteGroups)
}

func (s *Server) handleDeleteGroups(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DeleteGroupsRequest)
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.DeleteGroups(ctx, req)
	})
}
