package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/objstore/objstoretest"
)

func newLocal(t testing.TB) *objstore.Local {
	t.Helper()
	l, err := objstore.NewLocal(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLocal is the suite's entry point for the local backend, bare and
// under the decorators, which keep the semantics of the store they wrap.
func TestLocal(t *testing.T) {
	t.Run("Bare", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) objstore.Store { return newLocal(t) })
	})
	t.Run("Decorated", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) objstore.Store {
			return objstore.NewFaulty(objstore.NewMetrics(newLocal(t), nil, "local"))
		})
	})
}

// filesUnder lists every file and directory below dir, relative to it.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestLocalKeysStayUnderRoot(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	l, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, key := range []string{"../secret", "../evil", "a/../../evil", "/tmp/evil", "..", "a/../b", "./a"} {
		if err := l.Put(ctx, key, []byte("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if b, err := l.Get(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Get(%q) = %q, %v; want ErrInvalidKey", key, b, err)
		}
		if err := l.Delete(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	if got := filesUnder(t, parent); !slices.Equal(got, []string{"root", "secret"}) {
		t.Fatalf("files after escape attempts = %q, want only root and secret", got)
	}
	if b, err := os.ReadFile(filepath.Join(parent, "secret")); err != nil || string(b) != "outside" {
		t.Fatalf("file outside the root changed: %q, %v", b, err)
	}
}

func TestLocalFiles(t *testing.T) {
	l := newLocal(t)
	ctx := t.Context()
	if err := l.Put(ctx, "a/b/c.seg", []byte("data")); err != nil {
		t.Fatal(err)
	}
	// The object is a plain file at the key's path, with no temporary file
	// left next to it.
	b, err := os.ReadFile(filepath.Join(l.Root(), "a", "b", "c.seg"))
	if err != nil || string(b) != "data" {
		t.Fatalf("file of a/b/c.seg = %q, %v", b, err)
	}
	if got := filesUnder(t, l.Root()); !slices.Equal(got, []string{"a", "a/b", "a/b/c.seg"}) {
		t.Fatalf("files after Put = %q", got)
	}

	// A temporary file left by a crash mid-Put is not an object.
	if err := os.WriteFile(filepath.Join(l.Root(), "a", "b", ".strata-tmp-123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := l.List(ctx, "", func(oi objstore.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"a/b/c.seg"}) {
		t.Fatalf("List with a stray temporary file = %q", keys)
	}
	if err := os.Remove(filepath.Join(l.Root(), "a", "b", ".strata-tmp-123")); err != nil {
		t.Fatal(err)
	}

	// Deleting the last object removes the directories it leaves empty,
	// but not the root.
	if err := l.Delete(ctx, "a/b/c.seg"); err != nil {
		t.Fatal(err)
	}
	if got := filesUnder(t, l.Root()); len(got) != 0 {
		t.Fatalf("files after deleting the only object = %q, want none", got)
	}
	if st, err := os.Stat(l.Root()); err != nil || !st.IsDir() {
		t.Fatalf("root after Delete: %v", err)
	}
}

func TestLocalKeyUnderObject(t *testing.T) {
	l := newLocal(t)
	ctx := t.Context()
	if err := l.Put(ctx, "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// A directory backend cannot hold "a" and "a/b": the second Put fails
	// cleanly and "a" is untouched.
	if err := l.Put(ctx, "a/b", []byte("y")); err == nil {
		t.Fatal("Put(a/b) over the object a succeeded")
	}
	if b, err := l.Get(ctx, "a"); err != nil || string(b) != "x" {
		t.Fatalf("Get(a) = %q, %v", b, err)
	}
	if err := l.Delete(ctx, "a/b"); err != nil {
		t.Fatalf("Delete(a/b) = %v, want nil", err)
	}
}

func TestNewLocalErrors(t *testing.T) {
	if _, err := objstore.NewLocal(""); err == nil {
		t.Error("NewLocal(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := objstore.NewLocal(file); err == nil {
		t.Error("NewLocal on a regular file succeeded")
	}
}

func TestLocalConcurrentPutDelete(t *testing.T) {
	// Put into a directory that a Delete of its last object removes at the
	// same time must still succeed.
	l := newLocal(t)
	ctx := t.Context()
	for round := range 50 {
		dir := fmt.Sprintf("d%d/sub", round%3)
		if err := l.Put(ctx, dir+"/old", []byte("o")); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Delete(ctx, dir+"/old") }()
		if err := l.Put(ctx, dir+"/new", []byte("n")); err != nil {
			t.Fatalf("round %d: Put during Delete: %v", round, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if b, err := l.Get(ctx, dir+"/new"); err != nil || string(b) != "n" {
			t.Fatalf("round %d: Get = %q, %v", round, b, err)
		}
		if err := l.Delete(ctx, dir+"/new"); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkLocalPut(b *testing.B) {
	for _, size := range []int{1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			l := newLocal(b)
			data := make([]byte, size)
			ctx := context.Background()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := l.Put(ctx, fmt.Sprintf("bench/%d", i%8), data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
