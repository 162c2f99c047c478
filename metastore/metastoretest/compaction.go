package metastoretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// RunCompaction runs the suite of metastore.CompactionStore. open returns a
// store over a fresh, empty metastore, once per subtest; the store must also
// implement metastore.Store, which the suite uses to create topics and
// commit segments. The suite closes it.
func RunCompaction(t *testing.T, open func(t *testing.T) metastore.CompactionStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s compactionStore)
	}{
		{"BacklogTracksLevel0Chunks", testBacklog},
		{"BacklogsSelectsByBytesCountAndAge", testBacklogsSelect},
		{"SwapReplacesRun", testSwapReplacesRun},
		{"SwapKeepsTimestampIndex", testSwapTimestamps},
		{"SwapRefusesChangedRows", testSwapConflict},
		{"SwapRefusesMalformed", testSwapInvalid},
		{"SwapSetsCleanedOffset", testSwapCleanedOffset},
		{"ConcurrentSwapsAndCommits", testSwapConcurrent},
		{"SwapObjectSeveralPartitions", testSwapObject},
		{"SwapObjectLeavesOutChanged", testSwapObjectPartial},
		{"SwapObjectAllLeftOut", testSwapObjectNone},
		{"SwapObjectRefusesMalformed", testSwapObjectInvalid},
		{"SwapObjectCleanedOffset", testSwapObjectCleanedOffset},
		{"SwapObjectManyPartitions", testSwapObjectMany},
		{"SwapObjectInSeveralCalls", testSwapObjectSeveralCalls},
		{"DropChunksBelowStart", testDropChunksBelowStart},
		{"DeleteTopicMarksObjects", testDeleteTopicMarks},
		{"MarkStrayObjects", testMarkStray},
		{"DeleteObjectRows", testDeleteObjectRows},
		{"Leases", testLeases},
		{"CompactionStats", testCompactionStats},
		{"ClaimBlocksLaterCommit", testClaimBlocksCommit},
		{"ClaimLeavesCommittedKeys", testClaimLeavesCommitted},
		{"ClaimBlocksLaterSwap", testClaimBlocksSwap},
		{"ClaimsAreTombstones", testClaimTombstones},
		{"ClaimsRaceCommits", testClaimRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := open(t)
			s, ok := cs.(compactionStore)
			if !ok {
				t.Fatalf("%T does not implement metastore.Store and KnownObjects", cs)
			}
			t.Cleanup(s.Close)
			tc.fn(t, s)
		})
	}
}

type compactionStore interface {
	metastore.Store
	metastore.CompactionStore
	// KnownObjects returns the keys that have the objects row of a
	// committed object; both backends have it, for inspection.
	KnownObjects(ctx context.Context, keys []string) (map[string]bool, error)
}

// tick lets the clock move past the millisecond of the last write, for
// stores that keep times in milliseconds.
func tick() { time.Sleep(5 * time.Millisecond) }

// l1Swap builds a swap of old into a new object whose chunks split the old
// offsets at the given points.
func l1Swap(topic uuid.UUID, p int32, old []metastore.Chunk, splits ...int64) metastore.ChunkSwap {
	sw := metastore.ChunkSwap{TopicID: topic, Partition: p, ObjectKey: "l1/" + uuid.NewString()}
	for _, c := range old {
		sw.Old = append(sw.Old, c.Ref())
	}
	bounds := append([]int64{old[0].BaseOffset}, splits...)
	bounds = append(bounds, old[len(old)-1].EndOffset)
	var pos int64
	for i := 0; i+1 < len(bounds); i++ {
		sw.New = append(sw.New, metastore.Chunk{
			BaseOffset: bounds[i], EndOffset: bounds[i+1],
			Start: pos, Length: 100, RawLength: 400, BatchCount: 2, MaxTimestamp: 1000 + bounds[i+1],
		})
		pos += 100
	}
	sw.ObjectSize = pos + 200
	return sw
}

func backlog(t *testing.T, s compactionStore, topic uuid.UUID, p int32) metastore.Backlog {
	t.Helper()
	b, err := s.PartitionBacklog(ctx(t), topic, p)
	if err != nil {
		t.Fatalf("PartitionBacklog(%d): %v", p, err)
	}
	return b
}

func unreferenced(t *testing.T, s compactionStore, grace time.Duration) []string {
	t.Helper()
	refs, err := s.UnreferencedObjects(ctx(t), grace, 1000)
	if err != nil {
		t.Fatalf("UnreferencedObjects: %v", err)
	}
	keys := make([]string, len(refs))
	for i, r := range refs {
		keys[i] = r.Key
	}
	slices.Sort(keys)
	return keys
}

func sorted(keys ...string) []string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	return keys
}

func testBacklog(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "backlog", 2)
	if b := backlog(t, s, tp.ID, 0); b.Level0Chunks != 0 || b.FirstLevel0Offset != -1 || !b.OldestLevel0.IsZero() {
		t.Fatalf("backlog of an empty partition = %+v", b)
	}
	before := time.Now().Add(-time.Second)
	var bytes int64
	for i := range 3 {
		seg := segment(chunk(tp.ID, 0, plain(5, 1)), chunk(tp.ID, 1, plain(2, 1)))
		if i > 0 {
			seg = segment(chunk(tp.ID, 0, plain(5, 1)))
		}
		bytes += seg.Chunks[0].Length
		commit(t, s, seg)
	}
	after := time.Now().Add(time.Second)
	b := backlog(t, s, tp.ID, 0)
	if b.TopicID != tp.ID || b.Partition != 0 || b.Level0Chunks != 3 || b.Level0Bytes != bytes || b.FirstLevel0Offset != 0 {
		t.Errorf("backlog of partition 0 = %+v, want 3 chunks of %d bytes from offset 0", b, bytes)
	}
	if b.OldestLevel0.Before(before) || b.OldestLevel0.After(after) {
		t.Errorf("oldest level-0 chunk committed at %v, want between %v and %v", b.OldestLevel0, before, after)
	}
	if b := backlog(t, s, tp.ID, 1); b.Level0Chunks != 1 || b.FirstLevel0Offset != 0 {
		t.Errorf("backlog of partition 1 = %+v", b)
	}
	// A rejected chunk adds nothing.
	commit(t, s, segment(chunk(tp.ID, 9, plain(1, 1))))
	if b := backlog(t, s, tp.ID, 0); b.Level0Chunks != 3 {
		t.Errorf("after a rejected chunk: %+v", b)
	}
}

