package kafka

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestApiVersionsNegotiated(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)

	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := vs[testNodeID]
	if !ok || v.Err != nil {
		t.Fatalf("no ApiVersions from node %d: %+v", testNodeID, vs)
	}
	want := map[kmsg.Key][2]int16{
		kmsg.Produce:                   {0, 13},
		kmsg.Fetch:                     {0, 18},
		kmsg.ListOffsets:               {0, 11},
		kmsg.DeleteRecords:             {0, 2},
		kmsg.OffsetForLeaderEpoch:      {0, 4},
		kmsg.Metadata:                  {0, 13},
		kmsg.FindCoordinator:           {0, 5},
		kmsg.ApiVersions:               {0, 4},
		kmsg.CreateTopics:              {0, 7},
		kmsg.DeleteTopics:              {0, 6},
		kmsg.InitProducerID:            {0, 5},
		kmsg.DescribeConfigs:           {0, 4},
		kmsg.AlterConfigs:              {0, 2},
		kmsg.CreatePartitions:          {0, 3},
		kmsg.IncrementalAlterConfigs:   {0, 1},
		kmsg.DescribeCluster:           {0, 2},
		kmsg.OffsetCommit:              {0, 10},
		kmsg.OffsetFetch:               {0, 10},
		kmsg.JoinGroup:                 {0, 9},
		kmsg.Heartbeat:                 {0, 4},
		kmsg.LeaveGroup:                {0, 5},
		kmsg.SyncGroup:                 {0, 5},
		kmsg.DescribeGroups:            {0, 6},
		kmsg.ListGroups:                {0, 5},
		kmsg.DeleteGroups:              {0, 3},
		kmsg.ConsumerGroupHeartbeat:    {0, 1},
		kmsg.ConsumerGroupDescribe:     {0, 1},
		kmsg.OffsetDelete:              {0, 0},
		kmsg.SASLHandshake:             {0, 1},
		kmsg.SASLAuthenticate:          {0, 2},
		kmsg.DescribeClientQuotas:      {0, 1},
		kmsg.AlterClientQuotas:         {0, 1},
		kmsg.DescribeProducers:         {0, 0},
		kmsg.ShareGroupHeartbeat:       {1, 1},
		kmsg.ShareGroupDescribe:        {1, 1},
		kmsg.ShareFetch:                {1, 2},
		kmsg.ShareAcknowledge:          {1, 2},
		kmsg.DescribeShareGroupOffsets: {0, 1},
		kmsg.AlterShareGroupOffsets:    {0, 0},
		kmsg.DeleteShareGroupOffsets:   {0, 0},
	}
	for key, mm := range want {
		lo, hi, ok := v.KeyVersions(key.Int16())
		if !ok || lo != mm[0] || hi != mm[1] {
			t.Errorf("%s: versions %d-%d (advertised %v), want %d-%d", key.Name(), lo, hi, ok, mm[0], mm[1])
		}
		if hi > key.Request().MaxVersion() {
			t.Errorf("%s: max %d above what kmsg decodes", key.Name(), hi)
		}
	}
	v.EachKeySorted(func(key, _, _ int16) {
		if _, ok := want[kmsg.Key(key)]; !ok {
			t.Errorf("advertises %s, which is not served", kmsg.NameForKey(key))
		}
	})
	// franz-go asks with a newer ApiVersions than we serve; it must have
	// been told our range and retried.
	if got := s.counter("ApiVersions", resultUnsupported); got < 1 {
		t.Errorf("client never fell back from an unsupported ApiVersions version (counter %v)", got)
	}
}

// TestApiVersionsWithoutDataPath: a node without a produce path or a reader
// neither advertises nor serves their APIs; DeleteRecords needs only the
// metastore.
func TestApiVersionsWithoutDataPath(t *testing.T) {
	s := startServer(t, noDataPath{})
	c := s.dial(t)
	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "raw-test", "1.0.0"
	resp := c.roundTrip(av, 3).(*kmsg.ApiVersionsResponse)
	served := map[int16]bool{}
	for _, k := range resp.ApiKeys {
		served[k.ApiKey] = true
	}
	for _, key := range []kmsg.Key{kmsg.Produce, kmsg.Fetch, kmsg.ListOffsets, kmsg.OffsetForLeaderEpoch} {
		if served[key.Int16()] {
			t.Errorf("%s advertised without the data path", key.Name())
		}
	}
	if !served[kmsg.DeleteRecords.Int16()] || !served[kmsg.Metadata.Int16()] {
		t.Errorf("DeleteRecords or Metadata not advertised: %+v", resp.ApiKeys)
	}
	// A Produce request is an unsupported API: the connection closes.
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks = -1
	c.send(produce, 9, 5)
	c.expectClosed()
	if got := s.counter("Produce", resultUnsupported); got != 1 {
		t.Errorf("unsupported Produce counted %v times", got)
	}
}

