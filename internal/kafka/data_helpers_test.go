package kafka

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
	"github.com/stratalog/strata/internal/testenv"
)

// createTopic creates a topic through the admin client and returns its id.
func createTopic(t testing.TB, adm *kadm.Client, name string, partitions int32, configs map[string]*string) uuid.UUID {
	t.Helper()
	resp, err := adm.CreateTopic(testContext(t), partitions, -1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return uuid.UUID(resp.ID)
}

// rawPart is one partition's records in a hand-built Produce request.
type rawPart struct {
	topic     string
	topicID   uuid.UUID // v13+
	partition int32
	records   []byte
}

// produceRequest builds a Produce request; partitions of one topic next to
// each other share its entry.
func produceRequest(acks int16, parts ...rawPart) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 10000
	for _, p := range parts {
		n := len(req.Topics)
		if n == 0 || req.Topics[n-1].Topic != p.topic || req.Topics[n-1].TopicID != p.topicID {
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = p.topic
			rt.TopicID = p.topicID
			req.Topics = append(req.Topics, rt)
			n++
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p.partition
		rp.Records = p.records
		req.Topics[n-1].Partitions = append(req.Topics[n-1].Partitions, rp)
	}
	return req
}

// produce sends one Produce request at version v and returns the response
// partitions in request order.
func (c *rawConn) produce(v int16, acks int16, parts ...rawPart) []kmsg.ProduceResponseTopicPartition {
	c.t.Helper()
	resp := c.roundTrip(produceRequest(acks, parts...), v).(*kmsg.ProduceResponse)
	var out []kmsg.ProduceResponseTopicPartition
	for _, rt := range resp.Topics {
		out = append(out, rt.Partitions...)
	}
	if len(out) != len(parts) {
		c.t.Fatalf("produce: %d partitions answered, %d sent", len(out), len(parts))
	}
	return out
}

// mustProduce produces one batch and fails the test on an error; it
// returns the base offset.
func (c *rawConn) mustProduce(topic string, partition int32, batch []byte) int64 {
	c.t.Helper()
	p := c.produce(9, -1, rawPart{topic: topic, partition: partition, records: batch})[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		c.t.Fatalf("produce to %s/%d: %v", topic, partition, err)
	}
	return p.BaseOffset
}

// fetchPart names one partition of a hand-built Fetch request.
type fetchAt struct {
	topic     string
	topicID   uuid.UUID
	partition int32
	offset    int64
	maxBytes  int32
	epoch     int32 // CurrentLeaderEpoch; -1 for none
}

// fetchRequest builds a Fetch request that answers at once.
func fetchRequest(maxBytes int32, parts ...fetchAt) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 0
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1
	for _, p := range parts {
		n := len(req.Topics)
		if n == 0 || req.Topics[n-1].Topic != p.topic || req.Topics[n-1].TopicID != p.topicID {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = p.topic
			rt.TopicID = p.topicID
			req.Topics = append(req.Topics, rt)
			n++
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.partition
		rp.FetchOffset = p.offset
		rp.PartitionMaxBytes = p.maxBytes
		rp.CurrentLeaderEpoch = p.epoch
		rp.LogStartOffset = -1
		req.Topics[n-1].Partitions = append(req.Topics[n-1].Partitions, rp)
	}
	return req
}

// fetchParts sends a Fetch at version v and returns the response and its
// partitions in request order.
func (c *rawConn) fetch(req *kmsg.FetchRequest, v int16) (*kmsg.FetchResponse, []kmsg.FetchResponseTopicPartition) {
	c.t.Helper()
	resp := c.roundTrip(req, v).(*kmsg.FetchResponse)
	var out []kmsg.FetchResponseTopicPartition
	for _, rt := range resp.Topics {
		out = append(out, rt.Partitions...)
	}
	return resp, out
}

// splitBatches splits a records field into its batches, checking that it
// holds whole batches only.
func splitBatches(t testing.TB, records []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(records) > 0 {
		if len(records) < 12 {
			t.Fatalf("%d trailing bytes", len(records))
		}
		size := int(binary.BigEndian.Uint32(records[8:])) + 12
		if size > len(records) {
			t.Fatalf("partial batch: %d of %d bytes", len(records), size)
		}
		out = append(out, records[:size])
		records = records[size:]
	}
	return out
}

// fetchedRecords decodes the records of a fetched records field, with
// their absolute offsets.
type fetchedRecord struct {
	offset    int64
	timestamp int64
	key       string
	value     string
}

func decodeFetched(t testing.TB, records []byte) []fetchedRecord {
	t.Helper()
	var out []fetchedRecord
	for _, b := range splitBatches(t, records) {
		hdr, recs := batchtest.Decode(b)
		for _, r := range recs {
			out = append(out, fetchedRecord{
				offset:    hdr.FirstOffset + int64(r.OffsetDelta),
				timestamp: hdr.FirstTimestamp + r.TimestampDelta64,
				key:       string(r.Key),
				value:     string(r.Value),
			})
		}
	}
	return out
}

// withAttributes returns a copy of batch with its attributes replaced and
// the CRC recomputed.
func withAttributes(batch []byte, attrs int16) []byte {
	b := append([]byte(nil), batch...)
	binary.BigEndian.PutUint16(b[21:], uint16(attrs))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// eventually polls cond until it holds or the time is up.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, within, what, cond)
}

// noProducer are the batch options of a non-idempotent producer, with a
// fixed timestamp.
func noProducer(ts int64) batchtest.Options {
	o := batchtest.NoProducer
	o.BaseTimestamp = ts
	return o
}

// codeOf is the wire code of a Kafka error, 0 for none.
func codeOf(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}
