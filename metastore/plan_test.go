package metastore

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

var (
	topicA = uuid.MustParse("00000000-0000-0000-0000-00000000000a")
	topicB = uuid.MustParse("00000000-0000-0000-0000-00000000000b")
)

func plainBatch(n int32, ts int64) BatchMeta {
	return BatchMeta{OffsetCount: n, MaxTimestamp: ts, ProducerID: NoProducerID, ProducerEpoch: -1, BaseSequence: -1}
}

func idemBatch(pid int64, epoch int16, seq, n int32) BatchMeta {
	return BatchMeta{OffsetCount: n, MaxTimestamp: int64(seq), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}
}

func parts(next map[PartitionKey]int64) map[PartitionKey]Partition {
	m := map[PartitionKey]Partition{}
	for k, n := range next {
		m[k] = Partition{TopicID: k.TopicID, Partition: k.Partition, NextOffset: n, LeaderNode: -1}
	}
	return m
}

func batchOffsets(r ChunkResult) []int64 {
	var o []int64
	for _, b := range r.Batches {
		o = append(o, b.BaseOffset)
	}
	return o
}

func TestPlanCommitOffsets(t *testing.T) {
	a0, a1, b0 := PartitionKey{topicA, 0}, PartitionKey{topicA, 1}, PartitionKey{topicB, 0}
	seg := SegmentSpec{ObjectKey: "obj", ObjectSize: 999, Chunks: []ChunkSpec{
		{TopicID: topicB, Partition: 0, Start: 0, Length: 10, RawLength: 20, Batches: []BatchMeta{plainBatch(3, 50), plainBatch(1, 70), plainBatch(2, 60)}},
		{TopicID: topicA, Partition: 1, Start: 10, Length: 5, RawLength: 8, Batches: []BatchMeta{plainBatch(7, -1)}},
		{TopicID: topicA, Partition: 0, Start: 15, Length: 5, RawLength: 8, Batches: []BatchMeta{plainBatch(1, 5)}},
	}}
	plan := PlanCommit(seg, parts(map[PartitionKey]int64{a0: 100, a1: 0, b0: 40}), nil, nil, 1234)
	if got := batchOffsets(plan.Results[0]); !slices.Equal(got, []int64{40, 43, 44}) {
		t.Errorf("b0 offsets %v", got)
	}
	if got := batchOffsets(plan.Results[1]); !slices.Equal(got, []int64{0}) {
		t.Errorf("a1 offsets %v", got)
	}
	if got := batchOffsets(plan.Results[2]); !slices.Equal(got, []int64{100}) {
		t.Errorf("a0 offsets %v", got)
	}
	for i, r := range plan.Results {
		if r.Err != nil || r.LogAppendTime != 1234 {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	wantNext := map[PartitionKey]int64{b0: 46, a1: 7, a0: 101}
	if len(plan.NextOffset) != 3 {
		t.Errorf("next offsets %v", plan.NextOffset)
	}
	for k, n := range wantNext {
		if plan.NextOffset[k] != n {
			t.Errorf("next offset of %v = %d, want %d", k, plan.NextOffset[k], n)
		}
	}
	want := []Chunk{
		{TopicID: topicB, Partition: 0, BaseOffset: 40, EndOffset: 46, ObjectKey: "obj", ObjectSize: 999, Start: 0, Length: 10, RawLength: 20, BatchCount: 3, MaxTimestamp: 70},
		{TopicID: topicA, Partition: 1, BaseOffset: 0, EndOffset: 7, ObjectKey: "obj", ObjectSize: 999, Start: 10, Length: 5, RawLength: 8, BatchCount: 1, MaxTimestamp: -1},
		{TopicID: topicA, Partition: 0, BaseOffset: 100, EndOffset: 101, ObjectKey: "obj", ObjectSize: 999, Start: 15, Length: 5, RawLength: 8, BatchCount: 1, MaxTimestamp: 5},
	}
	if len(plan.Chunks) != len(want) {
		t.Fatalf("%d chunks, want %d", len(plan.Chunks), len(want))
	}
	for i := range want {
		if !chunkEq(plan.Chunks[i], want[i]) {
			t.Errorf("chunk %d\n got %+v\nwant %+v", i, plan.Chunks[i], want[i])
		}
	}
	if len(plan.Producers) != 0 {
		t.Errorf("producer states %v for plain batches", plan.Producers)
	}
}

func chunkEq(a, b Chunk) bool {
	return a.TopicID == b.TopicID && a.Partition == b.Partition && a.BaseOffset == b.BaseOffset &&
		a.EndOffset == b.EndOffset && a.ObjectKey == b.ObjectKey && a.ObjectSize == b.ObjectSize &&
		a.Level == b.Level && a.Start == b.Start && a.Length == b.Length && a.RawLength == b.RawLength &&
		a.BatchCount == b.BatchCount && a.MaxTimestamp == b.MaxTimestamp && slices.Equal(a.Skip, b.Skip)
}

func TestPlanCommitUnknownPartition(t *testing.T) {
	known := PartitionKey{topicA, 0}
	seg := SegmentSpec{ObjectKey: "o", Chunks: []ChunkSpec{
		{TopicID: topicA, Partition: 1, Batches: []BatchMeta{plainBatch(1, 0)}},
		{TopicID: topicA, Partition: 0, Batches: []BatchMeta{idemBatch(7, 0, 0, 2)}},
		{TopicID: topicB, Partition: 0, Batches: []BatchMeta{idemBatch(7, 0, 0, 2)}},
	}}
	plan := PlanCommit(seg, parts(map[PartitionKey]int64{known: 5}), nil, nil, 0)
	if !errors.Is(plan.Results[0].Err, ErrUnknownPartition) || !errors.Is(plan.Results[2].Err, ErrUnknownPartition) {
		t.Errorf("unknown partitions: %v, %v", plan.Results[0].Err, plan.Results[2].Err)
	}
	if plan.Results[1].Err != nil || plan.Results[1].Batches[0].BaseOffset != 5 {
		t.Errorf("known partition: %+v", plan.Results[1])
	}
	if len(plan.Chunks) != 1 || len(plan.NextOffset) != 1 || plan.NextOffset[known] != 7 {
		t.Errorf("chunks %v next %v", plan.Chunks, plan.NextOffset)
	}
	if len(plan.Producers) != 1 {
		t.Errorf("producer states %v: only the known partition's", plan.Producers)
	}
}

func TestPlanCommitSequences(t *testing.T) {
	p := PartitionKey{topicA, 0}
	key := ProducerKey{9, topicA, 0}
	state := ProducerState{Key: key, Epoch: 2, Recent: []RecentBatch{
		{FirstSeq: 0, LastSeq: 4, BaseOffset: 10},
		{FirstSeq: 5, LastSeq: 5, BaseOffset: 20},
		{FirstSeq: 6, LastSeq: 9, BaseOffset: 30},
	}}
	cases := []struct {
		name    string
		state   *ProducerState
		batch   BatchMeta
		wantErr error
		dup     int64 // offset of the original when a duplicate, else -1
	}{
		{"no state, any sequence", nil, idemBatch(9, 0, 17, 1), nil, -1},
		{"next in sequence", &state, idemBatch(9, 2, 10, 3), nil, -1},
		{"duplicate of newest", &state, idemBatch(9, 2, 6, 4), nil, 30},
		{"duplicate of oldest", &state, idemBatch(9, 2, 0, 5), nil, 10},
		{"same start, other length", &state, idemBatch(9, 2, 6, 3), ErrOutOfOrderSequence, -1},
		{"gap", &state, idemBatch(9, 2, 11, 1), ErrOutOfOrderSequence, -1},
		{"behind", &state, idemBatch(9, 2, 3, 1), ErrOutOfOrderSequence, -1},
		{"old epoch", &state, idemBatch(9, 1, 10, 1), ErrInvalidProducerEpoch, -1},
		{"old epoch, duplicate range", &state, idemBatch(9, 1, 0, 5), ErrInvalidProducerEpoch, -1},
		{"new epoch from 0", &state, idemBatch(9, 3, 0, 1), nil, -1},
		{"new epoch not from 0", &state, idemBatch(9, 3, 10, 1), ErrOutOfOrderSequence, -1},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			producers := map[ProducerKey]ProducerState{}
			if c.state != nil {
				producers[key] = *c.state
			}
			seg := SegmentSpec{Chunks: []ChunkSpec{{TopicID: topicA, Partition: 0, Batches: []BatchMeta{c.batch}}}}
			plan := PlanCommit(seg, parts(map[PartitionKey]int64{p: 100}), producers, nil, 0)
			br := plan.Results[0].Batches[0]
			switch {
			case c.wantErr != nil:
				if !errors.Is(br.Err, c.wantErr) || br.Duplicate || br.BaseOffset != -1 {
					t.Errorf("%+v, want %v at offset -1", br, c.wantErr)
				}
			case c.dup >= 0:
				if br.Err != nil || !br.Duplicate || br.BaseOffset != c.dup {
					t.Errorf("%+v, want duplicate of offset %d", br, c.dup)
				}
			default:
				if br.Err != nil || br.Duplicate || br.BaseOffset != 100 {
					t.Errorf("%+v, want accepted at 100", br)
				}
			}
			accepted := c.wantErr == nil && c.dup < 0
			if accepted != (len(plan.Chunks) == 1) {
				t.Errorf("accepted=%v but %d chunks planned", accepted, len(plan.Chunks))
			}
			if !accepted {
				if len(plan.NextOffset) != 0 || len(plan.Producers) != 0 {
					t.Errorf("rejected batch changed state: next %v producers %v", plan.NextOffset, plan.Producers)
				}
				return
			}
			st := plan.Producers[key]
			last := st.Recent[len(st.Recent)-1]
			if st.Key != key || st.Epoch != c.batch.ProducerEpoch || last.FirstSeq != c.batch.BaseSequence ||
				last.LastSeq != c.batch.BaseSequence+c.batch.OffsetCount-1 || last.BaseOffset != 100 {
				t.Errorf("new state %+v", st)
			}
			if c.state != nil && c.batch.ProducerEpoch != c.state.Epoch && len(st.Recent) != 1 {
				t.Errorf("new epoch kept %d old batches", len(st.Recent)-1)
			}
		})
	}
	// The caller's state is not modified.
	if len(state.Recent) != 3 || state.Recent[2].LastSeq != 9 {
		t.Errorf("PlanCommit modified its input: %+v", state)
	}
}

