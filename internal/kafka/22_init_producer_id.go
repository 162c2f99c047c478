package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// InitProducerId v0-v5. For idempotent producers every call allocates a new
// producer id from the metastore, with epoch 0 (a producer that passes its
// old id and epoch, v3+, gets a new id too, as Kafka does for
// non-transactional producers). A transactional id goes to its
// coordinator (internal/txn): the id's producer id at the next epoch,
// which fences the previous instance, after aborting a transaction it
// left open; Write on the transactional id is required
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED). Without a transaction
// coordinator a transactional id is TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
// a fatal error for the producer; an empty one is INVALID_REQUEST, as in
// Kafka.
func init() { register(kmsg.InitProducerID.Int16(), 0, 5, (*Server).handleInitProducerID) }

func (s *Server) handleInitProducerID(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID = -1
	resp.ProducerEpoch = -1
	switch {
	case req.TransactionalID != nil && *req.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
		return respond(resp)
	case req.TransactionalID != nil && (s.txn == nil || !s.authz(r).txnID(acl.OpWrite, *req.TransactionalID)):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(resp)
	case req.TransactionalID != nil:
		id := *req.TransactionalID
		if req.Version < 3 { // no producer id and epoch to recover
			req.ProducerID, req.ProducerEpoch = -1, -1
		}
		return Reply{Later: func(ctx context.Context) kmsg.Response {
			pid, epoch, e := s.txn.InitProducerID(ctx, id, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch)
			if e != nil {
				resp.ErrorCode = e.Code
				return resp
			}
			resp.ProducerID, resp.ProducerEpoch = pid, epoch
			return resp
		}}, nil
	}
	// An idempotent producer needs IdempotentWrite on the cluster or
	// Write on some topic, as Kafka asks since 3.0 (KIP-679).
	if az := s.authz(r); !az.may(acl.OpIdempotentWrite, acl.ResourceCluster, acl.ClusterName) && !az.anyTopic(acl.OpWrite) {
		az.cluster(acl.OpIdempotentWrite) // logs the denial
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	id, err := s.meta.AllocateProducerID(ctx)
	if err != nil {
		resp.ErrorCode = s.errorCode("InitProducerId", err)
		return respond(resp)
	}
	resp.ProducerID = id
	resp.ProducerEpoch = 0
	return respond(resp)
}
