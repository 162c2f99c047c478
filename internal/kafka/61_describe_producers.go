package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// DescribeProducers v0 (KIP-664): the producers with state on each
// partition asked for, from the metastore's producer state and
// transaction index, so any node answers for any partition (Kafka sends
// it to each partition's leader; here every node is one for this).
//
//   - Each producer reports its epoch, the last sequence it wrote at that
//     epoch (-1 after a marker began a new epoch), the time of its last
//     commit on the partition (ms), and the first offset of its open
//     transaction (-1 when none is open). CoordinatorEpoch is -1: markers
//     carry no coordinator epoch that is checked.
//   - Idempotent producers are listed too, as Kafka lists every producer
//     whose state the partition keeps; the compactor forgets idle ones
//     (-compactor.producer-id-expiration).
//   - A topic the principal may not Read is TOPIC_AUTHORIZATION_FAILED on
//     every partition of it, as in Kafka; an unknown topic or partition
//     is UNKNOWN_TOPIC_OR_PARTITION.
func init() {
	registerNeeding(kmsg.DescribeProducers.Int16(), 0, 0, needReader, (*Server).handleDescribeProducers)
}

func (s *Server) handleDescribeProducers(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeProducersRequest)
	az := s.authz(r)
	return Reply{Later: func(ctx context.Context) kmsg.Response { return s.describeProducers(ctx, az, req) }}, nil
}

func (s *Server) describeProducers(ctx context.Context, az *authz, req *kmsg.DescribeProducersRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		var parts []metastore.Partition
		info, terr := az.topicByName(ctx, acl.OpRead, rt.Topic)
		if terr == nil {
			parts, terr = s.meta.Partitions(ctx, info.ID)
		}
		for _, p := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			sp.ActiveProducers = []kmsg.DescribeProducersResponseTopicPartitionActiveProducer{}
			err := terr
			if err == nil {
				_, err = findPartition(info.Name, parts, p)
			}
			var producers []metastore.PartitionProducer
			if err == nil {
				producers, err = s.meta.PartitionProducers(ctx, info.ID, p)
			}
			for _, pr := range producers {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch = pr.ProducerID, int32(pr.Epoch)
				ap.LastSequence, ap.LastTimestamp = pr.LastSequence, pr.LastTimestamp
				ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, pr.TxnFirstOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			sp.ErrorCode, sp.ErrorMessage = s.dataErrorCode("DescribeProducers", err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
