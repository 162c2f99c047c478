package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// EndTxn v0-v4: commit or abort the open transaction. Its markers, its new
// state and, on commit, its offsets are one metastore transaction. v5+ is
// KIP-890's transaction version 2 (an epoch bump on every end), which is
// not built: advertising it would make clients that support it use it (see
// docs/transactions.md). Write on the transactional id is required.
func init() {
	registerNeeding(kmsg.EndTxn.Int16(), 0, 4, needGroups, (*Server).handleEndTxn)
}

func (s *Server) handleEndTxn(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if !s.authz(r).txnID(acl.OpWrite, req.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(resp)
	}
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		if e := s.txn.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit); e != nil {
			resp.ErrorCode = e.Code
		}
		return resp
	}}, nil
}