func TestApiVersionsUnsupportedVersion(t *testing.T) {
	s := startServer(t)
	c := s.dial(t)

	// A version we do not serve, with a body we could not parse anyway:
	// answered in v0 with our ApiVersions range.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(5)
	frame := encodeRequest(req, 41)
	frame = append(frame, 0xde, 0xad)
	frame[3] += 2
	c.write(frame)
	req.SetVersion(0)
	resp := c.recv(req, 41).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("error code %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
	}
	if len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 || resp.ApiKeys[0].MaxVersion != 4 {
		t.Fatalf("api keys %+v, want only ApiVersions 0-4", resp.ApiKeys)
	}

	// The connection stays usable: retry at v3 with the client software.
	req = kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName = "raw-test"
	req.ClientSoftwareVersion = "1.0.0"
	full := c.roundTrip(req, 3).(*kmsg.ApiVersionsResponse)
	if full.ErrorCode != 0 || len(full.ApiKeys) < 10 {
		t.Fatalf("v3 answer: error %d, %d keys", full.ErrorCode, len(full.ApiKeys))
	}

	// Kafka's rule for the client software name.
	req.ClientSoftwareName = "bad name!"
	bad := c.roundTrip(req, 3).(*kmsg.ApiVersionsResponse)
	if bad.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("invalid software name: error %d, want INVALID_REQUEST", bad.ErrorCode)
	}
}

func metadataRequest(allow bool, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = allow
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func TestMetadataAutoCreate(t *testing.T) {
	s := startServer(t)
	cl, adm := s.clients(t)
	ctx := testContext(t)

	resp, err := metadataRequest(true, "auto-a").RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	host, portStr, _ := net.SplitHostPort(s.addr)
	port, _ := strconv.Atoi(portStr)
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != testNodeID || resp.Brokers[0].Host != host ||
		resp.Brokers[0].Port != int32(port) || resp.Brokers[0].Rack == nil || *resp.Brokers[0].Rack != "zone-a" {
		t.Fatalf("brokers %+v, want node %d at %s", resp.Brokers, testNodeID, s.addr)
	}
	if resp.ClusterID == nil || *resp.ClusterID != "test-cluster" || resp.ControllerID != testNodeID {
		t.Fatalf("cluster id %v, controller %d", resp.ClusterID, resp.ControllerID)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("%d topics", len(resp.Topics))
	}
	mt := resp.Topics[0]
	if mt.ErrorCode != 0 || *mt.Topic != "auto-a" || mt.TopicID == [16]byte{} {
		t.Fatalf("topic %q error %d id %x", *mt.Topic, mt.ErrorCode, mt.TopicID)
	}
	if len(mt.Partitions) != 3 {
		t.Fatalf("auto-created topic has %d partitions, want 3", len(mt.Partitions))
	}
	stored, err := s.store.Partitions(ctx, uuid.UUID(mt.TopicID))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range mt.Partitions {
		if p.Partition != int32(i) || p.Leader != testNodeID || p.LeaderEpoch != stored[i].LeaderEpoch ||
			!slices.Equal(p.Replicas, []int32{testNodeID}) || !slices.Equal(p.ISR, []int32{testNodeID}) || p.ErrorCode != 0 {
			t.Errorf("partition %+v", p)
		}
	}

	// kadm reads the same through its own metadata path.
	td, err := adm.ListTopics(ctx, "auto-a")
	if err != nil || len(td["auto-a"].Partitions) != 3 {
		t.Fatalf("kadm: %v %+v", err, td)
	}

	// v4+ without AllowAutoTopicCreation: not created.
	resp, err = metadataRequest(false, "not-created").RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic without auto-create: error %d", resp.Topics[0].ErrorCode)
	}
	if _, err := s.store.TopicByName(ctx, "not-created"); err == nil {
		t.Fatal("topic created although the request did not allow it")
	}

	// v1, as kafka-python sends it: no flag, creation allowed.
	c := s.dial(t)
	v1 := c.roundTrip(metadataRequest(false, "auto-v1"), 1).(*kmsg.MetadataResponse)
	if v1.Topics[0].ErrorCode != 0 || len(v1.Topics[0].Partitions) != 3 {
		t.Fatalf("v1 auto-create: error %d, %d partitions", v1.Topics[0].ErrorCode, len(v1.Topics[0].Partitions))
	}

	// An invalid name is not created.
	inv := c.roundTrip(metadataRequest(true, "no spaces"), 9).(*kmsg.MetadataResponse)
	if inv.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("invalid name: error %d", inv.Topics[0].ErrorCode)
	}

	// A null topic list is every topic; in v0 an empty list is.
	for _, v := range []int16{0, 1, 9, 12} {
		req := kmsg.NewPtrMetadataRequest()
		if v == 0 {
			req.Topics = []kmsg.MetadataRequestTopic{}
		}
		all := c.roundTrip(req, v).(*kmsg.MetadataResponse)
		var names []string
		for _, mt := range all.Topics {
			names = append(names, *mt.Topic)
		}
		if !slices.Equal(names, []string{"__consumer_offsets", "auto-a", "auto-v1"}) {
			t.Errorf("v%d all topics: %v", v, names)
		}
	}
	// v1+: an empty list is no topic.
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	if got := c.roundTrip(req, 5).(*kmsg.MetadataResponse); len(got.Topics) != 0 {
		t.Errorf("empty topic list answered %d topics", len(got.Topics))
	}

	// v12 by topic id.
	byID := kmsg.NewPtrMetadataRequest()
	known := kmsg.NewMetadataRequestTopic()
	known.TopicID = mt.TopicID
	unknown := kmsg.NewMetadataRequestTopic()
	unknown.TopicID = uuid.New()
	byID.Topics = append(byID.Topics, known, unknown)
	got := c.roundTrip(byID, 12).(*kmsg.MetadataResponse)
	if len(got.Topics) != 2 || got.Topics[0].Topic == nil || *got.Topics[0].Topic != "auto-a" || len(got.Topics[0].Partitions) != 3 {
		t.Fatalf("by id: %+v", got.Topics)
	}
	if got.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown id: error %d", got.Topics[1].ErrorCode)
	}
}

