package e2e

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// logEntry is one offset of a partition's log as the broker stores it: a
// record, or a transaction marker.
type logEntry struct {
	Offset        int64
	ProducerID    int64
	Transactional bool
	Control       bool
	Commit        bool // a commit marker (Control)
	Value         string
}

// rawLog reads a partition from offset 0 to its high watermark with plain
// Fetch requests at read_uncommitted, and returns every offset of it,
// markers included: what a client's read_committed logic works from.
func rawLog(t testing.TB, addr, topic string, partition int32) []logEntry {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close() // tests call this in loops: no client per call left open
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topics, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil || topics[topic].Err != nil {
		t.Fatalf("metadata of %s: %v %v", topic, err, topics[topic].Err)
	}
	topicID := topics[topic].ID
	var out []logEntry
	var offset int64
	for {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 10
		req.MaxBytes = 16 << 20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 8<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("fetch %s/%d at %d: %v", topic, partition, offset, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch %s/%d: %d topics in the response", topic, partition, len(resp.Topics))
		}
		p := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			t.Fatalf("fetch %s/%d at %d: %v", topic, partition, offset, err)
		}
		if offset >= p.HighWatermark {
			return out
		}
		b := p.RecordBatches
		before := offset
		for len(b) >= 61 {
			var batch kmsg.RecordBatch
			size := int(binary.BigEndian.Uint32(b[8:])) + 12
			if size > len(b) {
				break
			}
			if err := batch.ReadFrom(b[:size]); err != nil {
				t.Fatalf("fetch %s/%d: batch at %d: %v", topic, partition, offset, err)
			}
			b = b[size:]
			if batch.FirstOffset+int64(batch.LastOffsetDelta) < offset {
				continue
			}
			if batch.Attributes&0x07 != 0 {
				t.Fatalf("fetch %s/%d: compressed batch; the producers of these tests do not compress", topic, partition)
			}
			txn := batch.Attributes&0x10 != 0
			control := batch.Attributes&0x20 != 0
			recs := batch.Records
			for i := int32(0); i < batch.NumRecords; i++ {
				length, n := binary.Varint(recs)
				if n <= 0 || int(length) > len(recs)-n {
					t.Fatalf("fetch %s/%d: record %d of the batch at %d does not parse", topic, partition, i, batch.FirstOffset)
				}
				var r kmsg.Record
				if err := r.ReadFrom(recs[:n+int(length)]); err != nil {
					t.Fatalf("fetch %s/%d: record %d of the batch at %d: %v", topic, partition, i, batch.FirstOffset, err)
				}
				recs = recs[n+int(length):]
				e := logEntry{Offset: batch.FirstOffset + int64(r.OffsetDelta), ProducerID: batch.ProducerID, Transactional: txn, Control: control, Value: string(r.Value)}
				if control {
					if len(r.Key) < 4 {
						t.Fatalf("fetch %s/%d: control record at %d with a %d-byte key", topic, partition, e.Offset, len(r.Key))
					}
					e.Commit = binary.BigEndian.Uint16(r.Key[2:]) == 1
				}
				if e.Offset >= offset {
					out = append(out, e)
				}
			}
			offset = batch.FirstOffset + int64(batch.LastOffsetDelta) + 1
		}
		if offset == before {
			t.Fatalf("fetch %s/%d at %d: no progress below the high watermark %d", topic, partition, offset, p.HighWatermark)
		}
	}
}

// committedValues are the values of a partition's log that a
// read_committed consumer must see, worked out from the markers: records
// of no transaction, and records of transactions whose marker is a
// commit. open counts the records of transactions with no marker yet.
func committedValues(log []logEntry) (committed []string, aborted, open int) {
	pending := map[int64][]string{}
	for _, e := range log {
		switch {
		case e.Control:
			if e.Commit {
				committed = append(committed, pending[e.ProducerID]...)
			} else {
				aborted += len(pending[e.ProducerID])
			}
			delete(pending, e.ProducerID)
		case e.Transactional:
			pending[e.ProducerID] = append(pending[e.ProducerID], e.Value)
		default:
			committed = append(committed, e.Value)
		}
	}
	for _, vs := range pending {
		open += len(vs)
	}
	return committed, aborted, open
}

// readCommitted reads every partition of topic with a read_committed
// franz-go consumer up to the high watermarks listed when it begins, and
// returns the values it sees by partition. A partition's end is known
// from its raw log: the last record offset below the high watermark.
func readCommitted(t testing.TB, addr, topic string, logs map[int32][]logEntry) map[int32][]string {
	t.Helper()
	parts := map[int32]kgo.Offset{}
	want := map[int32]int{}
	for p, log := range logs {
		parts[p] = kgo.NewOffset().AtStart()
		c, _, _ := committedValues(log)
		want[p] = len(c)
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond))
	got := map[int32][]string{}
	done := func() bool {
		for p, n := range want {
			if len(got[p]) < n {
				return false
			}
		}
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Errorf("read_committed %s: short after 30s: got %d values, want %v", topic, len(got), want)
			return got
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("read_committed %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], string(r.Value)) })
	}
	return got
}
