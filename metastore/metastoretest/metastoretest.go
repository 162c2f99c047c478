// Package metastoretest is the conformance suite that every metastore.Store
// implementation passes.
package metastoretest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// Run runs the suite. open returns a store over a fresh, empty metastore;
// it is called once per subtest, and the store is closed by the suite.
func Run(t *testing.T, open func(t *testing.T) metastore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s metastore.Store)
	}{
		{"CreateAndGetTopic", testCreateAndGetTopic},
		{"CreateTopicErrors", testCreateTopicErrors},
		{"ListTopics", testListTopics},
		{"TopicConfigs", testTopicConfigs},
		{"CreatePartitions", testCreatePartitions},
		{"DeleteTopic", testDeleteTopic},
		{"CommitAssignsContiguousOffsets", testCommitContiguous},
		{"CommitChunkRows", testCommitChunkRows},
		{"ConcurrentCommits", testConcurrentCommits},
		{"CommitUnknownPartition", testCommitUnknownPartition},
		{"CommitSameObjectTwice", testCommitSameObjectTwice},
		{"IdempotentDuplicate", testIdempotentDuplicate},
		{"IdempotentDuplicateInMixedChunk", testIdempotentMixedChunk},
		{"IdempotentOutOfOrder", testIdempotentOutOfOrder},
		{"IdempotentFencedEpoch", testIdempotentFenced},
		{"IdempotentNewEpoch", testIdempotentNewEpoch},
		{"IdempotentRecentWindow", testIdempotentRecentWindow},
		{"IdempotentPerPartition", testIdempotentPerPartition},
		{"IdempotentFirstBatch", testIdempotentFirstBatch},
		{"ExpireProducers", testExpireProducers},
		{"AllRejectedChunkNotStored", testAllRejectedNotStored},
		{"ChunksFrom", testChunksFrom},
		{"ChunkForTimestamp", testChunkForTimestamp},
		{"AllocateProducerID", testAllocateProducerID},
		{"DeleteRecords", testDeleteRecords},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(s.Close)
			tc.fn(t, s)
		})
	}
}

// ctx returns a context that ends with the test, or after a minute.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func mustTopic(t *testing.T, s metastore.Store, name string, partitions int32) metastore.Topic {
	t.Helper()
	tp, err := s.CreateTopic(ctx(t), name, partitions, nil)
	if err != nil {
		t.Fatalf("CreateTopic(%q, %d): %v", name, partitions, err)
	}
	return tp
}

// plain is a batch of a non-idempotent producer covering n offsets.
func plain(n int32, ts int64) metastore.BatchMeta {
	return metastore.BatchMeta{OffsetCount: n, MaxTimestamp: ts, ProducerID: metastore.NoProducerID, ProducerEpoch: -1, BaseSequence: -1}
}

// idem is a batch of idempotent producer pid covering n offsets from seq.
func idem(pid int64, epoch int16, seq, n int32) metastore.BatchMeta {
	return metastore.BatchMeta{OffsetCount: n, MaxTimestamp: 1000 + int64(seq), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}
}

func chunk(topic uuid.UUID, partition int32, batches ...metastore.BatchMeta) metastore.ChunkSpec {
	var raw int64
	for _, b := range batches {
		raw += 61 + 10*int64(b.OffsetCount)
	}
	return metastore.ChunkSpec{TopicID: topic, Partition: partition, Length: raw / 2, RawLength: raw, Batches: batches}
}

var objectCounter struct {
	sync.Mutex
	n int
}

// segment lays chunks out one after the other in a new object.
func segment(chunks ...metastore.ChunkSpec) metastore.SegmentSpec {
	objectCounter.Lock()
	objectCounter.n++
	n := objectCounter.n
	objectCounter.Unlock()
	var off int64
	for i := range chunks {
		chunks[i].Start = off
		off += chunks[i].Length
	}
	return metastore.SegmentSpec{
		ObjectKey:  fmt.Sprintf("%02x/segment-%d-%s", n%256, n, uuid.NewString()),
		ObjectSize: off + 100,
		Chunks:     chunks,
	}
}

func commit(t *testing.T, s metastore.Store, seg metastore.SegmentSpec) []metastore.ChunkResult {
	t.Helper()
	res, err := s.CommitSegment(ctx(t), seg)
	if err != nil {
		t.Fatalf("CommitSegment(%s): %v", seg.ObjectKey, err)
	}
	if len(res) != len(seg.Chunks) {
		t.Fatalf("CommitSegment returned %d chunk results for %d chunks", len(res), len(seg.Chunks))
	}
	for i, r := range res {
		if r.Err == nil && len(r.Batches) != len(seg.Chunks[i].Batches) {
			t.Fatalf("chunk %d: %d batch results for %d batches", i, len(r.Batches), len(seg.Chunks[i].Batches))
		}
	}
	return res
}

func partition(t *testing.T, s metastore.Store, topic uuid.UUID, p int32) metastore.Partition {
	t.Helper()
	part, err := s.Partition(ctx(t), topic, p)
	if err != nil {
		t.Fatalf("Partition(%s, %d): %v", topic, p, err)
	}
	return part
}

// walk reads every chunk of a partition with ChunksFrom, a few at a time, and
// checks that they tile [log start, next offset) with no gap or overlap.
func walk(t *testing.T, s metastore.Store, topic uuid.UUID, p int32) []metastore.Chunk {
	t.Helper()
	part := partition(t, s, topic, p)
	var all []metastore.Chunk
	off := part.LogStartOffset
	for off < part.NextOffset {
		cs, err := s.ChunksFrom(ctx(t), topic, p, off, 3)
		if err != nil {
			t.Fatalf("ChunksFrom(%d/%d, %d): %v", p, part.NextOffset, off, err)
		}
		if len(cs) == 0 {
			t.Fatalf("partition %d: no chunk holds offset %d (next offset %d)", p, off, part.NextOffset)
		}
		if len(cs) > 3 {
			t.Fatalf("ChunksFrom with limit 3 returned %d chunks", len(cs))
		}
		for _, c := range cs {
			if c.TopicID != topic || c.Partition != p {
				t.Fatalf("ChunksFrom(%d) returned a chunk of %s/%d", p, c.TopicID, c.Partition)
			}
			if len(all) == 0 && !(c.BaseOffset <= off && off < c.EndOffset) {
				t.Fatalf("partition %d: first chunk [%d, %d) does not hold log start %d", p, c.BaseOffset, c.EndOffset, off)
			}
			if len(all) > 0 && c.BaseOffset != all[len(all)-1].EndOffset {
				t.Fatalf("partition %d: chunk [%d, %d) follows chunk ending at %d", p, c.BaseOffset, c.EndOffset, all[len(all)-1].EndOffset)
			}
			if c.EndOffset <= c.BaseOffset {
				t.Fatalf("partition %d: empty chunk [%d, %d)", p, c.BaseOffset, c.EndOffset)
			}
			all = append(all, c)
		}
		off = all[len(all)-1].EndOffset
	}
	if off != part.NextOffset {
		t.Fatalf("partition %d: chunks end at %d, next offset is %d", p, off, part.NextOffset)
	}
	cs, err := s.ChunksFrom(ctx(t), topic, p, part.NextOffset, 10)
	if err != nil || len(cs) != 0 {
		t.Fatalf("ChunksFrom(next offset %d) = %d chunks, %v; want none", part.NextOffset, len(cs), err)
	}
	return all
}

