package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// CreatePartitions v0-v3: raises a topic's partition count to Count. A count
// not above the current one is INVALID_PARTITIONS; an assignment, if given,
// must list one entry per new partition and is otherwise ignored.
// ValidateOnly checks and changes nothing. At most
// Config.MaxTopicsPerRequest topics are changed per request (see
// topicLimitError).
func init() { register(kmsg.CreatePartitions.Int16(), 0, 3, (*Server).handleCreatePartitions) }

func (s *Server) handleCreatePartitions(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	az := s.authz(r)
	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	for i, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		switch {
		case count[rt.Topic] > 1:
			err = errorf(kerr.InvalidRequest, "topic %q is named more than once", rt.Topic)
		default:
			if err = s.topicLimitError(i, len(req.Topics), req.Version >= 3); err == nil {
				if err = az.topicErr(acl.OpAlter, rt.Topic); err == nil {
					err = s.createPartitions(ctx, rt, req.ValidateOnly)
				}
			}
		}
		st.ErrorCode, st.ErrorMessage = s.errorCodeMessage("CreatePartitions", err)
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}

func (s *Server) createPartitions(ctx context.Context, rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	t, err := s.meta.TopicByName(ctx, rt.Topic)
	if err != nil {
		return err
	}
	if rt.Count <= t.Partitions {
		return errorf(kerr.InvalidPartitions, "topic %q has %d partitions; the new count must be higher, got %d", rt.Topic, t.Partitions, rt.Count)
	}
	if rt.Count > s.cfg.MaxPartitionsPerTopic {
		return errorf(kerr.InvalidPartitions, "partition count %d is above the maximum %d", rt.Count, s.cfg.MaxPartitionsPerTopic)
	}
	if rt.Assignment != nil && len(rt.Assignment) != int(rt.Count-t.Partitions) {
		return errorf(kerr.InvalidReplicaAssignment, "assignment lists %d partitions, %d are added", len(rt.Assignment), rt.Count-t.Partitions)
	}
	if validateOnly {
		return nil
	}
	err = s.meta.CreatePartitions(ctx, rt.Topic, rt.Count)
	s.topics.invalidate(rt.Topic)
	if err != nil {
		return err
	}
	s.log.Info("added partitions", "topic", rt.Topic, "partitions", rt.Count)
	return nil
}