func TestMetadataAutoCreateDisabled(t *testing.T) {
	s := startServer(t, func(c *Config) { c.AutoCreateTopics = false })
	c := s.dial(t)
	for _, v := range []int16{1, 12} {
		resp := c.roundTrip(metadataRequest(true, "nope"), v).(*kmsg.MetadataResponse)
		if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("v%d: error %d, want UNKNOWN_TOPIC_OR_PARTITION", v, resp.Topics[0].ErrorCode)
		}
	}
}

func TestMetadataConcurrentAutoCreate(t *testing.T) {
	s := startServer(t)
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		cl, _ := s.clients(t)
		wg.Go(func() {
			resp, err := metadataRequest(true, "raced").RequestWith(ctx, cl)
			switch {
			case err != nil:
				errs <- err
			case resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 3:
				errs <- fmt.Errorf("error %d, %d partitions", resp.Topics[0].ErrorCode, len(resp.Topics[0].Partitions))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCreateTopics(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)

	created, err := adm.CreateTopic(ctx, 5, 3, map[string]*string{"retention.ms": kadm.StringPtr("1000")}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if created.NumPartitions != 5 || created.ID == (kadm.TopicID{}) {
		t.Fatalf("created %+v", created)
	}
	if c := created.Configs["retention.ms"]; c.Value == nil || *c.Value != "1000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms in the response: %+v", c)
	}
	if c := created.Configs["max.message.bytes"]; c.Value == nil || *c.Value != "1048588" {
		t.Fatalf("max.message.bytes in the response: %+v", c)
	}

	if _, err := adm.CreateTopic(ctx, 5, -1, nil, "orders"); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second create: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	def, err := adm.CreateTopic(ctx, -1, -1, nil, "defaulted")
	if err != nil || def.NumPartitions != 3 {
		t.Fatalf("partitions -1: %v, %d partitions", err, def.NumPartitions)
	}

	cases := []struct {
		name       string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       error
	}{
		{"unknown-config", 1, -1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, kerr.InvalidConfig},
		{"bad-value", 1, -1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, kerr.InvalidConfig},
		{"bad-enum", 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("shred")}, kerr.InvalidConfig},
		{"zero-partitions", 0, -1, nil, kerr.InvalidPartitions},
		{"too-many-partitions", 10001, -1, nil, kerr.InvalidPartitions},
		{"zero-rf", 1, 0, nil, kerr.InvalidReplicationFactor},
		{"bad/name", 1, -1, nil, kerr.InvalidTopicException},
	}
	for _, tc := range cases {
		_, err := adm.CreateTopic(ctx, tc.partitions, tc.rf, tc.configs, tc.name)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if _, err := s.store.TopicByName(ctx, tc.name); err == nil {
			t.Errorf("%s: created despite the error", tc.name)
		}
	}

	rs, err := adm.ValidateCreateTopics(ctx, 2, -1, nil, "dry-run")
	if err != nil || rs.Error() != nil {
		t.Fatalf("validate only: %v %v", err, rs.Error())
	}
	if _, err := s.store.TopicByName(ctx, "dry-run"); err == nil {
		t.Fatal("validate-only request created the topic")
	}
	rs, _ = adm.ValidateCreateTopics(ctx, 2, -1, nil, "orders")
	if !errors.Is(rs["orders"].Err, kerr.TopicAlreadyExists) {
		t.Fatalf("validate existing: %v", rs["orders"].Err)
	}

	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := td.Names(); !slices.Equal(got, []string{"defaulted", "orders"}) {
		t.Fatalf("topics %v", got)
	}
	if n := len(td["orders"].Partitions); n != 5 {
		t.Fatalf("orders has %d partitions", n)
	}

	// The same name twice in one request.
	c := s.dial(t)
	req := kmsg.NewPtrCreateTopicsRequest()
	for range 2 {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = "twice"
		rt.NumPartitions = 1
		rt.ReplicationFactor = 1
		req.Topics = append(req.Topics, rt)
	}
	resp := c.roundTrip(req, 4).(*kmsg.CreateTopicsResponse)
	for _, rt := range resp.Topics {
		if rt.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("duplicate name: error %d", rt.ErrorCode)
		}
	}
}