func testCreateAndGetTopic(t *testing.T, s metastore.Store) {
	before := time.Now().Add(-time.Minute)
	cfg := map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000"}
	created, err := s.CreateTopic(ctx(t), "orders.v1_eu-west", 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg["retention.ms"] = "changed by caller" // the store must not keep the caller's map
	if created.ID == uuid.Nil || created.Name != "orders.v1_eu-west" || created.Partitions != 3 {
		t.Fatalf("created %+v", created)
	}
	if created.CreatedAt.Before(before) || created.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("CreatedAt %v not around now", created.CreatedAt)
	}
	want := map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000"}
	for name, get := range map[string]func() (metastore.Topic, error){
		"TopicByName": func() (metastore.Topic, error) { return s.TopicByName(ctx(t), "orders.v1_eu-west") },
		"TopicByID":   func() (metastore.Topic, error) { return s.TopicByID(ctx(t), created.ID) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.ID != created.ID || got.Name != created.Name || got.Partitions != 3 || !got.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("%s = %+v, want %+v", name, got, created)
		}
		if !mapsEqual(got.Configs, want) {
			t.Errorf("%s configs = %v, want %v", name, got.Configs, want)
		}
	}
	parts, err := s.Partitions(ctx(t), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Fatalf("Partitions = %d, want 3", len(parts))
	}
	for i, p := range parts {
		want := metastore.Partition{TopicID: created.ID, Partition: int32(i), LeaderNode: -1}
		if p != want {
			t.Errorf("partition %d = %+v, want %+v", i, p, want)
		}
		if one := partition(t, s, created.ID, int32(i)); one != want {
			t.Errorf("Partition(%d) = %+v, want %+v", i, one, want)
		}
	}
	if _, err := s.Partition(ctx(t), created.ID, 3); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("Partition(3) of 3: %v, want ErrUnknownPartition", err)
	}
	if _, err := s.Partition(ctx(t), created.ID, -1); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("Partition(-1): %v, want ErrUnknownPartition", err)
	}
	if _, err := s.Partition(ctx(t), uuid.New(), 0); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("Partition of unknown topic: %v, want ErrUnknownPartition", err)
	}
	if _, err := s.Partitions(ctx(t), uuid.New()); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("Partitions of unknown topic: %v, want ErrUnknownTopic", err)
	}
	if _, err := s.TopicByName(ctx(t), "missing"); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("TopicByName(missing): %v, want ErrUnknownTopic", err)
	}
	if _, err := s.TopicByID(ctx(t), uuid.New()); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("TopicByID(random): %v, want ErrUnknownTopic", err)
	}
	// No configs: an empty map, not an error.
	bare := mustTopic(t, s, "bare", 1)
	got, err := s.TopicByName(ctx(t), "bare")
	if err != nil || len(got.Configs) != 0 || got.ID != bare.ID {
		t.Errorf("TopicByName(bare) = %+v, %v", got, err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testCreateTopicErrors(t *testing.T, s metastore.Store) {
	longest := strings.Repeat("x", 249)
	mustTopic(t, s, longest, 1)
	mustTopic(t, s, "taken", 2)
	cases := []struct {
		name       string
		partitions int32
		want       error
	}{
		{"taken", 2, metastore.ErrTopicExists},
		{"taken", 5, metastore.ErrTopicExists},
		{"", 1, metastore.ErrInvalidTopic},
		{".", 1, metastore.ErrInvalidTopic},
		{"..", 1, metastore.ErrInvalidTopic},
		{"with space", 1, metastore.ErrInvalidTopic},
		{"slash/topic", 1, metastore.ErrInvalidTopic},
		{"ünïcode", 1, metastore.ErrInvalidTopic},
		{"semi;colon", 1, metastore.ErrInvalidTopic},
		{strings.Repeat("x", 250), 1, metastore.ErrInvalidTopic},
		{"zero", 0, metastore.ErrInvalidPartitions},
		{"negative", -3, metastore.ErrInvalidPartitions},
	}
	for _, c := range cases {
		_, err := s.CreateTopic(ctx(t), c.name, c.partitions, nil)
		if !errors.Is(err, c.want) {
			t.Errorf("CreateTopic(%.20q, %d) = %v, want %v", c.name, c.partitions, err, c.want)
		}
	}
	topics, err := s.ListTopics(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 2 {
		t.Errorf("after failed creates, %d topics, want 2", len(topics))
	}
	taken, err := s.TopicByName(ctx(t), "taken")
	if err != nil || taken.Partitions != 2 {
		t.Errorf("failed duplicate create changed the topic: %+v, %v", taken, err)
	}
	// Concurrent creates of one name: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.CreateTopic(ctx(t), "race", 4, nil) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, metastore.ErrTopicExists):
			t.Errorf("concurrent CreateTopic: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent creates of one topic succeeded, want 1", wins)
	}
	race, err := s.TopicByName(ctx(t), "race")
	if err != nil {
		t.Fatal(err)
	}
	if parts, err := s.Partitions(ctx(t), race.ID); err != nil || len(parts) != 4 {
		t.Errorf("race topic has %d partitions (%v), want 4", len(parts), err)
	}
}

func testListTopics(t *testing.T, s metastore.Store) {
	topics, err := s.ListTopics(ctx(t))
	if err != nil || len(topics) != 0 {
		t.Fatalf("ListTopics on empty store = %v, %v", topics, err)
	}
	names := []string{"zeta", "alpha", "Mid", "beta-2", "beta.1"}
	ids := map[string]uuid.UUID{}
	for i, n := range names {
		ids[n] = mustTopic(t, s, n, int32(i+1)).ID
	}
	topics, err = s.ListTopics(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tp := range topics {
		got = append(got, tp.Name)
		if tp.ID != ids[tp.Name] {
			t.Errorf("topic %s id %s, created as %s", tp.Name, tp.ID, ids[tp.Name])
		}
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ListTopics = %v, want %v (sorted by name)", got, want)
	}
}

func testTopicConfigs(t *testing.T, s metastore.Store) {
	if _, err := s.CreateTopic(ctx(t), "cfg", 1, map[string]string{"a": "1", "b": "2", "c": "3"}); err != nil {
		t.Fatal(err)
	}
	str := func(v string) *string { return &v }
	if err := s.SetTopicConfigs(ctx(t), "cfg", map[string]*string{"a": str("10"), "b": nil, "d": str("4"), "missing": nil}); err != nil {
		t.Fatal(err)
	}
	tp, err := s.TopicByName(ctx(t), "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "10", "c": "3", "d": "4"}; !mapsEqual(tp.Configs, want) {
		t.Errorf("configs = %v, want %v", tp.Configs, want)
	}
	if err := s.SetTopicConfigs(ctx(t), "cfg", map[string]*string{"a": nil, "c": nil, "d": nil}); err != nil {
		t.Fatal(err)
	}
	if tp, err = s.TopicByName(ctx(t), "cfg"); err != nil || len(tp.Configs) != 0 {
		t.Errorf("configs after removing all = %v, %v", tp.Configs, err)
	}
	if err := s.SetTopicConfigs(ctx(t), "nope", map[string]*string{"a": str("1")}); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("SetTopicConfigs(unknown) = %v, want ErrUnknownTopic", err)
	}
}

func testCreatePartitions(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "grow", 2)
	commit(t, s, segment(chunk(tp.ID, 0, plain(5, 1)), chunk(tp.ID, 1, plain(2, 1))))
	if err := s.CreatePartitions(ctx(t), "grow", 5); err != nil {
		t.Fatal(err)
	}
	got, err := s.TopicByName(ctx(t), "grow")
	if err != nil || got.Partitions != 5 {
		t.Fatalf("topic after CreatePartitions = %+v, %v", got, err)
	}
	parts, err := s.Partitions(ctx(t), tp.ID)
	if err != nil || len(parts) != 5 {
		t.Fatalf("Partitions = %v, %v", parts, err)
	}
	wantNext := []int64{5, 2, 0, 0, 0}
	for i, p := range parts {
		if p.Partition != int32(i) || p.NextOffset != wantNext[i] || p.LogStartOffset != 0 {
			t.Errorf("partition %d = %+v, want next offset %d", i, p, wantNext[i])
		}
	}
	res := commit(t, s, segment(chunk(tp.ID, 4, plain(3, 1))))
	if res[0].Err != nil || res[0].Batches[0].BaseOffset != 0 {
		t.Errorf("commit to new partition: %+v", res[0])
	}
	for _, total := range []int32{5, 4, 0, -1} {
		if err := s.CreatePartitions(ctx(t), "grow", total); !errors.Is(err, metastore.ErrInvalidPartitions) {
			t.Errorf("CreatePartitions(5 -> %d) = %v, want ErrInvalidPartitions", total, err)
		}
	}
	if err := s.CreatePartitions(ctx(t), "nope", 3); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("CreatePartitions(unknown) = %v, want ErrUnknownTopic", err)
	}
	if got, _ := s.TopicByName(ctx(t), "grow"); got.Partitions != 5 {
		t.Errorf("failed CreatePartitions changed the count to %d", got.Partitions)
	}
}

