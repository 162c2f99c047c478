package kafka

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/batchtest"
)

// listOffsetsRequest asks for one timestamp of each partition given.
func listOffsetsRequest(topic string, ts int64, epoch int32, partitions ...int32) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = ts
		rp.CurrentLeaderEpoch = epoch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func (c *rawConn) listOffset(topic string, partition int32, ts int64, v int16) kmsg.ListOffsetsResponseTopicPartition {
	c.t.Helper()
	resp := c.roundTrip(listOffsetsRequest(topic, ts, -1, partition), v).(*kmsg.ListOffsetsResponse)
	return resp.Topics[0].Partitions[0]
}

// TestListOffsets: earliest, latest, by timestamp, max timestamp, in the
// current and the old (v0) forms, and the errors.
func TestListOffsets(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)
	createTopic(t, adm, "times", 2, nil)
	c := s.dial(t)
	// Offsets and timestamps: 0:1000 1:1500 | 2:5000 | 3:3000 4:4000, in
	// three batches, each its own chunk.
	c.mustProduce("times", 0, batchtest.Batch(noProducer(1000), batchtest.Record{Value: []byte("a")}, batchtest.Record{Value: []byte("b"), Timestamp: 1500}))
	c.mustProduce("times", 0, batchtest.Batch(noProducer(5000), batchtest.Record{Value: []byte("c")}))
	c.mustProduce("times", 0, batchtest.Batch(noProducer(3000), batchtest.Record{Value: []byte("d")}, batchtest.Record{Value: []byte("e"), Timestamp: 4000}))

	cases := []struct {
		ts         int64
		min        int16 // lowest version with this meaning
		offset, at int64
	}{
		{-1, 0, 5, -1},
		{-2, 0, 0, -1},
		{-3, 7, 2, 5000},
		{-4, 8, 0, -1},
		{-5, 9, -1, -1},
		{-6, 11, -1, -1},
		{0, 0, 0, 1000},
		{1200, 0, 1, 1500},
		{2000, 0, 2, 5000},
		{4500, 0, 2, 5000},
		{5000, 0, 2, 5000},
		{5001, 0, -1, -1},
	}
	for _, v := range []int16{0, 1, 4, 7, 11} {
		for _, tc := range cases {
			if v < tc.min {
				continue
			}
			p := c.listOffset("times", 0, tc.ts, v)
			if p.ErrorCode != 0 {
				t.Errorf("v%d ts %d: error %v", v, tc.ts, kerr.ErrorForCode(p.ErrorCode))
				continue
			}
			if v == 0 {
				want := []int64{tc.offset}
				if tc.offset < 0 {
					want = nil
				}
				if len(p.OldStyleOffsets) != len(want) || len(want) == 1 && p.OldStyleOffsets[0] != want[0] {
					t.Errorf("v0 ts %d: offsets %v, want %v", tc.ts, p.OldStyleOffsets, want)
				}
				continue
			}
			if p.Offset != tc.offset || p.Timestamp != tc.at {
				t.Errorf("v%d ts %d: offset %d timestamp %d, want %d and %d", v, tc.ts, p.Offset, p.Timestamp, tc.offset, tc.at)
			}
			wantEpoch := int32(0)
			if tc.offset < 0 || v < 4 {
				wantEpoch = -1
			}
			if p.LeaderEpoch != wantEpoch {
				t.Errorf("v%d ts %d: leader epoch %d, want %d", v, tc.ts, p.LeaderEpoch, wantEpoch)
			}
		}
	}

	// The empty partition.
	for _, ts := range []int64{-1, -2, -3, 0} {
		p := c.listOffset("times", 1, ts, 7)
		want := int64(0)
		if ts == -3 || ts == 0 {
			want = -1
		}
		if p.ErrorCode != 0 || p.Offset != want {
			t.Errorf("empty partition ts %d: error %d offset %d, want %d", ts, p.ErrorCode, p.Offset, want)
		}
	}

	// Errors.
	if p := c.listOffset("nope", 0, -1, 7); p.ErrorCode != kerr.UnknownTopicOrPartition.Code || p.Offset != -1 {
		t.Errorf("unknown topic: error %d offset %d", p.ErrorCode, p.Offset)
	}
	if p := c.listOffset("times", 5, -1, 7); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown partition: error %d", p.ErrorCode)
	}
	resp := c.roundTrip(listOffsetsRequest("times", -1, 4, 0), 7).(*kmsg.ListOffsetsResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("newer leader epoch: error %d, want UNKNOWN_LEADER_EPOCH", p.ErrorCode)
	}
	resp = c.roundTrip(listOffsetsRequest("times", -1, 0, 0), 7).(*kmsg.ListOffsetsResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 5 {
		t.Errorf("current leader epoch: error %d offset %d", p.ErrorCode, p.Offset)
	}

	// What kadm reports.
	ends, err := adm.ListEndOffsets(ctx, "times")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("times", 0); o.Err != nil || o.Offset != 5 {
		t.Errorf("kadm end offset %+v", o)
	}
	maxTS, err := adm.ListMaxTimestampOffsets(ctx, "times")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := maxTS.Lookup("times", 0); o.Err != nil || o.Offset != 2 || o.Timestamp != 5000 {
		t.Errorf("kadm max timestamp offset %+v", o)
	}
}

