package kafka

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/ingest"
	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/batchtest"
)

// TestDescribeProducersNeedsRead: DescribeProducers asks Read on the
// topic, as Kafka does; Describe alone is TOPIC_AUTHORIZATION_FAILED,
// audited, and the producers are not listed.
func TestDescribeProducersNeedsRead(t *testing.T) {
	s, audit := startACLServer(t)
	mustCreateTopic(t, s, "orders", 1)
	pid, err := s.store.AllocateProducerID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := s.dialAs(t, alice)
	call := func() kmsg.DescribeProducersResponseTopicPartition {
		req := kmsg.NewPtrDescribeProducersRequest()
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = "orders", []int32{0, 5}
		req.Topics = append(req.Topics, rt)
		resp := c.roundTrip(req, 0).(*kmsg.DescribeProducersResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("response %+v", resp)
		}
		if p := resp.Topics[0].Partitions[1]; p.ErrorCode != kerr.TopicAuthorizationFailed.Code && p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("partition 5: %v", kerr.ErrorForCode(p.ErrorCode))
		}
		return resp.Topics[0].Partitions[0]
	}
	grant(t, s, alice, acl.ResourceTopic, "orders", acl.OpDescribe)
	if p := call(); p.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(p.ActiveProducers) != 0 {
		t.Fatalf("with Describe only: %v, %d producers", kerr.ErrorForCode(p.ErrorCode), len(p.ActiveProducers))
	}
	if lines := audit.lines("component=audit", "msg=denied", "principal="+alice, "resource=orders"); len(lines) == 0 {
		t.Errorf("no denial in the audit log:\n%s", audit)
	}
	grant(t, s, alice, acl.ResourceTopic, "orders", acl.OpRead)
	tp, err := s.store.TopicByName(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.ingest.Append(context.Background(), []ingest.PartitionRecords{{TopicID: tp.ID,
		Records: batchtest.Values(batchtest.Options{BaseTimestamp: 1000, ProducerID: pid}, "x")}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("append: %v %+v", err, res)
	}
	p := call()
	if p.ErrorCode != 0 || len(p.ActiveProducers) != 1 {
		t.Fatalf("with Read: %v, producers %+v", kerr.ErrorForCode(p.ErrorCode), p.ActiveProducers)
	}
	if ap := p.ActiveProducers[0]; ap.ProducerID != pid || ap.ProducerEpoch != 0 || ap.LastSequence != 0 || ap.CurrentTxnStartOffset != -1 || ap.LastTimestamp <= 0 {
		t.Fatalf("producer %+v", ap)
	}
}