func TestPlanCommitRecentWindowAndSkips(t *testing.T) {
	p := PartitionKey{topicA, 0}
	var batches []BatchMeta
	for i := range int32(7) {
		batches = append(batches, idemBatch(1, 0, i*2, 2))
	}
	// Repeat the last five (duplicates), then the first (now too old).
	for i := int32(2); i < 7; i++ {
		batches = append(batches, idemBatch(1, 0, i*2, 2))
	}
	batches = append(batches, idemBatch(1, 0, 0, 2), plainBatch(4, 0))
	seg := SegmentSpec{ObjectKey: "o", Chunks: []ChunkSpec{{TopicID: topicA, Partition: 0, Batches: batches}}}
	plan := PlanCommit(seg, parts(map[PartitionKey]int64{p: 0}), nil, nil, 0)
	bs := plan.Results[0].Batches
	for i := range 7 {
		if bs[i].Err != nil || bs[i].Duplicate || bs[i].BaseOffset != int64(i*2) {
			t.Errorf("batch %d: %+v", i, bs[i])
		}
	}
	for i := 7; i < 12; i++ {
		if !bs[i].Duplicate || bs[i].BaseOffset != int64((i-5)*2) {
			t.Errorf("batch %d: %+v, want duplicate at %d", i, bs[i], (i-5)*2)
		}
	}
	if !errors.Is(bs[12].Err, ErrOutOfOrderSequence) || bs[13].BaseOffset != 14 {
		t.Errorf("batches 12, 13: %+v %+v", bs[12], bs[13])
	}
	c := plan.Chunks[0]
	if c.BaseOffset != 0 || c.EndOffset != 18 || c.BatchCount != 14 || !slices.Equal(c.Skip, []int32{7, 8, 9, 10, 11, 12}) {
		t.Errorf("chunk %+v", c)
	}
	st := plan.Producers[ProducerKey{1, topicA, 0}]
	if len(st.Recent) != MaxRecentBatches || st.Recent[0].FirstSeq != 4 || st.LastSeq() != 13 {
		t.Errorf("state keeps %+v, want the last %d batches", st.Recent, MaxRecentBatches)
	}
}