// testBacklogsSelect checks each merge threshold alone: partition 0 has
// four small chunks, partition 1 one large chunk, partition 2 none.
func testBacklogsSelect(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "select", 3)
	var small, large int64 // level-0 bytes of partitions 0 and 1
	for range 4 {
		seg := segment(chunk(tp.ID, 0, plain(1, 1)))
		small += seg.Chunks[0].Length
		commit(t, s, seg)
	}
	seg := segment(chunk(tp.ID, 1, plain(200, 1)))
	large = seg.Chunks[0].Length
	commit(t, s, seg)
	if large <= small {
		t.Fatalf("partition 1 holds %d bytes, partition 0 %d; the test needs partition 1 larger", large, small)
	}
	parts := func(bs []metastore.Backlog) []int32 {
		var ps []int32
		for _, b := range bs {
			if b.TopicID != tp.ID {
				t.Fatalf("backlog of unknown topic %s", b.TopicID)
			}
			ps = append(ps, b.Partition)
		}
		return ps
	}
	const never = 1 << 40 // a byte threshold no partition reaches
	for _, tc := range []struct {
		name  string
		due   metastore.MergeThresholds
		limit int
		want  []int32
	}{
		{"more than 3 chunks", metastore.MergeThresholds{MinChunks: 3, MinBytes: never, MaxAge: time.Hour}, 10, []int32{0}},
		{"more than 4 chunks", metastore.MergeThresholds{MinChunks: 4, MinBytes: never, MaxAge: time.Hour}, 10, nil},
		{"any chunk", metastore.MergeThresholds{MinChunks: 0, MinBytes: never, MaxAge: time.Hour}, 10, []int32{0, 1}},
		{"bytes of the large chunk", metastore.MergeThresholds{MinChunks: 100, MinBytes: large, MaxAge: time.Hour}, 10, []int32{1}},
		{"one byte more", metastore.MergeThresholds{MinChunks: 100, MinBytes: large + 1, MaxAge: time.Hour}, 10, nil},
		{"bytes of the small chunks", metastore.MergeThresholds{MinChunks: 100, MinBytes: small, MaxAge: time.Hour}, 10, []int32{0, 1}},
		{"under all three", metastore.MergeThresholds{MinChunks: 4, MinBytes: large + 1, MaxAge: time.Hour}, 10, nil},
	} {
		bs, err := s.Backlogs(ctx(t), tc.due, tc.limit)
		if err != nil || !slices.Equal(parts(bs), tc.want) {
			t.Fatalf("Backlogs(%s: %+v) = %v, %v; want %v", tc.name, tc.due, parts(bs), err, tc.want)
		}
		for _, b := range bs {
			if want := map[int32]int{0: 4, 1: 1}[b.Partition]; b.Level0Chunks != want {
				t.Errorf("backlog %+v, want %d chunks", b, want)
			}
			if want := map[int32]int64{0: small, 1: large}[b.Partition]; b.Level0Bytes != want {
				t.Errorf("backlog %+v, want %d bytes", b, want)
			}
		}
	}
	tick()
	// By age, oldest first; partition 2 has no chunks at all.
	byAge := metastore.MergeThresholds{MinChunks: 100, MinBytes: never, MaxAge: time.Millisecond}
	if bs, err := s.Backlogs(ctx(t), byAge, 10); err != nil || !slices.Equal(parts(bs), []int32{0, 1}) {
		t.Fatalf("Backlogs(older than 1ms) = %v, %v; want [0 1]", parts(bs), err)
	}
	if bs, err := s.Backlogs(ctx(t), byAge, 1); err != nil || !slices.Equal(parts(bs), []int32{0}) {
		t.Fatalf("Backlogs(older than 1ms, limit 1) = %v, %v; want [0]", parts(bs), err)
	}
	// Once partition 1's chunk is merged its backlog is empty: a zero byte
	// threshold does not select it.
	if err := metastore.SwapChunks(ctx(t), s, l1Swap(tp.ID, 1, walk(t, s, tp.ID, 1))); err != nil {
		t.Fatalf("SwapChunks: %v", err)
	}
	if b := backlog(t, s, tp.ID, 1); b.Level0Chunks != 0 || b.Level0Bytes != 0 {
		t.Fatalf("backlog after the merge = %+v, want none", b)
	}
	zero := metastore.MergeThresholds{MinChunks: 100, MinBytes: 0, MaxAge: time.Hour}
	if bs, err := s.Backlogs(ctx(t), zero, 10); err != nil || !slices.Equal(parts(bs), []int32{0}) {
		t.Fatalf("Backlogs(at least 0 bytes) = %v, %v; want [0]", parts(bs), err)
	}
}

func testSwapReplacesRun(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "swap", 2)
	var keys []string
	for range 4 {
		seg := segment(chunk(tp.ID, 0, plain(3, 10), plain(2, 20)), chunk(tp.ID, 1, plain(4, 5)))
		keys = append(keys, seg.ObjectKey)
		commit(t, s, seg)
	}
	old := walk(t, s, tp.ID, 0)
	if len(old) != 4 {
		t.Fatalf("partition 0 has %d chunks, want 4", len(old))
	}
	sw := l1Swap(tp.ID, 0, old[:3], 7)
	if err := metastore.SwapChunks(ctx(t), s, sw); err != nil {
		t.Fatalf("SwapChunks: %v", err)
	}
	got := walk(t, s, tp.ID, 0)
	if len(got) != 3 {
		t.Fatalf("after the swap partition 0 has %d chunks, want 3: %+v", len(got), got)
	}
	for i, want := range sw.New {
		want.TopicID, want.Partition, want.ObjectKey, want.ObjectSize, want.Level = tp.ID, 0, sw.ObjectKey, sw.ObjectSize, 1
		if !chunkEqual(got[i], want) {
			t.Errorf("row %d = %+v, want %+v", i, got[i], want)
		}
	}
	if got[2].Ref() != old[3].Ref() || got[2].Level != 0 {
		t.Errorf("row after the run = %+v, want %+v unchanged", got[2], old[3])
	}
	b := backlog(t, s, tp.ID, 0)
	if b.Level0Chunks != 1 || b.FirstLevel0Offset != old[3].BaseOffset || b.Level0Bytes != old[3].Length {
		t.Errorf("backlog after the swap = %+v, want the one chunk at %d", b, old[3].BaseOffset)
	}
	if b1 := backlog(t, s, tp.ID, 1); b1.Level0Chunks != 4 {
		t.Errorf("partition 1's backlog changed: %+v", b1)
	}
	// Partition 1 still references the level-0 objects.
	tick()
	if u := unreferenced(t, s, 0); len(u) != 0 {
		t.Fatalf("objects %v marked unreferenced while partition 1 uses them", u)
	}
	old1 := walk(t, s, tp.ID, 1)
	if err := metastore.SwapChunks(ctx(t), s, l1Swap(tp.ID, 1, old1[:3])); err != nil {
		t.Fatal(err)
	}
	tick()
	if u, want := unreferenced(t, s, 0), sorted(keys[:3]...); !slices.Equal(u, want) {
		t.Fatalf("unreferenced objects %v, want %v", u, want)
	}
	if u := unreferenced(t, s, time.Hour); len(u) != 0 {
		t.Fatalf("objects %v past an hour's grace already", u)
	}
	known, err := s.KnownObjects(ctx(t), []string{keys[0], sw.ObjectKey, "never/written"})
	if err != nil || len(known) != 2 || !known[keys[0]] || !known[sw.ObjectKey] {
		t.Fatalf("KnownObjects = %v, %v", known, err)
	}
}

func testSwapTimestamps(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "times", 1)
	for _, ts := range []int64{100, 300, 200, 400, 500} {
		commit(t, s, segment(chunk(tp.ID, 0, plain(10, ts))))
	}
	old := walk(t, s, tp.ID, 0)
	sw := l1Swap(tp.ID, 0, old[1:4], 20, 30) // [10,20) [20,30) [30,40)
	sw.New[0].MaxTimestamp, sw.New[1].MaxTimestamp, sw.New[2].MaxTimestamp = 300, 150, 400
	if err := metastore.SwapChunks(ctx(t), s, sw); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ts   int64
		base int64
		ok   bool
	}{{50, 0, true}, {100, 0, true}, {101, 10, true}, {300, 10, true}, {301, 30, true}, {400, 30, true}, {450, 40, true}, {501, 0, false}} {
		c, ok, err := s.ChunkForTimestamp(ctx(t), tp.ID, 0, tc.ts)
		if err != nil || ok != tc.ok || (ok && c.BaseOffset != tc.base) {
			t.Errorf("ChunkForTimestamp(%d) = chunk at %d, %v, %v; want %d, %v", tc.ts, c.BaseOffset, ok, err, tc.base, tc.ok)
		}
	}
}