func TestDeleteTopics(t *testing.T) {
	s := startServer(t)
	cl, adm := s.clients(t)
	ctx := testContext(t)
	for _, name := range []string{"by-name", "by-id"} {
		if _, err := adm.CreateTopic(ctx, 2, -1, nil, name); err != nil {
			t.Fatal(err)
		}
	}

	rs, err := adm.DeleteTopics(ctx, "by-name")
	if err != nil || rs.Error() != nil {
		t.Fatalf("delete: %v %v", err, rs.Error())
	}
	if _, err := s.store.TopicByName(ctx, "by-name"); err == nil {
		t.Fatal("topic still exists")
	}
	rs, _ = adm.DeleteTopics(ctx, "by-name")
	if !errors.Is(rs["by-name"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete again: %v", rs["by-name"].Err)
	}

	topic, err := s.store.TopicByName(ctx, "by-id")
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	for _, id := range []uuid.UUID{topic.ID, uuid.New()} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version < 6 {
		t.Fatalf("client used DeleteTopics v%d", resp.Version)
	}
	if got := resp.Topics[0]; got.ErrorCode != 0 || got.Topic == nil || *got.Topic != "by-id" {
		t.Fatalf("delete by id: %+v", got)
	}
	if got := resp.Topics[1]; got.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown id: error %d", got.ErrorCode)
	}
	if _, err := s.store.TopicByName(ctx, "by-id"); err == nil {
		t.Fatal("topic deleted by id still exists")
	}
}

func TestCreatePartitions(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 3, -1, nil, "grow"); err != nil {
		t.Fatal(err)
	}

	rs, err := adm.CreatePartitions(ctx, 2, "grow")
	if err != nil || rs.Error() != nil {
		t.Fatalf("add 2: %v %v", err, rs.Error())
	}
	td, err := adm.ListTopics(ctx, "grow")
	if err != nil || len(td["grow"].Partitions) != 5 {
		t.Fatalf("after adding: %v, %d partitions", err, len(td["grow"].Partitions))
	}

	rs, _ = adm.UpdatePartitions(ctx, 4, "grow")
	if !errors.Is(rs["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v, want INVALID_PARTITIONS", rs["grow"].Err)
	}
	rs, _ = adm.UpdatePartitions(ctx, 10001, "grow")
	if !errors.Is(rs["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("above the maximum: %v, want INVALID_PARTITIONS", rs["grow"].Err)
	}
	rs, _ = adm.ValidateUpdatePartitions(ctx, 9, "grow")
	if rs.Error() != nil {
		t.Fatalf("validate: %v", rs.Error())
	}
	rs, _ = adm.UpdatePartitions(ctx, 9, "missing")
	if !errors.Is(rs["missing"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v", rs["missing"].Err)
	}
	parts, err := s.store.Partitions(ctx, uuid.UUID(td["grow"].ID))
	if err != nil || len(parts) != 5 {
		t.Fatalf("stored partitions: %v, %d", err, len(parts))
	}
}

func configsOf(t *testing.T, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	m := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		m[c.Key] = c
	}
	return m
}