// TestDeleteRecords: the log start offset moves, ListOffsets earliest
// follows it, a fetch below it is OFFSET_OUT_OF_RANGE, and produce answers
// report it.
func TestDeleteRecords(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	ctx := testContext(t)
	createTopic(t, adm, "trim", 2, nil)
	c := s.dial(t)
	for i := range 5 {
		c.mustProduce("trim", 0, batchtest.Values(noProducer(1000), "a", "b"))
		_ = i
	}
	// Read it once, so that the reader has the partition cached.
	if _, got := c.fetch(fetchRequest(1<<20, fetchAt{topic: "trim", maxBytes: 1 << 20, epoch: -1}), 12); got[0].HighWatermark != 10 {
		t.Fatalf("high watermark %d", got[0].HighWatermark)
	}

	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "trim", Partition: 0, At: 4})
	deleted, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := deleted.Lookup("trim", 0); d.Err != nil || d.LowWatermark != 4 {
		t.Fatalf("delete records to 4: %+v", d)
	}
	if p := c.listOffset("trim", 0, -2, 7); p.Offset != 4 {
		t.Errorf("earliest after delete: %d, want 4", p.Offset)
	}
	// The reader learns of the new log start within its metadata TTL.
	eventually(t, 5*time.Second, "fetch below the log start refused", func() bool {
		_, got := c.fetch(fetchRequest(1<<20, fetchAt{topic: "trim", maxBytes: 1 << 20, epoch: -1}), 12)
		return got[0].ErrorCode == kerr.OffsetOutOfRange.Code && got[0].LogStartOffset == 4 && got[0].HighWatermark == 10
	})
	_, got := c.fetch(fetchRequest(1<<20, fetchAt{topic: "trim", offset: 4, maxBytes: 1 << 20, epoch: -1}), 12)
	if recs := decodeFetched(t, got[0].RecordBatches); got[0].ErrorCode != 0 || len(recs) != 6 || recs[0].offset != 4 {
		t.Errorf("fetch at the log start: error %d, records %+v", got[0].ErrorCode, recs)
	}
	p := c.produce(9, -1, rawPart{topic: "trim", records: batchtest.Values(noProducer(1000), "c")})[0]
	if p.ErrorCode != 0 || p.BaseOffset != 10 || p.LogStartOffset != 4 {
		t.Errorf("produce after delete: error %d base %d log start %d", p.ErrorCode, p.BaseOffset, p.LogStartOffset)
	}

	// Raw requests for the rest.
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = "trim"
	for _, po := range [][2]int64{{0, 2}, {0, 12}, {0, -2}, {1, -1}, {7, 0}, {0, -1}} {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = int32(po[0]), po[1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	unknown := kmsg.NewDeleteRecordsRequestTopic()
	unknown.Topic = "nope"
	unknown.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 1}}
	req.Topics = append(req.Topics, unknown)
	resp := c.roundTrip(req, 2).(*kmsg.DeleteRecordsResponse)
	want := []struct {
		err *kerr.Error
		low int64
	}{
		{nil, 4},                           // never moves back
		{kerr.OffsetOutOfRange, -1},        // above the high watermark
		{kerr.OffsetOutOfRange, -1},        // below -1
		{nil, 0},                           // the empty partition's high watermark
		{kerr.UnknownTopicOrPartition, -1}, // no such partition
		{nil, 11},                          // -1: the high watermark
		{kerr.UnknownTopicOrPartition, -1}, // no such topic
	}
	var gotParts []kmsg.DeleteRecordsResponseTopicPartition
	for _, rt := range resp.Topics {
		gotParts = append(gotParts, rt.Partitions...)
	}
	for i, w := range want {
		if gotParts[i].ErrorCode != codeOf(w.err) || gotParts[i].LowWatermark != w.low {
			t.Errorf("delete %d: error %v low watermark %d, want %v and %d", i, kerr.ErrorForCode(gotParts[i].ErrorCode), gotParts[i].LowWatermark, w.err, w.low)
		}
	}
	if p := c.listOffset("trim", 0, -3, 7); p.ErrorCode != 0 || p.Offset != -1 {
		t.Errorf("max timestamp of an emptied partition: error %d offset %d, want -1", p.ErrorCode, p.Offset)
	}
}