func testSwapConflict(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "conflict", 1)
	for range 4 {
		commit(t, s, segment(chunk(tp.ID, 0, plain(5, 1))))
	}
	old := walk(t, s, tp.ID, 0)
	cases := map[string]func(sw *metastore.ChunkSwap){
		"other object key": func(sw *metastore.ChunkSwap) { sw.Old[1].ObjectKey = "elsewhere" },
		"missing row": func(sw *metastore.ChunkSwap) {
			// Claims [5,15) is one row: the index has two.
			sw.Old = []metastore.ChunkRef{old[0].Ref(), {BaseOffset: 5, EndOffset: 15, ObjectKey: old[1].ObjectKey}}
			sw.New[len(sw.New)-1].EndOffset = 15
		},
		"row not in index": func(sw *metastore.ChunkSwap) {
			// [15,20) exists, [20,25) does not.
			sw.Old = []metastore.ChunkRef{old[3].Ref(), {BaseOffset: 20, EndOffset: 25, ObjectKey: old[3].ObjectKey + "x"}}
			sw.New = []metastore.Chunk{{BaseOffset: 15, EndOffset: 25, Length: 10, RawLength: 40, BatchCount: 1}}
		},
	}
	for name, edit := range cases {
		sw := l1Swap(tp.ID, 0, old[:2])
		edit(&sw)
		if err := metastore.SwapChunks(ctx(t), s, sw); !errors.Is(err, metastore.ErrChunksChanged) {
			t.Errorf("%s: SwapChunks = %v, want ErrChunksChanged", name, err)
		}
		if known, _ := s.KnownObjects(ctx(t), []string{sw.ObjectKey}); known[sw.ObjectKey] {
			t.Errorf("%s: a refused swap left an object row", name)
		}
	}
	// Two swaps of the same rows: the second finds them gone.
	first := l1Swap(tp.ID, 0, old[:2])
	if err := metastore.SwapChunks(ctx(t), s, first); err != nil {
		t.Fatal(err)
	}
	if err := metastore.SwapChunks(ctx(t), s, l1Swap(tp.ID, 0, old[:2])); !errors.Is(err, metastore.ErrChunksChanged) {
		t.Errorf("second swap of the same rows = %v, want ErrChunksChanged", err)
	}
	// A swap overlapping the new rows only partly.
	now := walk(t, s, tp.ID, 0)
	if err := metastore.SwapChunks(ctx(t), s, l1Swap(tp.ID, 0, old[1:3])); !errors.Is(err, metastore.ErrChunksChanged) {
		t.Errorf("swap of replaced and current rows = %v, want ErrChunksChanged", err)
	}
	if got := walk(t, s, tp.ID, 0); len(got) != len(now) {
		t.Errorf("refused swaps changed the index: %d rows, had %d", len(got), len(now))
	}
	if err := s.DeleteTopic(ctx(t), "conflict"); err != nil {
		t.Fatal(err)
	}
	if err := metastore.SwapChunks(ctx(t), s, l1Swap(tp.ID, 0, old[2:])); !errors.Is(err, metastore.ErrChunksChanged) {
		t.Errorf("swap in a deleted topic = %v, want ErrChunksChanged", err)
	}
}

func testSwapInvalid(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "invalid", 1)
	for range 3 {
		commit(t, s, segment(chunk(tp.ID, 0, plain(5, 1))))
	}
	old := walk(t, s, tp.ID, 0)
	cases := map[string]func(sw *metastore.ChunkSwap){
		"gap in new rows":     func(sw *metastore.ChunkSwap) { sw.New[1].BaseOffset++ },
		"new rows end early":  func(sw *metastore.ChunkSwap) { sw.New[1].EndOffset-- },
		"new rows start late": func(sw *metastore.ChunkSwap) { sw.New[0].BaseOffset++ },
		"empty new row":       func(sw *metastore.ChunkSwap) { sw.New[0].EndOffset = sw.New[0].BaseOffset },
		"gap in old rows":     func(sw *metastore.ChunkSwap) { sw.Old = []metastore.ChunkRef{sw.Old[0], sw.Old[2]} },
		"no new rows":         func(sw *metastore.ChunkSwap) { sw.New = nil },
		"bytes past object":   func(sw *metastore.ChunkSwap) { sw.New[1].Length = sw.ObjectSize },
		"skip list":           func(sw *metastore.ChunkSwap) { sw.New[0].Skip = []int32{0} },
		"same object":         func(sw *metastore.ChunkSwap) { sw.ObjectKey = sw.Old[0].ObjectKey },
	}
	for name, edit := range cases {
		sw := l1Swap(tp.ID, 0, old, 7)
		edit(&sw)
		if err := metastore.SwapChunks(ctx(t), s, sw); !errors.Is(err, metastore.ErrInvalidSwap) {
			t.Errorf("%s: SwapChunks = %v, want ErrInvalidSwap", name, err)
		}
	}
	if got := walk(t, s, tp.ID, 0); len(got) != 3 || got[0].Level != 0 {
		t.Errorf("invalid swaps changed the index: %+v", got)
	}
}

func testSwapCleanedOffset(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "cleaned", 1)
	for range 3 {
		commit(t, s, segment(chunk(tp.ID, 0, plain(5, 1))))
	}
	old := walk(t, s, tp.ID, 0)
	sw := l1Swap(tp.ID, 0, old[:2])
	sw.CleanedOffset = 10
	if err := metastore.SwapChunks(ctx(t), s, sw); err != nil {
		t.Fatal(err)
	}
	if b := backlog(t, s, tp.ID, 0); b.CleanedOffset != 10 || b.Level0Chunks != 1 {
		t.Errorf("backlog = %+v, want cleaned offset 10 and one level-0 chunk", b)
	}
	sw = l1Swap(tp.ID, 0, walk(t, s, tp.ID, 0))
	if err := metastore.SwapChunks(ctx(t), s, sw); err != nil {
		t.Fatal(err)
	}
	if b := backlog(t, s, tp.ID, 0); b.CleanedOffset != 10 || b.Level0Chunks != 0 || b.FirstLevel0Offset != -1 || !b.OldestLevel0.IsZero() {
		t.Errorf("backlog = %+v, want cleaned offset 10 kept and no level-0 chunk", b)
	}
}

// testSwapConcurrent swaps the front of a partition while commits append to
// it; the index tiles the partition throughout.
func testSwapConcurrent(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "busy", 2)
	for range 10 {
		commit(t, s, segment(chunk(tp.ID, 0, plain(3, 1)), chunk(tp.ID, 1, plain(1, 1))))
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 100)
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := s.CommitSegment(ctx(t), segment(chunk(tp.ID, 0, plain(3, 1)), chunk(tp.ID, 1, plain(1, 1)))); err != nil {
				errs <- err
				return
			}
		}
	})
	swaps := 0
	for range 10 {
		cs := contiguous(t, s, tp.ID, 0)
		var run []metastore.Chunk
		for _, c := range cs {
			if c.Level == 0 && len(run) < 4 {
				run = append(run, c)
			}
		}
		if len(run) == 0 {
			continue
		}
		if err := metastore.SwapChunks(ctx(t), s, l1Swap(tp.ID, 0, run)); err != nil {
			t.Errorf("swap: %v", err)
			break
		}
		swaps++
	}
	// Two compactors racing for the same rows: one wins.
	run := contiguous(t, s, tp.ID, 1)[:3]
	results := make(chan error, 2)
	for range 2 {
		wg.Go(func() { results <- metastore.SwapChunks(ctx(t), s, l1Swap(tp.ID, 1, run)) })
	}
	won := 0
	for range 2 {
		if err := <-results; err == nil {
			won++
		} else if !errors.Is(err, metastore.ErrChunksChanged) {
			t.Errorf("racing swap: %v", err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("commit during swaps: %v", err)
	}
	if won != 1 {
		t.Errorf("%d of two racing swaps succeeded, want 1", won)
	}
	if swaps == 0 {
		t.Error("no swap happened")
	}
	walk(t, s, tp.ID, 0)
	walk(t, s, tp.ID, 1)
	levels := map[int16]int{}
	for _, c := range walk(t, s, tp.ID, 0) {
		levels[c.Level]++
	}
	if b := backlog(t, s, tp.ID, 0); b.Level0Chunks != levels[0] {
		t.Errorf("backlog counts %d level-0 chunks, the index has %d", b.Level0Chunks, levels[0])
	}
}

// contiguous reads a partition's chunks with one ChunksFrom, while commits
// may be adding more, and checks that they follow one another.
func contiguous(t *testing.T, s compactionStore, topic uuid.UUID, p int32) []metastore.Chunk {
	t.Helper()
	cs, err := s.ChunksFrom(ctx(t), topic, p, 0, 1<<20)
	if err != nil {
		t.Fatalf("ChunksFrom(%d): %v", p, err)
	}
	for i := 1; i < len(cs); i++ {
		if cs[i].BaseOffset != cs[i-1].EndOffset {
			t.Fatalf("partition %d: chunk [%d, %d) follows one ending at %d", p, cs[i].BaseOffset, cs[i].EndOffset, cs[i-1].EndOffset)
		}
	}
	return cs
}

func testDropChunksBelowStart(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "retained", 1)
	var keys []string
	for _, n := range []int32{10, 5, 5} {
		seg := segment(chunk(tp.ID, 0, plain(n, 1)))
		keys = append(keys, seg.ObjectKey)
		commit(t, s, seg)
	}
	if n, err := s.DropChunksBelowStart(ctx(t), tp.ID, 0); err != nil || n != 0 {
		t.Fatalf("DropChunksBelowStart at log start 0 = %d, %v", n, err)
	}
	if _, err := s.DeleteRecords(ctx(t), tp.ID, 0, 12); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DropChunksBelowStart(ctx(t), tp.ID, 0); err != nil || n != 1 {
		t.Fatalf("DropChunksBelowStart at log start 12 = %d, %v; want 1", n, err)
	}
	cs := walk(t, s, tp.ID, 0)
	if len(cs) != 2 || cs[0].BaseOffset != 10 {
		t.Fatalf("after the drop: %+v, want the chunks from 10", cs)
	}
	if b := backlog(t, s, tp.ID, 0); b.Level0Chunks != 2 || b.FirstLevel0Offset != 10 {
		t.Errorf("backlog after the drop = %+v", b)
	}
	tick()
	if u := unreferenced(t, s, 0); !slices.Equal(u, keys[:1]) {
		t.Errorf("unreferenced = %v, want %v", u, keys[:1])
	}
	if _, err := s.DeleteRecords(ctx(t), tp.ID, 0, -1); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DropChunksBelowStart(ctx(t), tp.ID, 0); err != nil || n != 2 {
		t.Fatalf("DropChunksBelowStart at the high watermark = %d, %v; want 2", n, err)
	}
	if b := backlog(t, s, tp.ID, 0); b.Level0Chunks != 0 || b.FirstLevel0Offset != -1 {
		t.Errorf("backlog of an emptied partition = %+v", b)
	}
	if n, err := s.DropChunksBelowStart(ctx(t), tp.ID, 7); err != nil || n != 0 {
		t.Errorf("DropChunksBelowStart of a missing partition = %d, %v", n, err)
	}
}

