package kafka

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// ListTransactions v0-v1: the transactional ids this node coordinates (by
// its view of the cluster; clients ask every broker and merge the
// answers), filtered by state, producer id and (v1) how long their open
// transaction has run. Only ids the principal may Describe are listed, as
// in Kafka; state filters that name no state come back in
// UnknownStateFilters. v2's id pattern is not served.
func init() {
	registerNeeding(kmsg.ListTransactions.Int16(), 0, 1, needGroups, (*Server).handleListTransactions)
}

func (s *Server) handleListTransactions(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	az := s.authz(r)
	var states []metastore.TxnState
	for _, f := range req.StateFilters {
		if st := metastore.TxnState(f); st.Valid() {
			states = append(states, st)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, f)
		}
	}
	ts, e := s.txn.List(ctx)
	if e != nil {
		resp.ErrorCode = e.Code
		return respond(resp)
	}
	now := time.Now()
	for _, t := range ts {
		switch {
		case !s.txn.Owns(t.TransactionalID):
		case len(req.StateFilters) > 0 && !slices.Contains(states, t.State):
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, t.ProducerID):
		case req.DurationFilterMillis > 0 && (t.State != metastore.TxnOngoing || now.Sub(t.StartTime).Milliseconds() < req.DurationFilterMillis):
		case !az.may(acl.OpDescribe, acl.ResourceTransactionalID, t.TransactionalID):
		default:
			st := kmsg.NewListTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.TransactionState = t.TransactionalID, t.ProducerID, string(t.State)
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
	}
	return respond(resp)
}
