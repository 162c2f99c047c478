package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// OffsetForLeaderEpoch v0-v4, which consumers use to detect log truncation
// after a leader change (KIP-320). Strata's log is never truncated: the
// metastore orders every commit, whichever node made it, and keeps each
// partition's leader epoch history (the offset at which each epoch began).
//
//   - CurrentLeaderEpoch (v2+) is checked as in Fetch.
//   - A requested epoch equal to the partition's answers the high
//     watermark; an older one answers the largest epoch at or below it and
//     the offset where the next epoch began, as Kafka's leader epoch cache
//     does (metastore.ResolveEpochEnd). Every batch a consumer read carries
//     an epoch no lower than the one it was committed in, so the end offset
//     of that epoch is never below what the consumer read: it sees no
//     truncation.
//   - A newer epoch than the partition's can only come from a fresher view
//     of it elsewhere: UNKNOWN_LEADER_EPOCH, which consumers retry, rather
//     than Kafka's undefined epoch (-1, -1), which franz-go reads as a
//     reason to reset its offset.
//   - A negative requested epoch answers epoch and offset -1.
//   - ReplicaID (v3+) is ignored: every caller is treated as a consumer.
//   - A topic the principal may not Describe is TOPIC_AUTHORIZATION_FAILED
//     on every partition of it.
func init() {
	registerNeeding(kmsg.OffsetForLeaderEpoch.Int16(), 0, 4, needReader, (*Server).handleOffsetForLeaderEpoch)
}

func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	az := s.authz(r)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		var parts []metastore.Partition
		info, terr := az.topicByName(ctx, acl.OpDescribe, rt.Topic)
		if terr == nil {
			parts, terr = s.meta.Partitions(ctx, info.ID)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			err := terr
			var part metastore.Partition
			if err == nil {
				part, err = findPartition(info.Name, parts, rp.Partition)
			}
			if err == nil && req.Version >= 2 {
				err = checkLeaderEpoch(rp.CurrentLeaderEpoch, part)
			}
			if err == nil {
				switch {
				case rp.LeaderEpoch < 0:
				case rp.LeaderEpoch > part.LeaderEpoch:
					err = errorf(kerr.UnknownLeaderEpoch, "leader epoch %d of partition %d is newer than %d", rp.LeaderEpoch, part.Partition, part.LeaderEpoch)
				default:
					var end metastore.EpochEnd
					end, err = s.meta.OffsetForLeaderEpoch(ctx, info.ID, rp.Partition, rp.LeaderEpoch)
					if err == nil {
						sp.LeaderEpoch, sp.EndOffset = end.Epoch, end.EndOffset
					}
				}
			}
			sp.ErrorCode, _ = s.dataErrorCode("OffsetForLeaderEpoch", err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}
