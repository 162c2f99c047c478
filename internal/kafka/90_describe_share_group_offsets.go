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

// DescribeShareGroupOffsets v0-v1: each share partition's start offset and
// (v1) lag, the records from the start offset up to the high watermark not
// yet acknowledged or archived. A partition the group has never read has
// start offset -1. Without topics, every topic the group has state for.
// Describe on the group and on each topic, as Kafka. Any node answers:
// the state is the metastore's.
func init() {
	registerNeeding(kmsg.DescribeShareGroupOffsets.Int16(), 0, 1, needReader, (*Server).handleDescribeShareGroupOffsets)
}

func (s *Server) handleDescribeShareGroupOffsets(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	az := s.authz(r)
	allowed := make([]bool, len(req.Groups))
	for i, g := range req.Groups {
		allowed[i] = az.group(acl.OpDescribe, g.GroupID)
	}
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		for i, rg := range req.Groups {
			g := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
			g.GroupID = rg.GroupID
			if !allowed[i] {
				g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			} else {
				s.describeShareOffsets(ctx, az, rg, &g)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}}, nil
}

func (s *Server) describeShareOffsets(ctx context.Context, az *authz, rg kmsg.DescribeShareGroupOffsetsRequestGroup, out *kmsg.DescribeShareGroupOffsetsResponseGroup) {
	sts, err := s.share.store.ShareStates(ctx, rg.GroupID)
	if err != nil {
		out.ErrorCode, out.ErrorMessage = s.errorCodeMessage("DescribeShareGroupOffsets", err)
		return
	}
	byKey := map[tp]metastore.ShareState{}
	var ids []uuid.UUID
	for _, st := range sts {
		k := tp{st.Key.TopicID, st.Key.Partition}
		if _, ok := byKey[k]; !ok && (len(ids) == 0 || ids[len(ids)-1] != k.topic) {
			ids = append(ids, k.topic)
		}
		byKey[k] = st
	}
	type want struct {
		name  string
		parts []int32 // nil: those with state
	}
	var wants []want
	if rg.Topics == nil {
		for _, id := range ids {
			info, err := s.topics.topicByID(ctx, id)
			if err != nil || !az.may(acl.OpDescribe, acl.ResourceTopic, info.Name) {
				continue
			}
			wants = append(wants, want{name: info.Name})
		}
	} else {
		for _, t := range rg.Topics {
			wants = append(wants, want{t.Topic, t.Partitions})
		}
	}
	for _, w := range wants {
		t := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
		t.Topic = w.name
		info, err := az.topicByName(ctx, acl.OpDescribe, w.name)
		parts := w.parts
		if err == nil {
			t.TopicID = info.ID
			if parts == nil {
				for k := range byKey {
					if k.topic == info.ID {
						parts = append(parts, k.part)
					}
				}
				sortInt32s(parts)
			}
		}
		for _, p := range parts {
			rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
			rp.Partition, rp.StartOffset, rp.LeaderEpoch, rp.Lag = p, -1, -1, -1
			if err != nil {
				rp.ErrorCode, rp.ErrorMessage = s.errorCodeMessage("DescribeShareGroupOffsets", err)
				t.Partitions = append(t.Partitions, rp)
				continue
			}
			if st, ok := byKey[tp{info.ID, p}]; ok {
				rp.StartOffset = st.StartOffset
				if hwm, _, herr := s.reader.Offsets(ctx, info.ID, p); herr == nil {
					rp.Lag = shareLag(st, hwm)
				}
			}
			t.Partitions = append(t.Partitions, rp)
		}
		out.Topics = append(out.Topics, t)
	}
}

// shareLag is the records of a share partition from its start offset to
// hwm not yet acknowledged or archived.
func shareLag(st metastore.ShareState, hwm int64) int64 {
	p, err := share.Decode(st.StartOffset, st.State)
	if err != nil {
		return -1
	}
	c := p.Count()
	return max(hwm-p.Start-int64(c[share.Acknowledged]+c[share.Archived]), 0)
}

func sortInt32s(ps []int32) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j] < ps[j-1]; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}