func testDeleteTopicMarks(t *testing.T, s compactionStore) {
	gone := mustTopic(t, s, "gone", 2)
	kept := mustTopic(t, s, "kept", 1)
	own := segment(chunk(gone.ID, 0, plain(1, 1)), chunk(gone.ID, 1, plain(1, 1)))
	shared := segment(chunk(gone.ID, 0, plain(1, 1)), chunk(kept.ID, 0, plain(1, 1)))
	commit(t, s, own)
	commit(t, s, shared)
	if err := s.DeleteTopic(ctx(t), "gone"); err != nil {
		t.Fatal(err)
	}
	tick()
	if u := unreferenced(t, s, 0); !slices.Equal(u, []string{own.ObjectKey}) {
		t.Errorf("unreferenced after DeleteTopic = %v, want [%s]", u, own.ObjectKey)
	}
	bs, err := s.Backlogs(ctx(t), metastore.MergeThresholds{MinChunks: 0, MinBytes: 1 << 40, MaxAge: time.Hour}, 10)
	if err != nil || len(bs) != 1 || bs[0].TopicID != kept.ID {
		t.Errorf("backlogs after DeleteTopic = %+v, %v; want only the kept topic", bs, err)
	}
}

func testMarkStray(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "stray", 1)
	rejected := segment(chunk(tp.ID, 5, plain(1, 1))) // no such partition
	commit(t, s, rejected)
	live := segment(chunk(tp.ID, 0, plain(1, 1)))
	commit(t, s, live)
	if n, err := s.MarkStrayObjects(ctx(t), time.Hour); err != nil || n != 0 {
		t.Fatalf("MarkStrayObjects(1h) = %d, %v; want 0", n, err)
	}
	tick()
	if n, err := s.MarkStrayObjects(ctx(t), 0); err != nil || n != 1 {
		t.Fatalf("MarkStrayObjects(0) = %d, %v; want 1", n, err)
	}
	if n, err := s.MarkStrayObjects(ctx(t), 0); err != nil || n != 0 {
		t.Fatalf("second MarkStrayObjects = %d, %v; want 0", n, err)
	}
	tick()
	if u := unreferenced(t, s, 0); !slices.Equal(u, []string{rejected.ObjectKey}) {
		t.Errorf("unreferenced = %v, want [%s]", u, rejected.ObjectKey)
	}
}

func testDeleteObjectRows(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "rows", 1)
	var keys []string
	for range 3 {
		seg := segment(chunk(tp.ID, 0, plain(2, 1)))
		keys = append(keys, seg.ObjectKey)
		commit(t, s, seg)
	}
	if _, err := s.DeleteRecords(ctx(t), tp.ID, 0, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DropChunksBelowStart(ctx(t), tp.ID, 0); err != nil {
		t.Fatal(err)
	}
	// Only marked rows go; referenced ones stay whatever the caller asks.
	n, err := s.DeleteObjectRows(ctx(t), append(slices.Clone(keys), "never/written"))
	if err != nil || n != 2 {
		t.Fatalf("DeleteObjectRows = %d, %v; want 2", n, err)
	}
	known, err := s.KnownObjects(ctx(t), keys)
	if err != nil || len(known) != 1 || !known[keys[2]] {
		t.Fatalf("KnownObjects after delete = %v, %v; want only %s", known, err, keys[2])
	}
	if cs := walk(t, s, tp.ID, 0); len(cs) != 1 || cs[0].ObjectKey != keys[2] || cs[0].ObjectSize == 0 {
		t.Errorf("chunks after deleting object rows: %+v", cs)
	}
	if n, err := s.DeleteObjectRows(ctx(t), keys); err != nil || n != 0 {
		t.Errorf("second DeleteObjectRows = %d, %v", n, err)
	}
	many := make([]string, 1200)
	for i := range many {
		many[i] = fmt.Sprintf("k/%d", i)
	}
	many[1100] = keys[2]
	if known, err := s.KnownObjects(ctx(t), many); err != nil || len(known) != 1 {
		t.Errorf("KnownObjects of 1200 keys = %v, %v", known, err)
	}
}

func testLeases(t *testing.T, s compactionStore) {
	acquire := func(holder string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.AcquireLease(ctx(t), "compactor", holder, ttl)
		if err != nil {
			t.Fatalf("AcquireLease(%s): %v", holder, err)
		}
		return ok
	}
	if !acquire("a", time.Hour) {
		t.Fatal("a could not take a free lease")
	}
	if acquire("b", time.Hour) {
		t.Fatal("b took a lease a holds")
	}
	if !acquire("a", time.Hour) {
		t.Fatal("a could not renew its lease")
	}
	if ok, err := s.AcquireLease(ctx(t), "other", "b", time.Hour); err != nil || !ok {
		t.Fatalf("b could not take another lease: %v, %v", ok, err)
	}
	if err := s.ReleaseLease(ctx(t), "compactor", "b"); err != nil {
		t.Fatal(err)
	}
	if acquire("b", time.Hour) {
		t.Fatal("a release by b freed a's lease")
	}
	if err := s.ReleaseLease(ctx(t), "compactor", "a"); err != nil {
		t.Fatal(err)
	}
	if !acquire("b", 10*time.Millisecond) {
		t.Fatal("b could not take a released lease")
	}
	time.Sleep(50 * time.Millisecond)
	if !acquire("a", time.Hour) {
		t.Fatal("a could not take an expired lease")
	}
	if acquire("b", time.Hour) {
		t.Fatal("b took the lease back")
	}
}