func testDeleteTopic(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "doomed", 2)
	keep := mustTopic(t, s, "kept", 1)
	pid, err := s.AllocateProducerID(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 0, 4)), chunk(tp.ID, 1, plain(2, 1)), chunk(keep.ID, 0, plain(7, 1))))
	if err := s.DeleteTopic(ctx(t), "doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TopicByName(ctx(t), "doomed"); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("TopicByName after delete: %v", err)
	}
	if _, err := s.TopicByID(ctx(t), tp.ID); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("TopicByID after delete: %v", err)
	}
	if _, err := s.Partition(ctx(t), tp.ID, 0); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("Partition after delete: %v", err)
	}
	if _, err := s.ChunksFrom(ctx(t), tp.ID, 0, 0, 10); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("ChunksFrom after delete: %v", err)
	}
	if _, _, err := s.ChunkForTimestamp(ctx(t), tp.ID, 0, 0); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("ChunkForTimestamp after delete: %v", err)
	}
	res := commit(t, s, segment(chunk(tp.ID, 0, plain(1, 1)), chunk(keep.ID, 0, plain(1, 1))))
	if !errors.Is(res[0].Err, metastore.ErrUnknownPartition) && !errors.Is(res[0].Err, metastore.ErrUnknownTopic) {
		t.Errorf("commit to deleted topic: %v", res[0].Err)
	}
	if res[1].Err != nil || res[1].Batches[0].BaseOffset != 7 {
		t.Errorf("other topic's commit: %+v", res[1])
	}
	if err := s.DeleteTopic(ctx(t), "doomed"); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Errorf("second DeleteTopic = %v, want ErrUnknownTopic", err)
	}
	// The name is free again; the new topic starts empty.
	again := mustTopic(t, s, "doomed", 1)
	if again.ID == tp.ID {
		t.Error("re-created topic reuses the deleted topic's id")
	}
	if p := partition(t, s, again.ID, 0); p.NextOffset != 0 {
		t.Errorf("re-created topic partition = %+v", p)
	}
	if cs := walk(t, s, again.ID, 0); len(cs) != 0 {
		t.Errorf("re-created topic has %d chunks", len(cs))
	}
	if cs := walk(t, s, keep.ID, 0); len(cs) != 2 {
		t.Errorf("kept topic has %d chunks, want 2", len(cs))
	}
	topics, err := s.ListTopics(ctx(t))
	if err != nil || len(topics) != 2 {
		t.Errorf("ListTopics = %v, %v", topics, err)
	}
}

