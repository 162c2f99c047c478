package groups

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// groupType and consumerGroupType are the types of groups in ListGroups
// v5+: classic groups, and consumer-protocol (KIP-848) groups.
const (
	groupType         = "classic"
	consumerGroupType = "consumer"
)

// groupOperations is the authorized-operations bit field of a group when
// asked for: with no ACLs, READ, DELETE and DESCRIBE are all allowed.
const groupOperations = 1<<3 | 1<<6 | 1<<8

// DescribeGroups describes groups: state, protocol and members, with each
// member's metadata and assignment while the group is Stable. A group that
// does not exist is Dead, with GROUP_ID_NOT_FOUND from v6.
func (c *Coordinator) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		dg := c.describe(ctx, name)
		if dg.ErrorCode == kerr.GroupIDNotFound.Code && req.Version < 6 {
			dg.ErrorCode = 0
		}
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describe(ctx context.Context, name string) kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group = name
	if !c.owns(name) {
		dg.ErrorCode = kerr.NotCoordinator.Code
		return dg
	}
	reply := make(chan kmsg.DescribeGroupsResponseGroup, 1)
	g, err := c.do(ctx, name, false, func(g *group) { reply <- g.describe() })
	if err == nil && g != nil {
		var d kmsg.DescribeGroupsResponseGroup
		if d, err = await(ctx, g, reply); err == nil {
			return d
		}
	}
	if err != nil {
		dg.ErrorCode = errorCode(err)
		return dg
	}
	// Not in memory: the metastore knows the group, with the members of
	// its generation, or not at all.
	info, err := c.store.LoadGroup(ctx, name)
	switch {
	case errors.Is(err, metastore.ErrUnknownGroup):
		dg.State = Dead.String()
		dg.ErrorCode = kerr.GroupIDNotFound.Code
	case err != nil:
		dg.ErrorCode = c.storeErrorCode("load_group", err)
	case len(info.Members) > 0:
		// A generation this node takes over: load it, so that the
		// sessions of members that are gone end here, as they would
		// have with the former coordinator.
		d, err := call(ctx, c, name, func(g *group, reply chan<- kmsg.DescribeGroupsResponseGroup) { reply <- g.describe() })
		if err != nil {
			dg.ErrorCode = errorCode(err)
			return dg
		}
		return d
	default:
		if _, err := c.store.LoadConsumerGroup(ctx, name); err == nil {
			// A consumer-protocol group: not a classic group.
			dg.State = Dead.String()
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			return dg
		}
		dg.State = Empty.String()
		dg.ProtocolType = info.ProtocolType
	}
	return dg
}

// describe runs on the group's goroutine.
func (g *group) describe() kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group = g.name
	if g.gone {
		dg.ErrorCode = kerr.NotCoordinator.Code
		return dg
	}
	if g.loadErr != nil {
		dg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return dg
	}
	if !g.visible() || g.state == Dead || g.cg != nil {
		// A consumer-protocol group is not a classic group, as Kafka
		// answers; ConsumerGroupDescribe describes it.
		dg.State = Dead.String()
		dg.ErrorCode = kerr.GroupIDNotFound.Code
		return dg
	}
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	if g.state == Stable {
		dg.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.client.ID
		dm.ClientHost = m.client.Host
		if g.state == Stable {
			dm.ProtocolMetadata = metadataFor(m, g.protocol)
			dm.MemberAssignment = m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

// ListGroups lists the groups this node coordinates: those with members and
// those the metastore knows (groups holding only offsets are Empty). v4+
// filters by state, v5+ by type; both ignore case, as Kafka does.
func (c *Coordinator) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	rows, err := c.store.ListGroups(ctx)
	if err != nil {
		resp.ErrorCode = c.storeErrorCode("list_groups", err)
		return resp
	}
	groups := make(map[string]summary, len(rows))
	for _, r := range rows {
		// The state of the stored generation; ListGroups rows carry no
		// members, and a stored generation with members is never Empty.
		state := Empty
		switch r.State {
		case Stable.String():
			state = Stable
		case CompletingRebalance.String():
			state = CompletingRebalance
		}
		groups[r.Name] = summary{state: state, protocolType: r.ProtocolType, visible: true}
	}
	consumers, err := c.listConsumerGroups(ctx)
	if err != nil {
		resp.ErrorCode = c.storeErrorCode("list_consumer_groups", err)
		return resp
	}
	for name, state := range consumers {
		s := groups[name]
		s.consumerState, s.protocolType, s.visible = state, "consumer", true
		groups[name] = s
	}
	// Groups in memory know better; a group whose load failed is left as
	// the metastore has it.
	c.mu.Lock()
	for name, g := range c.groups {
		switch s := g.sum.Load(); {
		case !s.loaded:
		case s.visible && s.state != Dead:
			groups[name] = *s
		default:
			delete(groups, name)
		}
	}
	c.mu.Unlock()

	names := make([]string, 0, len(groups))
	for name := range groups {
		if c.owns(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	matches := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	for _, name := range names {
		s := groups[name]
		state, kind := s.state.String(), groupType
		if s.consumerState != "" {
			state, kind = s.consumerState, consumerGroupType
		}
		if !matches(req.StatesFilter, state) || !matches(req.TypesFilter, kind) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = name
		lg.ProtocolType = s.protocolType
		lg.GroupState = state
		lg.GroupType = kind
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DeleteGroups deletes groups without members, with their committed
// offsets: NON_EMPTY_GROUP while a group has members, GROUP_ID_NOT_FOUND
// for a group that does not exist.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = name
		if !c.owns(name) {
			dg.ErrorCode = kerr.NotCoordinator.Code
		} else {
			code, err := call(ctx, c, name, func(g *group, reply chan<- int16) { g.delete(reply) })
			if err != nil {
				code = errorCode(err)
			}
			dg.ErrorCode = code
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// delete deletes an empty group. The group is Dead until the metastore has
// deleted it, then starts afresh, Empty at generation 0.
func (g *group) delete(reply chan<- int16) {
	switch {
	case g.gone:
		reply <- kerr.NotCoordinator.Code
		return
	case g.loadErr != nil:
		reply <- kerr.CoordinatorNotAvailable.Code
		return
	case g.state == Dead:
		reply <- kerr.GroupIDNotFound.Code
		return
	case len(g.members) > 0 || g.consumerBusy():
		reply <- kerr.NonEmptyGroup.Code
		return
	case !g.known:
		reply <- kerr.GroupIDNotFound.Code
		return
	}
	g.state = Dead
	clear(g.pending)
	c := g.c
	lease := g.lease
	g.enqueue(job{
		run: func(ctx context.Context) error { return c.store.DeleteGroup(ctx, lease) },
		after: func(err error) {
			g.state = Empty
			if g.gone {
				reply <- kerr.NotCoordinator.Code
				return
			}
			if err != nil && !errors.Is(err, metastore.ErrUnknownGroup) {
				reply <- c.storeErrorCode("delete_group", err)
				return
			}
			g.known = false
			g.cg = nil
			g.generation = 0
			g.protocolType = ""
			g.protocol = ""
			g.leader = ""
			clear(g.static)
			c.log.Info("group deleted", "group", g.name)
			reply <- c.storeErrorCode("delete_group", err)
		},
	})
}