// TestOffsetForLeaderEpoch: with one epoch per partition, consumers are
// told the high watermark and never see truncation.
func TestOffsetForLeaderEpoch(t *testing.T) {
	s := startServer(t)
	_, adm := s.clients(t)
	createTopic(t, adm, "epochs", 2, nil)
	c := s.dial(t)
	c.mustProduce("epochs", 0, batchtest.Values(noProducer(1000), "a", "b", "c"))

	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "epochs"
	for _, pe := range [][3]int32{{0, 0, 0}, {1, 0, 0}, {0, -1, 0}, {0, 0, -1}, {0, 1, -1}, {0, 0, 2}, {9, 0, 0}} {
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.CurrentLeaderEpoch = pe[0], pe[1], pe[2]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	unknown := kmsg.NewOffsetForLeaderEpochRequestTopic()
	unknown.Topic = "nope"
	unknown.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0}}
	req.Topics = append(req.Topics, unknown)

	want := []struct {
		err    *kerr.Error
		epoch  int32
		offset int64
	}{
		{nil, 0, 3},                            // the current epoch: the high watermark
		{nil, 0, 0},                            // empty partition
		{nil, -1, -1},                          // undefined epoch asked
		{nil, 0, 3},                            // no current epoch to check
		{kerr.UnknownLeaderEpoch, -1, -1},      // an epoch newer than the partition's
		{kerr.UnknownLeaderEpoch, -1, -1},      // a current epoch newer than the partition's
		{kerr.UnknownTopicOrPartition, -1, -1}, // no such partition
		{kerr.UnknownTopicOrPartition, -1, -1}, // no such topic
	}
	for _, v := range []int16{2, 3, 4} {
		resp := c.roundTrip(req, v).(*kmsg.OffsetForLeaderEpochResponse)
		var got []kmsg.OffsetForLeaderEpochResponseTopicPartition
		for _, rt := range resp.Topics {
			got = append(got, rt.Partitions...)
		}
		for i, w := range want {
			if got[i].ErrorCode != codeOf(w.err) || got[i].LeaderEpoch != w.epoch || got[i].EndOffset != w.offset {
				t.Errorf("v%d case %d: error %v epoch %d end %d, want %v, %d, %d", v, i, kerr.ErrorForCode(got[i].ErrorCode), got[i].LeaderEpoch, got[i].EndOffset, w.err, w.epoch, w.offset)
			}
		}
	}
	// v0 carries no epochs: the end offset only.
	resp := c.roundTrip(req, 0).(*kmsg.OffsetForLeaderEpochResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.EndOffset != 3 {
		t.Errorf("v0: error %d end offset %d", p.ErrorCode, p.EndOffset)
	}
}
