package metastoretest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stratalog/strata/metastore"
)

// RunScram runs the SCRAM credential suite. open returns a store over a
// fresh, empty metastore.
func RunScram(t *testing.T, open func(t *testing.T) metastore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s metastore.Store)
	}{
		{"UpsertAndGet", testScramUpsertAndGet},
		{"List", testScramList},
		{"Delete", testScramDelete},
		{"ConcurrentUpserts", testScramConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(s.Close)
			tc.fn(t, s)
		})
	}
}

func scramCred(user, mech string, seed byte, iters int32) metastore.ScramCredential {
	return metastore.ScramCredential{
		User: user, Mechanism: mech, Iterations: iters,
		Salt:      bytes.Repeat([]byte{seed}, 32),
		StoredKey: bytes.Repeat([]byte{seed + 1}, 32),
		ServerKey: bytes.Repeat([]byte{seed + 2}, 32),
	}
}

func sameCred(t *testing.T, got, want metastore.ScramCredential) {
	t.Helper()
	if got.User != want.User || got.Mechanism != want.Mechanism || got.Iterations != want.Iterations ||
		!bytes.Equal(got.Salt, want.Salt) || !bytes.Equal(got.StoredKey, want.StoredKey) || !bytes.Equal(got.ServerKey, want.ServerKey) {
		t.Fatalf("credential = %+v, want %+v", got, want)
	}
}

func testScramUpsertAndGet(t *testing.T, s metastore.Store) {
	c := ctx(t)
	if _, err := s.ScramCredential(c, "alice", "SCRAM-SHA-256"); !errors.Is(err, metastore.ErrUnknownScramCredential) {
		t.Fatalf("absent: %v", err)
	}
	a := scramCred("alice", "SCRAM-SHA-256", 1, 4096)
	if err := s.UpsertScramCredential(c, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.ScramCredential(c, "alice", "SCRAM-SHA-256")
	if err != nil {
		t.Fatal(err)
	}
	sameCred(t, got, a)
	// The other mechanism is a separate credential.
	if _, err := s.ScramCredential(c, "alice", "SCRAM-SHA-512"); !errors.Is(err, metastore.ErrUnknownScramCredential) {
		t.Fatalf("other mechanism: %v", err)
	}
	// Replacing changes every field.
	b := scramCred("alice", "SCRAM-SHA-256", 7, 8192)
	if err := s.UpsertScramCredential(c, b); err != nil {
		t.Fatal(err)
	}
	got, err = s.ScramCredential(c, "alice", "SCRAM-SHA-256")
	if err != nil {
		t.Fatal(err)
	}
	sameCred(t, got, b)
	// Names are compared exactly.
	if _, err := s.ScramCredential(c, "Alice", "SCRAM-SHA-256"); !errors.Is(err, metastore.ErrUnknownScramCredential) {
		t.Fatalf("case-folded name: %v", err)
	}
}

func testScramList(t *testing.T, s metastore.Store) {
	c := ctx(t)
	if all, err := s.ScramCredentials(c, nil); err != nil || len(all) != 0 {
		t.Fatalf("empty store: %v %v", all, err)
	}
	want := []metastore.ScramCredential{
		scramCred("alice", "SCRAM-SHA-256", 1, 4096),
		scramCred("alice", "SCRAM-SHA-512", 2, 4096),
		scramCred("bob", "SCRAM-SHA-512", 3, 10000),
		scramCred("carol", "SCRAM-SHA-256", 4, 4096),
	}
	for _, i := range []int{3, 0, 2, 1} {
		if err := s.UpsertScramCredential(c, want[i]); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ScramCredentials(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("got %d credentials, want %d", len(all), len(want))
	}
	for i := range want {
		sameCred(t, all[i], want[i])
	}
	some, err := s.ScramCredentials(c, []string{"carol", "alice", "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if len(some) != 3 || some[0].User != "alice" || some[1].User != "alice" || some[2].User != "carol" {
		t.Fatalf("filtered: %+v", some)
	}
}

func testScramDelete(t *testing.T, s metastore.Store) {
	c := ctx(t)
	if err := s.DeleteScramCredential(c, "alice", "SCRAM-SHA-256"); !errors.Is(err, metastore.ErrUnknownScramCredential) {
		t.Fatalf("delete absent: %v", err)
	}
	for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		if err := s.UpsertScramCredential(c, scramCred("alice", m, 1, 4096)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteScramCredential(c, "alice", "SCRAM-SHA-256"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ScramCredential(c, "alice", "SCRAM-SHA-256"); !errors.Is(err, metastore.ErrUnknownScramCredential) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := s.ScramCredential(c, "alice", "SCRAM-SHA-512"); err != nil {
		t.Fatalf("the other mechanism went too: %v", err)
	}
	if err := s.DeleteScramCredential(c, "alice", "SCRAM-SHA-256"); !errors.Is(err, metastore.ErrUnknownScramCredential) {
		t.Fatalf("delete twice: %v", err)
	}
}

func testScramConcurrent(t *testing.T, s metastore.Store) {
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr := scramCred(fmt.Sprintf("u%d", i%4), "SCRAM-SHA-512", byte(i), 4096)
			errs <- s.UpsertScramCredential(c, cr)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ScramCredentials(c, nil)
	if err != nil || len(all) != 4 {
		t.Fatalf("got %d credentials (%v), want 4", len(all), err)
	}
	for _, cr := range all {
		// Each row is one whole upsert, never a mix of two.
		seed := cr.Salt[0]
		sameCred(t, cr, scramCred(cr.User, "SCRAM-SHA-512", seed, 4096))
	}
}
