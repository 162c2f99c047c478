package kafka

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/recordbatch"
)

// TestProduceErrorsPerPartition: every bad partition of one request gets
// its own error, and the good partition in the same request is stored.
func TestProduceErrorsPerPartition(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "mixed", 4, map[string]*string{"max.message.bytes": kmsg.StringPtr("2000")})
	createTopic(t, adm, "other", 2, nil)
	c := s.dial(t)

	good := batchtest.Values(noProducer(1000), "good-1", "good-2")
	corrupt := append([]byte(nil), good...)
	corrupt[17] ^= 0xff // a CRC byte
	oversize := batchtest.Batch(noProducer(1000), batchtest.Record{Value: bytes.Repeat([]byte("x"), 3000)})
	control := withAttributes(good, 0x20)
	transactional := withAttributes(batchtest.Values(batchtest.Options{BaseTimestamp: 1000, ProducerID: 5}, "tx"), 0x10)
	magic1 := append([]byte(nil), good...)
	magic1[16] = 1

	cases := []struct {
		part rawPart
		want *kerr.Error
	}{
		{rawPart{topic: "mixed", partition: 0, records: good}, nil},
		{rawPart{topic: "mixed", partition: 1, records: corrupt}, kerr.CorruptMessage},
		{rawPart{topic: "mixed", partition: 2, records: oversize}, kerr.MessageTooLarge},
		{rawPart{topic: "mixed", partition: 3, records: control}, kerr.InvalidRecord},
		{rawPart{topic: "mixed", partition: 7, records: good}, kerr.UnknownTopicOrPartition},
		{rawPart{topic: "mixed", partition: -1, records: good}, kerr.UnknownTopicOrPartition},
		{rawPart{topic: "other", partition: 0, records: magic1}, kerr.UnsupportedForMessageFormat},
		{rawPart{topic: "other", partition: 1, records: nil}, kerr.InvalidRecord},
		{rawPart{topic: "other", partition: 1, records: transactional}, kerr.InvalidRecord},
		{rawPart{topic: "other", partition: 1, records: good[:40]}, kerr.CorruptMessage},
		{rawPart{topic: "nope", partition: 0, records: good}, kerr.UnknownTopicOrPartition},
	}
	parts := make([]rawPart, len(cases))
	for i, tc := range cases {
		parts[i] = tc.part
	}
	for _, v := range []int16{3, 9, 12} {
		got := c.produce(v, -1, parts...)
		for i, tc := range cases {
			p := got[i]
			if p.Partition != tc.part.partition {
				t.Fatalf("v%d: answer %d is for partition %d, want %d", v, i, p.Partition, tc.part.partition)
			}
			if want := codeOf(tc.want); p.ErrorCode != want {
				t.Errorf("v%d %s/%d: error %v, want %v", v, tc.part.topic, tc.part.partition, kerr.ErrorForCode(p.ErrorCode), tc.want)
			}
			if tc.want != nil && p.BaseOffset != -1 {
				t.Errorf("v%d %s/%d: failed with base offset %d", v, tc.part.topic, tc.part.partition, p.BaseOffset)
			}
			if v >= 8 && tc.want != nil && (p.ErrorMessage == nil || *p.ErrorMessage == "") {
				t.Errorf("v%d %s/%d: no error message", v, tc.part.topic, tc.part.partition)
			}
		}
	}

	// Only the good partition holds records: two per request.
	_, fetched := c.fetch(fetchRequest(1<<20,
		fetchAt{topic: "mixed", partition: 0, maxBytes: 1 << 20, epoch: -1},
		fetchAt{topic: "mixed", partition: 1, maxBytes: 1 << 20, epoch: -1},
		fetchAt{topic: "mixed", partition: 2, maxBytes: 1 << 20, epoch: -1},
		fetchAt{topic: "mixed", partition: 3, maxBytes: 1 << 20, epoch: -1},
		fetchAt{topic: "other", partition: 0, maxBytes: 1 << 20, epoch: -1},
		fetchAt{topic: "other", partition: 1, maxBytes: 1 << 20, epoch: -1},
	), 11)
	if fetched[0].ErrorCode != 0 || fetched[0].HighWatermark != 6 {
		t.Fatalf("good partition: error %d, high watermark %d, want 6", fetched[0].ErrorCode, fetched[0].HighWatermark)
	}
	recs := decodeFetched(t, fetched[0].RecordBatches)
	if len(recs) != 6 {
		t.Fatalf("%d records in the good partition, want 6", len(recs))
	}
	for i, r := range recs {
		if r.offset != int64(i) || r.value != fmt.Sprintf("good-%d", i%2+1) {
			t.Errorf("record %d: offset %d value %q", i, r.offset, r.value)
		}
	}
	for _, p := range fetched[1:] {
		if p.ErrorCode != 0 || p.HighWatermark != 0 || len(p.RecordBatches) != 0 {
			t.Errorf("partition %d: error %d, high watermark %d, %d bytes: a refused batch was stored", p.Partition, p.ErrorCode, p.HighWatermark, len(p.RecordBatches))
		}
	}
}

