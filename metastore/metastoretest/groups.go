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

	"github.com/stratalog/strata/metastore"
)

// groupTopicAdmin is what RunGroups needs besides metastore.GroupStore:
// offsets belong to existing topics, so the suite creates and deletes them.
type groupTopicAdmin interface {
	CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (metastore.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
}

// RunGroups runs the consumer-group suite. open returns a store over a fresh,
// empty metastore, once per subtest; the store must also create and delete
// topics (CreateTopic and DeleteTopic of metastore.Store). A store with a
// Close method is closed by the suite.
func RunGroups(t *testing.T, open func(t *testing.T) metastore.GroupStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin)
	}{
		{"CommitFetchRoundTrip", testGroupCommitFetch},
		{"FetchTopicFilter", testGroupFetchFilter},
		{"CommitOverwrites", testGroupCommitOverwrites},
		{"CommitDuplicatePartition", testGroupCommitDuplicate},
		{"CommitManyPartitions", testGroupCommitMany},
		{"CommitDefaultTime", testGroupCommitDefaultTime},
		{"CommitUnknownTopicIsAtomic", testGroupCommitUnknownTopic},
		{"CommitNothing", testGroupCommitNothing},
		{"FetchWithoutCommits", testGroupFetchNone},
		{"DeleteOffsets", testGroupDeleteOffsets},
		{"SaveAndLoadGroup", testGroupSaveLoad},
		{"SaveNeverMovesGenerationBack", testGroupSaveGeneration},
		{"ListGroups", testGroupList},
		{"DeleteGroup", testGroupDelete},
		{"DeleteTopicDropsOffsets", testGroupDeleteTopic},
		{"ConcurrentCommits", testGroupConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if c, ok := s.(interface{ Close() }); ok {
				t.Cleanup(c.Close)
			}
			admin, ok := s.(groupTopicAdmin)
			if !ok {
				t.Fatalf("%T does not create topics (CreateTopic, DeleteTopic)", s)
			}
			tc.fn(t, s, admin)
		})
	}
}

func groupTopic(t *testing.T, admin groupTopicAdmin, name string, partitions int32) {
	t.Helper()
	if _, err := admin.CreateTopic(ctx(t), name, partitions, nil); err != nil {
		t.Fatalf("CreateTopic(%q, %d): %v", name, partitions, err)
	}
}

func groupCommit(t *testing.T, s metastore.GroupStore, group string, offsets ...metastore.GroupOffset) {
	t.Helper()
	if err := s.CommitOffsets(ctx(t), group, offsets); err != nil {
		t.Fatalf("CommitOffsets(%q): %v", group, err)
	}
}

func groupFetch(t *testing.T, s metastore.GroupStore, group string, topics []string) []metastore.GroupOffset {
	t.Helper()
	got, err := s.FetchOffsets(ctx(t), group, topics)
	if err != nil {
		t.Fatalf("FetchOffsets(%q, %q): %v", group, topics, err)
	}
	return got
}

// off is a committed offset with a fixed commit time.
func off(topic string, partition int32, offset int64) metastore.GroupOffset {
	return metastore.GroupOffset{
		Topic: topic, Partition: partition, Offset: offset, LeaderEpoch: -1,
		CommitTime: time.UnixMilli(1_700_000_000_000 + offset),
	}
}

// sameOffsets reports the first difference between two offset lists, or "".
func sameOffsets(got, want []metastore.GroupOffset) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d offsets, want %d: got %v", len(got), len(want), got)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Topic != w.Topic || g.Partition != w.Partition || g.Offset != w.Offset ||
			g.LeaderEpoch != w.LeaderEpoch || g.Metadata != w.Metadata || !g.CommitTime.Equal(w.CommitTime) {
			return fmt.Sprintf("offset %d: got %+v, want %+v", i, g, w)
		}
	}
	return ""
}

