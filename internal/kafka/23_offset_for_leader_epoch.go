package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// OffsetForLeaderEpoch v0-v4, which consumers use to detect log truncation
// after a leader change (KIP-320). Strata's log is never truncated: the
// metastore orders every commit, whichever node made it. The partitions'
// epochs and high watermarks are read from the metastore.
//
//   - CurrentLeaderEpoch (v2+) is checked as in Fetch.
//   - A requested epoch equal to the partition's answers the high
//     watermark. An older one answers the high watermark too: there is no
//     epoch history yet, and the high watermark is never below an offset a
//     consumer has read, so the consumer sees no truncation. (Kafka would
//     answer the first offset of the next epoch.)
//   - A newer epoch than the partition's can only come from a fresher view
//     of it elsewhere: UNKNOWN_LEADER_EPOCH, which consumers retry, rather
//     than Kafka's undefined epoch (-1, -1), which franz-go reads as a
//     reason to reset its offset.
//   - A negative requested epoch answers epoch and offset -1.
//   - ReplicaID (v3+) is ignored: every caller is treated as a consumer.
func init() {
	registerNeeding(kmsg.OffsetForLeaderEpoch.Int16(), 0, 4, needReader, (*Server).handleOffsetForLeaderEpoch)
}

func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		var parts []metastore.Partition
		info, terr := s.topics.topicByName(ctx, rt.Topic)
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
					sp.LeaderEpoch, sp.EndOffset = rp.LeaderEpoch, part.NextOffset
				}
			}
			sp.ErrorCode = s.errorCode("OffsetForLeaderEpoch", err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}
