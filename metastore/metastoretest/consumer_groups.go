package metastoretest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// ConsumerGroupBackend is what the consumer-protocol group suite needs.
type ConsumerGroupBackend interface {
	metastore.GroupStore
	metastore.ConsumerGroupStore
}

// RunConsumerGroups runs the conformance suite of consumer-protocol
// (KIP-848) group state against a backend.
func RunConsumerGroups(t *testing.T, open func(t *testing.T) ConsumerGroupBackend) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s ConsumerGroupBackend)
	}{
		{"SaveLoad", testConsumerGroupSaveLoad},
		{"OlderEpochIgnored", testConsumerGroupOlderEpoch},
		{"LeaseFences", testConsumerGroupLeaseFences},
		{"DeleteKeepsOffsets", testConsumerGroupDeleteKeepsOffsets},
		{"DeleteGroupDeletesState", testConsumerGroupDeletedWithGroup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if c, ok := s.(interface{ Close() }); ok {
				t.Cleanup(c.Close)
			}
			tc.fn(t, s)
		})
	}
}

func saveCG(t *testing.T, s ConsumerGroupBackend, lease metastore.GroupLease, epoch int32, state, data string) error {
	t.Helper()
	return s.SaveConsumerGroup(ctx(t), lease, metastore.ConsumerGroupState{Name: lease.Group, Epoch: epoch, State: state, Data: []byte(data)})
}

