// Package objstore stores whole objects under string keys: segment objects on
// an S3-compatible service in production, files in a local directory for
// strata dev and tests.
//
// Every backend implements Store with the same semantics, checked by the
// acceptance suite in objstore/objstoretest:
//
//   - Keys are slash-separated paths; ValidateKey gives the rules, which every
//     backend enforces, so that a key accepted by one backend is accepted by
//     all.
//   - Put replaces the whole object atomically: a concurrent Get sees the old
//     or the new bytes, never a mix.
//   - Get and GetRange return ErrNotFound (wrapped) for a missing object.
//     GetRange returns exactly n bytes or an error wrapping ErrInvalidRange.
//   - Delete of a missing object succeeds.
//   - List calls fn for every object whose key starts with prefix, in
//     byte-wise lexical key order.
//
// Decorators add metrics (NewMetrics) and injected faults (NewFaulty).
package objstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors, compared with errors.Is.
var (
	// ErrNotFound is returned (wrapped) by Get and GetRange for a missing
	// object.
	ErrNotFound = errors.New("objstore: object not found")
	// ErrInvalidRange is returned (wrapped) by GetRange when the range is
	// negative or extends past the end of the object.
	ErrInvalidRange = errors.New("objstore: range outside object")
	// ErrInvalidKey is returned (wrapped) for a key that ValidateKey rejects.
	ErrInvalidKey = errors.New("objstore: invalid key")
)

// Operation names, as used by NewMetrics labels and Faulty.Inject.
const (
	OpPut      = "put"
	OpGet      = "get"
	OpGetRange = "get_range"
	OpDelete   = "delete"
	OpList     = "list"
)

// ObjectInfo describes one object found by List.
type ObjectInfo struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// Store is an object store. Implementations are safe for concurrent use.
type Store interface {
	// Put stores data under key, replacing any object there. The store does
	// not keep data after Put returns.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the whole object. The caller owns the returned slice.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetRange returns the n bytes of the object starting at off:
	// ErrNotFound when the object is missing, ErrInvalidRange when off or n
	// is negative or off+n is past the end of the object. n == 0 returns an
	// empty slice when off is within [0, size].
	GetRange(ctx context.Context, key string, off, n int64) ([]byte, error)
	// Delete removes the object. A missing object is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for each object whose key starts with prefix, in
	// byte-wise lexical order of keys. An error from fn stops the listing
	// and is returned as is.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
}

// MaxKeyLength is the longest key accepted, in bytes (the S3 limit).
const MaxKeyLength = 1024

// tmpPrefix starts the names of the temporary files Local writes before
// renaming them into place. No key segment may start with it, so that a
// temporary file is never mistaken for an object.
const tmpPrefix = ".strata-tmp-"

// ValidateKey reports whether key is usable on every backend: a non-empty
// relative slash-separated path of at most MaxKeyLength bytes of valid UTF-8,
// without empty, "." or ".." segments, control characters or backslashes,
// whose segments do not start with ".strata-tmp-". The error wraps
// ErrInvalidKey.
func ValidateKey(key string) error {
	if reason := keyProblem(key); reason != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, reason)
	}
	return nil
}

func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLength:
		return fmt.Sprintf("longer than %d bytes", MaxKeyLength)
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	}
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c < 0x20 || c == 0x7f:
			return "control character"
		case c == '\\':
			return "backslash"
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return "empty path segment (leading, trailing or double slash)"
		case seg == "." || seg == "..":
			return "dot segment"
		case strings.HasPrefix(seg, tmpPrefix):
			return "segment starts with the reserved " + tmpPrefix
		}
	}
	return ""
}

// checkRange validates a GetRange request against an object of the given
// size.
func checkRange(off, n, size int64) error {
	if off < 0 || n < 0 {
		return fmt.Errorf("%w: negative offset %d or length %d", ErrInvalidRange, off, n)
	}
	if off > size || n > size-off {
		return fmt.Errorf("%w: bytes [%d, %d) of an object of %d bytes", ErrInvalidRange, off, off+n, size)
	}
	return nil
}
