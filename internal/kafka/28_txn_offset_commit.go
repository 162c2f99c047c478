package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// TxnOffsetCommit v0-v4: offsets of a group the open transaction commits.
// They are held with the transaction and become the group's committed
// offsets only when it commits, in the same metastore transaction as its
// markers; an abort drops them. v5+ (KIP-890 part 2, no AddOffsetsToTxn
// first) is not served. The group's generation and member (v3+) are not
// checked against the group. Write on the transactional id, Read on the
// group and on each topic are required, as in Kafka; an unknown topic or
// partition is UNKNOWN_TOPIC_OR_PARTITION.
func init() {
	registerNeeding(kmsg.TxnOffsetCommit.Int16(), 0, 4, needGroups, (*Server).handleTxnOffsetCommit)
}

func (s *Server) handleTxnOffsetCommit(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	az := s.authz(r)
	all := func(code func(topic string, p int32) int16) {
		resp.Topics = resp.Topics[:0]
		for _, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code(t.Topic, p.Partition)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	fixed := func(c int16) func(string, int32) int16 { return func(string, int32) int16 { return c } }
	switch {
	case !az.txnID(acl.OpWrite, req.TransactionalID):
		all(fixed(kerr.TransactionalIDAuthorizationFailed.Code))
		return respond(resp)
	case !az.group(acl.OpRead, req.Group):
		all(fixed(kerr.GroupAuthorizationFailed.Code))
		return respond(resp)
	}
	codes := map[metastore.TopicPartition]int16{}
	var offs []metastore.GroupOffset
	for _, t := range req.Topics {
		var code int16
		var info *topicInfo
		if !az.topic(acl.OpRead, t.Topic) {
			code = kerr.TopicAuthorizationFailed.Code
		} else {
			var err error
			if info, err = s.topics.topicByName(ctx, t.Topic); err != nil {
				code, _ = s.dataErrorCode("TxnOffsetCommit", err)
			}
		}
		for _, p := range t.Partitions {
			c := code
			if c == 0 {
				if _, known := info.partition(p.Partition); !known {
					c = kerr.UnknownTopicOrPartition.Code
				}
			}
			codes[metastore.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = c
			if c != 0 {
				continue
			}
			o := metastore.GroupOffset{Topic: t.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: -1}
			if req.Version >= 2 {
				o.LeaderEpoch = p.LeaderEpoch
			}
			if p.Metadata != nil {
				o.Metadata = *p.Metadata
			}
			offs = append(offs, o)
		}
	}
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		var e *kerr.Error
		if len(offs) > 0 {
			e = s.txn.OffsetCommit(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, offs)
		}
		all(func(topic string, p int32) int16 {
			if c := codes[metastore.TopicPartition{Topic: topic, Partition: p}]; c != 0 || e == nil {
				return c
			}
			return e.Code
		})
		return resp
	}}, nil
}