func testCompactionStats(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "stats", 2)
	var size0 int64
	for i := range 5 {
		seg := segment(chunk(tp.ID, 0, plain(2, 1)))
		if i < 2 {
			seg = segment(chunk(tp.ID, 0, plain(2, 1)), chunk(tp.ID, 1, plain(2, 1)))
		}
		size0 += seg.ObjectSize
		commit(t, s, seg)
	}
	st, err := s.CompactionStats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Levels) != 1 || st.Levels[0] != (metastore.LevelStats{Level: 0, Objects: 5, Bytes: size0}) {
		t.Errorf("levels = %+v, want 5 level-0 objects of %d bytes", st.Levels, size0)
	}
	if st.ChunkRows != 7 || st.MaxPartitionChunkRows != 5 || st.Level0Chunks != 7 || st.OldestLevel0.IsZero() {
		t.Errorf("stats = %+v, want 7 rows, at most 5 per partition, 7 level 0", st)
	}
	sw := l1Swap(tp.ID, 0, walk(t, s, tp.ID, 0))
	if err := metastore.SwapChunks(ctx(t), s, sw); err != nil {
		t.Fatal(err)
	}
	if st, err = s.CompactionStats(ctx(t)); err != nil {
		t.Fatal(err)
	}
	want := []metastore.LevelStats{{Level: 0, Objects: 5, Bytes: size0, Unreferenced: 3}, {Level: 1, Objects: 1, Bytes: sw.ObjectSize}}
	if !slices.Equal(st.Levels, want) {
		t.Errorf("levels = %+v, want %+v", st.Levels, want)
	}
	if st.ChunkRows != 3 || st.MaxPartitionChunkRows != 2 || st.Level0Chunks != 2 {
		t.Errorf("stats = %+v, want 3 rows, at most 2 per partition, 2 level 0", st)
	}
}

// oneObject rewrites swaps built by l1Swap onto one object: a common key,
// each swap's new rows laid out after the previous swap's, and a common
// size.
func oneObject(swaps ...metastore.ChunkSwap) []metastore.ChunkSwap {
	key := "l1/" + uuid.NewString()
	out := make([]metastore.ChunkSwap, len(swaps))
	var pos int64
	for i, sw := range swaps {
		sw.ObjectKey = key
		sw.New = slices.Clone(sw.New)
		for j := range sw.New {
			sw.New[j].Start = pos
			pos += sw.New[j].Length
		}
		out[i] = sw
	}
	for i := range out {
		out[i].ObjectSize = pos + 200
	}
	return out
}

// swapObject calls SwapObject and checks that it returns one result per
// swap.
func swapObject(t *testing.T, s compactionStore, swaps []metastore.ChunkSwap) []error {
	t.Helper()
	results, err := s.SwapObject(ctx(t), swaps)
	if err != nil {
		t.Fatalf("SwapObject: %v", err)
	}
	if len(results) != len(swaps) {
		t.Fatalf("SwapObject returned %d results for %d swaps", len(results), len(swaps))
	}
	return results
}

// swapped checks that the partition's rows are before, then sw.New in sw's
// object at level 1, then after.
func swapped(t *testing.T, s compactionStore, sw metastore.ChunkSwap, before, after []metastore.Chunk) {
	t.Helper()
	got := walk(t, s, sw.TopicID, sw.Partition)
	if len(got) != len(before)+len(sw.New)+len(after) {
		t.Fatalf("%d: %d rows after the swap, want %d before, %d new, %d after: %+v",
			sw.Partition, len(got), len(before), len(sw.New), len(after), got)
	}
	for i, want := range before {
		if !chunkEqual(got[i], want) {
			t.Errorf("%d: row %d = %+v, want %+v unchanged", sw.Partition, i, got[i], want)
		}
	}
	got = got[len(before):]
	for i, want := range sw.New {
		want.TopicID, want.Partition, want.ObjectKey, want.ObjectSize, want.Level = sw.TopicID, sw.Partition, sw.ObjectKey, sw.ObjectSize, 1
		if !chunkEqual(got[i], want) {
			t.Errorf("%d: new row %d = %+v, want %+v", sw.Partition, i, got[i], want)
		}
	}
	got = got[len(sw.New):]
	for i, want := range after {
		if !chunkEqual(got[i], want) {
			t.Errorf("%d: row %d after the run = %+v, want %+v unchanged", sw.Partition, i, got[i], want)
		}
	}
}

// testSwapObject swaps three partitions of one topic and one of another
// into one object; a fourth partition of the first topic keeps the level-0
// objects it shares with them.
func testSwapObject(t *testing.T, s compactionStore) {
	a := mustTopic(t, s, "object-a", 4)
	b := mustTopic(t, s, "object-b", 1)
	var shared, own []string
	for i := range 3 {
		seg := segment(chunk(a.ID, 0, plain(3, 1)), chunk(a.ID, 1, plain(2, 1)), chunk(a.ID, 2, plain(2, 1)),
			chunk(a.ID, 3, plain(2, 1)), chunk(b.ID, 0, plain(1, 100*int64(i+1))))
		shared = append(shared, seg.ObjectKey)
		commit(t, s, seg)
	}
	for range 2 {
		seg := segment(chunk(a.ID, 1, plain(2, 1)), chunk(a.ID, 0, plain(3, 1)))
		own = append(own, seg.ObjectKey)
		commit(t, s, seg)
	}
	a0, a1, a2, b0 := walk(t, s, a.ID, 0), walk(t, s, a.ID, 1), walk(t, s, a.ID, 2), walk(t, s, b.ID, 0)
	if len(a0) != 5 || len(a1) != 5 || len(a2) != 3 || len(b0) != 3 {
		t.Fatalf("partitions have %d, %d, %d and %d chunks, want 5, 5, 3 and 3", len(a0), len(a1), len(a2), len(b0))
	}
	// a/2 and b/0 keep their last chunk. b/0 (timestamps 100, 200, 300)
	// comes after a/0 (timestamps up to 1015): its running maximum must
	// continue from its own rows only.
	bsw := l1Swap(b.ID, 0, b0[:2], 1)
	bsw.New[0].MaxTimestamp, bsw.New[1].MaxTimestamp = 100, 200
	swaps := oneObject(
		l1Swap(a.ID, 0, a0, 6),
		bsw,
		l1Swap(a.ID, 2, a2[:2]),
		l1Swap(a.ID, 1, a1, 4, 8),
	)
	for i, err := range swapObject(t, s, swaps) {
		if err != nil {
			t.Errorf("swap %d: %v", i, err)
		}
	}
	swapped(t, s, swaps[0], nil, nil)
	swapped(t, s, swaps[1], nil, b0[2:])
	swapped(t, s, swaps[2], nil, a2[2:])
	swapped(t, s, swaps[3], nil, nil)
	for p := range int32(2) {
		if bl := backlog(t, s, a.ID, p); bl.Level0Chunks != 0 || bl.Level0Bytes != 0 || bl.FirstLevel0Offset != -1 || !bl.OldestLevel0.IsZero() {
			t.Errorf("backlog of a/%d after the swap = %+v, want none", p, bl)
		}
	}
	for _, tc := range []struct {
		name string
		bl   metastore.Backlog
		last metastore.Chunk
	}{{"a/2", backlog(t, s, a.ID, 2), a2[2]}, {"b/0", backlog(t, s, b.ID, 0), b0[2]}} {
		if tc.bl.Level0Chunks != 1 || tc.bl.FirstLevel0Offset != tc.last.BaseOffset || tc.bl.Level0Bytes != tc.last.Length {
			t.Errorf("backlog of %s = %+v, want its last chunk at %d", tc.name, tc.bl, tc.last.BaseOffset)
		}
	}
	if bl := backlog(t, s, a.ID, 3); bl.Level0Chunks != 3 || bl.FirstLevel0Offset != 0 {
		t.Errorf("backlog of a/3 = %+v, want its 3 chunks", bl)
	}
	for _, tc := range []struct {
		p    metastore.PartitionKey
		ts   int64
		base int64
	}{
		{metastore.PartitionKey{TopicID: b.ID, Partition: 0}, 100, 0},
		{metastore.PartitionKey{TopicID: b.ID, Partition: 0}, 150, 1},
		{metastore.PartitionKey{TopicID: b.ID, Partition: 0}, 250, 2},
		{metastore.PartitionKey{TopicID: a.ID, Partition: 0}, 1007, 6},
		{metastore.PartitionKey{TopicID: a.ID, Partition: 1}, 1005, 4},
	} {
		c, ok, err := s.ChunkForTimestamp(ctx(t), tc.p.TopicID, tc.p.Partition, tc.ts)
		if err != nil || !ok || c.BaseOffset != tc.base {
			t.Errorf("ChunkForTimestamp(%s/%d, %d) = chunk at %d, %v, %v; want %d", tc.p.TopicID, tc.p.Partition, tc.ts, c.BaseOffset, ok, err, tc.base)
		}
	}
	tick()
	if u, want := unreferenced(t, s, 0), sorted(own...); !slices.Equal(u, want) {
		t.Errorf("unreferenced objects %v, want %v (not %v, which a/3 uses)", u, want, shared)
	}
	known, err := s.KnownObjects(ctx(t), []string{swaps[0].ObjectKey})
	if err != nil || !known[swaps[0].ObjectKey] {
		t.Errorf("KnownObjects(%s) = %v, %v", swaps[0].ObjectKey, known, err)
	}
	st, err := s.CompactionStats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Levels) != 2 || st.Levels[1] != (metastore.LevelStats{Level: 1, Objects: 1, Bytes: swaps[0].ObjectSize}) ||
		st.Levels[0].Objects != 5 || st.Levels[0].Unreferenced != 2 {
		t.Errorf("levels = %+v, want 5 level-0 objects (2 unreferenced) and one level-1 object of %d bytes", st.Levels, swaps[0].ObjectSize)
	}
	if st.Level0Chunks != 5 {
		t.Errorf("stats count %d level-0 chunks, want 5", st.Level0Chunks)
	}
}

