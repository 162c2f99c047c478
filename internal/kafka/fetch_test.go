package kafka

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
)

// TestFetchMaxBytes checks the size limits through hand-built requests:
// a partition limit below the first batch still returns that whole batch,
// the response limit lets only the first partition with data overflow, is
// shared evenly, then what is left goes to partitions with more, and
// a fetch from inside a batch returns the whole batch.
func TestFetchMaxBytes(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "sizes", 2, nil)
	c := s.dial(t)

	// Partition 0: three batches of one 4000-byte record each. Partition
	// 1: two batches of three records.
	var p0 [][]byte
	for i := range 3 {
		b := batchtest.Batch(noProducer(1000), batchtest.Record{Value: bytes.Repeat([]byte{byte('a' + i)}, 4000)})
		p0 = append(p0, b)
		if off := c.mustProduce("sizes", 0, b); off != int64(i) {
			t.Fatalf("batch %d at offset %d", i, off)
		}
	}
	size := len(p0[0])
	for i := range 2 {
		c.mustProduce("sizes", 1, batchtest.Values(noProducer(1000), "x"+strconv.Itoa(i), "y", "z"))
	}
	at := func(p int32, off int64, maxBytes int32) fetchAt {
		return fetchAt{topic: "sizes", partition: p, offset: off, maxBytes: maxBytes, epoch: -1}
	}
	batchesOf := func(p kmsg.FetchResponseTopicPartition) [][]byte {
		t.Helper()
		if p.ErrorCode != 0 {
			t.Fatalf("partition %d: error %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
		return splitBatches(t, p.RecordBatches)
	}

	// Partition limit below the first batch: that batch, whole.
	_, got := c.fetch(fetchRequest(1<<20, at(0, 0, 100)), 11)
	if bs := batchesOf(got[0]); len(bs) != 1 || len(bs[0]) != size {
		t.Fatalf("partition max 100: %d batches, want 1 of %d bytes", len(bs), size)
	}
	// Partition limit of two batches and a bit.
	_, got = c.fetch(fetchRequest(1<<20, at(0, 0, int32(2*size+10))), 11)
	if bs := batchesOf(got[0]); len(bs) != 2 {
		t.Fatalf("partition max of two batches: %d batches", len(bs))
	}
	// Response limit below one batch: the first partition with data
	// returns one batch, the next nothing but its offsets.
	_, got = c.fetch(fetchRequest(100, at(0, 0, 1<<20), at(1, 0, 1<<20)), 11)
	if bs := batchesOf(got[0]); len(bs) != 1 || len(bs[0]) != size {
		t.Fatalf("response max 100: partition 0 has %d batches", len(bs))
	}
	if bs := batchesOf(got[1]); len(bs) != 0 || got[1].HighWatermark != 6 || got[1].LogStartOffset != 0 || got[1].LastStableOffset != 6 {
		t.Fatalf("response max 100: partition 1 has %d batches, offsets %d/%d/%d", len(bs), got[1].HighWatermark, got[1].LastStableOffset, got[1].LogStartOffset)
	}
	// An empty partition first does not count as data.
	_, got = c.fetch(fetchRequest(100, at(0, 3, 1<<20), at(1, 0, 1<<20)), 11)
	if bs := batchesOf(got[1]); len(bs) != 1 {
		t.Fatalf("first partition empty: partition 1 has %d batches, want 1", len(bs))
	}
	// Response limit of two large batches and a bit, shared evenly: one
	// large batch of partition 0 and both small ones of partition 1; the
	// second large batch no longer fits.
	_, got = c.fetch(fetchRequest(int32(2*size+10), at(0, 0, 1<<20), at(1, 0, 1<<20)), 11)
	if n0, n1 := len(batchesOf(got[0])), len(batchesOf(got[1])); n0 != 1 || n1 != 2 {
		t.Fatalf("response max of two batches: %d and %d batches, want 1 and 2", n0, n1)
	}
	// Everything when it fits.
	_, got = c.fetch(fetchRequest(1<<20, at(0, 0, 1<<20), at(1, 0, 1<<20)), 11)
	if n0, n1 := len(batchesOf(got[0])), len(batchesOf(got[1])); n0 != 3 || n1 != 2 {
		t.Fatalf("no limit: %d and %d batches, want 3 and 2", n0, n1)
	}
	// Partition 1 has nothing more: the room it leaves goes to partition
	// 0, beyond its even share of one and a half batches.
	_, got = c.fetch(fetchRequest(int32(3*size+10), at(0, 0, 1<<20), at(1, 6, 1<<20)), 11)
	if n0, n1 := len(batchesOf(got[0])), len(batchesOf(got[1])); n0 != 3 || n1 != 0 {
		t.Fatalf("room left by an empty partition: %d and %d batches, want 3 and 0", n0, n1)
	}
	// Partition 1's share, then the whole batches that fit.
	_, got = c.fetch(fetchRequest(int32(2*size+10), at(1, 0, 1<<20), at(0, 0, 1<<20)), 11)
	if n0, n1 := len(batchesOf(got[1])), len(batchesOf(got[0])); n0 != 1 || n1 != 2 {
		t.Fatalf("partition 1 first: %d and %d batches, want 1 and 2", n0, n1)
	}
	// From inside a batch: the whole batch, base offset before the fetch
	// offset.
	_, got = c.fetch(fetchRequest(1<<20, at(1, 4, 1<<20)), 11)
	recs := decodeFetched(t, got[0].RecordBatches)
	if len(recs) != 3 || recs[0].offset != 3 || recs[0].value != "x1" {
		t.Fatalf("fetch at 4: records %+v, want the batch at 3", recs)
	}
	// Records carry what was produced.
	_, got = c.fetch(fetchRequest(1<<20, at(0, 2, 1<<20)), 11)
	if bs := batchesOf(got[0]); len(bs) != 1 || !bytes.Equal(bs[0][21:], p0[2][21:]) {
		t.Fatalf("batch 2 differs from what was produced")
	}
}

// TestFetchErrors covers lookups by topic id (v13+) and by name, and the
// per-partition and session errors.
func TestFetchErrors(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	id := createTopic(t, adm, "errs", 1, nil)
	c := s.dial(t)
	c.mustProduce("errs", 0, batchtest.Values(noProducer(1000), "a", "b"))
	c.mustProduce("errs", 0, batchtest.Values(noProducer(1000), "c"))

	// By id and by name, at every version.
	for v := int16(4); v <= 18; v++ {
		at := fetchAt{topic: "errs", partition: 0, offset: 0, maxBytes: 1 << 20, epoch: -1}
		if v >= 13 {
			at.topic, at.topicID = "", id
		}
		resp, got := c.fetch(fetchRequest(1<<20, at), v)
		if resp.ErrorCode != 0 || resp.SessionID != 0 || len(got) != 1 {
			t.Fatalf("v%d: error %d session %d, %d partitions", v, resp.ErrorCode, resp.SessionID, len(got))
		}
		if v >= 13 && resp.Topics[0].TopicID != id {
			t.Errorf("v%d: topic id %x, want %s", v, resp.Topics[0].TopicID, id)
		}
		p := got[0]
		wantStart := int64(0)
		if v < 5 {
			wantStart = -1 // not in the response before v5
		}
		if p.ErrorCode != 0 || p.HighWatermark != 3 || p.LogStartOffset != wantStart || p.LastStableOffset != 3 {
			t.Errorf("v%d: error %d offsets %d/%d/%d", v, p.ErrorCode, p.HighWatermark, p.LastStableOffset, p.LogStartOffset)
		}
		if v >= 11 && p.PreferredReadReplica != -1 {
			t.Errorf("v%d: preferred read replica %d", v, p.PreferredReadReplica)
		}
		if recs := decodeFetched(t, p.RecordBatches); len(recs) != 3 || recs[2].value != "c" {
			t.Errorf("v%d: records %+v", v, recs)
		}
	}

	cases := []struct {
		name    string
		at      fetchAt
		version int16
		want    *kerr.Error
	}{
		{"unknown topic", fetchAt{topic: "nope"}, 12, kerr.UnknownTopicOrPartition},
		{"unknown topic id", fetchAt{topicID: uuid.New()}, 13, kerr.UnknownTopicID},
		{"unknown partition", fetchAt{topic: "errs", partition: 4}, 12, kerr.UnknownTopicOrPartition},
		{"negative partition", fetchAt{topic: "errs", partition: -1}, 12, kerr.UnknownTopicOrPartition},
		{"offset above the high watermark", fetchAt{topic: "errs", offset: 4}, 12, kerr.OffsetOutOfRange},
		{"negative offset", fetchAt{topic: "errs", offset: -1}, 12, kerr.OffsetOutOfRange},
		{"newer leader epoch", fetchAt{topic: "errs", epoch: 3}, 12, kerr.UnknownLeaderEpoch},
		{"newer leader epoch, by id", fetchAt{topicID: id, epoch: 3}, 13, kerr.UnknownLeaderEpoch},
		{"current leader epoch", fetchAt{topic: "errs", epoch: 0}, 12, nil},
	}
	for _, tc := range cases {
		tc.at.maxBytes = 1 << 20
		if tc.at.epoch == 0 && tc.want != nil {
			tc.at.epoch = -1
		}
		_, got := c.fetch(fetchRequest(1<<20, tc.at), tc.version)
		p := got[0]
		if p.ErrorCode != codeOf(tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, kerr.ErrorForCode(p.ErrorCode), tc.want)
			continue
		}
		if tc.want == kerr.OffsetOutOfRange && (p.HighWatermark != 3 || p.LogStartOffset != 0) {
			t.Errorf("%s: high watermark %d log start %d, want 3 and 0", tc.name, p.HighWatermark, p.LogStartOffset)
		}
		if p.RecordBatches == nil || tc.want != nil && len(p.RecordBatches) != 0 {
			t.Errorf("%s: records %v, want empty and not null", tc.name, p.RecordBatches)
		}
	}

	// An incremental fetch for a session we never created.
	req := fetchRequest(1<<20, fetchAt{topic: "errs", maxBytes: 1 << 20, epoch: -1})
	req.SessionID, req.SessionEpoch = 12345, 1
	if resp, _ := c.fetch(req, 12); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 {
		t.Errorf("incremental fetch: error %d, %d topics, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode, len(resp.Topics))
	}
	// A request to create a session gets a full answer and a session
	// (fetch_session_test.go tests what follows).
	req.SessionID, req.SessionEpoch = 0, 0
	if resp, got := c.fetch(req, 12); resp.ErrorCode != 0 || resp.SessionID == 0 || len(got) != 1 || len(got[0].RecordBatches) == 0 {
		t.Errorf("session request: error %d session %d", resp.ErrorCode, resp.SessionID)
	}
	// read_committed reads the same records.
	req.IsolationLevel = 1
	if _, got := c.fetch(req, 12); got[0].LastStableOffset != 3 || len(decodeFetched(t, got[0].RecordBatches)) != 3 {
		t.Errorf("read_committed: last stable offset %d", got[0].LastStableOffset)
	}
}

// TestFetchLongPoll: a consumer waiting at the end gets a record produced
// later, soon after its commit; MaxWait is honoured when nothing comes;
// MinBytes makes the fetch wait for more.
func TestFetchLongPoll(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)
	createTopic(t, adm, "poll", 1, nil)
	c := s.dial(t)

	// Nothing comes: MaxWait passes, the answer is empty.
	req := fetchRequest(1<<20, fetchAt{topic: "poll", maxBytes: 1 << 20, epoch: -1})
	req.MaxWaitMillis, req.MinBytes = 300, 1
	start := time.Now()
	_, got := c.fetch(req, 12)
	waited := time.Since(start)
	if got[0].ErrorCode != 0 || len(got[0].RecordBatches) != 0 || got[0].HighWatermark != 0 {
		t.Fatalf("empty poll: error %d, %d bytes", got[0].ErrorCode, len(got[0].RecordBatches))
	}
	if waited < 290*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("empty poll answered after %s, max wait 300ms", waited)
	}
	t.Logf("empty poll with max wait 300ms answered after %s", waited)

	// A franz-go consumer waiting at the end.
	cons, _ := s.clients(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"poll": {0: kgo.NewOffset().AtEnd()}}),
		kgo.FetchMaxWait(5*time.Second))
	prod, _ := s.clients(t, kgo.DefaultProduceTopic("poll"))
	received := make(chan time.Time, 1)
	go func() {
		for {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			if fs.NumRecords() > 0 {
				received <- time.Now()
				return
			}
		}
	}()
	// Produce only once the consumer has resolved where the end is.
	eventually(t, 10*time.Second, "consumer listing offsets", func() bool { return s.counter("ListOffsets", resultOK) > 0 })
	produced := time.Now()
	if err := prod.ProduceSync(ctx, kgo.StringRecord("wake up")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	acked := time.Now()
	select {
	case at := <-received:
		t.Logf("record produced, acked after %s, consumed after %s (flush interval %s)", acked.Sub(produced), at.Sub(produced), testFlushInterval)
		if at.Sub(acked) > 2*time.Second {
			t.Errorf("waiting consumer got the record %s after its ack", at.Sub(acked))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiting consumer never got the record")
	}

	// MinBytes above what there is: the fetch waits MaxWait, then answers
	// with what it has.
	req = fetchRequest(1<<20, fetchAt{topic: "poll", maxBytes: 1 << 20, epoch: -1})
	req.MaxWaitMillis, req.MinBytes = 300, 1<<20
	start = time.Now()
	_, got = c.fetch(req, 12)
	waited = time.Since(start)
	if recs := decodeFetched(t, got[0].RecordBatches); len(recs) != 1 || recs[0].value != "wake up" {
		t.Fatalf("min bytes poll: records %+v", recs)
	}
	if waited < 290*time.Millisecond {
		t.Fatalf("min bytes poll answered after %s, before max wait", waited)
	}

	// A raw long poll woken by a produce on the same connection: the
	// produce is read and committed while the fetch waits, and the fetch
	// is answered first, before MaxWait.
	req = fetchRequest(1<<20, fetchAt{topic: "poll", offset: 1, maxBytes: 1 << 20, epoch: -1})
	req.MaxWaitMillis, req.MinBytes = 10000, 1
	req.SetVersion(12)
	c.write(encodeRequest(req, 31))
	start = time.Now()
	produce := produceRequest(-1, rawPart{topic: "poll", records: batchtest.Values(noProducer(1000), "later")})
	c.send(produce, 9, 32)
	resp := c.recv(req, 31).(*kmsg.FetchResponse)
	if recs := decodeFetched(t, resp.Topics[0].Partitions[0].RecordBatches); len(recs) != 1 || recs[0].value != "later" {
		t.Fatalf("long poll: records %+v", recs)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("long poll answered after %s", took)
	}
	t.Logf("long poll answered %s after the produce was sent", time.Since(start))
	if p := c.recv(produce, 32).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("produce behind the long poll: error %d offset %d", p.ErrorCode, p.BaseOffset)
	}
}

