package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/roleapi"
	"github.com/stratalog/strata/metastore"
)

// Produce v0-v13 (v13 names topics by id). v3 is the first version whose
// records are v2 record batches (magic 2), the only format stored; v0-v2
// are refused per partition. Each partition is answered on its own:
//
//   - An unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION (an
//     unknown topic id, v13, UNKNOWN_TOPIC_ID). Produce never creates
//     topics: clients ask Metadata first, which does.
//   - The produce path admits each batch (roleapi.Admission): records that
//     are not magic 2 are UNSUPPORTED_FOR_MESSAGE_FORMAT; an empty records
//     field, records that do not parse or disagree with the batch's count,
//     a keyless record on a compacted topic, a control or transactional
//     batch are INVALID_RECORD; zstd before v7 is
//     UNSUPPORTED_COMPRESSION_TYPE, as in Kafka; a batch larger than the
//     topic's max.message.bytes, or whose records decompress to more than
//     the node allows, is MESSAGE_TOO_LARGE; a batch that fails its
//     header checks (CRC, lengths) or does not decompress is
//     CORRUPT_MESSAGE.
//   - A failed segment upload or commit is KAFKA_STORAGE_ERROR, which
//     producers retry; sequence errors are OUT_OF_ORDER_SEQUENCE_NUMBER and
//     INVALID_PRODUCER_EPOCH.
//   - A topic the principal may not Write is TOPIC_AUTHORIZATION_FAILED
//     on every partition of it, whether it exists or not.
//   - A transactional request (a transactional id) needs Write on the
//     id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition, and
//     so without a transaction coordinator); an empty id is
//     INVALID_REQUEST. Its partitions must be in the open transaction of
//     its producer (txnGate, 00_produce_txn.go).
//
// The batches are handed to the produce path while the request is read, so
// the requests of one connection reach their partitions in the order they
// were sent; the wait for the commit runs concurrently with the requests
// that follow. acks=0 gets no response, but its records are still
// committed. For topics whose message.timestamp.type is LogAppendTime the
// batches are stamped at admission with the broker's time when the request
// is handled (timestamp type attribute and MaxTimestamp, CRC computed
// again), and LogAppendTime reports it; -1 otherwise. LogStartOffset (v5+) is the
// partition's log start offset as this node last read it.
func init() {
	// v0-v2 carry the old message formats, which Strata does not store; they
	// are advertised anyway because librdkafka only enables gzip, snappy
	// and lz4 for brokers whose Produce range overlaps v0-v2. Such requests
	// get UNSUPPORTED_FOR_MESSAGE_FORMAT on every partition.
	registerNeeding(kmsg.Produce.Int16(), 0, 13, needIngest, (*Server).handleProduce)
}

// producePart is one partition of a Produce request handed to the produce
// path: its place in the response and in the Enqueue call.
type producePart struct {
	resp       *kmsg.ProduceResponseTopicPartition
	topic      *topicInfo
	index      int
	appendTime int64 // LogAppendTime topics: the time written into the batches
}

