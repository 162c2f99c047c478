package kafka

import (
	"context"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/share"
	"github.com/stratalog/strata/metastore"
)

// ShareAcknowledge v1-v2: a member's acknowledgements through its share
// session, without fetching; epoch -1 also closes the session, releasing
// what the member still holds of its partitions. All of a request's
// acknowledgements are one metastore transaction, before the answer.
// Read on the group and on each topic, as Kafka.
func init() {
	registerNeeding(kmsg.ShareAcknowledge.Int16(), 1, 2, needReader, (*Server).handleShareAcknowledge)
}

func (s *Server) handleShareAcknowledge(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ShareAcknowledgeRequest)
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	fail := func(code *kerr.Error, msg string) (Reply, error) {
		resp.ErrorCode, resp.ErrorMessage = code.Code, strPtr(msg)
		return respond(resp)
	}
	group, member := strOr(req.GroupID), strOr(req.MemberID)
	az := s.authz(r)
	if !az.group(acl.OpRead, group) {
		return fail(kerr.GroupAuthorizationFailed, "not authorized to read the group")
	}
	if member == "" || len(member) > 36 {
		return fail(kerr.InvalidRequest, "the member id must have 1 to 36 characters")
	}
	maxType := share.AckReject
	if req.Version >= 2 && req.IsRenewAck {
		maxType = share.AckRenew
	}
	sess, _, code := s.share.session(r.conn, group, member, req.ShareSessionEpoch, nil, nil, false)
	if code != 0 {
		resp.ErrorCode = code
		return respond(resp)
	}
	type entry struct {
		k    tp
		acks []share.Ack
		code int16
	}
	var entries []entry
	readable := map[uuid.UUID]bool{}
	for _, t := range req.Topics {
		id := uuid.UUID(t.TopicID)
		if _, ok := readable[id]; !ok {
			readable[id] = az.topicByRef(context.Background(), acl.OpRead, "", id)
		}
		for _, p := range t.Partitions {
			e := entry{k: tp{id, p.Partition}}
			e.acks = toAcks(p.AcknowledgementBatches, func(b kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch) (int64, int64, []int8) {
				return b.FirstOffset, b.LastOffset, b.AcknowledgeTypes
			})
			switch {
			case !readable[id]:
				e.code = kerr.TopicAuthorizationFailed.Code
			case share.CheckAcks(e.acks, maxType) != nil:
				e.code = kerr.InvalidRequest.Code
			}
			entries = append(entries, e)
		}
	}
	closing := req.ShareSessionEpoch == -1
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		if cfg, err := s.share.config(ctx, group); err == nil {
			resp.AcquisitionLockTimeoutMillis = int32(cfg.lim.LockMillis)
		}
		parts := map[tp]*sharePart{}
		var list []*sharePart
		get := func(k tp) *sharePart {
			if p, ok := parts[k]; ok {
				return p
			}
			p := &sharePart{key: metastore.SharePartitionKey{Group: group, TopicID: k.topic, Partition: k.part}}
			parts[k] = p
			list = append(list, p)
			return p
		}
		for _, e := range entries {
			if e.code == 0 && e.acks != nil {
				get(e.k).acks = e.acks
			}
		}
		if closing {
			for k := range sess.parts {
				get(k).release = true
			}
		}
		err := s.share.apply(ctx, group, member, list, 0)
		topicIdx := map[uuid.UUID]int{}
		for _, e := range entries {
			ti, ok := topicIdx[e.k.topic]
			if !ok {
				ti = len(resp.Topics)
				topicIdx[e.k.topic] = ti
				t := kmsg.NewShareAcknowledgeResponseTopic()
				t.TopicID = e.k.topic
				resp.Topics = append(resp.Topics, t)
			}
			p := kmsg.NewShareAcknowledgeResponseTopicPartition()
			p.Partition = e.k.part
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
			switch {
			case e.code != 0:
				p.ErrorCode = e.code
			case err != nil:
				p.ErrorCode, p.ErrorMessage = s.errorCodeMessage("ShareAcknowledge", err)
			case parts[e.k] != nil:
				p.ErrorCode = shareAckCode(parts[e.k].ackErr)
			}
			resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, p)
		}
		return resp
	}}, nil
}
