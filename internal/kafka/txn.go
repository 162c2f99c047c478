package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// TxnCoordinator coordinates transactional ids; *txn.Coordinator
// implements it. The front door decodes and authorizes each request and
// hands over what it names; each method returns the Kafka error to
// answer, nil for success.
type TxnCoordinator interface {
	InitProducerID(ctx context.Context, id string, timeoutMs int32, pid int64, epoch int16) (int64, int16, *kerr.Error)
	AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []metastore.TopicPartition) *kerr.Error
	VerifyPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []metastore.TopicPartition) *kerr.Error
	AddOffsets(ctx context.Context, id string, pid int64, epoch int16, group string) *kerr.Error
	OffsetCommit(ctx context.Context, id string, pid int64, epoch int16, group string, offs []metastore.GroupOffset) *kerr.Error
	EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool) *kerr.Error
	CheckProduce(ctx context.Context, id string, pid int64, epoch int16, parts []metastore.TopicPartition) *kerr.Error
	Describe(ctx context.Context, id string) (metastore.Transaction, bool, *kerr.Error)
	List(ctx context.Context) ([]metastore.Transaction, *kerr.Error)
	// PendingOffsets are the partitions of group that open transactions
	// hold pending offsets for.
	PendingOffsets(ctx context.Context, group string) (map[metastore.TopicPartition]bool, *kerr.Error)
	// Owns reports whether this node's view gives it the transactional id.
	Owns(id string) bool
}

// txnAPIs are the APIs served only with a transaction coordinator.
var txnAPIs = []int16{24, 25, 26, 28, 65, 66}

// withoutTxn leaves the transactional APIs out of a server without a
// transaction coordinator.
func withoutTxn(c TxnCoordinator, t handlerTable) (TxnCoordinator, handlerTable) {
	if !isNil(c) {
		return c, t
	}
	for _, k := range txnAPIs {
		delete(t, k)
	}
	return nil, t
}

// txnID checks op on a transactional id.
func (a *authz) txnID(op acl.Operation, id string) bool {
	return a.check(op, acl.ResourceTransactionalID, id)
}
