package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/cluster"
	"github.com/stratalog/strata/metastore"
)

// Coordinator types of FindCoordinator.
const (
	coordinatorGroup int8 = 0
	coordinatorTxn   int8 = 1
)

// FindCoordinator v0-v5 (v4+ batch the keys). A group's coordinator is the
// live node holding the group's lease, which keeps the group while it is
// live (see internal/groups); a group nobody holds goes to the node the
// cluster view assigns it, and with no view to this node.
// COORDINATOR_NOT_AVAILABLE, which clients retry, when no live node
// coordinates groups. When the metastore cannot say who holds the lease,
// the view's choice is answered: a node that cannot take the lease answers
// the group's requests NOT_COORDINATOR, and the client asks again. A
// transactional id (key type TRANSACTION) is found the same way, through
// its lease (metastore.TxnLeaseKey); without a transaction coordinator it
// is TRANSACTIONAL_ID_AUTHORIZATION_FAILED. Other types are
// INVALID_REQUEST. A coordinator is told only to a principal that may
// Describe the group (GROUP_AUTHORIZATION_FAILED otherwise) or the
// transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), as Kafka does.
func init() { register(kmsg.FindCoordinator.Int16(), 0, 5, (*Server).handleFindCoordinator) }

// coordinatorAnswer is the answer for one key.
type coordinatorAnswer struct {
	node int32
	host string
	port int32
	code int16
	msg  *string
}

func (s *Server) handleFindCoordinator(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	az := s.authz(r)
	if req.Version < 4 {
		a := s.findCoordinator(ctx, r, az, req.CoordinatorType, req.CoordinatorKey)
		resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = a.node, a.host, a.port, a.code, a.msg
		return respond(resp)
	}
	for _, key := range req.CoordinatorKeys {
		a := s.findCoordinator(ctx, r, az, req.CoordinatorType, key)
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage = a.node, a.host, a.port, a.code, a.msg
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return respond(resp)
}

// findCoordinator answers one key of a FindCoordinator request.
func (s *Server) findCoordinator(ctx context.Context, r *request, az *authz, typ int8, key string) coordinatorAnswer {
	fail := func(code *kerr.Error, msg string) coordinatorAnswer {
		return coordinatorAnswer{node: -1, port: -1, code: code.Code, msg: strPtr(msg)}
	}
	lease := key
	switch typ {
	case coordinatorGroup:
		if !az.group(acl.OpDescribe, key) {
			return fail(kerr.GroupAuthorizationFailed, "not authorized to describe the group")
		}
	case coordinatorTxn:
		if s.txn == nil {
			return fail(kerr.TransactionalIDAuthorizationFailed, "transactions are not served by this node")
		}
		if !az.txnID(acl.OpDescribe, key) {
			return fail(kerr.TransactionalIDAuthorizationFailed, "not authorized to describe the transactional id")
		}
		lease = metastore.TxnLeaseKey(key)
	default:
		return fail(kerr.InvalidRequest, "unsupported coordinator type")
	}
	// The coordinator's address on the listener the client connected on.
	answer := func(n cluster.Node) coordinatorAnswer {
		host, port, ok := r.endpoint(n)
		if !ok {
			return fail(kerr.CoordinatorNotAvailable, fmt.Sprintf("the coordinator, node %d, has no listener %s", n.ID, r.conn.listener.Name))
		}
		return coordinatorAnswer{node: n.ID, host: host, port: port}
	}
	if s.cluster == nil {
		return answer(s.selfNode())
	}
	if l, held, err := s.meta.GroupLeaseHolder(ctx, lease); err == nil && held {
		if n, live := s.cluster.Node(l.NodeID); live && n.Roles.Has(cluster.RoleCoordinator) {
			return answer(n)
		}
	}
	n, ok := s.cluster.CoordinatorFor(lease)
	if !ok {
		return fail(kerr.CoordinatorNotAvailable, "no live node coordinates groups")
	}
	return answer(n)
}
