package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/metastore"
)

// errDown is what a metastore that cannot be reached answers; its text
// names a host and a user, which must not reach clients.
var errDown = errors.New(`failed to connect to "user=strata database=strata": dial tcp 10.0.0.7:5432: connect: connection refused`)

// downStore is a metastore that fails every call while down is set, as
// PostgreSQL does while it restarts.
type downStore struct {
	MetaStore
	down atomic.Bool
}

func (d *downStore) fail() error {
	if d.down.Load() {
		return errDown
	}
	return nil
}

func (d *downStore) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (metastore.Topic, error) {
	if err := d.fail(); err != nil {
		return metastore.Topic{}, err
	}
	return d.MetaStore.CreateTopic(ctx, name, partitions, configs)
}

func (d *downStore) TopicByName(ctx context.Context, name string) (metastore.Topic, error) {
	if err := d.fail(); err != nil {
		return metastore.Topic{}, fmt.Errorf("topic %q: %w", name, err)
	}
	return d.MetaStore.TopicByName(ctx, name)
}

func (d *downStore) TopicByID(ctx context.Context, id uuid.UUID) (metastore.Topic, error) {
	if err := d.fail(); err != nil {
		return metastore.Topic{}, err
	}
	return d.MetaStore.TopicByID(ctx, id)
}

func (d *downStore) ListTopics(ctx context.Context) ([]metastore.Topic, error) {
	if err := d.fail(); err != nil {
		return nil, err
	}
	return d.MetaStore.ListTopics(ctx)
}

func (d *downStore) DeleteTopic(ctx context.Context, name string) error {
	if err := d.fail(); err != nil {
		return err
	}
	return d.MetaStore.DeleteTopic(ctx, name)
}

func (d *downStore) CreatePartitions(ctx context.Context, name string, total int32) error {
	if err := d.fail(); err != nil {
		return err
	}
	return d.MetaStore.CreatePartitions(ctx, name, total)
}

func (d *downStore) SetTopicConfigs(ctx context.Context, name string, set map[string]*string) error {
	if err := d.fail(); err != nil {
		return err
	}
	return d.MetaStore.SetTopicConfigs(ctx, name, set)
}

func (d *downStore) Partitions(ctx context.Context, topicID uuid.UUID) ([]metastore.Partition, error) {
	if err := d.fail(); err != nil {
		return nil, err
	}
	return d.MetaStore.Partitions(ctx, topicID)
}

func (d *downStore) AllocateProducerID(ctx context.Context) (int64, error) {
	if err := d.fail(); err != nil {
		return 0, err
	}
	return d.MetaStore.AllocateProducerID(ctx)
}

func (d *downStore) DeleteRecords(ctx context.Context, topicID uuid.UUID, partition int32, offset int64) (int64, error) {
	if err := d.fail(); err != nil {
		return 0, err
	}
	return d.MetaStore.DeleteRecords(ctx, topicID, partition, offset)
}

