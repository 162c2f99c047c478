package kafka

import (
	"context"
	"math"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// ListOffsets v0-v11. The partitions' offsets are read from the metastore
// (not the topic cache), so that a record acknowledged anywhere is below
// the latest offset returned.
//
//   - -1 (latest) is the high watermark, -2 (earliest) and -4 (v8+,
//     earliest local) the log start offset; their timestamp is -1.
//   - -3 (v7+, max timestamp) is the first record carrying the largest
//     timestamp of the partition. The largest timestamp is found in the
//     chunk index (each chunk records its batches' largest timestamp), then
//     the record through the reader. Records deleted by DeleteRecords but
//     not yet removed by the compactor can hide the answer; the reply is
//     then the first record with the newest chunk's largest timestamp.
//   - -5 (v9+, latest tiered) and -6 (v11+, earliest pending upload) are
//     answered as by a Kafka topic without tiered storage: offset and
//     timestamp -1. Strata has one storage tier, the object store.
//   - Any other timestamp is the first record whose timestamp is at least
//     it; when there is none, offset and timestamp are -1, as in Kafka.
//   - v0 answers in its old form, a list holding the offset (empty when
//     there is none or MaxNumOffsets is 0).
//   - LeaderEpoch (v4+) is the partition's current epoch with every offset
//     found; CurrentLeaderEpoch is checked as in Fetch.
//   - read_committed (IsolationLevel 1, v2+): -1 (latest) is the last
//     stable offset, the first offset of the partition's oldest open
//     transaction, else the high watermark, read from the metastore's
//     transaction index. Other lookups answer as read_uncommitted does.
//   - A topic the principal may not Describe is TOPIC_AUTHORIZATION_FAILED
//     on every partition of it.
func init() {
	registerNeeding(kmsg.ListOffsets.Int16(), 0, 11, needReader, (*Server).handleListOffsets)
}

// Special timestamps of ListOffsets.
const (
	listLatest          = -1
	listEarliest        = -2
	listMaxTimestamp    = -3
	listEarliestLocal   = -4
	listLatestTiered    = -5
	listEarliestPending = -6
)

// maxTimestampProbes bounds the chunk index lookups of one max timestamp
// search.
const maxTimestampProbes = 64

func (s *Server) handleListOffsets(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ListOffsetsRequest)
	// Timestamp lookups may read chunks from the object store: off the
	// connection's read loop.
	az := s.authz(r)
	return Reply{Later: func(ctx context.Context) kmsg.Response { return s.listOffsets(ctx, az, req) }}, nil
}

func (s *Server) listOffsets(ctx context.Context, az *authz, req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		var parts []metastore.Partition
		info, terr := az.topicByName(ctx, acl.OpDescribe, rt.Topic)
		if terr == nil {
			parts, terr = s.meta.Partitions(ctx, info.ID)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			err := terr
			var part metastore.Partition
			if err == nil {
				part, err = findPartition(info.Name, parts, rp.Partition)
			}
			if err == nil && req.Version >= 4 {
				err = checkLeaderEpoch(rp.CurrentLeaderEpoch, part)
			}
			var offset, ts int64 = -1, -1
			if err == nil {
				offset, ts, err = s.listOffset(ctx, req.Version, info.ID, part, rp.Timestamp)
			}
			if err == nil && rp.Timestamp == listLatest && req.IsolationLevel == readCommitted {
				offset, err = s.lastStableOffset(ctx, info.ID, part.Partition)
			}
			if err != nil {
				sp.ErrorCode, _ = s.dataErrorCode("ListOffsets", err)
			} else if offset >= 0 {
				sp.Offset, sp.Timestamp, sp.LeaderEpoch = offset, ts, part.LeaderEpoch
			}
			if req.Version == 0 {
				sp.OldStyleOffsets = []int64{}
				if err == nil && offset >= 0 && rp.MaxNumOffsets > 0 {
					sp.OldStyleOffsets = append(sp.OldStyleOffsets, offset)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// findPartition returns partition p from a topic's partitions, ordered by
// number.
func findPartition(topic string, parts []metastore.Partition, p int32) (metastore.Partition, error) {
	if p >= 0 && int(p) < len(parts) && parts[p].Partition == p {
		return parts[p], nil
	}
	for _, part := range parts {
		if part.Partition == p {
			return part, nil
		}
	}
	return metastore.Partition{}, errorf(kerr.UnknownTopicOrPartition, "topic %q has no partition %d", topic, p)
}

// listOffset answers one partition: the offset and its timestamp, or -1, -1
// when there is none.
func (s *Server) listOffset(ctx context.Context, version int16, topicID uuid.UUID, part metastore.Partition, ts int64) (offset, timestamp int64, err error) {
	switch {
	case ts == listLatest:
		return part.NextOffset, -1, nil
	case ts == listEarliest, ts == listEarliestLocal && version >= 8:
		return part.LogStartOffset, -1, nil
	case ts == listMaxTimestamp && version >= 7:
		return s.maxTimestampOffset(ctx, topicID, part)
	case ts == listLatestTiered && version >= 9, ts == listEarliestPending && version >= 11:
		return -1, -1, nil
	}
	return s.reader.OffsetForTimestamp(ctx, topicID, part.Partition, ts)
}

// maxTimestampOffset finds the first record with the partition's largest
// timestamp. The newest chunk's largest timestamp is a lower bound; the
// index is then asked for a chunk with a larger one until there is none.
// With timestamps that grow with offsets (the usual case) that takes one
// lookup.
func (s *Server) maxTimestampOffset(ctx context.Context, topicID uuid.UUID, part metastore.Partition) (offset, timestamp int64, err error) {
	if part.NextOffset <= part.LogStartOffset {
		return -1, -1, nil
	}
	newest, err := s.meta.ChunksFrom(ctx, topicID, part.Partition, part.NextOffset-1, 1)
	if err != nil {
		return -1, -1, err
	}
	if len(newest) == 0 {
		return -1, -1, nil
	}
	best := newest[0].MaxTimestamp
	for range maxTimestampProbes {
		if best == math.MaxInt64 {
			break
		}
		c, ok, err := s.meta.ChunkForTimestamp(ctx, topicID, part.Partition, best+1)
		if err != nil {
			return -1, -1, err
		}
		if !ok || c.MaxTimestamp <= best {
			break
		}
		best = c.MaxTimestamp
	}
	offset, timestamp, err = s.reader.OffsetForTimestamp(ctx, topicID, part.Partition, best)
	if err != nil || offset >= 0 || best == newest[0].MaxTimestamp {
		return offset, timestamp, err
	}
	// The largest timestamp is only below the log start offset.
	return s.reader.OffsetForTimestamp(ctx, topicID, part.Partition, newest[0].MaxTimestamp)
}

// lastStableOffset reads a partition's last stable offset from the
// metastore, for ListOffsets latest in read_committed.
func (s *Server) lastStableOffset(ctx context.Context, topicID uuid.UUID, partition int32) (int64, error) {
	pt, err := s.meta.PartitionTxns(ctx, topicID, partition, math.MaxInt64, 1)
	if err != nil {
		return -1, err
	}
	return pt.LastStableOffset(), nil
}