// TestFetchManyPartitionsNoRoom: once the reads of a fetch have found
// MaxBytes, the partitions left are not read, but the response still
// reports their offsets; and a fetch that left records out answers at once,
// whatever its MinBytes.
func TestFetchManyPartitionsNoRoom(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	const n = 20
	createTopic(t, adm, "many", n, nil)
	c := s.dial(t)
	for p := range int32(n) {
		c.mustProduce("many", p, batchtest.Batch(noProducer(1000), batchtest.Record{Value: bytes.Repeat([]byte{'m'}, 4000)}))
	}
	var at []fetchAt
	for p := range int32(n) {
		at = append(at, fetchAt{topic: "many", partition: p, maxBytes: 1 << 20, epoch: -1})
	}
	req := fetchRequest(10000, at...)
	req.MinBytes, req.MaxWaitMillis = 1<<20, 5000
	start := time.Now()
	_, got := c.fetch(req, 11)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a fetch that left records out waited %v for MinBytes", took)
	}
	var batches int
	for _, p := range got {
		if p.ErrorCode != 0 || p.HighWatermark != 1 || p.LogStartOffset != 0 {
			t.Fatalf("partition %d: error %d, high watermark %d, log start %d", p.Partition, p.ErrorCode, p.HighWatermark, p.LogStartOffset)
		}
		batches += len(splitBatches(t, p.RecordBatches))
	}
	if batches != 2 {
		t.Fatalf("%d batches of 4 KB within 10,000 bytes, want 2", batches)
	}
}
