package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// CreateAcls v0-v3 stores ACLs in the metastore, where every node reads
// them (see acl.Cache). It needs Alter on the cluster: without it every
// creation is CLUSTER_AUTHORIZATION_FAILED. Each creation is answered on
// its own: one that is not a valid ACL (acl.Binding.Validate: a concrete
// resource type, literal or prefixed pattern, operation and permission, a
// User: principal, "*" or an IP address as host, "kafka-cluster" as the
// cluster's name) is INVALID_REQUEST, and the valid ones are stored in one
// transaction; creating an ACL that exists already succeeds and changes
// nothing. Version 0 has no pattern type: its ACLs are literal. Every ACL
// stored goes to the audit log. Not served without ACLs (Deps.ACLs).
func init() {
	registerNeeding(kmsg.CreateACLs.Int16(), 0, 3, needACLs, (*Server).handleCreateACLs)
}

func (s *Server) handleCreateACLs(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
	}
	az := s.authz(r)
	if !az.cluster(acl.OpAlter) {
		for i := range resp.Results {
			resp.Results[i].ErrorCode = kerr.ClusterAuthorizationFailed.Code
			resp.Results[i].ErrorMessage = strPtr("creating ACLs needs Alter on the cluster")
		}
		return respond(resp)
	}
	var valid []acl.Binding
	var placed []int
	for i, c := range req.Creations {
		b := acl.Binding{
			ResourceType: acl.ResourceType(c.ResourceType),
			ResourceName: c.ResourceName,
			PatternType:  acl.PatternType(c.ResourcePatternType),
			Principal:    c.Principal,
			Host:         c.Host,
			Operation:    acl.Operation(c.Operation),
			Permission:   acl.Permission(c.PermissionType),
		}
		if req.Version == 0 {
			b.PatternType = acl.PatternLiteral
		}
		if err := b.Validate(); err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, strPtr(err.Error())
			continue
		}
		valid = append(valid, b)
		placed = append(placed, i)
	}
	if len(valid) == 0 {
		return respond(resp)
	}
	if err := s.acls.CreateACLs(ctx, az.principal, r.conn.nc.RemoteAddr().String(), valid); err != nil {
		code, msg := s.errorCodeMessage("CreateAcls", err)
		for _, i := range placed {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
	}
	return respond(resp)
}
