package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch v0-v10 (v8+ ask for several groups, v10 names topics by id).
// A partition without a committed offset, also in a group nobody knows, is
// offset -1 with no error, as in Kafka. v0 reads the same offsets as the
// later versions.
func init() {
	registerNeeding(kmsg.OffsetFetch.Int16(), 0, 10, needGroups, (*Server).handleOffsetFetch)
}

func (s *Server) handleOffsetFetch(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.OffsetFetchRequest)
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		return g.OffsetFetch(ctx, req)
	})
}
