package kafka

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// ConsumerGroupHeartbeat v0-v1 (KIP-848): the one request of a
// consumer-protocol group member, joining, heartbeating, reconciling its
// assignment and leaving. v1 (Kafka 4.0) has the member choose its id and
// adds regex subscriptions; franz-go speaks the protocol only from v1.
func init() {
	registerNeeding(kmsg.ConsumerGroupHeartbeat.Int16(), 0, 1, needGroups, (*Server).handleConsumerGroupHeartbeat)
}

// ConsumerGroupCoordinator serves consumer-protocol (KIP-848) groups;
// *groups.Coordinator implements it beside GroupCoordinator. A coordinator
// without it answers UNSUPPORTED_VERSION, on which clients fall back to
// the classic protocol.
type ConsumerGroupCoordinator interface {
	ConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse
	ConsumerGroupDescribe(ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse
}

// Authorization, as Kafka: Read on the group, else
// GROUP_AUTHORIZATION_FAILED; Describe on every topic the member
// subscribes to by name, else TOPIC_AUTHORIZATION_FAILED naming them.
func (s *Server) handleConsumerGroupHeartbeat(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ConsumerGroupHeartbeatRequest)
	az := s.authz(r)
	fail := func(code int16, msg string) (Reply, error) {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode, resp.MemberEpoch = code, req.MemberEpoch
		if msg != "" {
			resp.ErrorMessage = kmsg.StringPtr(msg)
		}
		return respond(resp)
	}
	if !az.group(acl.OpRead, req.Group) {
		return fail(kerr.GroupAuthorizationFailed.Code, "")
	}
	var denied []string
	for _, t := range req.SubscribedTopicNames {
		if !az.topic(acl.OpDescribe, t) {
			denied = append(denied, t)
		}
	}
	if len(denied) > 0 {
		return fail(kerr.TopicAuthorizationFailed.Code, "not authorized to describe topics "+strings.Join(denied, ", "))
	}
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		cg, ok := g.(ConsumerGroupCoordinator)
		if !ok {
			resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
			resp.ErrorCode, resp.MemberEpoch = kerr.UnsupportedVersion.Code, req.MemberEpoch
			return resp
		}
		return cg.ConsumerGroupHeartbeat(ctx, req)
	})
}
