package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Local stores objects as files under a root directory: key "a/b/c" is the
// file root/a/b/c. Put is durable when it returns (the file and its
// directory are fsynced). Because a key's segments become directories, a
// key cannot also be the directory of another key ("a" and "a/b"); Put of
// the second one fails.
type Local struct {
	root string
}

// putAttempts bounds the retries of a Put whose directory was removed by a
// concurrent Delete of the last object in it.
const putAttempts = 4

// NewLocal returns a store rooted at dir, creating the directory if needed.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("objstore: local: empty directory")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: local %s: %w", dir, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: local: %w", err)
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("objstore: local: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("objstore: local %s: not a directory", root)
	}
	return &Local{root: root}, nil
}

// Root returns the absolute directory holding the objects.
func (l *Local) Root() string { return l.root }

// path maps a valid key to its file.
func (l *Local) path(key string) string {
	return filepath.Join(l.root, filepath.FromSlash(key))
}

// Put writes data to a temporary file in the key's directory, fsyncs it,
// renames it over the key's file and fsyncs the directory.
func (l *Local) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local put %q: %w", key, err)
	}
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("local put: %w", err)
	}
	p := l.path(key)
	var err error
	for range putAttempts {
		if err = l.writeFile(p, data); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("local put %q: %w", key, err)
	}
	return nil
}

func (l *Local) writeFile(p string, data []byte) (err error) {
	dir := filepath.Dir(p)
	if err := l.mkdirs(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	return syncDir(dir)
}

// mkdirs creates dir and its missing parents below the root, fsyncing the
// parent of every directory it creates so that the new entries survive a
// crash.
func (l *Local) mkdirs(dir string) error {
	if dir == l.root {
		return nil
	}
	st, err := os.Stat(dir)
	if err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s is an object, not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if err := l.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// open opens the file of key for reading. A missing file, a path through a
// file, or a directory are all a missing object.
func (l *Local) open(op, key string) (*os.File, int64, error) {
	if err := ValidateKey(key); err != nil {
		return nil, 0, fmt.Errorf("local %s: %w", op, err)
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		if notFound(err) {
			return nil, 0, fmt.Errorf("local %s %q: %w", op, key, ErrNotFound)
		}
		return nil, 0, fmt.Errorf("local %s %q: %w", op, key, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("local %s %q: %w", op, key, err)
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, 0, fmt.Errorf("local %s %q: %w", op, key, ErrNotFound)
	}
	return f, st.Size(), nil
}

func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Get reads the whole file of key.
func (l *Local) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local get %q: %w", key, err)
	}
	f, size, err := l.open(OpGet, key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	// The file is replaced by rename, never rewritten in place, so the open
	// file keeps the size it was opened with.
	buf := make([]byte, size)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("local get %q: %w", key, err)
	}
	return buf, nil
}

// GetRange reads n bytes at off with one ReadAt.
func (l *Local) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local get_range %q: %w", key, err)
	}
	f, size, err := l.open(OpGetRange, key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	if err := checkRange(off, n, size); err != nil {
		return nil, fmt.Errorf("local get_range %q: %w", key, err)
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("local get_range %q: %w", key, err)
	}
	return buf, nil
}

// Delete removes the file of key, then the directories it leaves empty.
// It does not fsync: an object that reappears after a crash is garbage that
// is deleted again.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local delete %q: %w", key, err)
	}
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("local delete: %w", err)
	}
	p := l.path(key)
	st, err := os.Lstat(p)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("local delete %q: %w", key, err)
	}
	if st.IsDir() {
		return nil // a directory of other keys, not an object
	}
	if err := os.Remove(p); err != nil && !notFound(err) {
		return fmt.Errorf("local delete %q: %w", key, err)
	}
	for dir := filepath.Dir(p); dir != l.root; dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty, or already gone
		}
	}
	return nil
}

// List walks the directories under the root in byte-wise lexical order of
// keys, reading only the directories that can hold keys with the prefix.
func (l *Local) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	dir, keyPrefix := l.root, ""
	if i := strings.LastIndexByte(prefix, '/'); i > 0 && ValidateKey(prefix[:i]) == nil {
		dir, keyPrefix = l.path(prefix[:i]), prefix[:i+1]
	}
	err := l.walk(ctx, dir, keyPrefix, prefix, fn)
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	if err != nil {
		return fmt.Errorf("local list %q: %w", prefix, err)
	}
	return nil
}

// fnError carries an error returned by the List callback through walk, so
// that List can return it unwrapped.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// sortName orders directory entries so that the walk yields keys in byte-wise
// order: a directory sorts as its name followed by '/', the separator of the
// keys below it.
func sortName(e fs.DirEntry) string {
	if e.IsDir() {
		return e.Name() + "/"
	}
	return e.Name()
}

func (l *Local) walk(ctx context.Context, dir, keyPrefix, prefix string, fn func(ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if notFound(err) {
			return nil // no such directory, or removed by a concurrent Delete
		}
		return err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int {
		return strings.Compare(sortName(a), sortName(b))
	})
	for _, e := range entries {
		key := keyPrefix + e.Name()
		if keyProblem(key) != "" {
			continue // temporary files and names no Put can create
		}
		if e.IsDir() {
			sub := key + "/"
			if strings.HasPrefix(sub, prefix) || strings.HasPrefix(prefix, sub) {
				if err := l.walk(ctx, filepath.Join(dir, e.Name()), sub, prefix, fn); err != nil {
					return err
				}
			}
			continue
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			if notFound(err) {
				continue // deleted since ReadDir
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(ObjectInfo{Key: key, Size: info.Size(), LastModified: info.ModTime()}); err != nil {
			return fnError{err}
		}
	}
	return nil
}
