package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// DeleteShareGroupOffsets v0: deletes a share group's state for whole
// topics, so that the group reads them again as share.auto.offset.reset
// says; only while the group has no members (NON_EMPTY_GROUP otherwise),
// on its coordinator. Delete on the group and Read on each topic, as
// Kafka.
func init() {
	registerNeeding(kmsg.DeleteShareGroupOffsets.Int16(), 0, 0, needReader, (*Server).handleDeleteShareGroupOffsets)
}

func (s *Server) handleDeleteShareGroupOffsets(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DeleteShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	az := s.authz(r)
	if !az.group(acl.OpDelete, req.GroupID) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		if code := s.share.checkEmpty(ctx, req.GroupID); code != 0 {
			resp.ErrorCode = code
			return resp
		}
		for _, rt := range req.Topics {
			t := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
			t.Topic = rt.Topic
			info, err := az.topicByName(ctx, acl.OpRead, rt.Topic)
			if err == nil {
				t.TopicID = info.ID
				keys := make([]metastore.SharePartitionKey, info.Partitions)
				for p := range keys {
					keys[p] = metastore.SharePartitionKey{Group: req.GroupID, TopicID: info.ID, Partition: int32(p)}
				}
				err = s.share.store.DeleteShareStates(ctx, req.GroupID, keys)
				s.share.forgetHints(keys)
			}
			t.ErrorCode, t.ErrorMessage = s.errorCodeMessage("DeleteShareGroupOffsets", err)
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	}}, nil
}