func TestPlanCommitAllRejected(t *testing.T) {
	p := PartitionKey{topicA, 0}
	key := ProducerKey{3, topicA, 0}
	producers := map[ProducerKey]ProducerState{key: {Key: key, Epoch: 5, Recent: []RecentBatch{{0, 1, 0}}}}
	seg := SegmentSpec{ObjectKey: "o", Chunks: []ChunkSpec{{TopicID: topicA, Partition: 0, Batches: []BatchMeta{
		idemBatch(3, 4, 2, 1), idemBatch(3, 5, 0, 2), idemBatch(3, 5, 9, 1),
	}}}}
	plan := PlanCommit(seg, parts(map[PartitionKey]int64{p: 2}), producers, nil, 0)
	if len(plan.Chunks) != 0 || len(plan.NextOffset) != 0 || len(plan.Producers) != 0 {
		t.Errorf("all-rejected chunk planned chunks %v next %v producers %v", plan.Chunks, plan.NextOffset, plan.Producers)
	}
	bs := plan.Results[0].Batches
	if !errors.Is(bs[0].Err, ErrInvalidProducerEpoch) || !bs[1].Duplicate || bs[1].BaseOffset != 0 || !errors.Is(bs[2].Err, ErrOutOfOrderSequence) {
		t.Errorf("results %+v", bs)
	}
}

