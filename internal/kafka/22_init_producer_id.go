package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// InitProducerId v0-v5 for idempotent producers: every call allocates a new
// producer id from the metastore, with epoch 0 (a producer that passes its
// old id and epoch, v3+, gets a new id too, as Kafka does for
// non-transactional producers). Transactions are not supported: a
// transactional id is TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a fatal error
// for the producer, and an empty one INVALID_REQUEST, as in Kafka.
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
	case req.TransactionalID != nil:
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(resp)
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
