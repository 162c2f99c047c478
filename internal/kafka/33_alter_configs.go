package kafka

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// AlterConfigs v0-v2: replaces a topic's whole set of configs; those not
// given return to their defaults. Every config is validated (INVALID_CONFIG
// for an unknown key or a bad value) before anything changes. Broker configs
// are static: INVALID_REQUEST. ValidateOnly checks and changes nothing.
func init() { register(kmsg.AlterConfigs.Int16(), 0, 2, (*Server).handleAlterConfigs) }

func (s *Server) handleAlterConfigs(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	az := s.authz(r)
	dup := duplicateResources(len(req.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return req.Resources[i].ResourceType, req.Resources[i].ResourceName
	})
	for i, res := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType = res.ResourceType
		rr.ResourceName = res.ResourceName
		var err error
		if dup[i] {
			err = errorf(kerr.InvalidRequest, "resource %q is named more than once", res.ResourceName)
		} else if err = az.configResource(acl.OpAlterConfigs, res.ResourceType, res.ResourceName); err == nil {
			err = s.alterConfigs(ctx, res, req.ValidateOnly)
		}
		rr.ErrorCode, rr.ErrorMessage = s.errorCodeMessage("AlterConfigs", err)
		resp.Resources = append(resp.Resources, rr)
	}
	return respond(resp)
}

func (s *Server) alterConfigs(ctx context.Context, res kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	if err := s.checkAlterable(res.ResourceType, res.ResourceName); err != nil {
		return err
	}
	want := make(map[string]string, len(res.Configs))
	for _, c := range res.Configs {
		if err := checkTopicConfig(c.Name, c.Value); err != nil {
			return err
		}
		if _, dup := want[c.Name]; dup {
			return errorf(kerr.InvalidRequest, "config %q is given more than once", c.Name)
		}
		want[c.Name] = *c.Value
	}
	t, err := s.meta.TopicByName(ctx, res.ResourceName)
	if err != nil {
		return err
	}
	set := make(map[string]*string, len(want)+len(t.Configs))
	for name := range t.Configs {
		if _, keep := want[name]; !keep {
			set[name] = nil
		}
	}
	for name, v := range want {
		set[name] = &v
	}
	if validateOnly || len(set) == 0 {
		return nil
	}
	err = s.meta.SetTopicConfigs(ctx, res.ResourceName, set)
	s.topics.invalidate(res.ResourceName)
	if err != nil {
		return err
	}
	s.log.Info("replaced topic configs", "topic", res.ResourceName, "configs", want)
	return nil
}

// checkAlterable accepts topic resources with a valid name; broker configs
// are static.
func (s *Server) checkAlterable(typ kmsg.ConfigResourceType, name string) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return checkTopicName(name)
	case kmsg.ConfigResourceTypeBroker:
		if name != "" && name != strconv.Itoa(int(s.cfg.NodeID)) {
			return errorf(kerr.InvalidRequest, "unexpected broker id %q, this is node %d", name, s.cfg.NodeID)
		}
		return errorf(kerr.InvalidRequest, "broker configs cannot be changed at run time")
	default:
		return errorf(kerr.InvalidRequest, "unsupported resource type %d", typ)
	}
}

// duplicateResources marks the resources named more than once.
func duplicateResources(n int, at func(int) (kmsg.ConfigResourceType, string)) []bool {
	type key struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	count := make(map[key]int, n)
	for i := range n {
		t, name := at(i)
		count[key{t, name}]++
	}
	dup := make([]bool, n)
	for i := range n {
		t, name := at(i)
		dup[i] = count[key{t, name}] > 1
	}
	return dup
}