func value(c kadm.Config) string {
	if c.Value == nil {
		return "<nil>"
	}
	return *c.Value
}

func TestDescribeAndAlterConfigs(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"retention.ms": kadm.StringPtr("1000")}, "cfg"); err != nil {
		t.Fatal(err)
	}

	cfgs := configsOf(t, adm, "cfg")
	defaults := map[string]string{
		"retention.bytes":        "-1",
		"max.message.bytes":      "1048588",
		"cleanup.policy":         "delete",
		"message.timestamp.type": "CreateTime",
		"segment.bytes":          "1073741824",
	}
	for k, want := range defaults {
		if c := cfgs[k]; value(c) != want || c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("%s = %s (source %v), want default %s", k, value(c), c.Source, want)
		}
	}
	rm := cfgs["retention.ms"]
	if value(rm) != "1000" || rm.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms = %s (source %v)", value(rm), rm.Source)
	}
	if len(rm.Synonyms) != 2 || rm.Synonyms[1].Key != "log.retention.ms" || *rm.Synonyms[1].Value != "604800000" {
		t.Fatalf("retention.ms synonyms %+v", rm.Synonyms)
	}

	// Incremental: set, delete, append.
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("2000000")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
	}, "cfg")
	if err != nil || rs[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, rs)
	}
	cfgs = configsOf(t, adm, "cfg")
	if c := cfgs["max.message.bytes"]; value(c) != "2000000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("max.message.bytes = %s (%v)", value(c), c.Source)
	}
	if c := cfgs["retention.ms"]; value(c) != "604800000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms after delete = %s (%v)", value(c), c.Source)
	}
	if c := cfgs["cleanup.policy"]; value(c) != "delete,compact" {
		t.Errorf("cleanup.policy after append = %s", value(c))
	}

	// Rejected alterations change nothing, not even their valid parts.
	bad := []struct {
		name string
		ops  []kadm.AlterConfig
		want error
	}{
		{"unknown key", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("5")}, {Op: kadm.SetConfig, Name: "made.up", Value: kadm.StringPtr("1")}}, kerr.InvalidConfig},
		{"bad value", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("5")}, {Op: kadm.SetConfig, Name: "preallocate", Value: kadm.StringPtr("maybe")}}, kerr.InvalidConfig},
		{"append to non-list", []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}}, kerr.InvalidConfig},
		{"delete unknown", []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "made.up"}}, kerr.InvalidConfig},
		{"twice", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("5")}, {Op: kadm.DeleteConfig, Name: "segment.ms"}}, kerr.InvalidRequest},
	}
	for _, tc := range bad {
		rs, err := adm.AlterTopicConfigs(ctx, tc.ops, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(rs[0].Err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, rs[0].Err, tc.want)
		}
	}
	if c := configsOf(t, adm, "cfg")["segment.ms"]; value(c) != "604800000" {
		t.Errorf("segment.ms changed by rejected requests: %s", value(c))
	}
	rs, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("5")}}, "missing")
	if !errors.Is(rs[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown topic: %v", rs[0].Err)
	}

	// Legacy AlterConfigs replaces the whole set.
	rs, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: kadm.StringPtr("60000")}}, "cfg")
	if err != nil || rs[0].Err != nil {
		t.Fatalf("alter state: %v %+v", err, rs)
	}
	cfgs = configsOf(t, adm, "cfg")
	if value(cfgs["segment.ms"]) != "60000" || value(cfgs["max.message.bytes"]) != "1048588" || value(cfgs["cleanup.policy"]) != "delete" {
		t.Errorf("after replacing: segment.ms %s, max.message.bytes %s, cleanup.policy %s",
			value(cfgs["segment.ms"]), value(cfgs["max.message.bytes"]), value(cfgs["cleanup.policy"]))
	}
	rs, _ = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "made.up", Value: kadm.StringPtr("1")}}, "cfg")
	if !errors.Is(rs[0].Err, kerr.InvalidConfig) {
		t.Errorf("legacy unknown key: %v", rs[0].Err)
	}

	// Broker configs: described, read-only.
	brcs, err := adm.DescribeBrokerConfigs(ctx, testNodeID)
	if err != nil {
		t.Fatal(err)
	}
	broker := map[string]kadm.Config{}
	for _, c := range brcs[0].Configs {
		broker[c.Key] = c
	}
	if value(broker["num.partitions"]) != "3" || value(broker["broker.id"]) != "7" || value(broker["broker.rack"]) != "zone-a" ||
		value(broker["log.retention.ms"]) != "604800000" || value(broker["auto.create.topics.enable"]) != "true" {
		t.Errorf("broker configs %v", broker)
	}
	ars, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kadm.StringPtr("9")}}, testNodeID)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(ars[0].Err, kerr.InvalidRequest) {
		t.Errorf("altering a broker config: %v", ars[0].Err)
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, "missing")
	if err != nil || !errors.Is(rcs[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("describe unknown topic: %v %v", err, rcs[0].Err)
	}

	// A name list keeps only those configs; v3 documentation on request.
	c := s.dial(t)
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeDocumentation = true
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeTopic
	res.ResourceName = "cfg"
	res.ConfigNames = []string{"segment.ms", "made.up"}
	req.Resources = append(req.Resources, res)
	dresp := c.roundTrip(req, 3).(*kmsg.DescribeConfigsResponse)
	got := dresp.Resources[0].Configs
	if len(got) != 1 || got[0].Name != "segment.ms" || got[0].ConfigType != kmsg.ConfigTypeLong || got[0].Documentation == nil {
		t.Errorf("named configs: %+v", got)
	}
}

