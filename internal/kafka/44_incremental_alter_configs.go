package kafka

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/topicconfig"
)

// IncrementalAlterConfigs v0-v1 for topics: SET and DELETE any known config,
// APPEND and SUBTRACT items of list configs (cleanup.policy, ...). Unknown
// keys and bad values are INVALID_CONFIG; a key named twice in a resource is
// INVALID_REQUEST. All changes of a resource apply together or not at all.
// Broker configs are static: INVALID_REQUEST. Groups take the share-group
// configs (share_configs.go).
func init() {
	register(kmsg.IncrementalAlterConfigs.Int16(), 0, 1, (*Server).handleIncrementalAlterConfigs)
}

func (s *Server) handleIncrementalAlterConfigs(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	az := s.authz(r)
	dup := duplicateResources(len(req.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return req.Resources[i].ResourceType, req.Resources[i].ResourceName
	})
	for i, res := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType = res.ResourceType
		rr.ResourceName = res.ResourceName
		var err error
		if dup[i] {
			err = errorf(kerr.InvalidRequest, "resource %q is named more than once", res.ResourceName)
		} else if err = az.configResource(acl.OpAlterConfigs, res.ResourceType, res.ResourceName); err == nil {
			err = s.incrementalAlterConfigs(ctx, res, req.ValidateOnly)
		}
		rr.ErrorCode, rr.ErrorMessage = s.errorCodeMessage("IncrementalAlterConfigs", err)
		resp.Resources = append(resp.Resources, rr)
	}
	return respond(resp)
}

func (s *Server) incrementalAlterConfigs(ctx context.Context, res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if res.ResourceType == kmsg.ConfigResourceTypeGroupConfig {
		return s.alterShareGroupConfigs(ctx, res, validateOnly) // share_configs.go
	}
	if err := s.checkAlterable(res.ResourceType, res.ResourceName); err != nil {
		return err
	}
	seen := make(map[string]bool, len(res.Configs))
	for _, c := range res.Configs {
		if seen[c.Name] {
			return errorf(kerr.InvalidRequest, "config %q is altered more than once", c.Name)
		}
		seen[c.Name] = true
		if _, ok := topicconfig.Lookup(c.Name); !ok {
			return configError(&topicconfig.Error{Kind: topicconfig.ErrUnknown, Name: c.Name})
		}
	}
	t, err := s.meta.TopicByName(ctx, res.ResourceName)
	if err != nil {
		return err
	}
	cur := maps.Clone(t.Configs)
	if cur == nil {
		cur = map[string]string{}
	}
	for _, c := range res.Configs {
		def, _ := topicconfig.Lookup(c.Name)
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if err := checkTopicConfig(c.Name, c.Value); err != nil {
				return err
			}
			cur[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(cur, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.Type != kmsg.ConfigTypeList {
				return errorf(kerr.InvalidConfig, "config %q is not a list: it cannot be appended to or subtracted from", c.Name)
			}
			if c.Value == nil {
				return errorf(kerr.InvalidRequest, "null value for config %q", c.Name)
			}
			old, ok := cur[c.Name]
			if !ok {
				old, _ = s.cfg.TopicDefaults.Value(c.Name)
			}
			items := topicconfig.SplitList(old)
			for _, it := range topicconfig.SplitList(*c.Value) {
				if c.Op == kmsg.IncrementalAlterConfigOpAppend {
					if !slices.Contains(items, it) {
						items = append(items, it)
					}
				} else {
					items = slices.DeleteFunc(items, func(x string) bool { return x == it })
				}
			}
			v := strings.Join(items, ",")
			if err := checkTopicConfig(c.Name, &v); err != nil {
				return err
			}
			cur[c.Name] = v
		default:
			return errorf(kerr.InvalidRequest, "unknown config operation %d", c.Op)
		}
	}
	set := make(map[string]*string, len(res.Configs))
	for _, c := range res.Configs {
		if v, ok := cur[c.Name]; ok {
			set[c.Name] = &v
		} else if _, had := t.Configs[c.Name]; had {
			set[c.Name] = nil
		}
	}
	if validateOnly || len(set) == 0 {
		return nil
	}
	err = s.meta.SetTopicConfigs(ctx, res.ResourceName, set)
	s.topics.invalidate(res.ResourceName)
	if err != nil {
		return err
	}
	s.log.Info("altered topic configs", "topic", res.ResourceName, "configs", len(set))
	return nil
}
