package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
)

// txnGate lets a transactional Produce write only to the partitions of
// its producer's open transaction (added by AddPartitionsToTxn), read from
// the metastore: a partition's node is seldom the id's coordinator. The
// producer is the one of the first batch header; a request whose
// producer is fenced is INVALID_PRODUCER_EPOCH on every partition, one
// whose partitions are not all in the transaction INVALID_TXN_STATE, as
// Kafka's verification (KIP-890 part 1) answers. What passes goes on to
// the produce path, which checks every batch.
func (s *Server) txnGate(ctx context.Context, id string, topics []kmsg.ProduceRequestTopic, parts []roleapi.PartitionRecords, placed []producePart) ([]roleapi.PartitionRecords, []producePart) {
	if len(parts) == 0 {
		return parts, placed
	}
	h, err := recordbatch.ParseSize(parts[0].Records)
	if err != nil {
		return parts, placed // the produce path answers the bad batch
	}
	tps := make([]metastore.TopicPartition, len(placed))
	for i, pp := range placed {
		tps[i] = metastore.TopicPartition{Topic: pp.topic.Name, Partition: parts[pp.index].Partition}
	}
	e := s.txn.CheckProduce(ctx, id, h.ProducerID, h.ProducerEpoch, tps)
	if e == nil {
		return parts, placed
	}
	for _, pp := range placed {
		pp.resp.ErrorCode = e.Code
		msg := e.Message
		pp.resp.ErrorMessage = &msg
	}
	return nil, nil
}