func testCommitContiguous(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "contiguous", 3)
	rng := rand.New(rand.NewPCG(1, 2))
	next := make([]int64, 3)
	for i := range 30 {
		var chunks []metastore.ChunkSpec
		for p := range int32(3) {
			if rng.IntN(3) == 0 {
				continue
			}
			var bs []metastore.BatchMeta
			for range 1 + rng.IntN(4) {
				bs = append(bs, plain(int32(1+rng.IntN(50)), int64(i)))
			}
			chunks = append(chunks, chunk(tp.ID, p, bs...))
		}
		seg := segment(chunks...)
		res := commit(t, s, seg)
		for ci, c := range seg.Chunks {
			if res[ci].Err != nil {
				t.Fatalf("segment %d chunk %d: %v", i, ci, res[ci].Err)
			}
			for bi, b := range c.Batches {
				br := res[ci].Batches[bi]
				if br.Err != nil || br.Duplicate || br.BaseOffset != next[c.Partition] {
					t.Fatalf("segment %d partition %d batch %d: %+v, want base offset %d", i, c.Partition, bi, br, next[c.Partition])
				}
				next[c.Partition] += int64(b.OffsetCount)
			}
		}
	}
	for p := range int32(3) {
		if got := partition(t, s, tp.ID, p).NextOffset; got != next[p] {
			t.Errorf("partition %d next offset %d, want %d", p, got, next[p])
		}
		walk(t, s, tp.ID, p)
	}
}

func testCommitChunkRows(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "rows", 2)
	other := mustTopic(t, s, "rows-other", 1)
	before := time.Now().UnixMilli()
	seg := segment(
		chunk(tp.ID, 1, plain(3, 500), plain(2, 900), plain(4, 700)),
		chunk(other.ID, 0, plain(1, 42)),
		chunk(tp.ID, 0, plain(10, 5)),
	)
	res := commit(t, s, seg)
	after := time.Now().UnixMilli()
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("chunk %d: %v", i, r.Err)
		}
		if r.LogAppendTime < before-1000 || r.LogAppendTime > after+1000 {
			t.Errorf("chunk %d LogAppendTime %d not within [%d, %d]", i, r.LogAppendTime, before, after)
		}
	}
	if got := []int64{res[0].Batches[0].BaseOffset, res[0].Batches[1].BaseOffset, res[0].Batches[2].BaseOffset}; !slices.Equal(got, []int64{0, 3, 5}) {
		t.Errorf("batch offsets %v, want [0 3 5]", got)
	}
	cs := walk(t, s, tp.ID, 1)
	if len(cs) != 1 {
		t.Fatalf("%d chunks, want 1", len(cs))
	}
	spec := seg.Chunks[0]
	want := metastore.Chunk{
		TopicID: tp.ID, Partition: 1, BaseOffset: 0, EndOffset: 9,
		ObjectKey: seg.ObjectKey, ObjectSize: seg.ObjectSize, Level: 0,
		Start: spec.Start, Length: spec.Length, RawLength: spec.RawLength,
		BatchCount: 3, MaxTimestamp: 900,
	}
	got := cs[0]
	if len(got.Skip) != 0 {
		t.Errorf("skip = %v, want none", got.Skip)
	}
	got.Skip = nil
	if !chunkEqual(got, want) {
		t.Errorf("chunk row\n got %+v\nwant %+v", got, want)
	}
	c0 := walk(t, s, tp.ID, 0)
	if len(c0) != 1 || c0[0].Start != seg.Chunks[2].Start || c0[0].EndOffset != 10 || c0[0].ObjectKey != seg.ObjectKey {
		t.Errorf("partition 0 chunk %+v", c0)
	}
}

func chunkEqual(a, b metastore.Chunk) bool {
	return a.TopicID == b.TopicID && a.Partition == b.Partition && a.BaseOffset == b.BaseOffset &&
		a.EndOffset == b.EndOffset && a.ObjectKey == b.ObjectKey && a.ObjectSize == b.ObjectSize &&
		a.Level == b.Level && a.Start == b.Start && a.Length == b.Length && a.RawLength == b.RawLength &&
		a.BatchCount == b.BatchCount && a.MaxTimestamp == b.MaxTimestamp && slices.Equal(a.Skip, b.Skip)
}