func TestPlanCommitSequenceWraps(t *testing.T) {
	p := PartitionKey{topicA, 0}
	key := ProducerKey{3, topicA, 0}
	producers := map[ProducerKey]ProducerState{key: {Key: key, Recent: []RecentBatch{{math.MaxInt32 - 9, math.MaxInt32 - 2, 0}}}}
	seg := SegmentSpec{Chunks: []ChunkSpec{{TopicID: topicA, Partition: 0, Batches: []BatchMeta{
		idemBatch(3, 0, math.MaxInt32-1, 4), // covers MaxInt32-1, MaxInt32, 0, 1
		idemBatch(3, 0, 2, 1),
	}}}}
	plan := PlanCommit(seg, parts(map[PartitionKey]int64{p: 8}), producers, nil, 0)
	for i, b := range plan.Results[0].Batches {
		if b.Err != nil || b.Duplicate {
			t.Errorf("batch %d across the wrap: %+v", i, b)
		}
	}
	st := plan.Producers[key]
	if st.LastSeq() != 2 || st.Recent[1].LastSeq != 1 {
		t.Errorf("state after wrap %+v", st.Recent)
	}
}

func TestPlanCommitChainsWithinSegment(t *testing.T) {
	// Two chunks of one partition in a segment (not produced by ingest, but
	// legal input) continue each other's offsets and sequences.
	p := PartitionKey{topicA, 0}
	seg := SegmentSpec{Chunks: []ChunkSpec{
		{TopicID: topicA, Partition: 0, Batches: []BatchMeta{idemBatch(1, 0, 0, 3)}},
		{TopicID: topicA, Partition: 0, Batches: []BatchMeta{idemBatch(1, 0, 3, 2), idemBatch(1, 0, 0, 3)}},
	}}
	plan := PlanCommit(seg, parts(map[PartitionKey]int64{p: 0}), nil, nil, 0)
	r := plan.Results[1].Batches
	if r[0].BaseOffset != 3 || r[0].Err != nil || !r[1].Duplicate || r[1].BaseOffset != 0 || plan.NextOffset[p] != 5 {
		t.Errorf("second chunk %+v, next %d", r, plan.NextOffset[p])
	}
	if len(plan.Chunks) != 2 || plan.Chunks[1].BaseOffset != 3 || plan.Chunks[1].EndOffset != 5 {
		t.Errorf("chunks %+v", plan.Chunks)
	}
}

func TestPartitionAndProducerKeys(t *testing.T) {
	seg := SegmentSpec{Chunks: []ChunkSpec{
		{TopicID: topicB, Partition: 0, Batches: []BatchMeta{idemBatch(5, 0, 0, 1), plainBatch(1, 0)}},
		{TopicID: topicA, Partition: 2, Batches: []BatchMeta{idemBatch(5, 0, 0, 1), idemBatch(2, 0, 0, 1)}},
		{TopicID: topicA, Partition: 1, Batches: []BatchMeta{plainBatch(1, 0)}},
		{TopicID: topicA, Partition: 2, Batches: []BatchMeta{idemBatch(2, 0, 1, 1)}},
	}}
	wantP := []PartitionKey{{topicA, 1}, {topicA, 2}, {topicB, 0}}
	if got := PartitionKeys(seg); !slices.Equal(got, wantP) {
		t.Errorf("PartitionKeys = %v, want %v", got, wantP)
	}
	wantPr := []ProducerKey{{2, topicA, 2}, {5, topicA, 2}, {5, topicB, 0}}
	if got := ProducerKeys(seg); !slices.Equal(got, wantPr) {
		t.Errorf("ProducerKeys = %v, want %v", got, wantPr)
	}
}

func TestValidateTopicName(t *testing.T) {
	for _, ok := range []string{"a", "orders", "Orders.v2_eu-west-1", "..a", "a..", strings.Repeat("z", 249)} {
		if err := ValidateTopicName(ok); err != nil {
			t.Errorf("ValidateTopicName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a b", "a/b", "a\x00", "é", "tab\t", strings.Repeat("z", 250)} {
		if err := ValidateTopicName(bad); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("ValidateTopicName(%.20q) = %v, want ErrInvalidTopic", bad, err)
		}
	}
}

func BenchmarkPlanCommit(b *testing.B) {
	seg := SegmentSpec{ObjectKey: "o"}
	partsNext := map[PartitionKey]int64{}
	producers := map[ProducerKey]ProducerState{}
	for i := range int32(1024) {
		k := PartitionKey{topicA, i}
		partsNext[k] = int64(i) * 1000
		pk := ProducerKey{int64(i), topicA, i}
		producers[pk] = ProducerState{Key: pk, Recent: []RecentBatch{{0, 9, 0}}}
		seg.Chunks = append(seg.Chunks, ChunkSpec{TopicID: topicA, Partition: i, Batches: []BatchMeta{plainBatch(10, 0), idemBatch(int64(i), 0, 10, 5)}})
	}
	p := parts(partsNext)
	b.ReportAllocs()
	for b.Loop() {
		PlanCommit(seg, p, producers, nil, 0)
	}
}
