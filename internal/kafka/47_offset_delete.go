package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// OffsetDelete v0: deletes a group's committed offsets of topics its
// members do not subscribe to.
func init() {
	registerNeeding(kmsg.OffsetDelete.Int16(), 0, 0, needGroups, (*Server).handleOffsetDelete)
}

// Authorization, as Kafka: Delete on the group, else the response is
// GROUP_AUTHORIZATION_FAILED; Read on each topic, else its partitions are
// TOPIC_AUTHORIZATION_FAILED and keep their offsets.
func (s *Server) handleOffsetDelete(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.OffsetDeleteRequest)
	az := s.authz(r)
	if !az.group(acl.OpDelete, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	sub := *req
	sub.Topics = nil
	var refused []kmsg.OffsetDeleteResponseTopic
	for _, t := range req.Topics {
		if az.topic(acl.OpRead, t.Topic) {
			sub.Topics = append(sub.Topics, t)
			continue
		}
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		refused = append(refused, rt)
	}
	if len(sub.Topics) == 0 && len(refused) > 0 {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.Topics = refused
		return respond(resp)
	}
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		resp := g.OffsetDelete(ctx, &sub)
		resp.Topics = append(resp.Topics, refused...)
		return resp
	})
}
