package kafka

import (
	"context"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// OffsetFetch v0-v10 (v8+ ask for several groups, v10 names topics by id).
// A partition without a committed offset, also in a group nobody knows, is
// offset -1 with no error, as in Kafka. v0 reads the same offsets as the
// later versions.
//
// Authorization, as Kafka: Describe on the group, else the group is
// GROUP_AUTHORIZATION_FAILED; Describe on each topic named, else its
// partitions are TOPIC_AUTHORIZATION_FAILED; a request for every topic of
// the group answers only the topics the principal may Describe.
//
// require_stable (v7+, KIP-447): a partition for which an open transaction
// holds a pending offset (TxnOffsetCommit) is UNSTABLE_OFFSET_COMMIT, which
// clients retry until the transaction ends (offsetFetchStable).
func init() {
	registerNeeding(kmsg.OffsetFetch.Int16(), 0, 10, needGroups, (*Server).handleOffsetFetch)
}

func (s *Server) handleOffsetFetch(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.OffsetFetchRequest)
	az := s.authz(r)
	if req.Version < 8 {
		return s.offsetFetchOne(ctx, az, r, req)
	}
	sub := *req
	sub.Groups = nil
	var refused []kmsg.OffsetFetchResponseGroup                       // groups denied
	deniedTopics := map[string][]kmsg.OffsetFetchResponseGroupTopic{} // by group
	for _, g := range req.Groups {
		if !az.group(acl.OpDescribe, g.Group) {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			refused = append(refused, rg)
			continue
		}
		if g.Topics != nil {
			allowed := g.Topics[:0:0]
			for _, t := range g.Topics {
				if az.topicByRef(ctx, acl.OpDescribe, t.Topic, t.TopicID) {
					allowed = append(allowed, t)
					continue
				}
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, kerr.TopicAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				deniedTopics[g.Group] = append(deniedTopics[g.Group], rt)
			}
			g.Topics = allowed
		}
		sub.Groups = append(sub.Groups, g)
	}
	if len(sub.Groups) == 0 {
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.Groups = refused
		return respond(resp)
	}
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		resp := g.OffsetFetch(ctx, &sub)
		for i := range resp.Groups {
			rg := &resp.Groups[i]
			kept := rg.Topics[:0]
			for _, t := range rg.Topics {
				// Topics of a request for every topic: filtered, not
				// logged. v10 names them by id.
				name := t.Topic
				if name == "" {
					if info, err := s.topics.topicByID(ctx, uuid.UUID(t.TopicID)); err == nil {
						name = info.Name
					}
				}
				if az.may(acl.OpDescribe, acl.ResourceTopic, name) {
					kept = append(kept, t)
				}
			}
			rg.Topics = append(kept, deniedTopics[rg.Group]...)
		}
		resp.Groups = append(resp.Groups, refused...)
		s.offsetFetchStable(ctx, req, resp)
		return resp
	})
}

// offsetFetchOne is OffsetFetch v0-v7, which asks for one group.
func (s *Server) offsetFetchOne(ctx context.Context, az *authz, r *request, req *kmsg.OffsetFetchRequest) (Reply, error) {
	deny := func(t kmsg.OffsetFetchRequestTopic, code int16) kmsg.OffsetFetchResponseTopic {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt
	}
	if !az.group(acl.OpDescribe, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		if req.Version < 2 { // no top-level error: say it per partition
			for _, t := range req.Topics {
				resp.Topics = append(resp.Topics, deny(t, kerr.GroupAuthorizationFailed.Code))
			}
		}
		return respond(resp)
	}
	sub := *req
	var refused []kmsg.OffsetFetchResponseTopic
	if req.Topics != nil {
		sub.Topics = req.Topics[:0:0]
		for _, t := range req.Topics {
			if az.topic(acl.OpDescribe, t.Topic) {
				sub.Topics = append(sub.Topics, t)
			} else {
				refused = append(refused, deny(t, kerr.TopicAuthorizationFailed.Code))
			}
		}
		if len(sub.Topics) == 0 {
			resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.Topics = refused
			return respond(resp)
		}
	}
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		resp := g.OffsetFetch(ctx, &sub)
		if req.Topics == nil {
			kept := resp.Topics[:0]
			for _, t := range resp.Topics {
				if az.may(acl.OpDescribe, acl.ResourceTopic, t.Topic) {
					kept = append(kept, t)
				}
			}
			resp.Topics = kept
		}
		resp.Topics = append(resp.Topics, refused...)
		s.offsetFetchStable(ctx, req, resp)
		return resp
	})
}