func TestDescribeCluster(t *testing.T) {
	s := startServer(t)
	cl, _ := s.clients(t)
	ctx := testContext(t)
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeClusterAuthorizedOperations = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || resp.ClusterID != "test-cluster" || resp.ControllerID != testNodeID || len(resp.Brokers) != 1 ||
		resp.Brokers[0].NodeID != testNodeID || resp.ClusterAuthorizedOperations&(1<<8) == 0 {
		t.Fatalf("%+v", resp)
	}
	req.EndpointType = 2
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Fatalf("controller endpoints: error %d", resp.ErrorCode)
	}
}

func TestInitProducerID(t *testing.T) {
	s := startServer(t)
	cl, _ := s.clients(t)
	ctx := testContext(t)
	seen := map[int64]bool{}
	for range 3 {
		resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || resp.ProducerID < 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] {
			t.Fatalf("%+v (seen %v)", resp, seen)
		}
		seen[resp.ProducerID] = true
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = kmsg.StringPtr("txn")
	req.TransactionTimeoutMillis = 60000
	c := s.dial(t)
	resp := c.roundTrip(req, 4).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code || resp.ProducerID != -1 {
		t.Fatalf("transactional: %+v", resp)
	}
}

func TestFindCoordinator(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)
	host, portStr, _ := net.SplitHostPort(s.addr)
	port, _ := strconv.Atoi(portStr)

	rs := adm.FindGroupCoordinators(ctx, "g1", "g2")
	if rs.Error() != nil || len(rs) != 2 {
		t.Fatalf("%v %+v", rs.Error(), rs)
	}
	for _, r := range rs {
		if r.NodeID != testNodeID || r.Host != host || r.Port != int32(port) {
			t.Errorf("%+v", r)
		}
	}
	txn := adm.FindTxnCoordinators(ctx, "t1")
	if !errors.Is(txn["t1"].Err, kerr.TransactionalIDAuthorizationFailed) {
		t.Errorf("txn coordinator: %v", txn["t1"].Err)
	}

	// v0-v3 carry a single key.
	c := s.dial(t)
	for _, v := range []int16{0, 3} {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = "g1"
		resp := c.roundTrip(req, v).(*kmsg.FindCoordinatorResponse)
		if resp.ErrorCode != 0 || resp.NodeID != testNodeID || resp.Host != host || resp.Port != int32(port) {
			t.Errorf("v%d: %+v", v, resp)
		}
	}
}