// testConcurrentCommits has 8 goroutines commit segments over overlapping
// partitions; every partition must end up tiled, every batch must have its
// own offsets, and the offsets of one writer must grow in commit order.
func testConcurrentCommits(t *testing.T, s metastore.Store) {
	const writers, perWriter = 8, 15
	a := mustTopic(t, s, "concurrent-a", 4)
	b := mustTopic(t, s, "concurrent-b", 2)
	var keys []metastore.PartitionKey
	for p := range int32(4) {
		keys = append(keys, metastore.PartitionKey{TopicID: a.ID, Partition: p})
	}
	for p := range int32(2) {
		keys = append(keys, metastore.PartitionKey{TopicID: b.ID, Partition: p})
	}
	type span struct{ base, n int64 }
	var (
		mu      sync.Mutex
		spans   = map[metastore.PartitionKey][]span{}
		wg      sync.WaitGroup
		perPart = map[metastore.PartitionKey]int64{}
	)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			last := map[metastore.PartitionKey]int64{}
			for range perWriter {
				var chunks []metastore.ChunkSpec
				// Random subsets in random order: the store must lock in
				// its own order to avoid deadlocks.
				for _, i := range rng.Perm(len(keys))[:1+rng.IntN(len(keys))] {
					k := keys[i]
					var bs []metastore.BatchMeta
					for range 1 + rng.IntN(3) {
						bs = append(bs, plain(int32(1+rng.IntN(20)), 1))
					}
					chunks = append(chunks, chunk(k.TopicID, k.Partition, bs...))
				}
				seg := segment(chunks...)
				res, err := s.CommitSegment(ctx(t), seg)
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				for ci, c := range seg.Chunks {
					k := metastore.PartitionKey{TopicID: c.TopicID, Partition: c.Partition}
					if res[ci].Err != nil {
						t.Errorf("writer %d chunk %v: %v", w, k, res[ci].Err)
						mu.Unlock()
						return
					}
					for bi, bm := range c.Batches {
						base := res[ci].Batches[bi].BaseOffset
						if prev, ok := last[k]; ok && base <= prev {
							t.Errorf("writer %d partition %v: offset %d after %d", w, k, base, prev)
						}
						last[k] = base
						spans[k] = append(spans[k], span{base, int64(bm.OffsetCount)})
						perPart[k] += int64(bm.OffsetCount)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, k := range keys {
		sp := spans[k]
		slices.SortFunc(sp, func(x, y span) int { return int(x.base - y.base) })
		var off int64
		for _, x := range sp {
			if x.base != off {
				t.Fatalf("partition %v: batch at %d, expected %d (gap or overlap)", k, x.base, off)
			}
			off += x.n
		}
		if got := partition(t, s, k.TopicID, k.Partition).NextOffset; got != perPart[k] {
			t.Errorf("partition %v next offset %d, want %d", k, got, perPart[k])
		}
		cs := walk(t, s, k.TopicID, k.Partition)
		var batches int
		for _, c := range cs {
			batches += int(c.BatchCount)
		}
		if batches != len(sp) {
			t.Errorf("partition %v: chunks hold %d batches, %d committed", k, batches, len(sp))
		}
	}
}

func testCommitUnknownPartition(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "known", 2)
	seg := segment(
		chunk(tp.ID, 0, plain(4, 1)),
		chunk(tp.ID, 2, plain(4, 1)),
		chunk(uuid.New(), 0, plain(4, 1)),
		chunk(tp.ID, 1, plain(6, 1)),
	)
	res := commit(t, s, seg)
	if res[0].Err != nil || res[0].Batches[0].BaseOffset != 0 {
		t.Errorf("known partition 0: %+v", res[0])
	}
	if !errors.Is(res[1].Err, metastore.ErrUnknownPartition) {
		t.Errorf("partition 2 of 2: %v, want ErrUnknownPartition", res[1].Err)
	}
	if !errors.Is(res[2].Err, metastore.ErrUnknownPartition) && !errors.Is(res[2].Err, metastore.ErrUnknownTopic) {
		t.Errorf("unknown topic: %v, want ErrUnknownPartition or ErrUnknownTopic", res[2].Err)
	}
	if res[3].Err != nil || res[3].Batches[0].BaseOffset != 0 {
		t.Errorf("known partition 1: %+v", res[3])
	}
	if n := partition(t, s, tp.ID, 0).NextOffset; n != 4 {
		t.Errorf("partition 0 next offset %d, want 4", n)
	}
	if n := partition(t, s, tp.ID, 1).NextOffset; n != 6 {
		t.Errorf("partition 1 next offset %d, want 6", n)
	}
}

// testCommitSameObjectTwice checks that a commit that fails leaves nothing
// behind: an object is committed at most once.
func testCommitSameObjectTwice(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "twice", 1)
	seg := segment(chunk(tp.ID, 0, plain(5, 1)))
	commit(t, s, seg)
	if _, err := s.CommitSegment(ctx(t), seg); err == nil {
		t.Fatal("second commit of the same object succeeded")
	}
	if n := partition(t, s, tp.ID, 0).NextOffset; n != 5 {
		t.Errorf("failed commit moved next offset to %d", n)
	}
	if cs := walk(t, s, tp.ID, 0); len(cs) != 1 {
		t.Errorf("%d chunks after a failed commit, want 1", len(cs))
	}
}

func newProducer(t *testing.T, s metastore.Store) int64 {
	t.Helper()
	pid, err := s.AllocateProducerID(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func testIdempotentDuplicate(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "idem", 1)
	pid := newProducer(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, plain(10, 1))))
	first := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 0, 3))))
	second := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 3, 2))))
	if first[0].Batches[0].BaseOffset != 10 || second[0].Batches[0].BaseOffset != 13 {
		t.Fatalf("offsets %d, %d; want 10, 13", first[0].Batches[0].BaseOffset, second[0].Batches[0].BaseOffset)
	}
	// The producer retries both (its acks were lost): same offsets back,
	// nothing stored again.
	for i, b := range []metastore.BatchMeta{idem(pid, 0, 0, 3), idem(pid, 0, 3, 2)} {
		res := commit(t, s, segment(chunk(tp.ID, 0, b)))
		br := res[0].Batches[0]
		want := []int64{10, 13}[i]
		if res[0].Err != nil || br.Err != nil || !br.Duplicate || br.BaseOffset != want {
			t.Errorf("retry %d: %+v, want duplicate at %d", i, br, want)
		}
	}
	if n := partition(t, s, tp.ID, 0).NextOffset; n != 15 {
		t.Errorf("next offset %d after duplicates, want 15", n)
	}
	if cs := walk(t, s, tp.ID, 0); len(cs) != 3 {
		t.Errorf("%d chunks, want 3: duplicates must not add chunk rows", len(cs))
	}
	// The next batch in sequence still goes through.
	res := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 5, 1))))
	if br := res[0].Batches[0]; br.Err != nil || br.Duplicate || br.BaseOffset != 15 {
		t.Errorf("next batch after retries: %+v", br)
	}
}

func testIdempotentMixedChunk(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "mixed", 1)
	pid := newProducer(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 0, 4))))
	// One chunk: a retry of seq 0-3, a new batch, and a plain batch.
	seg := segment(chunk(tp.ID, 0, idem(pid, 0, 0, 4), idem(pid, 0, 4, 2), plain(3, 1)))
	res := commit(t, s, seg)
	bs := res[0].Batches
	if !bs[0].Duplicate || bs[0].BaseOffset != 0 {
		t.Errorf("retried batch: %+v, want duplicate at 0", bs[0])
	}
	if bs[1].Duplicate || bs[1].Err != nil || bs[1].BaseOffset != 4 {
		t.Errorf("new batch: %+v, want offset 4", bs[1])
	}
	if bs[2].Err != nil || bs[2].BaseOffset != 6 {
		t.Errorf("plain batch: %+v, want offset 6", bs[2])
	}
	cs := walk(t, s, tp.ID, 0)
	if len(cs) != 2 {
		t.Fatalf("%d chunks, want 2", len(cs))
	}
	c := cs[1]
	if c.BaseOffset != 4 || c.EndOffset != 9 || c.BatchCount != 3 || !slices.Equal(c.Skip, []int32{0}) || c.ObjectKey != seg.ObjectKey {
		t.Errorf("mixed chunk %+v, want [4, 9) with 3 batches, skip [0]", c)
	}
	// Within one segment, a batch repeated in a second chunk position of the
	// same partition is a duplicate too.
	seg = segment(chunk(tp.ID, 0, idem(pid, 0, 6, 1), idem(pid, 0, 6, 1)))
	res = commit(t, s, seg)
	if b := res[0].Batches; b[0].BaseOffset != 9 || b[0].Duplicate || !b[1].Duplicate || b[1].BaseOffset != 9 {
		t.Errorf("repeat within a segment: %+v", b)
	}
	if cs := walk(t, s, tp.ID, 0); !slices.Equal(cs[2].Skip, []int32{1}) || cs[2].EndOffset != 10 {
		t.Errorf("chunk %+v, want [9, 10) skip [1]", cs[2])
	}
}