func TestProduceRequestLevelErrors(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "req", 1, nil)
	c := s.dial(t)
	good := batchtest.Values(noProducer(1000), "v")
	part := rawPart{topic: "req", partition: 0, records: good}

	send := func(mutate func(*kmsg.ProduceRequest), v int16) int16 {
		t.Helper()
		req := produceRequest(-1, part)
		mutate(req)
		resp := c.roundTrip(req, v).(*kmsg.ProduceResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := send(func(r *kmsg.ProduceRequest) { r.TransactionID = kmsg.StringPtr("tx") }, 9); code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("transactional id: error %d", code)
	}
	if code := send(func(r *kmsg.ProduceRequest) { r.TransactionID = kmsg.StringPtr("") }, 9); code != kerr.InvalidRequest.Code {
		t.Errorf("empty transactional id: error %d", code)
	}
	if code := send(func(r *kmsg.ProduceRequest) { r.Acks = 2 }, 9); code != kerr.InvalidRequiredAcks.Code {
		t.Errorf("acks=2: error %d", code)
	}
	zstd := withAttributes(good, 4)
	if code := send(func(r *kmsg.ProduceRequest) { r.Topics[0].Partitions[0].Records = zstd }, 6); code != kerr.UnsupportedCompressionType.Code {
		t.Errorf("zstd at v6: error %d", code)
	}
	// Nothing of it was stored.
	_, fetched := c.fetch(fetchRequest(1<<20, fetchAt{topic: "req", maxBytes: 1 << 20, epoch: -1}), 11)
	if fetched[0].HighWatermark != 0 {
		t.Fatalf("high watermark %d after refused requests", fetched[0].HighWatermark)
	}
}

// TestProduceByTopicID: Produce v13 names topics by id.
func TestProduceByTopicID(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	id := createTopic(t, adm, "by-id", 1, nil)
	c := s.dial(t)
	batch := batchtest.Values(noProducer(1000), "a", "b")
	req := produceRequest(-1, rawPart{topicID: id, partition: 0, records: batch}, rawPart{topicID: uuid.New(), partition: 0, records: batch})
	resp := c.roundTrip(req, 13).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 2 || resp.Topics[0].TopicID != id {
		t.Fatalf("topics %+v", resp.Topics)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Errorf("by id: error %d base offset %d", p.ErrorCode, p.BaseOffset)
	}
	if p := resp.Topics[1].Partitions[0]; p.ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("unknown id: error %d, want UNKNOWN_TOPIC_ID", p.ErrorCode)
	}
}

// TestProduceSequences: the idempotent-producer errors reach the client,
// and a retried batch gets its first offset without being stored twice.
func TestProduceSequences(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "seq", 1, nil)
	c := s.dial(t)
	batch := func(epoch int16, seq int32, values ...string) []byte {
		return batchtest.Values(batchtest.Options{BaseTimestamp: 1000, ProducerID: 4242, ProducerEpoch: epoch, BaseSequence: seq}, values...)
	}
	produce := func(b []byte) kmsg.ProduceResponseTopicPartition {
		return c.produce(9, -1, rawPart{topic: "seq", records: b})[0]
	}
	first := batch(0, 0, "a", "b")
	if p := produce(first); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("first batch: error %d offset %d", p.ErrorCode, p.BaseOffset)
	}
	if p := produce(batch(0, 2, "c")); p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("second batch: error %d offset %d", p.ErrorCode, p.BaseOffset)
	}
	if p := produce(first); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("retried batch: error %d offset %d, want its first offset 0", p.ErrorCode, p.BaseOffset)
	}
	if p := produce(batch(0, 7, "gap")); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", p.ErrorCode)
	}
	if p := produce(batch(1, 0, "d")); p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Fatalf("new epoch: error %d offset %d", p.ErrorCode, p.BaseOffset)
	}
	if p := produce(batch(0, 3, "old")); p.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced epoch: error %d, want INVALID_PRODUCER_EPOCH", p.ErrorCode)
	}
	_, fetched := c.fetch(fetchRequest(1<<20, fetchAt{topic: "seq", maxBytes: 1 << 20, epoch: -1}), 11)
	var values []string
	for _, r := range decodeFetched(t, fetched[0].RecordBatches) {
		values = append(values, r.value)
	}
	if got := strings.Join(values, ","); got != "a,b,c,d" {
		t.Fatalf("log holds %s, want a,b,c,d", got)
	}
}

