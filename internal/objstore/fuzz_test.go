package objstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// A key that ValidateKey accepts maps to a clean path strictly inside the
// root of a Local store, and the path maps back to the same key; a key it
// rejects gets ErrInvalidKey.
func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{
		"a", "a/b/c.seg", "../x", "a/../b", "/abs", "a//b", "a/", ".", "..", "a/./b",
		"ü/x y", "a\\b", "\x00", "\xff", ".strata-tmp-1", "a/.strata-tmp-x/b", "...", "a/..b",
	} {
		f.Add(k)
	}
	root := filepath.FromSlash("/objects/root")
	l := &Local{root: root}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ValidateKey(%q) = %v, not ErrInvalidKey", key, err)
			}
			return
		}
		p := l.path(key)
		if filepath.Clean(p) != p {
			t.Fatalf("key %q maps to unclean path %q", key, p)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			t.Fatalf("key %q maps to %q, outside the root (rel %q, %v)", key, p, rel, err)
		}
		if back := filepath.ToSlash(rel); back != key {
			t.Fatalf("key %q maps to %q, which maps back to key %q", key, p, back)
		}
		if len(key) > MaxKeyLength {
			t.Fatalf("accepted key of %d bytes", len(key))
		}
	})
}

// parseContentRange accepts only the canonical form, with first <= last <
// size, and what it accepts formats back to the same header.
func FuzzParseContentRange(f *testing.F) {
	for _, v := range []string{
		"bytes 0-0/1", "bytes 0-99/1000", "bytes 900-999/1000", "bytes 5-4/10", "bytes 0-10/10",
		"bytes */1000", "bytes 01-2/3", "bytes -1-2/3", "bytes +1-2/3", "bytes 1-2/", "bytes 0-9223372036854775806/9223372036854775807",
		"items 0-1/2", "bytes 0-1/2/3", "",
	} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		first, last, size, err := parseContentRange(v)
		if err != nil {
			return
		}
		if first < 0 || first > last || last >= size {
			t.Fatalf("parseContentRange(%q) = %d, %d, %d: not 0 <= first <= last < size", v, first, last, size)
		}
		if again := fmt.Sprintf("bytes %d-%d/%d", first, last, size); again != v {
			t.Fatalf("parseContentRange(%q) = %d, %d, %d, which formats as %q", v, first, last, size, again)
		}
	})
}

// checkRange accepts exactly the ranges inside the object.
func FuzzCheckRange(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0))
	f.Add(int64(10), int64(5), int64(15))
	f.Add(int64(1)<<62, int64(1)<<62, int64(1)<<62)
	f.Fuzz(func(t *testing.T, off, n, size int64) {
		if size < 0 {
			return
		}
		err := checkRange(off, n, size)
		inside := off >= 0 && n >= 0 && off <= size && n <= size-off
		if (err == nil) != inside {
			t.Fatalf("checkRange(%d, %d, %d) = %v, want inside=%v", off, n, size, err, inside)
		}
		if err != nil && !errors.Is(err, ErrInvalidRange) {
			t.Fatalf("checkRange error %v is not ErrInvalidRange", err)
		}
	})
}