func testIdempotentOutOfOrder(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "order", 1)
	pid := newProducer(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 0, 5))))
	for _, seq := range []int32{6, 4, 1, 100} {
		res := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, seq, 1))))
		br := res[0].Batches[0]
		if !errors.Is(br.Err, metastore.ErrOutOfOrderSequence) || br.Duplicate {
			t.Errorf("seq %d after 0-4: %+v, want ErrOutOfOrderSequence", seq, br)
		}
	}
	if n := partition(t, s, tp.ID, 0).NextOffset; n != 5 {
		t.Errorf("rejected batches moved next offset to %d", n)
	}
	// The rejected ones did not advance the sequence: 5 is still next.
	res := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 5, 2))))
	if br := res[0].Batches[0]; br.Err != nil || br.BaseOffset != 5 {
		t.Errorf("seq 5: %+v, want offset 5", br)
	}
	// A gap inside one chunk rejects only the batch after the gap.
	res = commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 7, 1), idem(pid, 0, 9, 1), plain(1, 1))))
	bs := res[0].Batches
	if bs[0].Err != nil || bs[0].BaseOffset != 7 || !errors.Is(bs[1].Err, metastore.ErrOutOfOrderSequence) || bs[2].Err != nil || bs[2].BaseOffset != 8 {
		t.Errorf("gap inside chunk: %+v", bs)
	}
	if cs := walk(t, s, tp.ID, 0); !slices.Equal(cs[len(cs)-1].Skip, []int32{1}) {
		t.Errorf("last chunk skip %v, want [1]", cs[len(cs)-1].Skip)
	}
}

// testIdempotentFirstBatch: a producer id this store handed out starts
// every partition at sequence 0; a first batch at another sequence is out
// of order. Accepting it let a new producer's second in-flight batch land
// before its first, retried one. A producer id the store does not know
// (its state expired) is taken at any sequence, as Kafka does.
func testIdempotentFirstBatch(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "first-batch", 2)
	pid := newProducer(t, s)
	res := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 5, 2))))
	if br := res[0].Batches[0]; !errors.Is(br.Err, metastore.ErrOutOfOrderSequence) {
		t.Fatalf("first batch of a new producer at sequence 5: %+v, want ErrOutOfOrderSequence", br)
	}
	if n := partition(t, s, tp.ID, 0).NextOffset; n != 0 {
		t.Fatalf("the refused batch moved the next offset to %d", n)
	}
	res = commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 0, 5)), chunk(tp.ID, 1, idem(pid, 0, 0, 1))))
	for p, r := range res {
		if br := r.Batches[0]; br.Err != nil || br.BaseOffset != 0 {
			t.Fatalf("partition %d, first batch at sequence 0: %+v", p, br)
		}
	}
	unknown := pid + 1<<40
	res = commit(t, s, segment(chunk(tp.ID, 1, idem(unknown, 0, 7, 1))))
	if br := res[0].Batches[0]; br.Err != nil || br.BaseOffset != 1 {
		t.Fatalf("first batch of an unknown producer at sequence 7: %+v, want offset 1", br)
	}
}

// testExpireProducers: ExpireProducers forgets producers idle longer than
// its bound, their id and their state on every partition; the producer's
// next batch is then taken at any sequence.
func testExpireProducers(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "expiry", 1)
	idle, busy := newProducer(t, s), newProducer(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, idem(idle, 0, 0, 3))))
	if n, err := s.ExpireProducers(ctx(t), time.Hour); err != nil || n != 0 {
		t.Fatalf("expire producers idle for an hour: %d, %v; want none", n, err)
	}
	if n, err := s.ExpireProducers(ctx(t), 0); err != nil || n != 2 {
		t.Fatalf("expire producers idle at all: %d, %v; want 2", n, err)
	}
	// Expired: a retry of its first batch is no longer known as one, and
	// a later sequence is taken.
	res := commit(t, s, segment(chunk(tp.ID, 0, idem(idle, 0, 9, 1))))
	if br := res[0].Batches[0]; br.Err != nil || br.BaseOffset != 3 {
		t.Fatalf("expired producer at sequence 9: %+v, want offset 3", br)
	}
	res = commit(t, s, segment(chunk(tp.ID, 0, idem(busy, 0, 4, 1))))
	if br := res[0].Batches[0]; br.Err != nil || br.BaseOffset != 4 {
		t.Fatalf("expired producer without state at sequence 4: %+v, want offset 4", br)
	}
}

func testIdempotentFenced(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "fenced", 1)
	pid := newProducer(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 3, 0, 2))))
	res := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 2, 2, 1))))
	if br := res[0].Batches[0]; !errors.Is(br.Err, metastore.ErrInvalidProducerEpoch) {
		t.Errorf("old epoch: %+v, want ErrInvalidProducerEpoch", br)
	}
	// Bumping to epoch 4 fences epoch 3.
	if res := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 4, 0, 1)))); res[0].Batches[0].Err != nil {
		t.Fatalf("epoch 4: %v", res[0].Batches[0].Err)
	}
	res = commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 3, 2, 1))))
	if br := res[0].Batches[0]; !errors.Is(br.Err, metastore.ErrInvalidProducerEpoch) {
		t.Errorf("epoch 3 after 4: %+v, want ErrInvalidProducerEpoch", br)
	}
	if n := partition(t, s, tp.ID, 0).NextOffset; n != 3 {
		t.Errorf("next offset %d, want 3", n)
	}
}

func testIdempotentNewEpoch(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "epochs", 1)
	pid := newProducer(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 0, 5))))
	res := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 1, 5, 1))))
	if br := res[0].Batches[0]; !errors.Is(br.Err, metastore.ErrOutOfOrderSequence) {
		t.Errorf("new epoch starting at 5: %+v, want ErrOutOfOrderSequence", br)
	}
	res = commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 1, 0, 2))))
	if br := res[0].Batches[0]; br.Err != nil || br.Duplicate || br.BaseOffset != 5 {
		t.Errorf("new epoch starting at 0: %+v, want offset 5", br)
	}
	// Sequence 0-1 of epoch 1 is now a duplicate; 0-4 of epoch 0 is fenced.
	res = commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 1, 0, 2), idem(pid, 0, 0, 5))))
	if bs := res[0].Batches; !bs[0].Duplicate || bs[0].BaseOffset != 5 || !errors.Is(bs[1].Err, metastore.ErrInvalidProducerEpoch) {
		t.Errorf("after bump: %+v", bs)
	}
}