// testSwapObjectPartial leaves out the swaps of a partition swapped since
// it was read and of a deleted topic, and applies the others.
func testSwapObjectPartial(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "partial", 3)
	doomed := mustTopic(t, s, "doomed", 1)
	for range 3 {
		commit(t, s, segment(chunk(tp.ID, 0, plain(2, 1)), chunk(tp.ID, 1, plain(2, 1)),
			chunk(tp.ID, 2, plain(2, 1)), chunk(doomed.ID, 0, plain(2, 1))))
	}
	p0, p1, p2, d0 := walk(t, s, tp.ID, 0), walk(t, s, tp.ID, 1), walk(t, s, tp.ID, 2), walk(t, s, doomed.ID, 0)
	swaps := oneObject(l1Swap(tp.ID, 0, p0), l1Swap(tp.ID, 1, p1, 2), l1Swap(doomed.ID, 0, d0), l1Swap(tp.ID, 2, p2[1:]))
	// Another compactor swapped the front of partition 1 meanwhile.
	if err := metastore.SwapChunks(ctx(t), s, l1Swap(tp.ID, 1, p1[:2])); err != nil {
		t.Fatal(err)
	}
	p1now := walk(t, s, tp.ID, 1)
	if err := s.DeleteTopic(ctx(t), "doomed"); err != nil {
		t.Fatal(err)
	}
	results := swapObject(t, s, swaps)
	for i, want := range []bool{true, false, false, true} {
		switch {
		case want && results[i] != nil:
			t.Errorf("swap %d (%d): %v, want applied", i, swaps[i].Partition, results[i])
		case !want && !errors.Is(results[i], metastore.ErrChunksChanged):
			t.Errorf("swap %d (%d): %v, want ErrChunksChanged", i, swaps[i].Partition, results[i])
		case !want && !strings.Contains(results[i].Error(), swaps[i].TopicID.String()):
			t.Errorf("swap %d: %q does not name the partition", i, results[i])
		}
	}
	swapped(t, s, swaps[0], nil, nil)
	swapped(t, s, swaps[3], p2[:1], nil)
	if got := walk(t, s, tp.ID, 1); len(got) != len(p1now) {
		t.Errorf("partition 1 has %d rows, had %d", len(got), len(p1now))
	} else {
		for i := range got {
			if !chunkEqual(got[i], p1now[i]) {
				t.Errorf("partition 1 row %d = %+v, want %+v unchanged", i, got[i], p1now[i])
			}
		}
	}
	if bl := backlog(t, s, tp.ID, 1); bl.Level0Chunks != 1 || bl.FirstLevel0Offset != p1[2].BaseOffset {
		t.Errorf("backlog of partition 1 = %+v, want its last chunk", bl)
	}
	if known, err := s.KnownObjects(ctx(t), []string{swaps[0].ObjectKey}); err != nil || !known[swaps[0].ObjectKey] {
		t.Errorf("KnownObjects = %v, %v; want the new object", known, err)
	}
}

// testSwapObjectNone: when every swap is left out, nothing is written.
func testSwapObjectNone(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "none", 2)
	for range 3 {
		commit(t, s, segment(chunk(tp.ID, 0, plain(2, 1)), chunk(tp.ID, 1, plain(2, 1))))
	}
	p0, p1 := walk(t, s, tp.ID, 0), walk(t, s, tp.ID, 1)
	swaps := oneObject(l1Swap(tp.ID, 0, p0), l1Swap(tp.ID, 1, p1))
	swaps[0].Old[1].ObjectKey = "elsewhere"
	if err := metastore.SwapChunks(ctx(t), s, l1Swap(tp.ID, 1, p1[1:])); err != nil {
		t.Fatal(err)
	}
	p1now := walk(t, s, tp.ID, 1)
	before, err := s.CompactionStats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range swapObject(t, s, swaps) {
		if !errors.Is(err, metastore.ErrChunksChanged) {
			t.Errorf("swap %d: %v, want ErrChunksChanged", i, err)
		}
	}
	if known, err := s.KnownObjects(ctx(t), []string{swaps[0].ObjectKey}); err != nil || len(known) != 0 {
		t.Errorf("KnownObjects = %v, %v; want no row for the object", known, err)
	}
	if got := walk(t, s, tp.ID, 0); len(got) != 3 || got[0].Level != 0 || got[2].Level != 0 {
		t.Errorf("partition 0 changed: %+v", got)
	}
	if got := walk(t, s, tp.ID, 1); len(got) != len(p1now) || got[1].ObjectKey != p1now[1].ObjectKey {
		t.Errorf("partition 1 changed: %+v, had %+v", got, p1now)
	}
	after, err := s.CompactionStats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(after.Levels, before.Levels) || after.ChunkRows != before.ChunkRows {
		t.Errorf("stats changed from %+v to %+v", before, after)
	}
}

func testSwapObjectInvalid(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "invalid-object", 2)
	for range 3 {
		commit(t, s, segment(chunk(tp.ID, 0, plain(2, 1)), chunk(tp.ID, 1, plain(2, 1))))
	}
	p0, p1 := walk(t, s, tp.ID, 0), walk(t, s, tp.ID, 1)
	valid := func() []metastore.ChunkSwap { return oneObject(l1Swap(tp.ID, 0, p0), l1Swap(tp.ID, 1, p1)) }
	var keys []string
	cases := map[string]func() []metastore.ChunkSwap{
		"no swaps":    func() []metastore.ChunkSwap { return nil },
		"empty swaps": func() []metastore.ChunkSwap { return []metastore.ChunkSwap{} },
		"same partition twice": func() []metastore.ChunkSwap {
			return oneObject(l1Swap(tp.ID, 0, p0[:1]), l1Swap(tp.ID, 1, p1), l1Swap(tp.ID, 0, p0[1:]))
		},
		"different keys": func() []metastore.ChunkSwap {
			sw := valid()
			sw[1].ObjectKey += "x"
			return sw
		},
		"different sizes": func() []metastore.ChunkSwap {
			sw := valid()
			sw[1].ObjectSize++
			return sw
		},
		"one malformed swap": func() []metastore.ChunkSwap {
			sw := valid()
			sw[1].New[0].EndOffset--
			return sw
		},
	}
	for name, build := range cases {
		swaps := build()
		if len(swaps) > 0 {
			keys = append(keys, swaps[0].ObjectKey, swaps[len(swaps)-1].ObjectKey)
		}
		results, err := s.SwapObject(ctx(t), swaps)
		if !errors.Is(err, metastore.ErrInvalidSwap) || results != nil {
			t.Errorf("%s: SwapObject = %v, %v; want ErrInvalidSwap", name, results, err)
		}
	}
	if known, err := s.KnownObjects(ctx(t), keys); err != nil || len(known) != 0 {
		t.Errorf("KnownObjects = %v, %v; want none", known, err)
	}
	for p, old := range [][]metastore.Chunk{p0, p1} {
		if got := walk(t, s, tp.ID, int32(p)); len(got) != len(old) || got[0].Level != 0 || got[0].ObjectKey != old[0].ObjectKey {
			t.Errorf("invalid swaps changed partition %d: %+v", p, got)
		}
	}
}