func testGroupCommitFetch(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "orders", 3)
	groupTopic(t, admin, "payments", 2)
	in := []metastore.GroupOffset{
		{Topic: "payments", Partition: 1, Offset: 0, LeaderEpoch: 0, Metadata: "", CommitTime: time.UnixMilli(1_700_000_000_001)},
		{Topic: "orders", Partition: 2, Offset: 1 << 40, LeaderEpoch: 7, Metadata: "host-a/épreuve ✓", CommitTime: time.UnixMilli(1_700_000_000_002)},
		{Topic: "orders", Partition: 0, Offset: 42, LeaderEpoch: -1, Metadata: strings.Repeat("m", 4096), CommitTime: time.UnixMilli(1_700_000_000_003)},
	}
	groupCommit(t, s, "billing service", in...)
	want := []metastore.GroupOffset{in[2], in[1], in[0]} // ordered by topic, partition
	if d := sameOffsets(groupFetch(t, s, "billing service", nil), want); d != "" {
		t.Fatal(d)
	}
	// Another group's commits are its own.
	groupCommit(t, s, "audit", off("orders", 0, 1))
	if d := sameOffsets(groupFetch(t, s, "billing service", nil), want); d != "" {
		t.Fatalf("after another group committed: %s", d)
	}
	if d := sameOffsets(groupFetch(t, s, "audit", nil), []metastore.GroupOffset{off("orders", 0, 1)}); d != "" {
		t.Fatal(d)
	}
}

func testGroupFetchFilter(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	for _, name := range []string{"a", "b", "c"} {
		groupTopic(t, admin, name, 2)
	}
	groupCommit(t, s, "g", off("a", 0, 1), off("a", 1, 2), off("b", 0, 3), off("c", 1, 4))
	for _, tc := range []struct {
		topics []string
		want   []metastore.GroupOffset
	}{
		{nil, []metastore.GroupOffset{off("a", 0, 1), off("a", 1, 2), off("b", 0, 3), off("c", 1, 4)}},
		{[]string{}, nil},
		{[]string{"c", "a"}, []metastore.GroupOffset{off("a", 0, 1), off("a", 1, 2), off("c", 1, 4)}},
		{[]string{"b", "no-such-topic"}, []metastore.GroupOffset{off("b", 0, 3)}},
		{[]string{"no-such-topic"}, nil},
	} {
		if d := sameOffsets(groupFetch(t, s, "g", tc.topics), tc.want); d != "" {
			t.Errorf("topics %q: %s", tc.topics, d)
		}
	}
}

func testGroupCommitOverwrites(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "t", 2)
	groupCommit(t, s, "g", off("t", 0, 5), off("t", 1, 6))
	second := metastore.GroupOffset{Topic: "t", Partition: 0, Offset: 3, LeaderEpoch: 2, Metadata: "rewound", CommitTime: time.UnixMilli(1_800_000_000_000)}
	groupCommit(t, s, "g", second)
	// Every field is replaced, even by a lower offset: a consumer may seek back.
	if d := sameOffsets(groupFetch(t, s, "g", nil), []metastore.GroupOffset{second, off("t", 1, 6)}); d != "" {
		t.Fatal(d)
	}
}

func testGroupCommitDuplicate(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "t", 1)
	groupCommit(t, s, "g", off("t", 0, 1), off("t", 0, 9), off("t", 0, 4))
	if d := sameOffsets(groupFetch(t, s, "g", nil), []metastore.GroupOffset{off("t", 0, 4)}); d != "" {
		t.Fatalf("the last entry of a partition wins: %s", d)
	}
}

func testGroupCommitMany(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	const parts = 500
	groupTopic(t, admin, "wide-a", parts)
	groupTopic(t, admin, "wide-b", parts)
	var in []metastore.GroupOffset
	for p := range int32(parts) {
		in = append(in, off("wide-b", p, int64(p)*3), off("wide-a", parts-1-p, int64(p)))
	}
	start := time.Now()
	groupCommit(t, s, "g", in...)
	t.Logf("committed %d offsets in %v", len(in), time.Since(start))
	want := metastore.SortedOffsets(in)
	if d := sameOffsets(groupFetch(t, s, "g", nil), want); d != "" {
		t.Fatal(d)
	}
}