func testIdempotentRecentWindow(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "window", 1)
	pid := newProducer(t, s)
	var offsets []int64
	for i := range int32(6) {
		res := commit(t, s, segment(chunk(tp.ID, 0, plain(1, 1), idem(pid, 0, i*2, 2))))
		offsets = append(offsets, res[0].Batches[1].BaseOffset)
	}
	// The five most recent batches are recognised, in any order.
	for _, i := range []int32{5, 1, 3, 2, 4} {
		res := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, i*2, 2))))
		if br := res[0].Batches[0]; !br.Duplicate || br.BaseOffset != offsets[i] {
			t.Errorf("retry of batch %d: %+v, want duplicate at %d", i, br, offsets[i])
		}
	}
	// The sixth most recent is too old to be recognised: Kafka reports it
	// out of order.
	res := commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 0, 2))))
	if br := res[0].Batches[0]; br.Duplicate || !errors.Is(br.Err, metastore.ErrOutOfOrderSequence) {
		t.Errorf("retry of batch 0: %+v, want ErrOutOfOrderSequence", br)
	}
	// A retry with a different sequence range than any committed batch is
	// not a duplicate.
	res = commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 0, 10, 1))))
	if br := res[0].Batches[0]; br.Duplicate || !errors.Is(br.Err, metastore.ErrOutOfOrderSequence) {
		t.Errorf("partial overlap: %+v, want ErrOutOfOrderSequence", br)
	}
	if n := partition(t, s, tp.ID, 0).NextOffset; n != 18 {
		t.Errorf("next offset %d, want 18", n)
	}
}

func testIdempotentPerPartition(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "perpart", 2)
	pid := newProducer(t, s)
	other := newProducer(t, s)
	res := commit(t, s, segment(
		chunk(tp.ID, 0, idem(pid, 0, 0, 3), idem(other, 0, 0, 1)),
		chunk(tp.ID, 1, idem(pid, 0, 0, 1), idem(pid, 0, 1, 1)),
	))
	for ci, r := range res {
		for bi, b := range r.Batches {
			if b.Err != nil || b.Duplicate {
				t.Errorf("chunk %d batch %d: %+v", ci, bi, b)
			}
		}
	}
	res = commit(t, s, segment(
		chunk(tp.ID, 0, idem(pid, 0, 3, 1), idem(other, 0, 1, 1)),
		chunk(tp.ID, 1, idem(pid, 0, 2, 1), idem(other, 0, 0, 1)),
	))
	want := []int64{4, 5, 2, 3}
	got := []int64{res[0].Batches[0].BaseOffset, res[0].Batches[1].BaseOffset, res[1].Batches[0].BaseOffset, res[1].Batches[1].BaseOffset}
	if !slices.Equal(got, want) {
		t.Errorf("offsets %v, want %v", got, want)
	}
	for ci, r := range res {
		for bi, b := range r.Batches {
			if b.Err != nil || b.Duplicate {
				t.Errorf("second round chunk %d batch %d: %+v", ci, bi, b)
			}
		}
	}
}

func testAllRejectedNotStored(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "rejected", 2)
	pid := newProducer(t, s)
	commit(t, s, segment(chunk(tp.ID, 0, idem(pid, 5, 0, 2)), chunk(tp.ID, 1, plain(1, 1))))
	seg := segment(
		chunk(tp.ID, 0, idem(pid, 4, 2, 1), idem(pid, 5, 7, 1), idem(pid, 5, 0, 2)),
		chunk(tp.ID, 1, plain(4, 1)),
	)
	res := commit(t, s, seg)
	bs := res[0].Batches
	if res[0].Err != nil || !errors.Is(bs[0].Err, metastore.ErrInvalidProducerEpoch) ||
		!errors.Is(bs[1].Err, metastore.ErrOutOfOrderSequence) || !bs[2].Duplicate {
		t.Errorf("results %+v", res[0])
	}
	cs := walk(t, s, tp.ID, 0)
	if len(cs) != 1 || cs[0].EndOffset != 2 {
		t.Errorf("partition 0 chunks %+v, want only the first", cs)
	}
	for _, c := range cs {
		if c.ObjectKey == seg.ObjectKey {
			t.Errorf("a chunk row points at the segment whose batches were all rejected")
		}
	}
	if cs := walk(t, s, tp.ID, 1); len(cs) != 2 || cs[1].ObjectKey != seg.ObjectKey {
		t.Errorf("partition 1 chunks %+v", cs)
	}
}

