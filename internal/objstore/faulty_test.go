package objstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/objstore"
)

func TestFaulty(t *testing.T) {
	f := objstore.NewFaulty(newLocal(t))
	ctx := t.Context()
	boom := errors.New("boom")

	var keys []string
	f.Inject(objstore.OpPut, func(key string) error {
		keys = append(keys, key)
		return boom
	})
	if err := f.Put(ctx, "k", []byte("v")); !errors.Is(err, boom) {
		t.Fatalf("Put with an injected fault = %v, want boom", err)
	}
	if len(keys) != 1 || keys[0] != "k" {
		t.Fatalf("fault saw keys %q, want [k]", keys)
	}
	if _, err := f.Get(ctx, "k"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a failed Put reached the store: Get = %v", err)
	}
	f.Inject(objstore.OpPut, nil)
	if err := f.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put after clearing the fault: %v", err)
	}

	f.FailNext(objstore.OpGet, boom)
	if _, err := f.Get(ctx, "k"); !errors.Is(err, boom) {
		t.Fatalf("first Get after FailNext = %v, want boom", err)
	}
	if b, err := f.Get(ctx, "k"); err != nil || string(b) != "v" {
		t.Fatalf("second Get after FailNext = %q, %v", b, err)
	}

	// Faults apply per operation.
	f.FailNext(objstore.OpGetRange, boom)
	f.FailNext(objstore.OpDelete, boom)
	f.FailNext(objstore.OpList, boom)
	if _, err := f.GetRange(ctx, "k", 0, 1); !errors.Is(err, boom) {
		t.Errorf("GetRange = %v, want boom", err)
	}
	if err := f.Delete(ctx, "k"); !errors.Is(err, boom) {
		t.Errorf("Delete = %v, want boom", err)
	}
	if err := f.List(ctx, "", func(objstore.ObjectInfo) error { return nil }); !errors.Is(err, boom) {
		t.Errorf("List = %v, want boom", err)
	}
	if b, err := f.Get(ctx, "k"); err != nil || string(b) != "v" {
		t.Fatalf("object after a failed Delete = %q, %v", b, err)
	}

	for op, want := range map[string]int64{
		objstore.OpPut: 2, objstore.OpGet: 4, objstore.OpGetRange: 1, objstore.OpDelete: 1, objstore.OpList: 1,
	} {
		if got := f.Calls(op); got != want {
			t.Errorf("Calls(%s) = %d, want %d", op, got, want)
		}
	}
}

// A fault may block, holding the call until the test lets it go.
func TestFaultyBlocks(t *testing.T) {
	f := objstore.NewFaulty(newLocal(t))
	release := make(chan struct{})
	f.Inject(objstore.OpPut, func(string) error { <-release; return nil })
	done := make(chan error, 1)
	go func() { done <- f.Put(t.Context(), "k", []byte("v")) }()
	select {
	case err := <-done:
		t.Fatalf("Put returned %v before the fault released it", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, err := f.Get(t.Context(), "k"); err != nil || string(b) != "v" {
		t.Fatalf("Get = %q, %v", b, err)
	}
}

func TestFaultyUnknownOp(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Inject with an unknown op did not panic")
		}
	}()
	objstore.NewFaulty(newLocal(t)).Inject("upload", nil)
}
