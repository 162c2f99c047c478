package kafka

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// DeleteTopics v0-v6: by name, and from v6 by topic id (UNKNOWN_TOPIC_ID
// when the id is unknown). The topic and its index go at once; the
// compactor removes the data later. At most Config.MaxTopicsPerRequest
// topics are deleted per request (see topicLimitError).
func init() { register(kmsg.DeleteTopics.Int16(), 0, 6, (*Server).handleDeleteTopics) }

func (s *Server) handleDeleteTopics(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	az := s.authz(r)
	targets := req.Topics
	if req.Version < 6 {
		targets = make([]kmsg.DeleteTopicsRequestTopic, 0, len(req.TopicNames))
		for _, name := range req.TopicNames {
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic = strPtr(name)
			targets = append(targets, t)
		}
	}
	for i, target := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic = target.Topic
		st.TopicID = target.TopicID
		err := s.topicLimitError(i, len(targets), req.Version >= 5)
		if err == nil {
			err = s.deleteTopic(ctx, az, target, &st)
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

// deleteTopic deletes the topic target names, by name or id, filling in the
// other of the two in st.
func (s *Server) deleteTopic(ctx context.Context, az *authz, target kmsg.DeleteTopicsRequestTopic, st *kmsg.DeleteTopicsResponseTopic) error {
	if target.Topic == nil {
		t, err := s.meta.TopicByID(ctx, uuid.UUID(target.TopicID))
		if errors.Is(err, metastore.ErrUnknownTopic) {
			return errorf(kerr.UnknownTopicID, "unknown topic id %s", uuid.UUID(target.TopicID))
		}
		if err != nil {
			return err
		}
		if err := az.topicErr(acl.OpDelete, t.Name); err != nil {
			return err // the name stays unsaid
		}
		st.Topic = strPtr(t.Name)
		return s.meta.DeleteTopic(ctx, t.Name)
	}
	if err := az.topicErr(acl.OpDelete, *target.Topic); err != nil {
		return err
	}
	t, err := s.meta.TopicByName(ctx, *target.Topic)
	if err != nil {
		return err
	}
	st.TopicID = t.ID
	return s.meta.DeleteTopic(ctx, t.Name)
}