// TestProduceLogAppendTime: topics that use LogAppendTime store and report
// the broker's append time, the others -1; LogStartOffset (v5+) is set.
func TestProduceLogAppendTime(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "append-time", 1, map[string]*string{"message.timestamp.type": kmsg.StringPtr("LogAppendTime")})
	createTopic(t, adm, "create-time", 1, nil)
	c := s.dial(t)
	batch := batchtest.Values(noProducer(1000), "x")
	before := time.Now().UnixMilli()
	got := c.produce(9, -1, rawPart{topic: "append-time", records: batch}, rawPart{topic: "create-time", records: batch})
	after := time.Now().UnixMilli()
	lat := got[0].LogAppendTime
	if lat < before || lat > after {
		t.Errorf("LogAppendTime %d, want the append time in [%d, %d]", lat, before, after)
	}
	if got[1].LogAppendTime != -1 {
		t.Errorf("CreateTime topic: LogAppendTime %d, want -1", got[1].LogAppendTime)
	}
	for _, p := range got {
		if p.ErrorCode != 0 || p.LogStartOffset != 0 {
			t.Errorf("partition %d: error %d, log start offset %d", p.Partition, p.ErrorCode, p.LogStartOffset)
		}
	}
	// The stored batch carries the append time, as Kafka's does, with a
	// valid CRC; the CreateTime topic's keeps the producer's time.
	for _, tc := range []struct {
		topic   string
		logTime bool
		max     int64
	}{{"append-time", true, lat}, {"create-time", false, 1000}} {
		_, parts := c.fetch(fetchRequest(1<<20, fetchAt{topic: tc.topic, maxBytes: 1 << 20, epoch: -1}), 11)
		bs := splitBatches(t, parts[0].RecordBatches)
		if len(bs) != 1 {
			t.Fatalf("%s: %d batches", tc.topic, len(bs))
		}
		h, err := recordbatch.Check(bs[0])
		if err != nil {
			t.Fatalf("%s: stored batch: %v", tc.topic, err)
		}
		if h.LogAppendTime() != tc.logTime || h.MaxTimestamp != tc.max {
			t.Errorf("%s: timestamp type LogAppendTime=%v, max timestamp %d; want %v, %d", tc.topic, h.LogAppendTime(), h.MaxTimestamp, tc.logTime, tc.max)
		}
	}
}

// TestProduceAcksZero: no response, and the records are still stored.
func TestProduceAcksZero(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "fire", 1, nil)
	c := s.dial(t)
	for i := range 5 {
		req := produceRequest(0, rawPart{topic: "fire", records: batchtest.Values(noProducer(1000), strconv.Itoa(i))})
		c.send(req, 9, int32(i))
	}
	// The next response on the connection is the Metadata's.
	meta := metadataRequest(false, "fire")
	c.send(meta, 12, 77)
	c.recv(meta, 77)
	if got := s.counter("Produce", resultNoResponse); got != 5 {
		t.Errorf("no_response counter %v, want 5", got)
	}
	eventually(t, 10*time.Second, "acks=0 records stored", func() bool {
		_, fetched := c.fetch(fetchRequest(1<<20, fetchAt{topic: "fire", maxBytes: 1 << 20, epoch: -1}), 11)
		return fetched[0].HighWatermark == 5
	})
}

