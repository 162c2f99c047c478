package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// DeleteAcls v0-v3 deletes, in one metastore transaction, the ACLs each
// filter selects (filters as in DescribeAcls), and answers per filter
// with the ACLs it deleted. It needs Alter on the cluster: without it
// every filter is CLUSTER_AUTHORIZATION_FAILED and nothing is deleted. A
// filter with an unknown value is INVALID_REQUEST on its own; the others
// are applied. Every ACL deleted goes to the audit log. Not served
// without ACLs (Deps.ACLs).
func init() {
	registerNeeding(kmsg.DeleteACLs.Int16(), 0, 3, needACLs, (*Server).handleDeleteACLs)
}

func (s *Server) handleDeleteACLs(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	az := s.authz(r)
	if !az.cluster(acl.OpAlter) {
		for i := range resp.Results {
			resp.Results[i].ErrorCode = kerr.ClusterAuthorizationFailed.Code
			resp.Results[i].ErrorMessage = strPtr("deleting ACLs needs Alter on the cluster")
		}
		return respond(resp)
	}
	var filters []acl.Filter
	var placed []int
	for i, f := range req.Filters {
		af := aclFilter(req.Version, int8(f.ResourceType), f.ResourceName, int8(f.ResourcePatternType),
			f.Principal, f.Host, int8(f.Operation), int8(f.PermissionType))
		if err := af.Validate(); err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, strPtr(err.Error())
			continue
		}
		filters = append(filters, af)
		placed = append(placed, i)
	}
	if len(filters) == 0 {
		return respond(resp)
	}
	deleted, err := s.acls.DeleteACLs(ctx, az.principal, r.conn.nc.RemoteAddr().String(), filters)
	if err != nil && deleted == nil {
		code, msg := s.errorCodeMessage("DeleteAcls", err)
		for _, i := range placed {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return respond(resp)
	}
	for j, i := range placed {
		for _, b := range deleted[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType = kmsg.ACLResourceType(b.ResourceType)
			m.ResourceName = b.ResourceName
			m.ResourcePatternType = kmsg.ACLResourcePatternType(b.PatternType)
			m.Principal, m.Host = b.Principal, b.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
		}
	}
	return respond(resp)
}
