package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// OffsetCommit v0-v10 (v10 names topics by id). The response is sent once
// the offsets are durable in the metastore, in one transaction per request.
// Generation -1 with no member id (v0 has neither) commits outside group
// management, as simple consumers and tools do.
func init() {
	registerNeeding(kmsg.OffsetCommit.Int16(), 0, 10, needGroups, (*Server).handleOffsetCommit)
}

// Authorization, as Kafka: Read on the group, else every partition is
// GROUP_AUTHORIZATION_FAILED; Read on each topic, else its partitions are
// TOPIC_AUTHORIZATION_FAILED and only the other topics are committed.
func (s *Server) handleOffsetCommit(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.OffsetCommitRequest)
	az := s.authz(r)
	denied := func(t kmsg.OffsetCommitRequestTopic, code int16) kmsg.OffsetCommitResponseTopic {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt
	}
	if !az.group(acl.OpRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range req.Topics {
			resp.Topics = append(resp.Topics, denied(t, kerr.GroupAuthorizationFailed.Code))
		}
		return respond(resp)
	}
	var refused []kmsg.OffsetCommitResponseTopic
	allowed := req.Topics[:0:0]
	for _, t := range req.Topics {
		if az.topicByRef(ctx, acl.OpRead, t.Topic, t.TopicID) {
			allowed = append(allowed, t)
		} else {
			refused = append(refused, denied(t, kerr.TopicAuthorizationFailed.Code))
		}
	}
	if len(refused) > 0 {
		sub := *req
		sub.Topics = allowed
		req = &sub
		if len(allowed) == 0 {
			resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
			resp.Topics = refused
			return respond(resp)
		}
	}
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		resp := g.OffsetCommit(ctx, req)
		resp.Topics = append(resp.Topics, refused...)
		return resp
	})
}
