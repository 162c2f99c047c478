package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// AddOffsetsToTxn v0-v4: the open transaction (begun if none is open)
// will commit offsets of the group. Write on the transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and Read on the group
// (GROUP_AUTHORIZATION_FAILED) are required, as in Kafka.
func init() {
	registerNeeding(kmsg.AddOffsetsToTxn.Int16(), 0, 4, needGroups, (*Server).handleAddOffsetsToTxn)
}

func (s *Server) handleAddOffsetsToTxn(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	az := s.authz(r)
	switch {
	case !az.txnID(acl.OpWrite, req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case !az.group(acl.OpRead, req.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	default:
		if e := s.txn.AddOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group); e != nil {
			resp.ErrorCode = e.Code
		}
	}
	return respond(resp)
}
