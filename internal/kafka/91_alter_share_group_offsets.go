package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/share"
	"github.com/stratalog/strata/metastore"
)

// AlterShareGroupOffsets v0: sets the start offsets of a share group's
// partitions, forgetting what was in flight there, as Kafka does only
// while the group has no members (NON_EMPTY_GROUP otherwise). Answered by
// the group's coordinator, which knows its members. An offset outside
// the log is OFFSET_OUT_OF_RANGE. Read on the group and on each topic, as
// Kafka.
func init() {
	registerNeeding(kmsg.AlterShareGroupOffsets.Int16(), 0, 0, needReader, (*Server).handleAlterShareGroupOffsets)
}

func (s *Server) handleAlterShareGroupOffsets(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.AlterShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	az := s.authz(r)
	if !az.group(acl.OpRead, req.GroupID) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp)
	}
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		if code := s.share.checkEmpty(ctx, req.GroupID); code != 0 {
			resp.ErrorCode = code
			return resp
		}
		type target struct {
			out *kmsg.AlterShareGroupOffsetsResponseTopicPartition
			sp  *sharePart
		}
		var targets []target
		var list []*sharePart
		offsets := map[metastore.SharePartitionKey]int64{}
		for _, rt := range req.Topics {
			t := kmsg.NewAlterShareGroupOffsetsResponseTopic()
			t.Topic = rt.Topic
			info, err := az.topicByName(ctx, acl.OpRead, rt.Topic)
			if err == nil {
				t.TopicID = info.ID
			}
			t.Partitions = make([]kmsg.AlterShareGroupOffsetsResponseTopicPartition, len(rt.Partitions))
			resp.Topics = append(resp.Topics, t)
			out := &resp.Topics[len(resp.Topics)-1]
			for i, p := range rt.Partitions {
				o := &out.Partitions[i]
				*o = kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
				o.Partition = p.Partition
				if err != nil {
					o.ErrorCode, o.ErrorMessage = s.errorCodeMessage("AlterShareGroupOffsets", err)
					continue
				}
				hwm, start, oerr := s.reader.Offsets(ctx, info.ID, p.Partition)
				switch {
				case oerr != nil:
					o.ErrorCode, o.ErrorMessage = s.errorCodeMessage("AlterShareGroupOffsets", oerr)
					continue
				case p.StartOffset < start || p.StartOffset > hwm:
					o.ErrorCode = kerr.OffsetOutOfRange.Code
					continue
				}
				sp := &sharePart{key: metastore.SharePartitionKey{Group: req.GroupID, TopicID: info.ID, Partition: p.Partition}}
				offsets[sp.key] = p.StartOffset
				targets = append(targets, target{o, sp})
				list = append(list, sp)
			}
		}
		if len(list) == 0 {
			return resp
		}
		keys := make([]metastore.SharePartitionKey, len(list))
		for i, sp := range list {
			keys[i] = sp.key
		}
		err := s.share.store.UpdateShareStates(ctx, keys, func(in []metastore.ShareState) ([]metastore.ShareState, error) {
			out := make([]metastore.ShareState, len(in))
			for i, st := range in {
				p := share.New(offsets[st.Key])
				out[i] = metastore.ShareState{Key: st.Key, StartOffset: p.Start, State: p.Encode()}
			}
			return out, nil
		})
		s.share.forgetHints(keys)
		for _, tg := range targets {
			tg.out.ErrorCode, tg.out.ErrorMessage = s.errorCodeMessage("AlterShareGroupOffsets", err)
		}
		return resp
	}}, nil
}

// checkEmpty is 0 when this node coordinates group and it has no
// members, else the error for a request that needs that.
func (ss *shareServer) checkEmpty(ctx context.Context, group string) int16 {
	if !ss.s.isShareCoordinator(ctx, group) {
		return kerr.NotCoordinator.Code
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if g := ss.groups[group]; g != nil {
		ss.expireMembers(g, ss.now())
		if len(g.members) > 0 {
			return kerr.NonEmptyGroup.Code
		}
	}
	return 0
}

// forgetHints drops this node's view of share partitions changed
// outside a fetch.
func (ss *shareServer) forgetHints(keys []metastore.SharePartitionKey) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, k := range keys {
		delete(ss.hints, k)
	}
}