// TestMetastoreOutageAnsweredRetriable: while the metastore is down, every
// API answers with the code its clients retry (see errors.go), never
// UNKNOWN_SERVER_ERROR, and without the metastore's error text; a topic
// the node knew is still described; once the metastore is back, the same
// requests succeed.
func TestMetastoreOutageAnsweredRetriable(t *testing.T) {
	var store *downStore
	var skew atomic.Int64 // added to the topic cache's clock
	s := startServer(t, metaWrapper(func(m MetaStore) MetaStore {
		store = &downStore{MetaStore: m}
		return store
	}), func(s *Server) {
		s.topics.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	known := s.createTopic(t, "known", 2)
	s.createTopic(t, "unlooked", 2)
	c := s.dial(t)
	// The node looks "known" up before the outage.
	if mt := c.roundTrip(metadataRequest(false, "known"), 12).(*kmsg.MetadataResponse).Topics[0]; mt.ErrorCode != 0 {
		t.Fatalf("known before the outage: error %d", mt.ErrorCode)
	}
	// The entry expires during the outage.
	skew.Store(int64(time.Hour))
	store.down.Store(true)

	// Metadata: a topic the node knew is served from its expired entry;
	// another is LEADER_NOT_AVAILABLE, with no partitions, as is an
	// auto-creation.
	resp := c.roundTrip(metadataRequest(true, "known", "unlooked", "to-create"), 12).(*kmsg.MetadataResponse)
	if mt := resp.Topics[0]; mt.ErrorCode != 0 || len(mt.Partitions) != 2 || mt.TopicID != known {
		t.Errorf("known topic during the outage: error %d, %d partitions", mt.ErrorCode, len(mt.Partitions))
	}
	for _, mt := range resp.Topics[1:] {
		if mt.ErrorCode != kerr.LeaderNotAvailable.Code || len(mt.Partitions) != 0 {
			t.Errorf("%s during the outage: error %d, %d partitions; want LEADER_NOT_AVAILABLE and none", *mt.Topic, mt.ErrorCode, len(mt.Partitions))
		}
	}
	byID := kmsg.NewPtrMetadataRequest()
	byID.Topics = []kmsg.MetadataRequestTopic{{TopicID: [16]byte{1, 2, 3}}}
	if mt := c.roundTrip(byID, 12).(*kmsg.MetadataResponse).Topics[0]; mt.ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Errorf("topic id during the outage: error %d", mt.ErrorCode)
	}

	checkMsg := func(what string, msg *string) {
		t.Helper()
		if msg == nil || strings.Contains(*msg, "10.0.0.7") || strings.Contains(*msg, "user=") {
			t.Errorf("%s: message %v", what, msg)
		}
	}
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "new-topic", 1, -1
	create.Topics = append(create.Topics, ct)
	if st := c.roundTrip(create, 7).(*kmsg.CreateTopicsResponse).Topics[0]; st.ErrorCode != kerr.NotController.Code {
		t.Errorf("CreateTopics: error %d, want NOT_CONTROLLER", st.ErrorCode)
	} else {
		checkMsg("CreateTopics", st.ErrorMessage)
	}
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr("known")}}
	if st := c.roundTrip(del, 6).(*kmsg.DeleteTopicsResponse).Topics[0]; st.ErrorCode != kerr.NotController.Code {
		t.Errorf("DeleteTopics: error %d, want NOT_CONTROLLER", st.ErrorCode)
	}
	parts := kmsg.NewPtrCreatePartitionsRequest()
	parts.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "known", Count: 4}}
	if st := c.roundTrip(parts, 3).(*kmsg.CreatePartitionsResponse).Topics[0]; st.ErrorCode != kerr.NotController.Code {
		t.Errorf("CreatePartitions: error %d, want NOT_CONTROLLER", st.ErrorCode)
	}
	desc := kmsg.NewPtrDescribeConfigsRequest()
	desc.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "known"}}
	if rr := c.roundTrip(desc, 4).(*kmsg.DescribeConfigsResponse).Resources[0]; rr.ErrorCode != kerr.RequestTimedOut.Code {
		t.Errorf("DescribeConfigs: error %d, want REQUEST_TIMED_OUT", rr.ErrorCode)
	} else {
		checkMsg("DescribeConfigs", rr.ErrorMessage)
	}
	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	alter.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "known",
		Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1000")}}}}
	if rr := c.roundTrip(alter, 1).(*kmsg.IncrementalAlterConfigsResponse).Resources[0]; rr.ErrorCode != kerr.RequestTimedOut.Code {
		t.Errorf("IncrementalAlterConfigs: error %d, want REQUEST_TIMED_OUT", rr.ErrorCode)
	}
	if resp := c.roundTrip(kmsg.NewPtrInitProducerIDRequest(), 4).(*kmsg.InitProducerIDResponse); resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Errorf("InitProducerId: error %d, want COORDINATOR_LOAD_IN_PROGRESS", resp.ErrorCode)
	}
	lo := c.roundTrip(listOffsetsRequest("known", -1, -1, 0), 7).(*kmsg.ListOffsetsResponse)
	if sp := lo.Topics[0].Partitions[0]; sp.ErrorCode != kerr.KafkaStorageError.Code {
		t.Errorf("ListOffsets: error %d, want KAFKA_STORAGE_ERROR", sp.ErrorCode)
	}
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "known", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: -1}}}}
	if sp := c.roundTrip(dr, 2).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]; sp.ErrorCode != kerr.RequestTimedOut.Code {
		t.Errorf("DeleteRecords: error %d, want REQUEST_TIMED_OUT", sp.ErrorCode)
	}

	// Metadata for every topic has no error to answer with: the
	// connection closes, and the client retries on another.
	before := s.counter("Metadata", resultUnavailable)
	c.send(metadataRequest(false), 12, 5)
	c.expectClosed()
	if got := s.counter("Metadata", resultUnavailable); got != before+1 {
		t.Errorf("requests_total{Metadata,unavailable} %v, want %v", got, before+1)
	}

	// Back: the same requests succeed.
	store.down.Store(false)
	c = s.dial(t)
	resp = c.roundTrip(metadataRequest(true, "unlooked", "to-create"), 12).(*kmsg.MetadataResponse)
	for _, mt := range resp.Topics {
		if mt.ErrorCode != 0 || len(mt.Partitions) == 0 {
			t.Errorf("%s after the outage: error %d, %d partitions", *mt.Topic, mt.ErrorCode, len(mt.Partitions))
		}
	}
	if resp := c.roundTrip(kmsg.NewPtrInitProducerIDRequest(), 4).(*kmsg.InitProducerIDResponse); resp.ErrorCode != 0 {
		t.Errorf("InitProducerId after the outage: error %d", resp.ErrorCode)
	}
	if st := c.roundTrip(create, 7).(*kmsg.CreateTopicsResponse).Topics[0]; st.ErrorCode != 0 {
		t.Errorf("CreateTopics after the outage: error %d", st.ErrorCode)
	}
}
