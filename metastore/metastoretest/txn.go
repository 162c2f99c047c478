package metastoretest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/metastore"
)

// RunTxn runs the transactional-id suite. open returns a store over a
// fresh, empty metastore, once per subtest.
func RunTxn(t *testing.T, open func(t *testing.T) metastore.TxnStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s metastore.TxnStore)
	}{
		{"SaveAndLoad", testTxnSaveAndLoad},
		{"UnknownTransaction", testTxnUnknown},
		{"VersionConflict", testTxnVersionConflict},
		{"ConcurrentTransitions", testTxnConcurrent},
		{"List", testTxnList},
		{"Delete", testTxnDelete},
		{"InvalidRows", testTxnInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
}

func newTxn(id string) metastore.Transaction {
	return metastore.Transaction{TransactionalID: id, ProducerID: 7, ProducerEpoch: 0, State: metastore.TxnEmpty, TimeoutMs: 60000}
}

func testTxnSaveAndLoad(t *testing.T, s metastore.TxnStore) {
	c := ctx(t)
	saved, err := s.SaveTransaction(c, newTxn("app-1"))
	if err != nil {
		t.Fatal(err)
	}
	if saved.Version != 1 || saved.UpdatedAt.IsZero() {
		t.Fatalf("first save: version %d, updated %v; want version 1 and a time", saved.Version, saved.UpdatedAt)
	}
	start := time.UnixMilli(time.Now().UnixMilli())
	next := saved
	next.State = metastore.TxnOngoing
	next.ProducerEpoch = 3
	next.StartTime = start
	// Unsorted, with a duplicate: stored sorted and distinct.
	next.Partitions = []metastore.TopicPartition{{Topic: "b", Partition: 1}, {Topic: "a", Partition: 2}, {Topic: "a", Partition: 0}, {Topic: "b", Partition: 1}}
	next.Groups = []string{"g2", "g1", "g2"}
	saved, err = s.SaveTransaction(c, next)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Version != 2 {
		t.Fatalf("second save: version %d, want 2", saved.Version)
	}
	got, err := s.LoadTransaction(c, "app-1")
	if err != nil {
		t.Fatal(err)
	}
	wantParts := []metastore.TopicPartition{{Topic: "a", Partition: 0}, {Topic: "a", Partition: 2}, {Topic: "b", Partition: 1}}
	if !reflect.DeepEqual(got.Partitions, wantParts) || !reflect.DeepEqual(got.Groups, []string{"g1", "g2"}) {
		t.Fatalf("loaded partitions %v groups %v; want %v and [g1 g2]", got.Partitions, got.Groups, wantParts)
	}
	if got.State != metastore.TxnOngoing || got.ProducerID != 7 || got.ProducerEpoch != 3 || got.TimeoutMs != 60000 || got.Version != 2 {
		t.Fatalf("loaded %+v", got)
	}
	if !got.StartTime.Equal(start) {
		t.Fatalf("start time %v, want %v", got.StartTime, start)
	}

	// Back to no open transaction: the start time is cleared.
	got.State = metastore.TxnCompleteCommit
	got.StartTime = time.Time{}
	if _, err := s.SaveTransaction(c, got); err != nil {
		t.Fatal(err)
	}
	got, err = s.LoadTransaction(c, "app-1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.StartTime.IsZero() || got.State != metastore.TxnCompleteCommit || got.Version != 3 {
		t.Fatalf("after completion: %+v", got)
	}
}

func testTxnUnknown(t *testing.T, s metastore.TxnStore) {
	if _, err := s.LoadTransaction(ctx(t), "nobody"); !errors.Is(err, metastore.ErrUnknownTransaction) {
		t.Fatalf("LoadTransaction of an unknown id: %v, want ErrUnknownTransaction", err)
	}
	// An update of a row that does not exist is a conflict, not a create.
	tx := newTxn("nobody")
	tx.Version = 4
	if _, err := s.SaveTransaction(ctx(t), tx); !errors.Is(err, metastore.ErrTxnConflict) {
		t.Fatalf("SaveTransaction at version 4 of no row: %v, want ErrTxnConflict", err)
	}
	if _, err := s.LoadTransaction(ctx(t), "nobody"); !errors.Is(err, metastore.ErrUnknownTransaction) {
		t.Fatalf("the refused save created a row: %v", err)
	}
}

func testTxnVersionConflict(t *testing.T, s metastore.TxnStore) {
	c := ctx(t)
	v1, err := s.SaveTransaction(c, newTxn("app"))
	if err != nil {
		t.Fatal(err)
	}
	// A second create loses.
	again := newTxn("app")
	again.ProducerID = 99
	if _, err := s.SaveTransaction(c, again); !errors.Is(err, metastore.ErrTxnConflict) {
		t.Fatalf("second create: %v, want ErrTxnConflict", err)
	}
	// A writer that read version 1 after another wrote version 2 loses,
	// and writes nothing.
	a, b := v1, v1
	a.ProducerEpoch = 1
	if _, err := s.SaveTransaction(c, a); err != nil {
		t.Fatal(err)
	}
	b.ProducerEpoch = 5
	b.State = metastore.TxnOngoing
	if _, err := s.SaveTransaction(c, b); !errors.Is(err, metastore.ErrTxnConflict) {
		t.Fatalf("stale save: %v, want ErrTxnConflict", err)
	}
	got, err := s.LoadTransaction(c, "app")
	if err != nil {
		t.Fatal(err)
	}
	if got.ProducerID != 7 || got.ProducerEpoch != 1 || got.State != metastore.TxnEmpty || got.Version != 2 {
		t.Fatalf("after the lost race: %+v; want the winner's epoch 1 at version 2", got)
	}
}

// testTxnConcurrent races writers that each bump the epoch from the row
// they read: every successful write must be counted exactly once.
func testTxnConcurrent(t *testing.T, s metastore.TxnStore) {
	c := ctx(t)
	if _, err := s.SaveTransaction(c, newTxn("race")); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < each; {
				cur, err := s.LoadTransaction(c, "race")
				if err != nil {
					errs <- err
					return
				}
				cur.ProducerEpoch++
				_, err = s.SaveTransaction(c, cur)
				switch {
				case errors.Is(err, metastore.ErrTxnConflict):
					continue
				case err != nil:
					errs <- err
					return
				}
				mu.Lock()
				wins++
				mu.Unlock()
				n++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.LoadTransaction(c, "race")
	if err != nil {
		t.Fatal(err)
	}
	if wins != writers*each || int(got.ProducerEpoch) != wins || got.Version != int64(wins)+1 {
		t.Fatalf("%d successful bumps, stored epoch %d at version %d", wins, got.ProducerEpoch, got.Version)
	}
}

func testTxnList(t *testing.T, s metastore.TxnStore) {
	c := ctx(t)
	if got, err := s.ListTransactions(c); err != nil || len(got) != 0 {
		t.Fatalf("empty store lists %v, %v", got, err)
	}
	for _, id := range []string{"b", "a", "c"} {
		if _, err := s.SaveTransaction(c, newTxn(id)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListTransactions(c)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tx := range got {
		ids = append(ids, tx.TransactionalID)
	}
	if fmt.Sprint(ids) != "[a b c]" {
		t.Fatalf("listed %v, want [a b c]", ids)
	}
}

func testTxnDelete(t *testing.T, s metastore.TxnStore) {
	c := ctx(t)
	v1, err := s.SaveTransaction(c, newTxn("gone"))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.SaveTransaction(c, v1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTransaction(c, v1); !errors.Is(err, metastore.ErrTxnConflict) {
		t.Fatalf("delete at a stale version: %v, want ErrTxnConflict", err)
	}
	if err := s.DeleteTransaction(c, v2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadTransaction(c, "gone"); !errors.Is(err, metastore.ErrUnknownTransaction) {
		t.Fatalf("after delete: %v", err)
	}
	// The id can be used again, from version 1.
	if again, err := s.SaveTransaction(c, newTxn("gone")); err != nil || again.Version != 1 {
		t.Fatalf("recreate: %+v, %v", again, err)
	}
}

func testTxnInvalid(t *testing.T, s metastore.TxnStore) {
	c := ctx(t)
	for name, tx := range map[string]metastore.Transaction{
		"empty id":  {State: metastore.TxnEmpty, TimeoutMs: 1},
		"bad state": {TransactionalID: "x", State: "Sideways", TimeoutMs: 1},
	} {
		if _, err := s.SaveTransaction(c, tx); err == nil {
			t.Errorf("%s: saved", name)
		}
	}
	if got, err := s.ListTransactions(c); err != nil || len(got) != 0 {
		t.Fatalf("refused rows were stored: %v, %v", got, err)
	}
}
