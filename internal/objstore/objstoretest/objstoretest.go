// Package objstoretest is the acceptance suite that every objstore.Store
// backend passes.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/objstore"
)

// Run runs the suite. newStore returns an empty store; it is called once per
// subtest, with the subtest's t, and should register its own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"GetMissing", testGetMissing},
		{"GetRange", testGetRange},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStop", testListStop},
		{"EmptyObject", testEmptyObject},
		{"LargeObject", testLargeObject},
		{"Concurrent", testConcurrent},
		{"InvalidKeys", testInvalidKeys},
		{"Canceled", testCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// randomBytes returns n bytes that differ between calls.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

func put(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(ctxFor(t), key, data); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

func mustGet(t *testing.T, s objstore.Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(ctxFor(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes %s, want %d bytes %s", key, len(got), head(got), len(want), head(want))
	}
}

func head(b []byte) string {
	if len(b) > 16 {
		return fmt.Sprintf("%x...", b[:16])
	}
	return fmt.Sprintf("%x", b)
}

func testPutGet(t *testing.T, s objstore.Store) {
	objects := map[string][]byte{
		"a":                                 []byte("alpha"),
		"segments/0a/0001.seg":              randomBytes(1000),
		"x/y/z/deep/nesting/object":         randomBytes(3),
		"odd chars/ümlaut+plus=eq%25&amp;?": []byte("special"),
		"dots.in.name/v1.2.3-rc~1_(x)":      []byte("dots"),
	}
	for k, v := range objects {
		put(t, s, k, v)
	}
	for k, v := range objects {
		mustGet(t, s, k, v)
	}

	// The store keeps its own copy: changing the caller's slices after Put,
	// or the returned slice after Get, does not change the object.
	data := []byte("original")
	put(t, s, "copy", data)
	copy(data, "CHANGED!")
	got, err := s.Get(ctxFor(t), "copy")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "original" {
		t.Fatalf("after changing the Put slice, Get = %q, want %q", got, "original")
	}
	copy(got, "XXXXXXXX")
	mustGet(t, s, "copy", []byte("original"))
}

func testOverwrite(t *testing.T, s objstore.Store) {
	long := bytes.Repeat([]byte("long object "), 1000)
	put(t, s, "k/obj", long)
	put(t, s, "k/obj", []byte("short"))
	mustGet(t, s, "k/obj", []byte("short"))
	put(t, s, "k/obj", long)
	mustGet(t, s, "k/obj", long)

	var infos []objstore.ObjectInfo
	if err := s.List(ctxFor(t), "k/", func(oi objstore.ObjectInfo) error {
		infos = append(infos, oi)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Key != "k/obj" || infos[0].Size != int64(len(long)) {
		t.Fatalf("List after overwrites = %+v, want one object k/obj of %d bytes", infos, len(long))
	}
}

func testGetMissing(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	put(t, s, "dir/present", []byte("x"))
	for _, key := range []string{"missing", "dir/missing", "dir", "dir/present/below", "nodir/x"} {
		if b, err := s.Get(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Get(%q) = %d bytes, %v; want ErrNotFound", key, len(b), err)
		}
		if b, err := s.GetRange(ctx, key, 0, 1); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("GetRange(%q, 0, 1) = %d bytes, %v; want ErrNotFound", key, len(b), err)
		}
		if b, err := s.GetRange(ctx, key, 0, 0); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("GetRange(%q, 0, 0) = %d bytes, %v; want ErrNotFound", key, len(b), err)
		}
	}
}

func testGetRange(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	data := randomBytes(1000)
	put(t, s, "r/obj", data)

	ok := []struct{ off, n int64 }{
		{0, 1}, {0, 16}, // start
		{100, 250}, {999, 1}, // middle, last byte
		{984, 16},           // end
		{0, 1000},           // whole
		{500, 0}, {1000, 0}, // empty ranges inside and at the end
	}
	for _, r := range ok {
		got, err := s.GetRange(ctx, "r/obj", r.off, r.n)
		if err != nil {
			t.Errorf("GetRange(%d, %d): %v", r.off, r.n, err)
			continue
		}
		if want := data[r.off : r.off+r.n]; !bytes.Equal(got, want) {
			t.Errorf("GetRange(%d, %d) = %d bytes %s, want %d bytes %s", r.off, r.n, len(got), head(got), len(want), head(want))
		}
	}

	bad := []struct{ off, n int64 }{
		{990, 11},    // runs past the end
		{999, 2},     // last byte and one more
		{1000, 1},    // starts at the end
		{5000, 10},   // starts after the end
		{1001, 0},    // empty, after the end
		{-1, 10},     // negative offset
		{10, -1},     // negative length
		{0, 1 << 40}, // huge
	}
	for _, r := range bad {
		got, err := s.GetRange(ctx, "r/obj", r.off, r.n)
		if !errors.Is(err, objstore.ErrInvalidRange) {
			t.Errorf("GetRange(%d, %d) = %d bytes, %v; want ErrInvalidRange", r.off, r.n, len(got), err)
		}
		if errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("GetRange(%d, %d) past the end reports ErrNotFound: %v", r.off, r.n, err)
		}
	}
}

func testDelete(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	put(t, s, "d/one", []byte("1"))
	put(t, s, "d/two", []byte("2"))
	put(t, s, "d/sub/three", []byte("3"))

	if err := s.Delete(ctx, "d/one"); err != nil {
		t.Fatalf("Delete(d/one): %v", err)
	}
	if _, err := s.Get(ctx, "d/one"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "d/one"); err != nil {
		t.Fatalf("second Delete(d/one): %v, want nil", err)
	}
	if err := s.Delete(ctx, "never/existed"); err != nil {
		t.Fatalf("Delete(never/existed): %v, want nil", err)
	}
	// Deleting the last object under a prefix, then writing there again.
	if err := s.Delete(ctx, "d/sub/three"); err != nil {
		t.Fatal(err)
	}
	put(t, s, "d/sub/four", []byte("4"))

	mustGet(t, s, "d/two", []byte("2"))
	mustGet(t, s, "d/sub/four", []byte("4"))
	if got := listKeys(t, s, "d/"); !slices.Equal(got, []string{"d/sub/four", "d/two"}) {
		t.Fatalf("List(d/) after deletes = %q", got)
	}
}

func listKeys(t *testing.T, s objstore.Store, prefix string) []string {
	t.Helper()
	keys := []string{}
	if err := s.List(ctxFor(t), prefix, func(oi objstore.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

func testList(t *testing.T, s objstore.Store) {
	// Byte-wise order puts '-' (0x2d) and '.' (0x2e) before '/' (0x2f)
	// and '0' (0x30): "p/a-c" < "p/a.d" < "p/a/b" < "p/a0".
	keys := []string{
		"p/a-c", "p/a.d", "p/a0", "p/a/b/c2", "p/a/b/c10", "p/b", "p/B",
		"p/ba/x", "p/b-", "q/outside", "pp/outside", "p0",
	}
	sizes := map[string]int{}
	before := time.Now().Add(-time.Hour)
	for i, k := range keys {
		put(t, s, k, randomBytes(i+1))
		sizes[k] = i + 1
	}
	all := make([]string, 0, len(sizes))
	for k := range sizes {
		all = append(all, k)
	}
	slices.Sort(all)

	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"p/", []string{"p/B", "p/a-c", "p/a.d", "p/a/b/c10", "p/a/b/c2", "p/a0", "p/b", "p/b-", "p/ba/x"}},
		{"p/a", []string{"p/a-c", "p/a.d", "p/a/b/c10", "p/a/b/c2", "p/a0"}},
		{"p/a/", []string{"p/a/b/c10", "p/a/b/c2"}},
		{"p/a/b/c1", []string{"p/a/b/c10"}},
		{"p/b", []string{"p/b", "p/b-", "p/ba/x"}},
		{"p/ba/x", []string{"p/ba/x"}},
		{"p", []string{"p/B", "p/a-c", "p/a.d", "p/a/b/c10", "p/a/b/c2", "p/a0", "p/b", "p/b-", "p/ba/x", "p0", "pp/outside"}},
		{"none/", []string{}},
		{"p/a0/", []string{}},
	} {
		var got []string
		err := s.List(ctxFor(t), tc.prefix, func(oi objstore.ObjectInfo) error {
			got = append(got, oi.Key)
			if want := int64(sizes[oi.Key]); oi.Size != want {
				t.Errorf("List(%q): %s has size %d, want %d", tc.prefix, oi.Key, oi.Size, want)
			}
			if oi.LastModified.Before(before) || oi.LastModified.After(time.Now().Add(time.Hour)) {
				t.Errorf("List(%q): %s last modified %v, want about now", tc.prefix, oi.Key, oi.LastModified)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("List(%q): %v", tc.prefix, err)
		}
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) =\n %q\nwant\n %q", tc.prefix, got, tc.want)
		}
	}
}

func testListStop(t *testing.T, s objstore.Store) {
	for i := range 5 {
		put(t, s, fmt.Sprintf("stop/%d", i), []byte{byte(i)})
	}
	stop := errors.New("enough")
	var seen []string
	err := s.List(ctxFor(t), "stop/", func(oi objstore.ObjectInfo) error {
		seen = append(seen, oi.Key)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("List with a failing callback = %v, want the callback's error", err)
	}
	if !slices.Equal(seen, []string{"stop/0", "stop/1"}) {
		t.Fatalf("List called back with %q after the error, want only stop/0 and stop/1", seen)
	}
}

func testEmptyObject(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	put(t, s, "empty", nil)
	got, err := s.Get(ctx, "empty")
	if err != nil || len(got) != 0 {
		t.Fatalf("Get(empty) = %d bytes, %v; want 0 bytes, nil", len(got), err)
	}
	got, err = s.GetRange(ctx, "empty", 0, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("GetRange(empty, 0, 0) = %d bytes, %v; want 0 bytes, nil", len(got), err)
	}
	if _, err := s.GetRange(ctx, "empty", 0, 1); !errors.Is(err, objstore.ErrInvalidRange) {
		t.Fatalf("GetRange(empty, 0, 1) = %v, want ErrInvalidRange", err)
	}
	var infos []objstore.ObjectInfo
	if err := s.List(ctx, "empty", func(oi objstore.ObjectInfo) error {
		infos = append(infos, oi)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Key != "empty" || infos[0].Size != 0 {
		t.Fatalf("List(empty) = %+v, want one object of 0 bytes", infos)
	}
}

func testLargeObject(t *testing.T, s objstore.Store) {
	const size = 8 << 20
	data := randomBytes(size)
	put(t, s, "large/obj", data)
	mustGet(t, s, "large/obj", data)
	off, n := int64(size/2-12345), int64(1<<20+7)
	got, err := s.GetRange(ctxFor(t), "large/obj", off, n)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[off:off+n]) {
		t.Fatalf("GetRange(%d, %d) of the large object returned other bytes", off, n)
	}
	got, err = s.GetRange(ctxFor(t), "large/obj", size-16, 16)
	if err != nil || !bytes.Equal(got, data[size-16:]) {
		t.Fatalf("GetRange of the last 16 bytes = %x, %v; want %x", got, err, data[size-16:])
	}
}

func testConcurrent(t *testing.T, s objstore.Store) {
	const workers, perWorker = 16, 4
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				key := fmt.Sprintf("conc/%02d/%d", w, i)
				data := randomBytes(1000 + 4000*w + i)
				if err := s.Put(ctx, key, data); err != nil {
					errs <- fmt.Errorf("Put(%s): %w", key, err)
					return
				}
				got, err := s.Get(ctx, key)
				if err != nil {
					errs <- fmt.Errorf("Get(%s): %w", key, err)
					return
				}
				if !bytes.Equal(got, data) {
					errs <- fmt.Errorf("Get(%s) returned %d bytes that differ from the %d put", key, len(got), len(data))
					return
				}
				part, err := s.GetRange(ctx, key, 10, 100)
				if err != nil || !bytes.Equal(part, data[10:110]) {
					errs <- fmt.Errorf("GetRange(%s, 10, 100) = %d bytes, %v", key, len(part), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := listKeys(t, s, "conc/"); len(got) != workers*perWorker {
		t.Errorf("List(conc/) found %d objects, want %d", len(got), workers*perWorker)
	}
}

func testInvalidKeys(t *testing.T, s objstore.Store) {
	ctx := ctxFor(t)
	for _, key := range []string{
		"", "/abs", "trailing/", "a//b", "..", "../escape", "a/../../escape", "a/./b", ".",
		"back\\slash", "nul\x00byte", "bad\xffutf8",
	} {
		if err := s.Put(ctx, key, []byte("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.GetRange(ctx, key, 0, 1); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("GetRange(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	if got := listKeys(t, s, ""); len(got) != 0 {
		t.Errorf("invalid keys left objects behind: %q", got)
	}
}

func testCanceled(t *testing.T, s objstore.Store) {
	put(t, s, "c/present", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, "c/new", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Get(ctx, "c/present"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context = %v, want context.Canceled", err)
	}
	if err := s.List(ctx, "c/", func(objstore.ObjectInfo) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Get(ctxFor(t), "c/new"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Put with a canceled context stored the object: Get = %v", err)
	}
}