// TestProduceAcksModes: franz-go producers with acks=0, acks=1 and the
// default (idempotent, acks=all) all get their records stored in order.
func TestProduceAcksModes(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)
	modes := []struct {
		name string
		opts []kgo.Opt
	}{
		{"acks0", []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}},
		{"acks1", []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
		{"idempotent", nil},
	}
	const n = 300
	for _, m := range modes {
		createTopic(t, adm, m.name, 1, nil)
		prod, _ := s.clients(t, append(m.opts, kgo.DefaultProduceTopic(m.name))...)
		for i := range n {
			prod.Produce(ctx, kgo.StringRecord(strconv.Itoa(i)), func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("%s: produce: %v", m.name, err)
				}
			})
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		cons, _ := s.clients(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{m.name: {0: kgo.NewOffset().AtStart()}}),
			kgo.FetchMaxWait(200*time.Millisecond))
		next := 0
		for next < n {
			fs := cons.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("%s: %d of %d records consumed: %v", m.name, next, n, err)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("%s: fetch: %v", m.name, err) })
			fs.EachRecord(func(r *kgo.Record) {
				if string(r.Value) != strconv.Itoa(next) || r.Offset != int64(next) {
					t.Fatalf("%s: record at offset %d is %q, want %d", m.name, r.Offset, r.Value, next)
				}
				next++
			})
		}
	}
}

// TestPipelinedProduceKeepsOrder: requests of one connection are written
// ahead of their responses and still reach the partition in order.
func TestPipelinedProduceKeepsOrder(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)
	createTopic(t, adm, "order", 1, nil)

	// Raw: 50 requests written before any response is read.
	c := s.dial(t)
	const raw = 50
	for i := range raw {
		req := produceRequest(-1, rawPart{topic: "order", records: batchtest.Values(noProducer(1000), strconv.Itoa(i))})
		c.send(req, 9, int32(i))
	}
	for i := range raw {
		req := produceRequest(-1)
		req.SetVersion(9)
		resp := c.recv(req, int32(i)).(*kmsg.ProduceResponse)
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("request %d: error %d base offset %d, want %d", i, p.ErrorCode, p.BaseOffset, i)
		}
	}

	// franz-go: idempotent producer (five requests in flight, its default
	// against brokers with Produce v3+), short linger, small batches, so
	// that many requests are in flight at once.
	const n = 5000
	prod, _ := s.clients(t, kgo.DefaultProduceTopic("order"),
		kgo.ProducerLinger(time.Millisecond), kgo.ProducerBatchMaxBytes(4<<10))
	for i := range n {
		prod.Produce(ctx, kgo.StringRecord(strconv.Itoa(raw+i)), func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cons, _ := s.clients(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"order": {0: kgo.NewOffset().AtStart()}}))
	next := 0
	for next < raw+n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%d of %d records consumed: %v", next, raw+n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != strconv.Itoa(next) || r.Offset != int64(next) {
				t.Fatalf("offset %d holds %q, want %d", r.Offset, r.Value, next)
			}
			next++
		})
	}
}

