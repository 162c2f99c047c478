package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit v0-v10 (v10 names topics by id). The response is sent once
// the offsets are durable in the metastore, in one transaction per request.
// Generation -1 with no member id (v0 has neither) commits outside group
// management, as simple consumers and tools do.
func init() {
	registerNeeding(kmsg.OffsetCommit.Int16(), 0, 10, needGroups, (*Server).handleOffsetCommit)
}

func (s *Server) handleOffsetCommit(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.OffsetCommitRequest)
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.OffsetCommit(ctx, req)
	})
}
