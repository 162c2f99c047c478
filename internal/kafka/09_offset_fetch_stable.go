package kafka

import (
	"context"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// offsetFetchStable answers require_stable (KIP-447): the partitions of
// resp that an open transaction holds a pending offset for become
// UNSTABLE_OFFSET_COMMIT, so that a consumer taking over a partition
// waits for the transaction of the one that had it to end instead of
// reading the offset from before it.
func (s *Server) offsetFetchStable(ctx context.Context, req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse) {
	if !req.RequireStable || s.txn == nil {
		return
	}
	pending := func(group string) map[metastore.TopicPartition]bool {
		ps, e := s.txn.PendingOffsets(ctx, group)
		if e != nil {
			return nil
		}
		return ps
	}
	unstable := func(ps map[metastore.TopicPartition]bool, topic string, p int32) bool {
		return ps[metastore.TopicPartition{Topic: topic, Partition: p}]
	}
	if req.Version < 8 {
		ps := pending(req.Group)
		for i := range resp.Topics {
			t := &resp.Topics[i]
			for j := range t.Partitions {
				if p := &t.Partitions[j]; p.ErrorCode == 0 && unstable(ps, t.Topic, p.Partition) {
					p.ErrorCode, p.Offset = kerr.UnstableOffsetCommit.Code, -1
				}
			}
		}
		return
	}
	for i := range resp.Groups {
		g := &resp.Groups[i]
		if g.ErrorCode != 0 {
			continue
		}
		ps := pending(g.Group)
		for j := range g.Topics {
			t := &g.Topics[j]
			name := t.Topic
			if name == "" {
				if info, err := s.topics.topicByID(ctx, uuid.UUID(t.TopicID)); err == nil {
					name = info.Name
				}
			}
			for k := range t.Partitions {
				if p := &t.Partitions[k]; p.ErrorCode == 0 && unstable(ps, name, p.Partition) {
					p.ErrorCode, p.Offset = kerr.UnstableOffsetCommit.Code, -1
				}
			}
		}
	}
}
