package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
)

// DescribeTransactions v0: the stored state of each transactional id, its
// producer, its timeout, when its open transaction began and its
// partitions. Describe on the id is required
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), and only the topics the
// principal may Describe are listed, as in Kafka; an unknown id is
// TRANSACTIONAL_ID_NOT_FOUND. Any node answers: the state is the
// metastore's.
func init() {
	registerNeeding(kmsg.DescribeTransactions.Int16(), 0, 0, needGroups, (*Server).handleDescribeTransactions)
}

func (s *Server) handleDescribeTransactions(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	az := s.authz(r)
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.ProducerEpoch, st.StartTimestamp = id, -1, -1, -1
		if !az.txnID(acl.OpDescribe, id) {
			st.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		t, ok, e := s.txn.Describe(ctx, id)
		switch {
		case e != nil:
			st.ErrorCode = e.Code
		case !ok:
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			st.State, st.TimeoutMillis = string(t.State), t.TimeoutMs
			st.ProducerID, st.ProducerEpoch = t.ProducerID, t.ProducerEpoch
			if !t.StartTime.IsZero() {
				st.StartTimestamp = t.StartTime.UnixMilli()
			}
			for _, p := range t.Partitions {
				if !az.may(acl.OpDescribe, acl.ResourceTopic, p.Topic) {
					continue
				}
				if n := len(st.Topics); n > 0 && st.Topics[n-1].Topic == p.Topic {
					st.Topics[n-1].Partitions = append(st.Topics[n-1].Partitions, p.Partition)
					continue
				}
				tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				tt.Topic, tt.Partitions = p.Topic, []int32{p.Partition}
				st.Topics = append(st.Topics, tt)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return respond(resp)
}