// TestTopicCache: Produce and Fetch do not query the metastore for their
// topic on every request, and this node's topic changes apply at once.
func TestTopicCache(t *testing.T) {
	var counting *countingStore
	s := startServer(t, func(c *Config) { c.TopicCacheTTL = time.Minute }, metaWrapper(func(m MetaStore) MetaStore {
		counting = &countingStore{MetaStore: m}
		return counting
	}))
	_, adm := s.clients(t)
	createTopic(t, adm, "cached", 1, nil)
	c := s.dial(t)
	before := counting.lookups.Load()
	const n = 20
	for i := range n {
		c.mustProduce("cached", 0, batchtest.Values(noProducer(1000), strconv.Itoa(i)))
		_, fetched := c.fetch(fetchRequest(1<<20, fetchAt{topic: "cached", offset: int64(i), maxBytes: 1 << 20, epoch: -1}), 11)
		if fetched[0].ErrorCode != 0 || len(fetched[0].RecordBatches) == 0 {
			t.Fatalf("fetch %d: error %d", i, fetched[0].ErrorCode)
		}
	}
	if got := counting.lookups.Load() - before; got > 1 {
		t.Errorf("%d topic lookups in the metastore for %d produce and %d fetch requests, want at most 1", got, n, n)
	}

	// Changes made through this node apply at once, whatever the TTL.
	alters, err := adm.AlterTopicConfigs(testContext(t), []kadm.AlterConfig{{Name: "max.message.bytes", Value: kmsg.StringPtr("100")}}, "cached")
	if err == nil {
		_, err = alters.On("cached", nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	big := batchtest.Values(noProducer(1000), strings.Repeat("y", 200))
	if p := c.produce(9, -1, rawPart{topic: "cached", records: big})[0]; p.ErrorCode != kerr.MessageTooLarge.Code {
		t.Errorf("after lowering max.message.bytes: error %d, want MESSAGE_TOO_LARGE", p.ErrorCode)
	}
	created, err := adm.CreatePartitions(testContext(t), 2, "cached")
	if err == nil {
		err = created["cached"].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	c.mustProduce("cached", 2, batchtest.Values(noProducer(1000), "new partition"))
	deleted, err := adm.DeleteTopics(testContext(t), "cached")
	if err == nil {
		err = deleted["cached"].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	if p := c.produce(9, -1, rawPart{topic: "cached", records: big})[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("after delete: error %d, want UNKNOWN_TOPIC_OR_PARTITION", p.ErrorCode)
	}
	_, fetched := c.fetch(fetchRequest(1<<20, fetchAt{topic: "cached", maxBytes: 1 << 20, epoch: -1}), 11)
	if fetched[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("fetch after delete: error %d, want UNKNOWN_TOPIC_OR_PARTITION", fetched[0].ErrorCode)
	}
}

// TestOldMessageFormatsRefused: Produce v0-v2 and Fetch v0-v3 are
// advertised (librdkafka enables gzip, snappy and lz4 only for brokers whose
// ranges overlap them) but carry message formats Strata does not store, so
// every partition gets UNSUPPORTED_FOR_MESSAGE_FORMAT and nothing is stored.
func TestOldMessageFormatsRefused(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "old", 1, nil)
	c := s.dial(t)
	batch := batchtest.Values(noProducer(1000), "v")
	for v := int16(0); v <= 2; v++ {
		p := c.produce(v, -1, rawPart{topic: "old", records: batch})[0]
		if p.ErrorCode != kerr.UnsupportedForMessageFormat.Code {
			t.Fatalf("produce v%d: error %d, want UNSUPPORTED_FOR_MESSAGE_FORMAT", v, p.ErrorCode)
		}
	}
	for v := int16(0); v <= 3; v++ {
		_, parts := c.fetch(fetchRequest(1<<20, fetchAt{topic: "old", epoch: -1}), v)
		if len(parts) != 1 || parts[0].ErrorCode != kerr.UnsupportedForMessageFormat.Code {
			t.Fatalf("fetch v%d: %+v, want UNSUPPORTED_FOR_MESSAGE_FORMAT", v, parts)
		}
	}
	// Nothing was stored: the first v3+ produce gets offset 0.
	if off := c.mustProduce("old", 0, batch); off != 0 {
		t.Fatalf("after refused old-format produces the first offset is %d, want 0", off)
	}
}

// TestCompactedTopicRefusesKeylessRecords: a topic with
// cleanup.policy=compact accepts keyed records and refuses a batch holding
// a record without a key with INVALID_RECORD, as Kafka does.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "compacted", 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")})
	c := s.dial(t)
	keyed := batchtest.Batch(noProducer(1000), batchtest.Record{Key: []byte("k"), Value: []byte("v")})
	keyless := batchtest.Batch(noProducer(1000), batchtest.Record{Key: []byte("k"), Value: []byte("v")}, batchtest.Record{Value: []byte("no key")})
	p := c.produce(9, -1, rawPart{topic: "compacted", records: keyless})[0]
	if p.ErrorCode != kerr.InvalidRecord.Code {
		t.Fatalf("keyless record on a compacted topic: error %d, want INVALID_RECORD", p.ErrorCode)
	}
	if off := c.mustProduce("compacted", 0, keyed); off != 0 {
		t.Fatalf("keyed record stored at %d, want 0 (the refused batch was stored?)", off)
	}
}

// TestProduceRecordsMustMatchTheirCounts: a batch whose records count,
// lastOffsetDelta and actual records disagree is refused and moves no
// offset. A 102-byte compressed batch claiming 2^31-1 records once moved a
// partition's high watermark by two billion.
func TestProduceRecordsMustMatchTheirCounts(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "counts", 1, nil)
	c := s.dial(t)
	if off := c.mustProduce("counts", 0, batchtest.Values(noProducer(1000), "a", "b")); off != 0 {
		t.Fatalf("first produce at %d", off)
	}
	one := batchtest.Values(noProducer(1000), "only record")
	three := batchtest.Values(noProducer(1000), "record-0", "record-1", "record-2")
	gapped := batchtest.Batch(noProducer(1000), batchtest.Record{Value: []byte("r0")}, batchtest.Record{Value: []byte("r1")})
	// Rewrite the second record's offset delta from 1 to 2 in place: the
	// record's layout is length, attributes, timestamp delta, offset delta.
	rec1 := recordbatch.HeaderSize + 1 + int(gapped[recordbatch.HeaderSize])/2
	if gapped[rec1+3] != 2 { // zigzag 1
		t.Fatalf("unexpected record layout % x", gapped[rec1:])
	}
	gapped[rec1+3] = 4 // zigzag 2
	gapped = batchtest.Reseal(gapped)
	trailing := batchtest.Reseal(append(append([]byte(nil), one...), 0, 0, 0, 0, 0, 0, 0, 0))
	broken := append([]byte(nil), one...)
	broken[recordbatch.HeaderSize+4] = 0x7e // the key length: 63 bytes past the record's end
	broken = batchtest.Reseal(broken)

	cases := []struct {
		name  string
		batch []byte
		want  *kerr.Error
	}{
		{"gzip, one record claiming 2^31-1", batchtest.SetCounts(batchtest.Compress(one, 1), 1<<31-2, 1<<31-1), kerr.InvalidRecord},
		{"zstd, one record claiming 1000", batchtest.SetCounts(batchtest.Compress(one, 4), 999, 1000), kerr.InvalidRecord},
		{"snappy, three records claiming two", batchtest.SetCounts(batchtest.Compress(three, 2), 1, 2), kerr.InvalidRecord},
		{"lz4, three records claiming four", batchtest.SetCounts(batchtest.Compress(three, 3), 3, 4), kerr.InvalidRecord},
		{"uncompressed, three records claiming four", batchtest.SetCounts(three, 3, 4), kerr.InvalidRecord},
		{"uncompressed, three records claiming two", batchtest.SetCounts(three, 1, 2), kerr.InvalidRecord},
		{"offset deltas with a gap", gapped, kerr.InvalidRecord},
		{"bytes after the last record", trailing, kerr.InvalidRecord},
		{"a key longer than its record", broken, kerr.InvalidRecord},
	}
	for _, tc := range cases {
		if _, err := recordbatch.Check(tc.batch); err != nil {
			t.Fatalf("%s: the header checks refuse it already: %v", tc.name, err)
		}
		p := c.produce(9, -1, rawPart{topic: "counts", records: tc.batch})[0]
		if p.ErrorCode != tc.want.Code {
			t.Errorf("%s: error %v, want %v", tc.name, kerr.ErrorForCode(p.ErrorCode), tc.want)
		}
	}
	// None of them took an offset: the next good batch follows the first.
	if off := c.mustProduce("counts", 0, batchtest.Compress(three, 4)); off != 2 {
		t.Fatalf("a good batch after the refused ones got offset %d, want 2", off)
	}
	_, fetched := c.fetch(fetchRequest(1<<20, fetchAt{topic: "counts", maxBytes: 1 << 20, epoch: -1}), 11)
	if hw := fetched[0].HighWatermark; hw != 5 {
		t.Fatalf("high watermark %d, want 5", hw)
	}
}

// TestProduceKeyCheckMemoryBounded: on a compacted topic every record's
// key is checked. A small compressed batch claiming millions of records
// once made the check allocate an entry per claimed record before reading
// any: 8 KiB asked for gigabytes. The check must cost memory in proportion
// to a bounded window, not to what a batch claims or decompresses to.
func TestProduceKeyCheckMemoryBounded(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "bombs", 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")})
	c := s.dial(t)
	const claimed = 1 << 20
	// One keyed record whose value is 8 MiB of zeros: a few KiB
	// compressed, and a records count the decompressed size allows. The
	// check used to allocate about 110 MiB for it.
	big := batchtest.Batch(noProducer(1000), batchtest.Record{Key: []byte("k"), Value: make([]byte, 8<<20)})
	for _, codec := range []int8{1, 3, 4} {
		bomb := batchtest.SetCounts(batchtest.Compress(big, codec), claimed-1, claimed)
		if len(bomb) > 1<<20 {
			t.Fatalf("codec %d: the bomb is %d bytes", codec, len(bomb))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		p := c.produce(9, -1, rawPart{topic: "bombs", records: bomb})[0]
		runtime.ReadMemStats(&after)
		if p.ErrorCode != kerr.InvalidRecord.Code {
			t.Errorf("codec %d: error %v, want INVALID_RECORD", codec, kerr.ErrorForCode(p.ErrorCode))
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 24<<20 {
			t.Errorf("codec %d: checking a %d-byte batch allocated %d MiB", codec, len(bomb), alloc>>20)
		}
	}
	// The same record with its true count is accepted.
	if off := c.mustProduce("bombs", 0, batchtest.Compress(big, 4)); off != 0 {
		t.Fatalf("the honest batch got offset %d", off)
	}
}
