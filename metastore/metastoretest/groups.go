package metastoretest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

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
		{"SaveAndLoadMembers", testGroupMembers},
		{"LeaseAcquireAndRelease", testGroupLeaseAcquire},
		{"LeaseExpiry", testGroupLeaseExpiry},
		{"LeaseRenewal", testGroupLeaseRenew},
		{"StaleEpochWritesRefused", testGroupStaleEpoch},
		{"ExpiredLeaseWritesRefused", testGroupExpiredLeaseWrites},
		{"TakeoverFencesCommitsInFlight", testGroupTakeoverFences},
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

// suiteInstance is the coordinator instance the suite's writes are made by.
var suiteInstance = uuid.MustParse("7d1f8a6e-0000-4000-8000-000000000001")

// longLease outlives every subtest; shortLease expires within one.
const (
	longGroupLease  = time.Hour
	shortGroupLease = 300 * time.Millisecond
)

var (
	heldMu sync.Mutex
	heldBy = map[heldKey]metastore.GroupLease{}
)

type heldKey struct {
	t     *testing.T
	group string
}

// held returns the lease of group held by suiteInstance, acquired at the
// first call of the test: the suite's writes that are not about leases are
// made under it.
func held(t *testing.T, s metastore.GroupStore, group string) metastore.GroupLease {
	t.Helper()
	heldMu.Lock()
	defer heldMu.Unlock()
	k := heldKey{t, group}
	if l, ok := heldBy[k]; ok {
		return l
	}
	l, err := s.AcquireGroupLease(ctx(t), group, 1, suiteInstance, longGroupLease)
	if err != nil {
		t.Fatalf("AcquireGroupLease(%q): %v", group, err)
	}
	heldBy[k] = l
	t.Cleanup(func() {
		heldMu.Lock()
		delete(heldBy, k)
		heldMu.Unlock()
	})
	return l
}

