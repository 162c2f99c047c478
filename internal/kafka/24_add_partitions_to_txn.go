package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/metastore"
)

// AddPartitionsToTxn v0-v5. v0-v3 are the client's form: one
// transactional id, whose open transaction (begun if none is open) the
// partitions join. v4+ batch several ids, as Kafka's brokers send them to
// verify a transactional produce (KIP-890 part 1); they need ClusterAction
// on the cluster, as in Kafka, and a VerifyOnly entry only checks that its
// partitions are in the transaction. Write on the transactional id and on
// every topic are required (TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
// TOPIC_AUTHORIZATION_FAILED); an unknown topic or partition is
// UNKNOWN_TOPIC_OR_PARTITION; when any partition fails these checks the
// others are OPERATION_NOT_ATTEMPTED and nothing is added, as in Kafka.
func init() {
	registerNeeding(kmsg.AddPartitionsToTxn.Int16(), 0, 5, needGroups, (*Server).handleAddPartitionsToTxn)
}

// txnPartitionsCheck checks the partitions of one transactional id and
// returns, per topic and partition, the error code of each (all 0 when
// they may be added).
func (s *Server) txnPartitionsCheck(ctx context.Context, az *authz, topics map[string][]int32) (map[string]map[int32]int16, bool) {
	codes := make(map[string]map[int32]int16, len(topics))
	ok := true
	for topic, parts := range topics {
		codes[topic] = make(map[int32]int16, len(parts))
		var code int16
		if !az.topic(acl.OpWrite, topic) {
			code = kerr.TopicAuthorizationFailed.Code
		}
		var info *topicInfo
		if code == 0 {
			var err error
			if info, err = s.topics.topicByName(ctx, topic); err != nil {
				code, _ = s.dataErrorCode("AddPartitionsToTxn", err)
			}
		}
		for _, p := range parts {
			c := code
			if c == 0 {
				if _, known := info.partition(p); !known {
					c = kerr.UnknownTopicOrPartition.Code
				}
			}
			if c != 0 {
				ok = false
			}
			codes[topic][p] = c
		}
	}
	if !ok {
		for _, ps := range codes {
			for p, c := range ps {
				if c == 0 {
					ps[p] = kerr.OperationNotAttempted.Code
				}
			}
		}
	}
	return codes, ok
}

// addTxnPartitions serves one transactional id's partitions and returns
// their codes.
func (s *Server) addTxnPartitions(ctx context.Context, az *authz, id string, pid int64, epoch int16, verify bool, topics map[string][]int32) map[string]map[int32]int16 {
	all := func(code int16) map[string]map[int32]int16 {
		out := make(map[string]map[int32]int16, len(topics))
		for t, ps := range topics {
			out[t] = make(map[int32]int16, len(ps))
			for _, p := range ps {
				out[t][p] = code
			}
		}
		return out
	}
	if !az.txnID(acl.OpWrite, id) {
		return all(kerr.TransactionalIDAuthorizationFailed.Code)
	}
	codes, ok := s.txnPartitionsCheck(ctx, az, topics)
	if !ok {
		return codes
	}
	var parts []metastore.TopicPartition
	for t, ps := range topics {
		for _, p := range ps {
			parts = append(parts, metastore.TopicPartition{Topic: t, Partition: p})
		}
	}
	var e *kerr.Error
	if verify {
		e = s.txn.VerifyPartitions(ctx, id, pid, epoch, parts)
	} else {
		e = s.txn.AddPartitions(ctx, id, pid, epoch, parts)
	}
	if e == nil {
		return all(0)
	}
	return all(e.Code)
}

func (s *Server) handleAddPartitionsToTxn(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	az := s.authz(r)
	if req.Version < 4 {
		topics := map[string][]int32{}
		for _, t := range req.Topics {
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
		codes := s.addTxnPartitions(ctx, az, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, topics)
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[t.Topic][p]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return respond(resp)
	}
	if !az.cluster(acl.OpClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp)
	}
	for _, tx := range req.Transactions {
		topics := map[string][]int32{}
		for _, t := range tx.Topics {
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
		codes := s.addTxnPartitions(ctx, az, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly, topics)
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tx.TransactionalID
		for _, t := range tx.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[t.Topic][p]
				rt.Partitions = append(rt.Partitions, rp)
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return respond(resp)
}