func (s *Server) handleProduce(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)

	var reqErr error
	switch {
	case req.TransactionID != nil && *req.TransactionID == "":
		reqErr = errorf(kerr.InvalidRequest, "empty transactional id")
	case req.TransactionID != nil && s.txn == nil:
		reqErr = errorf(kerr.TransactionalIDAuthorizationFailed, "transactions are not served by this node")
	case req.TransactionID != nil && !s.authz(r).txnID(acl.OpWrite, *req.TransactionID):
		reqErr = errorf(kerr.TransactionalIDAuthorizationFailed, "not authorized to write as the transactional id")
	case req.Version < 3:
		reqErr = errorf(kerr.UnsupportedForMessageFormat, "produce v%d carries message format v0/v1; only v2 record batches (produce v3+) are stored", req.Version)
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		reqErr = errorf(kerr.InvalidRequiredAcks, "acks %d: must be -1, 0 or 1", req.Acks)
	}

	az := s.authz(r)
	var parts []roleapi.PartitionRecords
	var placed []producePart
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		info, terr := (*topicInfo)(nil), reqErr
		if terr == nil {
			info, terr = s.produceTopic(ctx, az, rt, req.Version >= 13)
		}
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			sp.LogAppendTime = -1
			sp.LogStartOffset = -1
			err := terr
			if err == nil {
				info, err = s.producePartition(ctx, info, rp.Partition)
				if topicWide(err) {
					terr = err // the topic is gone, or the metastore failed
				}
			}
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = s.dataErrorCode("Produce", err)
				continue
			}
			if p, ok := info.partition(rp.Partition); ok {
				sp.LogStartOffset = p.LogStartOffset
			}
			adm := roleapi.Admission{
				MaxBatchBytes: info.policy.MaxMessageBytes,
				RequireKeys:   info.policy.Compact,
				NoZstd:        req.Version < 7,
				// Admitted only past txnGate: the partition is in the
				// producer's open transaction.
				Transactional: req.TransactionID != nil,
			}
			var appendTime int64
			if info.policy.LogAppendTime {
				// As a Kafka broker does, at append: the batches carry
				// the broker's time, and the response reports it.
				appendTime = time.Now().UnixMilli()
				adm.LogAppendTime = appendTime
			}
			placed = append(placed, producePart{resp: sp, topic: info, index: len(parts), appendTime: appendTime})
			parts = append(parts, roleapi.PartitionRecords{TopicID: info.ID, Partition: rp.Partition, Records: rp.Records, Admission: adm})
		}
	}
	if req.TransactionID != nil {
		parts, placed = s.txnGate(ctx, *req.TransactionID, req.Topics, parts, placed)
	}
	if len(parts) == 0 {
		if req.Acks == 0 {
			return Reply{None: true}, nil
		}
		return respond(resp)
	}

	pending, err := s.ingest.Produce(ctx, parts)
	if err != nil {
		for _, pp := range placed {
			pp.resp.ErrorCode, pp.resp.ErrorMessage = s.dataErrorCode("Produce", err)
		}
		if req.Acks == 0 {
			return Reply{None: true}, nil
		}
		return respond(resp)
	}
	for _, p := range parts {
		s.metrics.produced.Add(float64(len(p.Records)))
	}
	if req.Acks == 0 {
		return Reply{None: true}, nil
	}
	return Reply{Later: func(ctx context.Context) kmsg.Response {
		results := pending.Wait(ctx)
		for _, pp := range placed {
			res := results[pp.index]
			if res.Err != nil {
				pp.resp.ErrorCode, pp.resp.ErrorMessage = s.dataErrorCode("Produce", res.Err)
				continue
			}
			pp.resp.BaseOffset = res.BaseOffset
			if pp.topic.policy.LogAppendTime {
				pp.resp.LogAppendTime = pp.appendTime
			}
		}
		resp.ThrottleMillis = int32(min(pending.ThrottleTime()/time.Millisecond, 1<<31-1))
		return resp
	}}, nil
}

// produceTopic finds a Produce request's topic by name or, v13+, by id,
// and checks Write on it: by name before the lookup, so that a principal
// without it does not learn whether the topic exists.
func (s *Server) produceTopic(ctx context.Context, az *authz, rt kmsg.ProduceRequestTopic, byID bool) (*topicInfo, error) {
	if !byID {
		if err := az.topicErr(acl.OpWrite, rt.Topic); err != nil {
			return nil, err
		}
		if _, ok := internalTopicNamed(rt.Topic); ok {
			return nil, errInternalTopicWrite(rt.Topic)
		}
		return s.topics.topicByName(ctx, rt.Topic)
	}
	info, err := s.topics.topicByID(ctx, uuid.UUID(rt.TopicID))
	if errors.Is(err, metastore.ErrUnknownTopic) {
		return nil, errorf(kerr.UnknownTopicID, "unknown topic id %s", uuid.UUID(rt.TopicID))
	}
	if err == nil {
		err = az.topicErr(acl.OpWrite, info.Name)
	}
	return info, err
}

// staleAfter is how old a cached topic must be before a partition or a
// leader epoch it does not know makes the handlers read it again.
const staleAfter = 100 * time.Millisecond

// producePartition checks that the topic has partition p, reading the
// topic again when the cached copy may predate the partition.
func (s *Server) producePartition(ctx context.Context, info *topicInfo, p int32) (*topicInfo, error) {
	if _, ok := info.partition(p); ok {
		return info, nil
	}
	if p >= 0 {
		fresh, err := s.topics.refresh(ctx, info, staleAfter)
		if err != nil {
			return info, err
		}
		if _, ok := fresh.partition(p); ok {
			return fresh, nil
		}
		info = fresh
	}
	return info, errorf(kerr.UnknownTopicOrPartition, "topic %q has no partition %d", info.Name, p)
}

// topicWide reports whether a partition's lookup error is about its whole
// topic (a metastore error, not a wire error of the partition itself).
func topicWide(err error) bool {
	var we *wireError
	return err != nil && !errors.As(err, &we)
}