func testSwapObjectCleanedOffset(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "cleaned-object", 3)
	for range 3 {
		commit(t, s, segment(chunk(tp.ID, 0, plain(5, 1)), chunk(tp.ID, 1, plain(5, 1)), chunk(tp.ID, 2, plain(5, 1))))
	}
	swaps := oneObject(l1Swap(tp.ID, 0, walk(t, s, tp.ID, 0)), l1Swap(tp.ID, 1, walk(t, s, tp.ID, 1)),
		l1Swap(tp.ID, 2, walk(t, s, tp.ID, 2)[:2]))
	swaps[1].CleanedOffset = 10
	for i, err := range swapObject(t, s, swaps) {
		if err != nil {
			t.Errorf("swap %d: %v", i, err)
		}
	}
	for p, want := range []int64{0, 10, 0} {
		if bl := backlog(t, s, tp.ID, int32(p)); bl.CleanedOffset != want {
			t.Errorf("backlog of partition %d = %+v, want cleaned offset %d", p, bl, want)
		}
	}
	if bl := backlog(t, s, tp.ID, 2); bl.Level0Chunks != 1 || bl.FirstLevel0Offset != 10 {
		t.Errorf("backlog of partition 2 = %+v, want one level-0 chunk at 10", bl)
	}
}

// testSwapObjectMany swaps the backlogs of a few hundred partitions into
// one object.
func testSwapObjectMany(t *testing.T, s compactionStore) {
	const n = 300
	tp := mustTopic(t, s, "many", n)
	var keys []string
	for range 2 {
		var cs []metastore.ChunkSpec
		for p := range int32(n) {
			cs = append(cs, chunk(tp.ID, p, plain(1+p%3, 1)))
		}
		seg := segment(cs...)
		keys = append(keys, seg.ObjectKey)
		commit(t, s, seg)
	}
	var ls []metastore.ChunkSwap
	for p := int32(n - 1); p >= 0; p-- {
		old, err := s.ChunksFrom(ctx(t), tp.ID, p, 0, 10)
		if err != nil || len(old) != 2 {
			t.Fatalf("ChunksFrom(%d) = %d chunks, %v", p, len(old), err)
		}
		ls = append(ls, l1Swap(tp.ID, p, old, old[0].EndOffset))
	}
	swaps := oneObject(ls...)
	for i, err := range swapObject(t, s, swaps) {
		if err != nil {
			t.Fatalf("swap %d: %v", i, err)
		}
	}
	for _, sw := range swaps {
		got, err := s.ChunksFrom(ctx(t), tp.ID, sw.Partition, 0, 10)
		if err != nil || len(got) != 2 || got[0].ObjectKey != sw.ObjectKey || got[1].Level != 1 ||
			got[1].Start != sw.New[1].Start || got[1].EndOffset != sw.Old[1].EndOffset {
			t.Fatalf("partition %d after the swap: %+v, %v", sw.Partition, got, err)
		}
	}
	st, err := s.CompactionStats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Level0Chunks != 0 || st.ChunkRows != 2*n {
		t.Errorf("stats = %+v, want %d rows, none of level 0", st, 2*n)
	}
	tick()
	if u := unreferenced(t, s, 0); !slices.Equal(u, sorted(keys...)) {
		t.Errorf("unreferenced = %v, want %v", u, sorted(keys...))
	}
}

// testSwapObjectSeveralCalls applies an object's swaps in two calls, the
// rows of the first gone (retention) before the second: the second call
// clears the object's unreferenced mark, and the object stays.
func testSwapObjectSeveralCalls(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "calls", 2)
	for range 2 {
		commit(t, s, segment(chunk(tp.ID, 0, plain(2, 1)), chunk(tp.ID, 1, plain(3, 1))))
	}
	var ls []metastore.ChunkSwap
	for p := range int32(2) {
		old, err := s.ChunksFrom(ctx(t), tp.ID, p, 0, 10)
		if err != nil || len(old) != 2 {
			t.Fatalf("ChunksFrom(%d) = %d chunks, %v", p, len(old), err)
		}
		ls = append(ls, l1Swap(tp.ID, p, old))
	}
	swaps := oneObject(ls...)
	key := swaps[0].ObjectKey
	if err := swapObject(t, s, swaps[:1])[0]; err != nil {
		t.Fatalf("first call: %v", err)
	}
	if _, err := s.DeleteRecords(ctx(t), tp.ID, 0, 4); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DropChunksBelowStart(ctx(t), tp.ID, 0); err != nil || n != 1 {
		t.Fatalf("DropChunksBelowStart = %d, %v; want the one level-1 row", n, err)
	}
	tick()
	if u := unreferenced(t, s, 0); !slices.Contains(u, key) {
		t.Fatalf("unreferenced = %v; want the object, its only rows dropped", u)
	}
	if err := swapObject(t, s, swaps[1:])[0]; err != nil {
		t.Fatalf("second call: %v", err)
	}
	swapped(t, s, swaps[1], nil, nil)
	tick()
	if u := unreferenced(t, s, 0); slices.Contains(u, key) {
		t.Errorf("unreferenced = %v; the object is referenced again", u)
	}
	known, err := s.KnownObjects(ctx(t), []string{key})
	if err != nil || !known[key] {
		t.Errorf("KnownObjects(%s) = %v, %v", key, known, err)
	}
}

func claim(t *testing.T, s compactionStore, keys ...string) []string {
	t.Helper()
	got, err := s.ClaimOrphans(ctx(t), keys)
	if err != nil {
		t.Fatalf("ClaimOrphans: %v", err)
	}
	slices.Sort(got)
	return got
}

// testClaimBlocksCommit: a commit of a claimed key fails with
// ErrObjectClaimed and writes nothing; the claim is returned again.
func testClaimBlocksCommit(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "claimed", 1)
	seg := segment(chunk(tp.ID, 0, plain(3, 1)))
	if got := claim(t, s, seg.ObjectKey); !slices.Equal(got, []string{seg.ObjectKey}) {
		t.Fatalf("claim of a key without a row = %v", got)
	}
	_, err := s.CommitSegment(ctx(t), seg)
	if !errors.Is(err, metastore.ErrObjectClaimed) {
		t.Fatalf("commit of a claimed key: %v, want ErrObjectClaimed", err)
	}
	if p, err := s.Partition(ctx(t), tp.ID, 0); err != nil || p.NextOffset != 0 {
		t.Errorf("partition after the refused commit: %+v, %v; want next offset 0", p, err)
	}
	if cs := walk(t, s, tp.ID, 0); len(cs) != 0 {
		t.Errorf("chunks after the refused commit: %+v", cs)
	}
	if known, err := s.KnownObjects(ctx(t), []string{seg.ObjectKey}); err != nil || len(known) != 0 {
		t.Errorf("KnownObjects(claimed) = %v, %v; want none", known, err)
	}
	// A sweep whose delete failed finds the object again: the claim holds.
	if got := claim(t, s, seg.ObjectKey); !slices.Equal(got, []string{seg.ObjectKey}) {
		t.Errorf("second claim = %v, want the key again", got)
	}
	if _, err := s.CommitSegment(ctx(t), seg); !errors.Is(err, metastore.ErrObjectClaimed) {
		t.Errorf("second commit of a claimed key: %v, want ErrObjectClaimed", err)
	}
	// The same records under a new key commit.
	retry := segment(chunk(tp.ID, 0, plain(3, 1)))
	if res := commit(t, s, retry); res[0].Err != nil || res[0].Batches[0].BaseOffset != 0 {
		t.Errorf("retry under a new key: %+v", res)
	}
}

