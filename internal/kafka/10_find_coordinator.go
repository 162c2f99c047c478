package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator types of FindCoordinator.
const (
	coordinatorGroup int8 = 0
	coordinatorTxn   int8 = 1
)

// FindCoordinator v0-v5 (v4+ batch the keys): this node coordinates every
// group. Transactions are not supported: a transactional id is
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; other types are INVALID_REQUEST.
func init() { register(kmsg.FindCoordinator.Int16(), 0, 5, (*Server).handleFindCoordinator) }

func (s *Server) handleFindCoordinator(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := s.advertised()
	find := func() (node int32, code int16, msg *string) {
		switch req.CoordinatorType {
		case coordinatorGroup:
			return s.cfg.NodeID, 0, nil
		case coordinatorTxn:
			return -1, kerr.TransactionalIDAuthorizationFailed.Code, strPtr("transactions are not supported")
		default:
			return -1, kerr.InvalidRequest.Code, strPtr("unsupported coordinator type")
		}
	}
	if req.Version < 4 {
		node, code, msg := find()
		resp.NodeID, resp.ErrorCode, resp.ErrorMessage = node, code, msg
		if code == 0 {
			resp.Host, resp.Port = host, port
		} else {
			resp.Port = -1
		}
		return respond(resp)
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.ErrorCode, c.ErrorMessage = find()
		if c.ErrorCode == 0 {
			c.Host, c.Port = host, port
		} else {
			c.Port = -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return respond(resp)
}
