package metastoretest

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/stratalog/strata/metastore"
)

// RunShare runs the share-group state suite; open returns a store over a
// fresh, empty metastore.
func RunShare(t *testing.T, open func(t *testing.T) metastore.ShareStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s metastore.ShareStore)
	}{
		{"AbsentThenWritten", testShareAbsentThenWritten},
		{"FailedUpdateWritesNothing", testShareFailedUpdate},
		{"ConcurrentUpdatesSerialise", testShareConcurrent},
		{"Delete", testShareDelete},
		{"Configs", testShareConfigs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if c, ok := s.(interface{ Close() }); ok {
				t.Cleanup(c.Close)
			}
			tc.fn(t, s)
		})
	}
}

var (
	shareTopicA = uuid.MustParse("00000000-0000-0000-0000-00000000000a")
	shareTopicB = uuid.MustParse("00000000-0000-0000-0000-00000000000b")
)

func spk(group string, topic uuid.UUID, p int32) metastore.SharePartitionKey {
	return metastore.SharePartitionKey{Group: group, TopicID: topic, Partition: p}
}

func testShareAbsentThenWritten(t *testing.T, s metastore.ShareStore) {
	ctx := context.Background()
	keys := []metastore.SharePartitionKey{spk("g", shareTopicB, 0), spk("g", shareTopicA, 1), spk("g", shareTopicA, 0)}
	err := s.UpdateShareStates(ctx, keys, func(in []metastore.ShareState) ([]metastore.ShareState, error) {
		for i, st := range in {
			if st.Found || st.Key != keys[i] {
				t.Errorf("state %d of a fresh store: %+v", i, st)
			}
		}
		return []metastore.ShareState{
			{Key: keys[0], StartOffset: 5, State: []byte("b0")},
			{Key: keys[1], StartOffset: 0, State: nil},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.UpdateShareStates(ctx, keys, func(in []metastore.ShareState) ([]metastore.ShareState, error) {
		if !in[0].Found || in[0].StartOffset != 5 || string(in[0].State) != "b0" {
			t.Errorf("written state read back as %+v", in[0])
		}
		if !in[1].Found || in[1].StartOffset != 0 || len(in[1].State) != 0 {
			t.Errorf("written empty state read back as %+v", in[1])
		}
		if in[2].Found {
			t.Errorf("state never written is found: %+v", in[2])
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ShareStates(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	var gotKeys []metastore.SharePartitionKey
	for _, st := range got {
		gotKeys = append(gotKeys, st.Key)
	}
	if want := []metastore.SharePartitionKey{keys[1], keys[0]}; !reflect.DeepEqual(gotKeys, want) {
		t.Fatalf("ShareStates keys %v, want %v", gotKeys, want)
	}
	if other, err := s.ShareStates(ctx, "other"); err != nil || len(other) != 0 {
		t.Fatalf("another group's states: %v %v", other, err)
	}
}

func testShareFailedUpdate(t *testing.T, s metastore.ShareStore) {
	ctx := context.Background()
	k := spk("g", shareTopicA, 0)
	boom := errors.New("boom")
	err := s.UpdateShareStates(ctx, []metastore.SharePartitionKey{k}, func(in []metastore.ShareState) ([]metastore.ShareState, error) {
		return []metastore.ShareState{{Key: k, StartOffset: 9}}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want fn's", err)
	}
	if got, _ := s.ShareStates(ctx, "g"); len(got) != 0 {
		t.Fatalf("failed update wrote %v", got)
	}
}

// testShareConcurrent: updates of overlapping keys, taken in opposite
// orders, lose nothing and do not deadlock.
func testShareConcurrent(t *testing.T, s metastore.ShareStore) {
	ctx := context.Background()
	a, b := spk("g", shareTopicA, 0), spk("g", shareTopicA, 1)
	const workers, rounds = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys := []metastore.SharePartitionKey{a, b}
			if w%2 == 1 {
				keys = []metastore.SharePartitionKey{b, a}
			}
			for range rounds {
				err := s.UpdateShareStates(ctx, keys, func(in []metastore.ShareState) ([]metastore.ShareState, error) {
					out := make([]metastore.ShareState, len(in))
					for i, st := range in {
						n := uint64(0)
						if st.Found {
							n = binary.BigEndian.Uint64(st.State)
						}
						out[i] = metastore.ShareState{Key: st.Key, StartOffset: st.StartOffset + 1, State: binary.BigEndian.AppendUint64(nil, n+1)}
					}
					return out, nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.ShareStates(ctx, "g")
	if err != nil || len(got) != 2 {
		t.Fatalf("states %v %v", got, err)
	}
	for _, st := range got {
		if st.StartOffset != workers*rounds || binary.BigEndian.Uint64(st.State) != workers*rounds {
			t.Errorf("%v: start %d count %d, want %d", st.Key, st.StartOffset, binary.BigEndian.Uint64(st.State), workers*rounds)
		}
	}
}

func testShareDelete(t *testing.T, s metastore.ShareStore) {
	ctx := context.Background()
	keys := []metastore.SharePartitionKey{spk("g", shareTopicA, 0), spk("g", shareTopicA, 1), spk("h", shareTopicA, 0)}
	err := s.UpdateShareStates(ctx, keys, func(in []metastore.ShareState) ([]metastore.ShareState, error) {
		out := slices.Clone(in)
		for i := range out {
			out[i].StartOffset = 1
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteShareStates(ctx, "g", keys[:1]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ShareStates(ctx, "g"); len(got) != 1 || got[0].Key != keys[1] {
		t.Fatalf("after deleting one: %v", got)
	}
	if err := s.DeleteShareStates(ctx, "g", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ShareStates(ctx, "g"); len(got) != 0 {
		t.Fatalf("after deleting all: %v", got)
	}
	if got, _ := s.ShareStates(ctx, "h"); len(got) != 1 {
		t.Fatalf("another group's state deleted: %v", got)
	}
}

func testShareConfigs(t *testing.T, s metastore.ShareStore) {
	ctx := context.Background()
	v := func(s string) *string { return &s }
	if err := s.SetShareGroupConfigs(ctx, "g", map[string]*string{"share.delivery.count.limit": v("3"), "share.auto.offset.reset": v("earliest")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetShareGroupConfigs(ctx, "g", map[string]*string{"share.delivery.count.limit": v("4"), "share.auto.offset.reset": nil}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ShareGroupConfigs(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"share.delivery.count.limit": "4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("configs %v, want %v", got, want)
	}
	if other, err := s.ShareGroupConfigs(ctx, "h"); err != nil || len(other) != 0 {
		t.Fatalf("another group's configs: %v %v", other, err)
	}
}
