package kafka

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// DeleteTopics v0-v6: by name, and from v6 by topic id (UNKNOWN_TOPIC_ID
// when the id is unknown). The topic and its index go at once; the
// compactor removes the data later.
func init() { register(kmsg.DeleteTopics.Int16(), 0, 6, (*Server).handleDeleteTopics) }

func (s *Server) handleDeleteTopics(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	targets := req.Topics
	if req.Version < 6 {
		targets = make([]kmsg.DeleteTopicsRequestTopic, 0, len(req.TopicNames))
		for _, name := range req.TopicNames {
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic = strPtr(name)
			targets = append(targets, t)
		}
	}
	for _, target := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic = target.Topic
		st.TopicID = target.TopicID
		var err error
		if target.Topic == nil {
			var t metastore.Topic
			t, err = s.meta.TopicByID(ctx, uuid.UUID(target.TopicID))
			if errors.Is(err, metastore.ErrUnknownTopic) {
				err = errorf(kerr.UnknownTopicID, "unknown topic id %s", uuid.UUID(target.TopicID))
			}
			if err == nil {
				st.Topic = strPtr(t.Name)
				err = s.meta.DeleteTopic(ctx, t.Name)
			}
		} else {
			var t metastore.Topic
			if t, err = s.meta.TopicByName(ctx, *target.Topic); err == nil {
				st.TopicID = t.ID
				err = s.meta.DeleteTopic(ctx, t.Name)
			}
		}
		if err == nil {
			s.topics.invalidate(*st.Topic)
			s.log.Info("deleted topic", "topic", *st.Topic)
		}
		st.ErrorCode, st.ErrorMessage = s.errorCodeMessage("DeleteTopics", err)
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}