func testGroupCommitDefaultTime(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "t", 1)
	before := time.Now().Truncate(time.Millisecond)
	groupCommit(t, s, "g", metastore.GroupOffset{Topic: "t", Partition: 0, Offset: 1, LeaderEpoch: -1})
	after := time.Now()
	got := groupFetch(t, s, "g", nil)
	if len(got) != 1 {
		t.Fatalf("fetched %v", got)
	}
	// Allow for clock skew between the test and a database server.
	if ct := got[0].CommitTime; ct.Before(before.Add(-time.Second)) || ct.After(after.Add(time.Second)) {
		t.Errorf("commit time %v, want about now (%v .. %v)", ct, before, after)
	}
}

func testGroupCommitUnknownTopic(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "known", 1)
	err := s.CommitOffsets(ctx(t), "g", []metastore.GroupOffset{off("known", 0, 1), off("unknown", 0, 2)})
	if !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Fatalf("commit with an unknown topic: %v, want ErrUnknownTopic", err)
	}
	if got := groupFetch(t, s, "g", nil); len(got) != 0 {
		t.Errorf("a failed commit stored %v", got)
	}
	if _, err := s.LoadGroup(ctx(t), "g"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Errorf("a failed commit created the group: LoadGroup = %v", err)
	}
	// An existing commit survives a failed one untouched.
	groupCommit(t, s, "g", off("known", 0, 5))
	if err := s.CommitOffsets(ctx(t), "g", []metastore.GroupOffset{off("known", 0, 6), off("unknown", 0, 7)}); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Fatalf("second commit: %v, want ErrUnknownTopic", err)
	}
	if d := sameOffsets(groupFetch(t, s, "g", nil), []metastore.GroupOffset{off("known", 0, 5)}); d != "" {
		t.Error(d)
	}
}

func testGroupCommitNothing(t *testing.T, s metastore.GroupStore, _ groupTopicAdmin) {
	if err := s.CommitOffsets(ctx(t), "g", nil); err != nil {
		t.Fatalf("empty commit: %v", err)
	}
	gs, err := s.ListGroups(ctx(t))
	if err != nil || len(gs) != 0 {
		t.Errorf("after an empty commit ListGroups = %v, %v; want none", gs, err)
	}
}

func testGroupFetchNone(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "t", 1)
	for _, topics := range [][]string{nil, {"t"}} {
		if got := groupFetch(t, s, "never-seen", topics); len(got) != 0 {
			t.Errorf("unknown group, topics %q: %v", topics, got)
		}
	}
	if err := s.SaveGroup(ctx(t), metastore.GroupInfo{Name: "members-only", ProtocolType: "consumer", Generation: 1, State: "Stable"}); err != nil {
		t.Fatal(err)
	}
	if got := groupFetch(t, s, "members-only", nil); len(got) != 0 {
		t.Errorf("group without commits: %v", got)
	}
}