func groupCommit(t *testing.T, s metastore.GroupStore, group string, offsets ...metastore.GroupOffset) {
	t.Helper()
	if err := s.CommitOffsets(ctx(t), held(t, s, group), offsets); err != nil {
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
	err := s.CommitOffsets(ctx(t), held(t, s, "g"), []metastore.GroupOffset{off("known", 0, 1), off("unknown", 0, 2)})
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
	if err := s.CommitOffsets(ctx(t), held(t, s, "g"), []metastore.GroupOffset{off("known", 0, 6), off("unknown", 0, 7)}); !errors.Is(err, metastore.ErrUnknownTopic) {
		t.Fatalf("second commit: %v, want ErrUnknownTopic", err)
	}
	if d := sameOffsets(groupFetch(t, s, "g", nil), []metastore.GroupOffset{off("known", 0, 5)}); d != "" {
		t.Error(d)
	}
}

func testGroupCommitNothing(t *testing.T, s metastore.GroupStore, _ groupTopicAdmin) {
	if err := s.CommitOffsets(ctx(t), held(t, s, "g"), nil); err != nil {
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
	if err := s.SaveGroup(ctx(t), held(t, s, "members-only"), metastore.GroupInfo{Name: "members-only", ProtocolType: "consumer", Generation: 1, State: "Stable"}); err != nil {
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
	err := s.DeleteOffsets(ctx(t), held(t, s, "g"), []metastore.TopicPartition{{Topic: "a", Partition: 1}, {Topic: "b", Partition: 0}, {Topic: "b", Partition: 5}, {Topic: "zzz", Partition: 0}})
	if err != nil {
		t.Fatalf("DeleteOffsets: %v", err)
	}
	if d := sameOffsets(groupFetch(t, s, "g", nil), []metastore.GroupOffset{off("a", 0, 1), off("a", 2, 3)}); d != "" {
		t.Error(d)
	}
	if d := sameOffsets(groupFetch(t, s, "other", nil), []metastore.GroupOffset{off("a", 0, 10)}); d != "" {
		t.Errorf("other group: %s", d)
	}
	if err := s.DeleteOffsets(ctx(t), held(t, s, "g"), nil); err != nil {
		t.Errorf("DeleteOffsets(nil): %v", err)
	}
	// The group stays even when its last offset goes.
	if err := s.DeleteOffsets(ctx(t), held(t, s, "other"), []metastore.TopicPartition{{Topic: "a", Partition: 0}}); err != nil {
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
	if err := s.SaveGroup(ctx(t), held(t, s, in.Name), in); err != nil {
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
	if !reflect.DeepEqual(got, in) {
		t.Errorf("LoadGroup = %+v, want %+v", got, in)
	}
	in = metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Generation: 4, State: "Empty"}
	if err := s.SaveGroup(ctx(t), held(t, s, in.Name), in); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LoadGroup(ctx(t), "g")
	got.UpdatedAt = time.Time{}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("after update LoadGroup = %+v, want %+v", got, in)
	}
}

func testGroupSaveGeneration(t *testing.T, s metastore.GroupStore, _ groupTopicAdmin) {
	save := func(gen int32, state string) {
		t.Helper()
		if err := s.SaveGroup(ctx(t), held(t, s, "g"), metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Protocol: "range", Generation: gen, State: state}); err != nil {
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
		if err := s.SaveGroup(ctx(t), held(t, s, g.Name), g); err != nil {
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
	if err := s.DeleteGroup(ctx(t), held(t, s, "g")); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Fatalf("DeleteGroup of an unknown group: %v, want ErrUnknownGroup", err)
	}
	if err := s.SaveGroup(ctx(t), held(t, s, "g"), metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Generation: 7, State: "Empty"}); err != nil {
		t.Fatal(err)
	}
	groupCommit(t, s, "g", off("t", 0, 1), off("t", 1, 2))
	groupCommit(t, s, "keep", off("t", 0, 3))
	if err := s.DeleteGroup(ctx(t), held(t, s, "g")); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if got := groupFetch(t, s, "g", nil); len(got) != 0 {
		t.Errorf("offsets survived DeleteGroup: %v", got)
	}
	if _, err := s.LoadGroup(ctx(t), "g"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Errorf("LoadGroup after DeleteGroup: %v", err)
	}
	if err := s.DeleteGroup(ctx(t), held(t, s, "g")); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Errorf("second DeleteGroup: %v, want ErrUnknownGroup", err)
	}
	if d := sameOffsets(groupFetch(t, s, "keep", nil), []metastore.GroupOffset{off("t", 0, 3)}); d != "" {
		t.Errorf("other group: %s", d)
	}
	// A group of the same name starts afresh, at generation 0.
	if err := s.SaveGroup(ctx(t), held(t, s, "g"), metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Generation: 1, State: "Stable"}); err != nil {
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
				if err := s.CommitOffsets(ctx(t), held(t, s, "shared"), shared); err != nil {
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
				if err := s.CommitOffsets(ctx(t), held(t, s, own), []metastore.GroupOffset{off("x", 0, int64(i)), off("y", int32(w%parts), int64(i))}); err != nil {
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

func testGroupMembers(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "t", 1)
	inst := "host-7"
	in := metastore.GroupInfo{
		Name: "g", ProtocolType: "consumer", Protocol: "cooperative-sticky", Generation: 12, State: "Stable",
		Leader: "client-b-2",
		Members: []metastore.GroupMember{
			{
				ID: "client-b-2", ClientID: "client-b", ClientHost: "/192.0.2.7",
				SessionTimeout: 45 * time.Second, RebalanceTimeout: time.Minute,
				Protocols: []metastore.GroupProtocol{
					{Name: "cooperative-sticky", Metadata: []byte{0, 3, 0, 0, 0, 1, 0, 1, 't', 0xff}},
					{Name: "range", Metadata: []byte{}},
				},
				Assignment: []byte{0, 3, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1, 0, 0, 0, 0},
			},
			{
				ID: "host-7-1", InstanceID: &inst, ClientID: "c", ClientHost: "/[2001:db8::1]",
				SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second,
				Protocols: []metastore.GroupProtocol{{Name: "cooperative-sticky", Metadata: []byte("é\x00")}},
			},
		},
	}
	if err := s.SaveGroup(ctx(t), held(t, s, "g"), in); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadGroup(ctx(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	got.UpdatedAt = time.Time{}
	// An empty byte slice may come back nil.
	if p := &got.Members[0].Protocols[1]; len(p.Metadata) == 0 {
		p.Metadata = []byte{}
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("LoadGroup =\n%+v\nwant\n%+v", got, in)
	}
	// ListGroups leaves members out; a commit keeps them.
	groupCommit(t, s, "g", off("t", 0, 1))
	gs, err := s.ListGroups(ctx(t))
	if err != nil || len(gs) != 1 || gs[0].Members != nil || gs[0].Leader != in.Leader {
		t.Fatalf("ListGroups = %+v, %v; want g with its leader and no members", gs, err)
	}
	if got, _ := s.LoadGroup(ctx(t), "g"); len(got.Members) != 2 {
		t.Fatalf("after a commit, %d members, want 2", len(got.Members))
	}
	// The next generation replaces them; an empty group has none.
	in = metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Generation: 13, State: "Empty"}
	if err := s.SaveGroup(ctx(t), held(t, s, "g"), in); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LoadGroup(ctx(t), "g")
	got.UpdatedAt = time.Time{}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("empty group: LoadGroup = %+v, want %+v", got, in)
	}
	if err := s.SaveGroup(ctx(t), held(t, s, "g"), metastore.GroupInfo{Name: "other"}); err == nil {
		t.Fatal("SaveGroup of one group under another's lease succeeded")
	}
}

func acquireGroup(t *testing.T, s metastore.GroupStore, group string, node int32, inst uuid.UUID, lease time.Duration) metastore.GroupLease {
	t.Helper()
	l, err := s.AcquireGroupLease(ctx(t), group, node, inst, lease)
	if err != nil {
		t.Fatalf("AcquireGroupLease(%q) by node %d: %v", group, node, err)
	}
	if l.Group != group || l.NodeID != node || l.Instance != inst || l.Epoch <= 0 {
		t.Fatalf("AcquireGroupLease(%q) by node %d = %+v", group, node, l)
	}
	return l
}

func testGroupLeaseAcquire(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "t", 1)
	a, b := uuid.New(), uuid.New()
	before := time.Now()
	la := acquireGroup(t, s, "g", 1, a, longGroupLease)
	if d := la.ExpiresAt.Sub(before); d < longGroupLease-time.Minute || d > longGroupLease+time.Minute {
		t.Errorf("lease expires in %v, want about %v", d, longGroupLease)
	}
	if _, err := s.AcquireGroupLease(ctx(t), "g", 2, b, longGroupLease); !errors.Is(err, metastore.ErrNotGroupCoordinator) {
		t.Fatalf("second instance acquiring a live lease: %v, want ErrNotGroupCoordinator", err)
	}
	// Leases are per group.
	acquireGroup(t, s, "other", 2, b, longGroupLease)
	if h, ok, err := s.GroupLeaseHolder(ctx(t), "g"); err != nil || !ok || h.NodeID != 1 || h.Instance != a || h.Epoch != la.Epoch {
		t.Fatalf("holder of g: %+v, %v, %v; want node 1 at epoch %d", h, ok, err, la.Epoch)
	}
	if _, ok, err := s.GroupLeaseHolder(ctx(t), "nobody-holds-this"); err != nil || ok {
		t.Fatalf("holder of a group never leased: %v, %v", ok, err)
	}

	// The holder acquiring again gets a new epoch; its old one is fenced.
	la2 := acquireGroup(t, s, "g", 1, a, longGroupLease)
	if la2.Epoch <= la.Epoch {
		t.Fatalf("reacquired epoch %d, want above %d", la2.Epoch, la.Epoch)
	}
	if err := s.CommitOffsets(ctx(t), la, []metastore.GroupOffset{off("t", 0, 1)}); !errors.Is(err, metastore.ErrNotGroupCoordinator) {
		t.Fatalf("commit under the earlier epoch: %v, want ErrNotGroupCoordinator", err)
	}
	if err := s.CommitOffsets(ctx(t), la2, []metastore.GroupOffset{off("t", 0, 2)}); err != nil {
		t.Fatalf("commit under the current epoch: %v", err)
	}

	// Releasing an epoch that is not current does nothing.
	if err := s.ReleaseGroupLease(ctx(t), la); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireGroupLease(ctx(t), "g", 2, b, longGroupLease); !errors.Is(err, metastore.ErrNotGroupCoordinator) {
		t.Fatalf("acquiring after a stale release: %v, want ErrNotGroupCoordinator", err)
	}
	// Releasing the current one lets another instance take the group at
	// once, with a higher epoch, and fences the former holder.
	if err := s.ReleaseGroupLease(ctx(t), la2); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.GroupLeaseHolder(ctx(t), "g"); err != nil || ok {
		t.Fatalf("holder of a released lease: %v, %v", ok, err)
	}
	lb := acquireGroup(t, s, "g", 2, b, longGroupLease)
	if lb.Epoch <= la2.Epoch {
		t.Fatalf("takeover epoch %d, want above %d", lb.Epoch, la2.Epoch)
	}
	if err := s.CommitOffsets(ctx(t), la2, []metastore.GroupOffset{off("t", 0, 3)}); !errors.Is(err, metastore.ErrNotGroupCoordinator) {
		t.Fatalf("commit of the former holder: %v, want ErrNotGroupCoordinator", err)
	}
	if _, err := s.AcquireGroupLease(ctx(t), "g", 1, a, longGroupLease); !errors.Is(err, metastore.ErrNotGroupCoordinator) {
		t.Fatalf("former holder acquiring: %v, want ErrNotGroupCoordinator", err)
	}
	if d := sameOffsets(groupFetch(t, s, "g", nil), []metastore.GroupOffset{off("t", 0, 2)}); d != "" {
		t.Fatal(d)
	}

	// ReleaseGroupLeases gives up every lease of an instance.
	if err := s.ReleaseGroupLeases(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"g", "other"} {
		l := acquireGroup(t, s, g, 1, a, longGroupLease)
		if g == "g" && l.Epoch <= lb.Epoch {
			t.Fatalf("epoch %d after release of %d", l.Epoch, lb.Epoch)
		}
	}
	// Deleting the group keeps its lease and the epochs rising.
	lg := acquireGroup(t, s, "g", 1, a, longGroupLease)
	if err := s.DeleteGroup(ctx(t), lg); err != nil {
		t.Fatal(err)
	}
	if l := acquireGroup(t, s, "g", 1, a, longGroupLease); l.Epoch <= lg.Epoch {
		t.Fatalf("epoch %d after deleting the group at %d", l.Epoch, lg.Epoch)
	}
}

// eventuallyAcquired acquires group for inst once the current lease has
// expired, polling.
func eventuallyAcquired(t *testing.T, s metastore.GroupStore, group string, node int32, inst uuid.UUID, lease time.Duration) metastore.GroupLease {
	t.Helper()
	var l metastore.GroupLease
	eventually(t, "the lease of "+group+" expires", func() (bool, error) {
		var err error
		l, err = s.AcquireGroupLease(clusterBG(), group, node, inst, lease)
		if errors.Is(err, metastore.ErrNotGroupCoordinator) {
			return false, nil
		}
		return err == nil, err
	})
	return l
}

func testGroupLeaseExpiry(t *testing.T, s metastore.GroupStore, _ groupTopicAdmin) {
	a, b := uuid.New(), uuid.New()
	la := acquireGroup(t, s, "g", 1, a, shortGroupLease)
	lb := eventuallyAcquired(t, s, "g", 2, b, longGroupLease)
	if lb.Epoch <= la.Epoch {
		t.Fatalf("epoch after expiry %d, want above %d", lb.Epoch, la.Epoch)
	}
	// The former holder cannot renew it back.
	if got, err := s.RenewGroupLeases(ctx(t), a, []string{"g"}, longGroupLease); err != nil || len(got) != 0 {
		t.Fatalf("renewal by the former holder: %+v, %v; want nothing renewed", got, err)
	}
	// Nor can a holder renew its own expired lease: it must acquire again.
	c := uuid.New()
	if err := s.ReleaseGroupLease(ctx(t), lb); err != nil {
		t.Fatal(err)
	}
	lc := acquireGroup(t, s, "g", 3, c, shortGroupLease)
	eventually(t, "the lease expires", func() (bool, error) {
		err := s.SaveGroup(clusterBG(), lc, metastore.GroupInfo{Name: "g", State: "Empty"})
		if errors.Is(err, metastore.ErrNotGroupCoordinator) {
			return true, nil
		}
		return false, err
	})
	if got, err := s.RenewGroupLeases(ctx(t), c, []string{"g"}, longGroupLease); err != nil || len(got) != 0 {
		t.Fatalf("renewal of an expired lease: %+v, %v; want nothing renewed", got, err)
	}
	if l := acquireGroup(t, s, "g", 3, c, longGroupLease); l.Epoch <= lc.Epoch {
		t.Fatalf("epoch after reacquiring an expired lease %d, want above %d", l.Epoch, lc.Epoch)
	}
}

func testGroupLeaseRenew(t *testing.T, s metastore.GroupStore, _ groupTopicAdmin) {
	a, b := uuid.New(), uuid.New()
	var mine []metastore.GroupLease
	for _, g := range []string{"g3", "g1", "g2"} {
		mine = append(mine, acquireGroup(t, s, g, 1, a, shortGroupLease))
	}
	acquireGroup(t, s, "theirs", 2, b, shortGroupLease)
	if got, err := s.RenewGroupLeases(ctx(t), a, nil, longGroupLease); err != nil || len(got) != 0 {
		t.Fatalf("renewing no groups: %+v, %v", got, err)
	}
	// Only the named groups are renewed, by their holder.
	got, err := s.RenewGroupLeases(ctx(t), a, []string{"g1", "g3", "theirs", "unknown"}, longGroupLease)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Group != "g1" || got[1].Group != "g3" {
		t.Fatalf("renewed %+v, want g1 and g3", got)
	}
	for _, l := range got {
		var want metastore.GroupLease
		for _, m := range mine {
			if m.Group == l.Group {
				want = m
			}
		}
		if l.Epoch != want.Epoch || l.NodeID != 1 || l.Instance != a {
			t.Errorf("renewed %+v, want the epoch and holder of %+v", l, want)
		}
		if !l.ExpiresAt.After(want.ExpiresAt.Add(longGroupLease / 2)) {
			t.Errorf("%s expires at %v, acquired until %v: not extended", l.Group, l.ExpiresAt, want.ExpiresAt)
		}
	}
	// g2 and theirs expire; g1 and g3 stay.
	lb := eventuallyAcquired(t, s, "g2", 2, b, longGroupLease)
	eventuallyAcquired(t, s, "theirs", 3, uuid.New(), longGroupLease)
	for _, g := range []string{"g1", "g3"} {
		if _, err := s.AcquireGroupLease(ctx(t), g, 2, b, longGroupLease); !errors.Is(err, metastore.ErrNotGroupCoordinator) {
			t.Errorf("renewed lease of %s taken: %v", g, err)
		}
	}
	if got, _ := s.RenewGroupLeases(ctx(t), b, []string{"g2"}, longGroupLease); len(got) != 1 || got[0].Epoch != lb.Epoch {
		t.Errorf("renewing g2 after takeover: %+v, want epoch %d", got, lb.Epoch)
	}
}

// groupSnapshot is everything a group write can change.
func groupSnapshot(t *testing.T, s metastore.GroupStore, group string) string {
	t.Helper()
	info, err := s.LoadGroup(ctx(t), group)
	if err != nil && !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Fatal(err)
	}
	info.UpdatedAt = time.Time{}
	return fmt.Sprintf("%+v %v", info, groupFetch(t, s, group, nil))
}

func testGroupStaleEpoch(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "t", 2)
	a, b := uuid.New(), uuid.New()
	stale := acquireGroup(t, s, "g", 1, a, longGroupLease)
	if err := s.ReleaseGroupLease(ctx(t), stale); err != nil {
		t.Fatal(err)
	}
	cur := acquireGroup(t, s, "g", 2, b, longGroupLease)
	if err := s.SaveGroup(ctx(t), cur, metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Protocol: "range", Generation: 4, State: "Stable", Leader: "m",
		Members: []metastore.GroupMember{{ID: "m", Protocols: []metastore.GroupProtocol{{Name: "range"}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitOffsets(ctx(t), cur, []metastore.GroupOffset{off("t", 0, 10), off("t", 1, 11)}); err != nil {
		t.Fatal(err)
	}
	before := groupSnapshot(t, s, "g")
	// The same holder and epoch as cur but another instance is stale too,
	// as is cur's instance with another epoch.
	forged := cur
	forged.Instance = a
	older := cur
	older.Epoch--
	for _, l := range []metastore.GroupLease{stale, forged, older} {
		writes := map[string]error{
			"CommitOffsets": s.CommitOffsets(ctx(t), l, []metastore.GroupOffset{off("t", 0, 1)}),
			"SaveGroup":     s.SaveGroup(ctx(t), l, metastore.GroupInfo{Name: "g", ProtocolType: "consumer", Generation: 9, State: "Empty"}),
			"DeleteOffsets": s.DeleteOffsets(ctx(t), l, []metastore.TopicPartition{{Topic: "t", Partition: 1}}),
			"DeleteGroup":   s.DeleteGroup(ctx(t), l),
		}
		for op, err := range writes {
			if !errors.Is(err, metastore.ErrNotGroupCoordinator) {
				t.Errorf("%s under %+v: %v, want ErrNotGroupCoordinator", op, l, err)
			}
		}
		if after := groupSnapshot(t, s, "g"); after != before {
			t.Fatalf("writes under a stale lease changed the group:\n%s\nwas\n%s", after, before)
		}
	}
	// Writes of a group that never had a lease are refused too.
	never := metastore.GroupLease{Group: "unleased", NodeID: 1, Instance: a, Epoch: 1}
	if err := s.CommitOffsets(ctx(t), never, []metastore.GroupOffset{off("t", 0, 1)}); !errors.Is(err, metastore.ErrNotGroupCoordinator) {
		t.Errorf("commit without a lease: %v, want ErrNotGroupCoordinator", err)
	}
	if _, err := s.LoadGroup(ctx(t), "unleased"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Errorf("a refused commit created the group: %v", err)
	}
}

func testGroupExpiredLeaseWrites(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "t", 1)
	l := acquireGroup(t, s, "g", 1, uuid.New(), shortGroupLease)
	if err := s.CommitOffsets(ctx(t), l, []metastore.GroupOffset{off("t", 0, 5)}); err != nil {
		t.Fatal(err)
	}
	// Once the lease has expired by the metastore's clock, its holder's
	// writes are refused even though nobody took the group.
	eventually(t, "the lease expires", func() (bool, error) {
		err := s.CommitOffsets(clusterBG(), l, []metastore.GroupOffset{off("t", 0, 6)})
		if errors.Is(err, metastore.ErrNotGroupCoordinator) {
			return true, nil
		}
		return false, err
	})
	if d := sameOffsets(groupFetch(t, s, "g", nil), []metastore.GroupOffset{off("t", 0, 6)}); d != "" {
		// Commits before the expiry may have landed; nothing after.
		if d2 := sameOffsets(groupFetch(t, s, "g", nil), []metastore.GroupOffset{off("t", 0, 5)}); d2 != "" {
			t.Fatal(d)
		}
	}
	if err := s.SaveGroup(ctx(t), l, metastore.GroupInfo{Name: "g", Generation: 1, State: "Empty"}); !errors.Is(err, metastore.ErrNotGroupCoordinator) {
		t.Errorf("SaveGroup under an expired lease: %v", err)
	}
}

// testGroupTakeoverFences checks that the lease check and the write are
// one: a coordinator commits in a loop while another takes the group over
// and commits once. None of the former holder's commits may land after the
// takeover: the new holder's offsets stay.
func testGroupTakeoverFences(t *testing.T, s metastore.GroupStore, admin groupTopicAdmin) {
	groupTopic(t, admin, "t", 2)
	a, b := uuid.New(), uuid.New()
	la := acquireGroup(t, s, "g", 1, a, longGroupLease)
	var landed, refused atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := s.CommitOffsets(clusterBG(), la, []metastore.GroupOffset{off("t", 0, i), off("t", 1, i)})
			switch {
			case err == nil:
				landed.Add(1)
			case errors.Is(err, metastore.ErrNotGroupCoordinator):
				refused.Add(1)
			default:
				t.Errorf("former holder's commit: %v", err)
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	eventually(t, "the holder commits", func() (bool, error) { return landed.Load() >= 5, nil })
	if err := s.ReleaseGroupLease(ctx(t), la); err != nil {
		t.Fatal(err)
	}
	lb := acquireGroup(t, s, "g", 2, b, longGroupLease)
	const final = 1 << 40
	if err := s.CommitOffsets(ctx(t), lb, []metastore.GroupOffset{off("t", 0, final), off("t", 1, final)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the former holder is refused 20 times", func() (bool, error) { return refused.Load() >= 20, nil })
	if d := sameOffsets(groupFetch(t, s, "g", nil), []metastore.GroupOffset{off("t", 0, final), off("t", 1, final)}); d != "" {
		t.Fatalf("a commit of the former holder landed after the takeover: %s", d)
	}
}
