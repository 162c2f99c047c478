package kafka

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// DescribeConfigs v0-v4.
//
//   - Topics: every known topic config with its effective value; the topic's
//     own settings have source DYNAMIC_TOPIC_CONFIG, the rest this node's
//     defaults (Config.TopicDefaults, what the compactor enforces): a
//     setting of the node's flags with source STATIC_BROKER_CONFIG, as
//     Kafka reports a broker's server.properties, else Kafka's default with
//     source DEFAULT_CONFIG. Synonyms (v1+) list the topic setting, the
//     node's setting and Kafka's default, in that order; documentation
//     (v3+) on request.
//   - Brokers: this node's settings, read-only (STATIC_BROKER_CONFIG), and
//     the broker-level defaults of the topic configs, with the same
//     sources and synonyms. The empty name (the cluster-wide dynamic
//     defaults) has none. Another node's id is INVALID_REQUEST.
//   - Groups: the share-group configs (share_configs.go).
//   - A null name list means every config; a list keeps only those named.
func init() { register(kmsg.DescribeConfigs.Int16(), 0, 4, (*Server).handleDescribeConfigs) }

func (s *Server) handleDescribeConfigs(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	az := s.authz(r)
	for _, res := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType = res.ResourceType
		rr.ResourceName = res.ResourceName
		var entries []configEntry
		if err := az.configResource(acl.OpDescribeConfigs, res.ResourceType, res.ResourceName); err != nil {
			rr.ErrorCode, rr.ErrorMessage = s.errorCodeMessage("DescribeConfigs", err)
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		var err error
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			if err = checkTopicName(res.ResourceName); err != nil {
				break
			}
			t, terr := s.meta.TopicByName(ctx, res.ResourceName)
			if err = terr; err == nil {
				entries = topicConfigEntries(s.cfg.TopicDefaults, t.Configs, req.IncludeSynonyms)
			}
		case kmsg.ConfigResourceTypeBroker:
			switch res.ResourceName {
			case "":
			case strconv.Itoa(int(s.cfg.NodeID)):
				entries = s.brokerConfigEntries(req.IncludeSynonyms)
			default:
				err = errorf(kerr.InvalidRequest, "unexpected broker id %q, this is node %d", res.ResourceName, s.cfg.NodeID)
			}
		case kmsg.ConfigResourceTypeGroupConfig:
			entries, err = s.shareGroupConfigEntries(ctx, res.ResourceName) // share_configs.go
		default:
			err = errorf(kerr.InvalidRequest, "unsupported resource type %d", res.ResourceType)
		}
		if err != nil {
			rr.ErrorCode, rr.ErrorMessage = s.errorCodeMessage("DescribeConfigs", err)
		} else {
			rr.Configs = describeEntries(entries, res.ConfigNames, req.Version, req.IncludeDocumentation)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return respond(resp)
}
