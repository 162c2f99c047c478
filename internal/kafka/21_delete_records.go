package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// DeleteRecords v0-v2: advances each partition's log start offset to the
// offset given (-1: the high watermark) and answers it as LowWatermark. The
// log start never moves back: an offset below it answers the current one.
// An offset above the high watermark, or below -1, is OFFSET_OUT_OF_RANGE;
// an unknown topic or partition UNKNOWN_TOPIC_OR_PARTITION. Reads below the
// new log start fail on this node at once for Fetch and ListOffsets, and
// after the reader's metadata TTL for a partition it has just read; the
// compactor removes the data later. TimeoutMillis is not needed: the change
// is one metastore write.
func init() { register(kmsg.DeleteRecords.Int16(), 0, 2, (*Server).handleDeleteRecords) }

func (s *Server) handleDeleteRecords(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	az := s.authz(r)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		info, terr := az.topicByName(ctx, acl.OpDelete, rt.Topic)
		changed := false
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			err := terr
			if err == nil && rp.Offset < -1 {
				err = errorf(kerr.OffsetOutOfRange, "offset %d", rp.Offset)
			}
			if err == nil {
				var low int64
				if low, err = s.meta.DeleteRecords(ctx, info.ID, rp.Partition, rp.Offset); err == nil {
					sp.LowWatermark = low
					changed = true
				}
			}
			sp.ErrorCode = s.errorCode("DeleteRecords", err)
			st.Partitions = append(st.Partitions, sp)
		}
		if changed {
			s.topics.invalidate(rt.Topic)
			s.log.Info("deleted records", "topic", rt.Topic, "partitions", len(rt.Partitions))
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}