func testChunksFrom(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "from", 2)
	segs := []metastore.SegmentSpec{
		segment(chunk(tp.ID, 0, plain(5, 1))),
		segment(chunk(tp.ID, 0, plain(2, 1), plain(1, 1))),
		segment(chunk(tp.ID, 0, plain(12, 1))),
	}
	for _, seg := range segs {
		commit(t, s, seg)
	}
	bounds := [][2]int64{{0, 5}, {5, 8}, {8, 20}}
	cases := []struct {
		offset int64
		limit  int
		first  int // index of the first chunk expected
		n      int
	}{
		{0, 10, 0, 3},
		{4, 10, 0, 3},
		{5, 10, 1, 2},
		{6, 10, 1, 2},
		{8, 10, 2, 1},
		{19, 10, 2, 1},
		{0, 2, 0, 2},
		{0, 1, 0, 1},
		{7, 1, 1, 1},
		{20, 10, 0, 0},
	}
	for _, c := range cases {
		cs, err := s.ChunksFrom(ctx(t), tp.ID, 0, c.offset, c.limit)
		if err != nil {
			t.Errorf("ChunksFrom(%d, %d): %v", c.offset, c.limit, err)
			continue
		}
		if len(cs) != c.n {
			t.Errorf("ChunksFrom(%d, %d) = %d chunks, want %d", c.offset, c.limit, len(cs), c.n)
			continue
		}
		for i, ch := range cs {
			b := bounds[c.first+i]
			if ch.BaseOffset != b[0] || ch.EndOffset != b[1] || ch.ObjectKey != segs[c.first+i].ObjectKey {
				t.Errorf("ChunksFrom(%d, %d)[%d] = [%d, %d) in %s, want [%d, %d) in %s",
					c.offset, c.limit, i, ch.BaseOffset, ch.EndOffset, ch.ObjectKey, b[0], b[1], segs[c.first+i].ObjectKey)
			}
		}
	}
	for _, off := range []int64{21, 1000, -1} {
		if _, err := s.ChunksFrom(ctx(t), tp.ID, 0, off, 10); !errors.Is(err, metastore.ErrOffsetOutOfRange) {
			t.Errorf("ChunksFrom(%d) with next offset 20 = %v, want ErrOffsetOutOfRange", off, err)
		}
	}
	// An empty partition: offset 0 is the high watermark.
	if cs, err := s.ChunksFrom(ctx(t), tp.ID, 1, 0, 10); err != nil || len(cs) != 0 {
		t.Errorf("empty partition: %v, %v", cs, err)
	}
	if _, err := s.ChunksFrom(ctx(t), tp.ID, 1, 1, 10); !errors.Is(err, metastore.ErrOffsetOutOfRange) {
		t.Errorf("empty partition offset 1: %v, want ErrOffsetOutOfRange", err)
	}
	if _, err := s.ChunksFrom(ctx(t), tp.ID, 2, 0, 10); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("partition 2 of 2: %v, want ErrUnknownPartition", err)
	}
	if _, err := s.ChunksFrom(ctx(t), uuid.New(), 0, 0, 10); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("unknown topic: %v, want ErrUnknownPartition", err)
	}
}

func testChunkForTimestamp(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "times", 2)
	// Chunk max timestamps 100, 300, 200, 400: not monotonic, as producer
	// clocks are not.
	for _, ts := range []int64{100, 300, 200, 400} {
		commit(t, s, segment(chunk(tp.ID, 0, plain(2, ts-50), plain(3, ts))))
	}
	cases := []struct {
		ts   int64
		base int64 // -1: none
	}{
		{-1, 0}, {0, 0}, {100, 0}, {101, 5}, {200, 5}, {300, 5}, {301, 15}, {400, 15}, {401, -1},
	}
	for _, c := range cases {
		ch, ok, err := s.ChunkForTimestamp(ctx(t), tp.ID, 0, c.ts)
		if err != nil {
			t.Fatalf("ChunkForTimestamp(%d): %v", c.ts, err)
		}
		switch {
		case c.base < 0 && ok:
			t.Errorf("ChunkForTimestamp(%d) = [%d, %d), want none", c.ts, ch.BaseOffset, ch.EndOffset)
		case c.base >= 0 && !ok:
			t.Errorf("ChunkForTimestamp(%d) = none, want chunk at %d", c.ts, c.base)
		case ok && (ch.BaseOffset != c.base || ch.EndOffset != c.base+5 || ch.MaxTimestamp < c.ts):
			t.Errorf("ChunkForTimestamp(%d) = %+v, want chunk at %d", c.ts, ch, c.base)
		}
	}
	if _, ok, err := s.ChunkForTimestamp(ctx(t), tp.ID, 1, 0); err != nil || ok {
		t.Errorf("empty partition: ok=%v, %v", ok, err)
	}
	if _, _, err := s.ChunkForTimestamp(ctx(t), tp.ID, 7, 0); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Errorf("unknown partition: %v, want ErrUnknownPartition", err)
	}
}

func testAllocateProducerID(t *testing.T, s metastore.Store) {
	const goroutines, each = 8, 40
	ids := make([][]int64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				id, err := s.AllocateProducerID(ctx(t))
				if err != nil {
					t.Error(err)
					return
				}
				ids[g] = append(ids[g], id)
			}
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, l := range ids {
		for _, id := range l {
			if id < 0 {
				t.Errorf("negative producer id %d", id)
			}
			if seen[id] {
				t.Errorf("producer id %d handed out twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d distinct ids, want %d", len(seen), goroutines*each)
	}
}

func testDeleteRecords(t *testing.T, s metastore.Store) {
	tp := mustTopic(t, s, "trim", 1)
	commit(t, s, segment(chunk(tp.ID, 0, plain(10, 1))))
	commit(t, s, segment(chunk(tp.ID, 0, plain(5, 2))))

	start, err := s.DeleteRecords(ctx(t), tp.ID, 0, 4)
	if err != nil || start != 4 {
		t.Fatalf("DeleteRecords(4) = %d, %v; want 4", start, err)
	}
	// Never moves back.
	if start, err = s.DeleteRecords(ctx(t), tp.ID, 0, 2); err != nil || start != 4 {
		t.Fatalf("DeleteRecords(2) after 4 = %d, %v; want 4", start, err)
	}
	if p := partition(t, s, tp.ID, 0); p.LogStartOffset != 4 || p.NextOffset != 15 {
		t.Fatalf("partition after delete: log start %d next %d", p.LogStartOffset, p.NextOffset)
	}
	if _, err := s.ChunksFrom(ctx(t), tp.ID, 0, 3, 10); !errors.Is(err, metastore.ErrOffsetOutOfRange) {
		t.Fatalf("ChunksFrom below log start: %v, want ErrOffsetOutOfRange", err)
	}
	// The chunk holding the new log start is still found.
	cs, err := s.ChunksFrom(ctx(t), tp.ID, 0, 4, 10)
	if err != nil || len(cs) == 0 || cs[0].BaseOffset != 0 {
		t.Fatalf("ChunksFrom(4) = %+v, %v", cs, err)
	}
	if _, err := s.DeleteRecords(ctx(t), tp.ID, 0, 16); !errors.Is(err, metastore.ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecords above the high watermark: %v", err)
	}
	if p := partition(t, s, tp.ID, 0); p.LogStartOffset != 4 {
		t.Fatalf("a refused DeleteRecords moved the log start to %d", p.LogStartOffset)
	}
	if start, err = s.DeleteRecords(ctx(t), tp.ID, 0, -1); err != nil || start != 15 {
		t.Fatalf("DeleteRecords(-1) = %d, %v; want the high watermark 15", start, err)
	}
	if _, err := s.DeleteRecords(ctx(t), tp.ID, 3, 0); !errors.Is(err, metastore.ErrUnknownPartition) {
		t.Fatalf("DeleteRecords on a missing partition: %v", err)
	}
}
