package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// CreateTopics v0-v7.
//
//   - NumPartitions -1 means the default partition count; a replica
//     assignment instead gives the count by its length. Counts above
//     MaxPartitionsPerTopic are INVALID_PARTITIONS.
//   - ReplicationFactor must be -1 or positive and is otherwise ignored: the
//     object store keeps the data, and every partition reports one replica.
//   - Configs are validated against the known topic configs (INVALID_CONFIG
//     for an unknown key or a bad value).
//   - ValidateOnly checks everything, including existence, and creates
//     nothing.
//   - A topic named twice in one request is INVALID_REQUEST, as in Kafka.
//   - At most Config.MaxTopicsPerRequest topics are created per request;
//     the rest are THROTTLING_QUOTA_EXCEEDED (see topicLimitError).
func init() { register(kmsg.CreateTopics.Int16(), 0, 7, (*Server).handleCreateTopics) }

func (s *Server) handleCreateTopics(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	// Create on the cluster allows every topic, as in Kafka; checked
	// without logging a denial, since Create on the topic may allow it.
	az := s.authz(r)
	onCluster := az.may(acl.OpCreate, acl.ResourceCluster, acl.ClusterName)
	for i, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		var t metastore.Topic
		var err error
		switch {
		case count[rt.Topic] > 1:
			err = errorf(kerr.InvalidRequest, "topic %q is named more than once", rt.Topic)
		case !onCluster && !az.topic(acl.OpCreate, rt.Topic):
			err = errTopicAuthz
		default:
			if err = s.topicLimitError(i, len(req.Topics), req.Version >= 6); err == nil {
				t, err = s.createTopic(ctx, rt, req.ValidateOnly)
			}
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = s.errorCodeMessage("CreateTopics", err)
			st.NumPartitions = -1
			st.ReplicationFactor = -1
		} else {
			st.TopicID = t.ID
			st.NumPartitions = t.Partitions
			st.ReplicationFactor = 1
			if !az.may(acl.OpDescribeConfigs, acl.ResourceTopic, t.Name) {
				// Created, but its configs are not the principal's to see.
				st.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
			for _, e := range topicConfigEntries(s.cfg.TopicDefaults, t.Configs, false) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name = e.name
				c.Value = e.value
				c.ReadOnly = e.readOnly
				c.Source = int8(e.source)
				st.Configs = append(st.Configs, c)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp)
}

// createTopic validates and creates one topic; with validateOnly it returns
// the topic as it would be created.
func (s *Server) createTopic(ctx context.Context, rt kmsg.CreateTopicsRequestTopic, validateOnly bool) (metastore.Topic, error) {
	var t metastore.Topic
	if err := checkTopicName(rt.Topic); err != nil {
		return t, err
	}
	if _, ok := internalTopicNamed(rt.Topic); ok {
		return t, errInternalTopicExists(rt.Topic)
	}
	partitions := rt.NumPartitions
	switch {
	case len(rt.ReplicaAssignment) > 0:
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return t, errorf(kerr.InvalidRequest, "a replica assignment requires partitions and replication factor -1")
		}
		partitions = int32(len(rt.ReplicaAssignment))
		for i, a := range rt.ReplicaAssignment {
			if a.Partition != int32(i) {
				return t, errorf(kerr.InvalidReplicaAssignment, "replica assignment partitions must be 0..%d in order", len(rt.ReplicaAssignment)-1)
			}
		}
	case partitions == -1:
		partitions = s.cfg.DefaultPartitions
	case partitions < 1:
		return t, errorf(kerr.InvalidPartitions, "number of partitions %d is below 1", partitions)
	}
	if partitions > s.cfg.MaxPartitionsPerTopic {
		return t, errorf(kerr.InvalidPartitions, "number of partitions %d is above the maximum %d", partitions, s.cfg.MaxPartitionsPerTopic)
	}
	if rf := rt.ReplicationFactor; rf != -1 && rf < 1 {
		return t, errorf(kerr.InvalidReplicationFactor, "replication factor %d is below 1", rf)
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if err := checkTopicConfig(c.Name, c.Value); err != nil {
			return t, err
		}
		if _, dup := configs[c.Name]; dup {
			return t, errorf(kerr.InvalidConfig, "topic config %q is given more than once", c.Name)
		}
		configs[c.Name] = *c.Value
	}
	if validateOnly {
		_, err := s.meta.TopicByName(ctx, rt.Topic)
		switch {
		case err == nil:
			return t, errorf(kerr.TopicAlreadyExists, "topic %q already exists", rt.Topic)
		case !errors.Is(err, metastore.ErrUnknownTopic):
			return t, err
		}
		return metastore.Topic{Name: rt.Topic, Partitions: partitions, Configs: configs}, nil
	}
	t, err := s.meta.CreateTopic(ctx, rt.Topic, partitions, configs)
	if err != nil {
		return t, err
	}
	s.topics.invalidate(t.Name)
	s.log.Info("created topic", "topic", t.Name, "partitions", t.Partitions)
	return t, nil
}
