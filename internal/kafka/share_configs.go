package kafka

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group configs (resource type GROUP of IncrementalAlterConfigs and
// DescribeConfigs): the share-group configs share.auto.offset.reset,
// share.record.lock.duration.ms, share.delivery.count.limit and
// share.isolation.level, as Kafka 4.2 has them. SET and DELETE; an
// unknown name or a bad value is INVALID_CONFIG. A group's configs may be
// set before it has members, as a user must to read a topic from the
// start. AlterConfigs and DescribeConfigs on the group, as Kafka.

var shareConfigDocs = map[string]string{
	shareAutoOffsetReset: "Where a share partition starts when the group first reads it: earliest or latest.",
	shareLockDuration:    "How long a member holds a record it acquired before it goes to another member, in milliseconds.",
	shareDeliveryLimit:   "How many times a record is delivered before it is archived instead of delivered again.",
	shareIsolationLevel:  "read_committed or read_uncommitted (Strata has no transactions yet: both read every record).",
}

func (s *Server) alterShareGroupConfigs(ctx context.Context, res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if s.share == nil {
		return errorf(kerr.InvalidRequest, "this node serves no share groups")
	}
	if strings.TrimSpace(res.ResourceName) == "" {
		return errorf(kerr.InvalidRequest, "the group name is empty")
	}
	set := map[string]*string{}
	for _, c := range res.Configs {
		if _, dup := set[c.Name]; dup {
			return errorf(kerr.InvalidRequest, "config %q is altered more than once", c.Name)
		}
		if _, ok := shareConfigDefaults[c.Name]; !ok {
			return errorf(kerr.InvalidConfig, "unknown group config %q", c.Name)
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return errorf(kerr.InvalidRequest, "null value for config %q", c.Name)
			}
			if err := checkShareConfig(c.Name, *c.Value); err != nil {
				return errorf(kerr.InvalidConfig, "%v", err)
			}
			v := *c.Value
			set[c.Name] = &v
		case kmsg.IncrementalAlterConfigOpDelete:
			set[c.Name] = nil
		default:
			return errorf(kerr.InvalidConfig, "config %q is not a list: it cannot be appended to or subtracted from", c.Name)
		}
	}
	if validateOnly || len(set) == 0 {
		return nil
	}
	if err := s.share.setConfigs(ctx, res.ResourceName, set); err != nil {
		return err
	}
	s.log.Info("altered group configs", "group", res.ResourceName, "configs", len(set))
	return nil
}

func (s *Server) shareGroupConfigEntries(ctx context.Context, group string) ([]configEntry, error) {
	if s.share == nil {
		return nil, errorf(kerr.InvalidRequest, "this node serves no share groups")
	}
	set, err := s.share.groupConfigs(ctx, group)
	if err != nil {
		return nil, err
	}
	var out []configEntry
	for _, name := range slices.Sorted(maps.Keys(shareConfigDefaults)) {
		e := configEntry{name: name, doc: shareConfigDocs[name], typ: kmsg.ConfigTypeString, source: kmsg.ConfigSourceDefaultConfig}
		switch name {
		case shareLockDuration, shareDeliveryLimit:
			e.typ = kmsg.ConfigTypeInt
		}
		v := shareConfigDefaults[name]
		if sv, ok := set[name]; ok {
			v, e.source = sv, kmsg.ConfigSourceGroupConfig
		}
		e.value = &v
		out = append(out, e)
	}
	return out, nil
}
