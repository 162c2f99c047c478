package groups

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupIDError is the error of a membership request for group before it
// reaches the group: NOT_COORDINATOR or INVALID_GROUP_ID.
func (c *Coordinator) groupIDError(group string) int16 {
	switch {
	case !c.owns(group):
		return kerr.NotCoordinator.Code
	case group == "":
		return kerr.InvalidGroupID.Code
	}
	return 0
}

// JoinGroup joins a member to a group. It returns when the member has its
// generation: after the rebalance completes, or at once with an error or
// MEMBER_ID_REQUIRED (v4+, a dynamic member's first join). The client of
// WithClient(ctx) is recorded for DescribeGroups.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	fail := func(code int16) *kmsg.JoinGroupResponse {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = code
		resp.Generation = -1
		resp.MemberID = req.MemberID
		return resp
	}
	if code := c.groupIDError(req.Group); code != 0 {
		return fail(code)
	}
	client := clientFrom(ctx)
	resp, err := call(ctx, c, req.Group, func(g *group, reply chan<- *kmsg.JoinGroupResponse) {
		g.join(req, client, reply)
	})
	if err != nil {
		return fail(errorCode(err))
	}
	return resp
}

// SyncGroup returns the member's assignment. The leader's request carries
// the assignments of every member; the other members' requests wait for it.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	if code := c.groupIDError(req.Group); code != 0 {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return resp
	}
	resp, err := call(ctx, c, req.Group, func(g *group, reply chan<- *kmsg.SyncGroupResponse) {
		g.sync(req, reply)
	})
	if err != nil {
		resp = req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = errorCode(err)
	}
	return resp
}

// Heartbeat keeps a member's session alive and tells it when the group
// rebalances (REBALANCE_IN_PROGRESS).
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if code := c.groupIDError(req.Group); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	code, err := call(ctx, c, req.Group, func(g *group, reply chan<- int16) {
		reply <- g.heartbeat(req)
	})
	if err != nil {
		code = errorCode(err)
	}
	resp.ErrorCode = code
	return resp
}

// LeaveGroup removes members from a group, which then rebalances. v3+
// names members by member id or by instance id (static members) and answers
// each; v0-v2 name one member id.
func (c *Coordinator) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if code := c.groupIDError(req.Group); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	type result struct {
		group   int16   // an error for the whole group
		members []int16 // else one per member
	}
	res, err := call(ctx, c, req.Group, func(g *group, reply chan<- result) {
		if code := g.unavailable(); code != 0 {
			reply <- result{group: code}
			return
		}
		codes := make([]int16, len(leaving))
		for i, m := range leaving {
			codes[i] = g.leave(m.MemberID, m.InstanceID)
		}
		reply <- result{members: codes}
	})
	switch {
	case err != nil:
		resp.ErrorCode = errorCode(err)
		return resp
	case res.group != 0:
		resp.ErrorCode = res.group
		return resp
	case req.Version < 3:
		resp.ErrorCode = res.members[0]
		return resp
	}
	codes := res.members
	for i, m := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID = m.MemberID
		rm.InstanceID = m.InstanceID
		rm.ErrorCode = codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}
