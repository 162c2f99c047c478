package kafka

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// DescribeCluster v0-v2: the live brokers and the controller, as Metadata
// reports them.
// Asking for the controllers' endpoints (EndpointType 2) is
// UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers. It needs Describe
// on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise); the cluster's
// authorized operations (KIP-430) are the principal's.
func init() { register(kmsg.DescribeCluster.Int16(), 0, 2, (*Server).handleDescribeCluster) }

func (s *Server) handleDescribeCluster(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	az := s.authz(r)
	if !az.cluster(acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = strPtr("not authorized to describe the cluster")
		resp.ClusterAuthorizedOperations = math.MinInt32
		return respond(resp)
	}
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = strPtr("only broker endpoints are served")
		return respond(resp)
	}
	resp.ClusterID = s.cfg.ClusterID
	brokers := brokersFor(s.brokers(), r)
	resp.ControllerID = s.controllerID(brokers)
	resp.Brokers = make([]kmsg.DescribeClusterResponseBroker, 0, len(brokers))
	for _, n := range brokers {
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID = n.ID
		b.Host = n.Host
		b.Port = n.Port
		if n.Rack != "" {
			b.Rack = strPtr(n.Rack)
		}
		resp.Brokers = append(resp.Brokers, b)
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = az.ops(acl.ResourceCluster, acl.ClusterName)
	}
	return respond(resp)
}
