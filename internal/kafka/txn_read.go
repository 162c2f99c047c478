package kafka

import (
	"context"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/roleapi"
)

// TxnReader is what read_committed Fetch and ListOffsets need of the
// reader (*reader.Reader implements it; see reader/txn.go).
type TxnReader interface {
	// ReadCommitted reads as ReadBatches does, up to the last stable
	// offset, and lists the aborted transactions of what it read.
	ReadCommitted(ctx context.Context, topicID uuid.UUID, partition int32, offset int64, maxBytes int) (roleapi.ReadResult, error)
	// LastStable returns a partition's last stable offset, high
	// watermark and log start offset.
	LastStable(ctx context.Context, topicID uuid.UUID, partition int32) (lso, hwm, logStart int64, err error)
	// StableAtEnd is AtEnd for a read_committed read.
	StableAtEnd(topicID uuid.UUID, partition int32, offset int64) (roleapi.ReadResult, bool)
}

// readCommitted is Fetch's and ListOffsets' isolation level 1.
const readCommitted = 1

// mergeAborted adds to have the aborted transactions of more that it does
// not hold (a partition read twice by one fetch), in first-offset order.
func mergeAborted(have, more []roleapi.AbortedTxn) []roleapi.AbortedTxn {
	for _, a := range more {
		dup := false
		for _, h := range have {
			if h == a {
				dup = true
				break
			}
		}
		if !dup {
			have = append(have, a)
		}
	}
	return have
}

// abortedTransactions is a read's aborted transactions in Fetch's form;
// never nil, as read_committed responses carry an empty list.
func abortedTransactions(as []roleapi.AbortedTxn) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, 0, len(as))
	for _, a := range as {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, at)
	}
	return out
}