// testClaimLeavesCommitted: keys with a committed row, referenced or not,
// are never claimed; a committed key fails a second commit with
// ErrObjectExists.
func testClaimLeavesCommitted(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "committed", 1)
	live := segment(chunk(tp.ID, 0, plain(2, 1)))
	commit(t, s, live)
	rejected := segment(chunk(tp.ID, 7, plain(2, 1))) // no such partition
	commit(t, s, rejected)
	sw := l1Swap(tp.ID, 0, walk(t, s, tp.ID, 0))
	if err := metastore.SwapChunks(ctx(t), s, sw); err != nil {
		t.Fatal(err)
	}
	orphan := "ff/orphan-" + uuid.NewString()
	got := claim(t, s, live.ObjectKey, rejected.ObjectKey, sw.ObjectKey, orphan, orphan)
	if !slices.Equal(got, []string{orphan}) {
		t.Errorf("claim = %v; want only %s", got, orphan)
	}
	if _, err := s.CommitSegment(ctx(t), live); !errors.Is(err, metastore.ErrObjectExists) {
		t.Errorf("second commit of %s: %v, want ErrObjectExists", live.ObjectKey, err)
	}
	known, err := s.KnownObjects(ctx(t), []string{live.ObjectKey, rejected.ObjectKey, sw.ObjectKey, orphan})
	if err != nil || len(known) != 3 || known[orphan] {
		t.Errorf("KnownObjects = %v, %v; want the three committed keys", known, err)
	}
	if got := claim(t, s); len(got) != 0 {
		t.Errorf("claim of no keys = %v", got)
	}
	many := make([]string, 1200)
	for i := range many {
		many[i] = fmt.Sprintf("k/%04d", i)
	}
	many[700] = live.ObjectKey
	if got := claim(t, s, many...); len(got) != 1199 || slices.Contains(got, live.ObjectKey) {
		t.Errorf("claim of 1200 keys: %d claimed, committed one among them: %v", len(got), slices.Contains(got, live.ObjectKey))
	}
}

// testClaimBlocksSwap: a compactor's object claimed before its swap (a
// paused compactor, another one sweeping) is not swapped in.
func testClaimBlocksSwap(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "swap-claimed", 1)
	for range 2 {
		commit(t, s, segment(chunk(tp.ID, 0, plain(2, 1))))
	}
	before := walk(t, s, tp.ID, 0)
	sw := l1Swap(tp.ID, 0, before)
	claim(t, s, sw.ObjectKey)
	_, err := s.SwapObject(ctx(t), []metastore.ChunkSwap{sw})
	if !errors.Is(err, metastore.ErrObjectClaimed) {
		t.Fatalf("swap into a claimed object: %v, want ErrObjectClaimed", err)
	}
	if after := walk(t, s, tp.ID, 0); !slices.EqualFunc(before, after, chunkEqual) {
		t.Errorf("chunks after the refused swap: %+v, want %+v", after, before)
	}
	if u := unreferenced(t, s, 0); len(u) != 0 {
		t.Errorf("unreferenced after the refused swap: %v", u)
	}
}

// testClaimTombstones: a claim stays through the collection of
// unreferenced objects and the stray marking, is counted apart, and goes
// only when older than the retention PruneOrphanClaims is given.
func testClaimTombstones(t *testing.T, s compactionStore) {
	tp := mustTopic(t, s, "tombstones", 1)
	seg := segment(chunk(tp.ID, 0, plain(1, 1)))
	claim(t, s, seg.ObjectKey)
	tick()
	if n, err := s.MarkStrayObjects(ctx(t), 0); err != nil || n != 0 {
		t.Errorf("MarkStrayObjects = %d, %v; want the claim left unmarked", n, err)
	}
	tick()
	if u := unreferenced(t, s, 0); len(u) != 0 {
		t.Errorf("unreferenced = %v; want no claim among them", u)
	}
	if n, err := s.DeleteObjectRows(ctx(t), []string{seg.ObjectKey}); err != nil || n != 0 {
		t.Errorf("DeleteObjectRows(claim) = %d, %v; want 0", n, err)
	}
	st, err := s.CompactionStats(ctx(t))
	if err != nil || st.OrphanClaims != 1 || len(st.Levels) != 0 {
		t.Errorf("stats = %+v, %v; want 1 claim and no level", st, err)
	}
	if n, err := s.PruneOrphanClaims(ctx(t), time.Hour); err != nil || n != 0 {
		t.Errorf("PruneOrphanClaims(1h) = %d, %v; want 0", n, err)
	}
	if _, err := s.CommitSegment(ctx(t), seg); !errors.Is(err, metastore.ErrObjectClaimed) {
		t.Fatalf("commit after the collection: %v, want ErrObjectClaimed", err)
	}
	// Committed rows are never pruned, referenced or not.
	live := segment(chunk(tp.ID, 0, plain(1, 1)))
	commit(t, s, live)
	rejected := segment(chunk(tp.ID, 9, plain(1, 1)))
	commit(t, s, rejected)
	if n, err := s.PruneOrphanClaims(ctx(t), 0); err != nil || n != 1 {
		t.Fatalf("PruneOrphanClaims(0) = %d, %v; want 1", n, err)
	}
	if known, err := s.KnownObjects(ctx(t), []string{live.ObjectKey, rejected.ObjectKey}); err != nil || len(known) != 2 {
		t.Errorf("KnownObjects after pruning = %v, %v; want both committed keys", known, err)
	}
	if st, err := s.CompactionStats(ctx(t)); err != nil || st.OrphanClaims != 0 {
		t.Errorf("stats after pruning = %+v, %v; want no claim", st, err)
	}
	// Past the retention the key is free again.
	if res := commit(t, s, seg); res[0].Err != nil {
		t.Errorf("commit after the claim was pruned: %+v", res)
	}
}

// testClaimRace: commits and claims of the same keys at once; for every
// key exactly one wins.
func testClaimRace(t *testing.T, s compactionStore) {
	const n = 40
	tp := mustTopic(t, s, "race", 4)
	segs := make([]metastore.SegmentSpec, n)
	keys := make([]string, n)
	for i := range segs {
		segs[i] = segment(chunk(tp.ID, int32(i%4), plain(1, 1)))
		keys[i] = segs[i].ObjectKey
	}
	committed := make([]bool, n)
	claimedOne := make([]bool, n)
	var claimedAll []string
	var wg sync.WaitGroup
	for i := range segs {
		wg.Go(func() {
			_, err := s.CommitSegment(ctx(t), segs[i])
			switch {
			case err == nil:
				committed[i] = true
			case !errors.Is(err, metastore.ErrObjectClaimed):
				t.Errorf("commit %d: %v", i, err)
			}
		})
		wg.Go(func() {
			got, err := s.ClaimOrphans(ctx(t), []string{keys[i]})
			if err != nil {
				t.Errorf("claim %d: %v", i, err)
			}
			claimedOne[i] = len(got) == 1
		})
	}
	wg.Go(func() {
		rev := slices.Clone(keys)
		slices.Reverse(rev)
		var err error
		if claimedAll, err = s.ClaimOrphans(ctx(t), rev); err != nil {
			t.Errorf("claim of every key: %v", err)
		}
	})
	wg.Wait()
	wins := 0
	for i, k := range keys {
		claimed := claimedOne[i] || slices.Contains(claimedAll, k)
		if committed[i] == claimed {
			t.Errorf("key %d: committed %v, claimed %v; want exactly one", i, committed[i], claimed)
		}
		if committed[i] {
			wins++
		}
	}
	var total int64
	for p := range int32(4) {
		part, err := s.Partition(ctx(t), tp.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		total += part.NextOffset
		contiguous(t, s, tp.ID, p)
	}
	if total != int64(wins) {
		t.Errorf("%d offsets assigned, %d commits succeeded", total, wins)
	}
	t.Logf("%d of %d commits won", wins, n)
}
