package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// DescribeAcls v0-v3: the stored ACLs the filter selects, read from the
// metastore so that a change made through any node shows at once. The
// filter is Kafka's: ANY matches every value of a field, a null string
// every string; pattern type MATCH selects every ACL that applies to the
// name (the literal name, the literal "*", and the prefixes of it), ANY
// the literal and prefixed ACLs named exactly so. It needs Describe on
// the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise); a filter with an
// unknown value is INVALID_REQUEST. ACLs are grouped by resource pattern,
// as Kafka answers. Not served without ACLs (Deps.ACLs).
func init() {
	registerNeeding(kmsg.DescribeACLs.Int16(), 0, 3, needACLs, (*Server).handleDescribeACLs)
}

func (s *Server) handleDescribeACLs(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if !s.authz(r).cluster(acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = strPtr("describing ACLs needs Describe on the cluster")
		return respond(resp)
	}
	f := aclFilter(req.Version, int8(req.ResourceType), req.ResourceName, int8(req.ResourcePatternType),
		req.Principal, req.Host, int8(req.Operation), int8(req.PermissionType))
	if err := f.Validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, strPtr(err.Error())
		return respond(resp)
	}
	bs, err := s.acls.DescribeACLs(ctx, f)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = s.errorCodeMessage("DescribeAcls", err)
		return respond(resp)
	}
	type pattern struct {
		rt   acl.ResourceType
		name string
		pt   acl.PatternType
	}
	index := map[pattern]int{}
	for _, b := range bs {
		k := pattern{b.ResourceType, b.ResourceName, b.PatternType}
		i, ok := index[k]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType = kmsg.ACLResourceType(b.ResourceType)
			res.ResourceName = b.ResourceName
			res.ResourcePatternType = kmsg.ACLResourcePatternType(b.PatternType)
			i = len(resp.Resources)
			index[k] = i
			resp.Resources = append(resp.Resources, res)
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host = b.Principal, b.Host
		a.Operation, a.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, a)
	}
	return respond(resp)
}