func testConsumerGroupSaveLoad(t *testing.T, s ConsumerGroupBackend) {
	if _, err := s.LoadConsumerGroup(ctx(t), "cg"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Fatalf("LoadConsumerGroup of a group never saved: %v, want ErrUnknownGroup", err)
	}
	l := held(t, s, "cg")
	if err := saveCG(t, s, l, 3, "Reconciling", `{"members":[{"id":"a","epoch":3}]}`); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadConsumerGroup(ctx(t), "cg")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "cg" || got.Epoch != 3 || got.State != "Reconciling" {
		t.Fatalf("loaded %+v", got)
	}
	if !jsonEqual(t, got.Data, []byte(`{"members":[{"id":"a","epoch":3}]}`)) {
		t.Fatalf("loaded data %s", got.Data)
	}
	if time.Since(got.UpdatedAt) > time.Hour || got.UpdatedAt.IsZero() {
		t.Fatalf("updated at %v", got.UpdatedAt)
	}
	// The group is listed as a group, and as a consumer-protocol group.
	infos, err := s.ListGroups(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Name != "cg" || infos[0].ProtocolType != "consumer" {
		t.Fatalf("ListGroups = %+v", infos)
	}
	list, err := s.ListConsumerGroups(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "cg" || list[0].Epoch != 3 || list[0].State != "Reconciling" || list[0].Data != nil {
		t.Fatalf("ListConsumerGroups = %+v", list)
	}
	if err := saveCG(t, s, l, 4, "Stable", `{"members":[]}`); err != nil {
		t.Fatal(err)
	}
	if got, err = s.LoadConsumerGroup(ctx(t), "cg"); err != nil || got.Epoch != 4 || got.State != "Stable" {
		t.Fatalf("after a second save: %+v, %v", got, err)
	}
}

func testConsumerGroupOlderEpoch(t *testing.T, s ConsumerGroupBackend) {
	l := held(t, s, "cg")
	if err := saveCG(t, s, l, 5, "Stable", `{"v":5}`); err != nil {
		t.Fatal(err)
	}
	// A write of the same epoch replaces (members' epochs move within a
	// group epoch); an older one is ignored.
	if err := saveCG(t, s, l, 5, "Stable", `{"v":6}`); err != nil {
		t.Fatal(err)
	}
	if err := saveCG(t, s, l, 4, "Assigning", `{"v":4}`); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadConsumerGroup(ctx(t), "cg")
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 5 || !jsonEqual(t, got.Data, []byte(`{"v":6}`)) {
		t.Fatalf("loaded epoch %d data %s, want epoch 5 data {\"v\":6}", got.Epoch, got.Data)
	}
}

func testConsumerGroupLeaseFences(t *testing.T, s ConsumerGroupBackend) {
	a := acquireGroup(t, s, "cg", 1, uuid.New(), 50*time.Millisecond)
	if err := saveCG(t, s, a, 1, "Stable", `{}`); err != nil {
		t.Fatal(err)
	}
	// The lease runs out and another node takes the group: the first
	// holder's writes are refused and change nothing.
	var b metastore.GroupLease
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := s.AcquireGroupLease(ctx(t), "cg", 2, uuid.New(), longGroupLease)
		if err == nil {
			b = l
			break
		}
		if !errors.Is(err, metastore.ErrNotGroupCoordinator) || time.Now().After(deadline) {
			t.Fatalf("taking the group over: %v", err)
		}
	}
	if err := saveCG(t, s, a, 9, "Stable", `{"stale":true}`); !errors.Is(err, metastore.ErrNotGroupCoordinator) {
		t.Fatalf("save under a lost lease: %v, want ErrNotGroupCoordinator", err)
	}
	if err := s.DeleteConsumerGroup(ctx(t), a); !errors.Is(err, metastore.ErrNotGroupCoordinator) {
		t.Fatalf("delete under a lost lease: %v, want ErrNotGroupCoordinator", err)
	}
	got, err := s.LoadConsumerGroup(ctx(t), "cg")
	if err != nil || got.Epoch != 1 {
		t.Fatalf("after the fenced writes: %+v, %v", got, err)
	}
	if err := saveCG(t, s, b, 2, "Stable", `{}`); err != nil {
		t.Fatalf("save by the new holder: %v", err)
	}
	// A lease of another group is refused.
	other := held(t, s, "other")
	if err := s.SaveConsumerGroup(ctx(t), other, metastore.ConsumerGroupState{Name: "cg", Epoch: 3, State: "Stable", Data: []byte(`{}`)}); err == nil {
		t.Fatal("SaveConsumerGroup of one group under another's lease succeeded")
	}
}

func testConsumerGroupDeleteKeepsOffsets(t *testing.T, s ConsumerGroupBackend) {
	groupTopic(t, s.(groupTopicAdmin), "t", 2)
	l := held(t, s, "cg")
	if err := saveCG(t, s, l, 1, "Empty", `{}`); err != nil {
		t.Fatal(err)
	}
	groupCommit(t, s, "cg", off("t", 0, 10))
	if err := s.DeleteConsumerGroup(ctx(t), l); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConsumerGroup(ctx(t), l); err != nil {
		t.Fatalf("deleting absent state: %v", err)
	}
	if _, err := s.LoadConsumerGroup(ctx(t), "cg"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Fatalf("load after delete: %v, want ErrUnknownGroup", err)
	}
	if d := sameOffsets(groupFetch(t, s, "cg", nil), []metastore.GroupOffset{off("t", 0, 10)}); d != "" {
		t.Fatal(d)
	}
}

func testConsumerGroupDeletedWithGroup(t *testing.T, s ConsumerGroupBackend) {
	l := held(t, s, "cg")
	if err := saveCG(t, s, l, 1, "Empty", `{}`); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup(ctx(t), l); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadConsumerGroup(ctx(t), "cg"); !errors.Is(err, metastore.ErrUnknownGroup) {
		t.Fatalf("load after DeleteGroup: %v, want ErrUnknownGroup", err)
	}
	if list, err := s.ListConsumerGroups(ctx(t)); err != nil || len(list) != 0 {
		t.Fatalf("ListConsumerGroups after DeleteGroup = %+v, %v", list, err)
	}
}

// jsonEqual reports whether two JSON documents are equal: PostgreSQL's
// jsonb does not keep the bytes.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
