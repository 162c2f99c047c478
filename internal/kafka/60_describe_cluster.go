package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster v0-v2: this node is the only broker and the controller.
// Asking for the controllers' endpoints (EndpointType 2) is
// UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers.
func init() { register(kmsg.DescribeCluster.Int16(), 0, 2, (*Server).handleDescribeCluster) }

func (s *Server) handleDescribeCluster(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = strPtr("only broker endpoints are served")
		return respond(resp)
	}
	resp.ClusterID = s.cfg.ClusterID
	resp.ControllerID = s.cfg.NodeID
	mb := s.metadataBroker()
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID = mb.NodeID
	b.Host = mb.Host
	b.Port = mb.Port
	b.Rack = mb.Rack
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{b}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterAuthorizedOps
	}
	return respond(resp)
}