func testGroupDeleteOffsets(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "a", 3)
	groupTopic(t, admin, "b", 1)
	groupCommit(t, s, "g", off("a", 0, 1), off("a", 1, 2), off("a", 2, 3), off("b", 0, 4))
	groupCommit(t, s, "other", off("a", 0, 10))
	err := s.DeleteOffsets(ctx(t), "g", []metastore.TopicPartition{{Topic: "a", Partition: 1}, {Topic: "b", Partition: 0}, {Topic: "b", Partition: 5}, {Topic: "zzz", Partition: 0}})
	if err != nil {
		t.Fatalf("DeleteOffsets: %v", err)
	}
	if d := sameOffsets(groupFetch(t, s, "g", nil), []metastore.GroupOffset{off("a", 0, 1), off("a", 2, 3)}); d != "" {
		t.Error(d)
	}
	if d := sameOffsets(groupFetch(t, s, "other", nil), []metastore.GroupOffset{off("a", 0, 10)}); d != "" {
		t.Errorf("other group: %s", d)
	}
	if err := s.DeleteOffsets(ctx(t), "g", nil); err != nil {
		t.Errorf("DeleteOffsets(nil): %v", err)
	}
	// The group stays even when its last offset goes.
	if err := s.DeleteOffsets(ctx(t), "other", []metastore.TopicPartition{{Topic: "a", Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadGroup(ctx(t), "other"); err != nil {
		t.Errorf("LoadGroup after deleting its offsets: %v", err)
	}
}

func testGroupSaveLoad(t *testing.T, s metastore.GroupStore, _ groupTopicAdmin) {
	if _, err := s.LoadGroup(ctx(t), "g"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Fatalf("LoadGroup of an unknown group: %v, want ErrUnknownGroup", err)
	}
	before := time.Now().Add(-time.Second)
	in := metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Protocol: "cooperative-sticky", Generation: 3, State: "Stable"}
	if err := s.SaveGroup(ctx(t), in); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadGroup(ctx(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	if got.UpdatedAt.Before(before) || got.UpdatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("UpdatedAt %v, want about now", got.UpdatedAt)
	}
	got.UpdatedAt = time.Time{}
	if got != in {
		t.Errorf("LoadGroup = %+v, want %+v", got, in)
	}
	in = metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Generation: 4, State: "Empty"}
	if err := s.SaveGroup(ctx(t), in); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LoadGroup(ctx(t), "g")
	got.UpdatedAt = time.Time{}
	if got != in {
		t.Errorf("after update LoadGroup = %+v, want %+v", got, in)
	}
}

func testGroupSaveGeneration(t *testing.T, s metastore.GroupStore, _ groupTopicAdmin) {
	save := func(gen int32, state string) {
		t.Helper()
		if err := s.SaveGroup(ctx(t), metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Protocol: "range", Generation: gen, State: state}); err != nil {
			t.Fatal(err)
		}
	}
	save(5, "CompletingRebalance")
	save(5, "Stable") // same generation: applied
	save(4, "Empty")  // older: ignored
	got, err := s.LoadGroup(ctx(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != 5 || got.State != "Stable" {
		t.Errorf("LoadGroup = generation %d state %q, want 5 Stable", got.Generation, got.State)
	}
}

func testGroupList(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	if gs, err := s.ListGroups(ctx(t)); err != nil || len(gs) != 0 {
		t.Fatalf("empty store: ListGroups = %v, %v", gs, err)
	}
	groupTopic(t, admin, "t", 1)
	for _, g := range []metastore.GroupInfo{
		{Name: "b-members", ProtocolType: "consumer", Protocol: "range", Generation: 2, State: "Stable"},
		{Name: "Upper", ProtocolType: "connect", Generation: 1, State: "Empty"},
	} {
		if err := s.SaveGroup(ctx(t), g); err != nil {
			t.Fatal(err)
		}
	}
	groupCommit(t, s, "a-offsets-only", off("t", 0, 1))
	// Committing to a saved group keeps its row as it was.
	groupCommit(t, s, "b-members", off("t", 0, 2))
	gs, err := s.ListGroups(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range gs {
		got = append(got, fmt.Sprintf("%s/%s/%s/%d/%s", g.Name, g.ProtocolType, g.Protocol, g.Generation, g.State))
	}
	want := []string{"Upper/connect//1/Empty", "a-offsets-only///0/Empty", "b-members/consumer/range/2/Stable"}
	if !slices.Equal(got, want) {
		t.Errorf("ListGroups = %q, want %q (byte order of names)", got, want)
	}
}

func testGroupDelete(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "t", 2)
	if err := s.DeleteGroup(ctx(t), "g"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Fatalf("DeleteGroup of an unknown group: %v, want ErrUnknownGroup", err)
	}
	if err := s.SaveGroup(ctx(t), metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Generation: 7, State: "Empty"}); err != nil {
		t.Fatal(err)
	}
	groupCommit(t, s, "g", off("t", 0, 1), off("t", 1, 2))
	groupCommit(t, s, "keep", off("t", 0, 3))
	if err := s.DeleteGroup(ctx(t), "g"); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if got := groupFetch(t, s, "g", nil); len(got) != 0 {
		t.Errorf("offsets survived DeleteGroup: %v", got)
	}
	if _, err := s.LoadGroup(ctx(t), "g"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Errorf("LoadGroup after DeleteGroup: %v", err)
	}
	if err := s.DeleteGroup(ctx(t), "g"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Errorf("second DeleteGroup: %v, want ErrUnknownGroup", err)
	}
	if d := sameOffsets(groupFetch(t, s, "keep", nil), []metastore.GroupOffset{off("t", 0, 3)}); d != "" {
		t.Errorf("other group: %s", d)
	}
	// A group of the same name starts afresh, at generation 0.
	if err := s.SaveGroup(ctx(t), metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Generation: 1, State: "Stable"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LoadGroup(ctx(t), "g"); err != nil || got.Generation != 1 {
		t.Errorf("recreated group: %+v, %v; want generation 1", got, err)
	}
	if gs, _ := s.ListGroups(ctx(t)); len(gs) != 2 {
		t.Errorf("ListGroups = %v, want g and keep", gs)
	}
}

func testGroupDeleteTopic(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "doomed", 2)
	groupTopic(t, admin, "kept", 1)
	groupCommit(t, s, "g1", off("doomed", 0, 1), off("doomed", 1, 2), off("kept", 0, 3))
	groupCommit(t, s, "g2", off("doomed", 1, 4))
	if err := admin.DeleteTopic(ctx(t), "doomed"); err != nil {
		t.Fatal(err)
	}
	if d := sameOffsets(groupFetch(t, s, "g1", nil), []metastore.GroupOffset{off("kept", 0, 3)}); d != "" {
		t.Errorf("g1 after DeleteTopic: %s", d)
	}
	if got := groupFetch(t, s, "g2", nil); len(got) != 0 {
		t.Errorf("g2 after DeleteTopic: %v", got)
	}
	// A new topic of the same name does not inherit the old commits.
	groupTopic(t, admin, "doomed", 2)
	if got := groupFetch(t, s, "g1", []string{"doomed"}); len(got) != 0 {
		t.Errorf("recreated topic: %v", got)
	}
}

func testGroupConcurrent(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	const workers, commits, parts = 8, 25, 6
	groupTopic(t, admin, "x", parts)
	groupTopic(t, admin, "y", parts)
	var wg sync.WaitGroup
	var mu sync.Mutex
	committed := map[metastore.TopicPartition]map[int64]bool{} // of the shared group
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			own := fmt.Sprintf("own-%d", w)
			for i := range commits {
				// Shared group: random partitions in random order, so
				// concurrent commits touch the same rows in any order.
				var shared []metastore.GroupOffset
				for _, k := range rng.Perm(2 * parts)[:1+rng.IntN(2*parts)] {
					topic := "x"
					if k >= parts {
						topic = "y"
					}
					shared = append(shared, off(topic, int32(k%parts), int64(w*1000+i)))
				}
				if err := s.CommitOffsets(ctx(t), "shared", shared); err != nil {
					t.Errorf("worker %d: shared commit: %v", w, err)
					return
				}
				mu.Lock()
				for _, o := range shared {
					tp := metastore.TopicPartition{Topic: o.Topic, Partition: o.Partition}
					if committed[tp] == nil {
						committed[tp] = map[int64]bool{}
					}
					committed[tp][o.Offset] = true
				}
				mu.Unlock()
				if err := s.CommitOffsets(ctx(t), own, []metastore.GroupOffset{off("x", 0, int64(i)), off("y", int32(w%parts), int64(i))}); err != nil {
					t.Errorf("worker %d: own commit: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for w := range workers {
		want := metastore.SortedOffsets([]metastore.GroupOffset{off("x", 0, commits-1), off("y", int32(w%parts), commits-1)})
		if d := sameOffsets(groupFetch(t, s, fmt.Sprintf("own-%d", w), nil), want); d != "" {
			t.Errorf("worker %d's group: %s", w, d)
		}
	}
	got := groupFetch(t, s, "shared", nil)
	if len(got) != len(committed) {
		t.Errorf("shared group: %d partitions, %d committed", len(got), len(committed))
	}
	for _, o := range got {
		if !committed[metastore.TopicPartition{Topic: o.Topic, Partition: o.Partition}][o.Offset] {
			t.Errorf("shared group: %s/%d at %d, never committed there", o.Topic, o.Partition, o.Offset)
		}
	}
	gs, err := s.ListGroups(ctx(t))
	if err != nil || len(gs) != workers+1 {
		t.Errorf("ListGroups: %d groups, %v; want %d", len(gs), err, workers+1)
	}
}
