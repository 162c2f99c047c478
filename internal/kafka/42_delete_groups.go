package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// DeleteGroups v0-v3: deletes empty groups and their committed offsets; a
// group with members is NON_EMPTY_GROUP.
func init() {
	registerNeeding(kmsg.DeleteGroups.Int16(), 0, 3, needGroups, (*Server).handleDeleteGroups)
}

// Authorization, as Kafka: a group the principal may not Delete is
// GROUP_AUTHORIZATION_FAILED and kept; the others are deleted.
func (s *Server) handleDeleteGroups(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DeleteGroupsRequest)
	az := s.authz(r)
	sub := *req
	sub.Groups = nil
	var refused []kmsg.DeleteGroupsResponseGroup
	for _, g := range req.Groups {
		if az.group(acl.OpDelete, g) {
			sub.Groups = append(sub.Groups, g)
			continue
		}
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		refused = append(refused, rg)
	}
	if len(sub.Groups) == 0 {
		resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		resp.Groups = refused
		return respond(resp)
	}
	return s.groupReply(r, func(ctx context.Context, g GroupCoordinator) kmsg.Response {
		resp := g.DeleteGroups(ctx, &sub)
		resp.Groups = append(resp.Groups, refused...)
		return resp
	})
}
