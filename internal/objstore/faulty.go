package objstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Faulty wraps a Store and fails chosen calls, for tests of the packages
// that use a store: a failed upload, a GET that errors, a slow listing.
type Faulty struct {
	inner Store

	mu     sync.Mutex
	faults map[string]func(key string) error
	calls  map[string]*atomic.Int64
}

// NewFaulty returns a Faulty that passes every call to inner until a fault is
// injected.
func NewFaulty(inner Store) *Faulty {
	f := &Faulty{
		inner:  inner,
		faults: make(map[string]func(string) error),
		calls:  make(map[string]*atomic.Int64, len(allOps)),
	}
	for _, op := range allOps {
		f.calls[op] = new(atomic.Int64)
	}
	return f
}

func checkOp(op string) {
	for _, o := range allOps {
		if o == op {
			return
		}
	}
	panic(fmt.Sprintf("objstore: unknown operation %q", op))
}

// Inject makes every later call of op (OpPut, OpGet, OpGetRange, OpDelete,
// OpList) first call fn with the key (the prefix for OpList). When fn returns
// an error the call fails with it, without reaching the inner store. fn runs
// on the caller's goroutine and may block, e.g. to hold an upload until the
// test releases it. Inject(op, nil) removes the fault. An unknown op panics.
func (f *Faulty) Inject(op string, fn func(key string) error) {
	checkOp(op)
	f.mu.Lock()
	defer f.mu.Unlock()
	if fn == nil {
		delete(f.faults, op)
		return
	}
	f.faults[op] = fn
}

// FailNext makes the next call of op fail with err; the calls after it pass.
// It replaces any fault injected for op.
func (f *Faulty) FailNext(op string, err error) {
	var used atomic.Bool
	f.Inject(op, func(string) error {
		if used.CompareAndSwap(false, true) {
			return err
		}
		return nil
	})
}

// Calls returns how many times op was called, failed calls included.
func (f *Faulty) Calls(op string) int64 {
	checkOp(op)
	return f.calls[op].Load()
}

func (f *Faulty) fault(op, key string) error {
	f.calls[op].Add(1)
	f.mu.Lock()
	fn := f.faults[op]
	f.mu.Unlock()
	if fn == nil {
		return nil
	}
	if err := fn(key); err != nil {
		return fmt.Errorf("objstore: injected %s fault on %q: %w", op, key, err)
	}
	return nil
}

// Put implements Store.
func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	if err := f.fault(OpPut, key); err != nil {
		return err
	}
	return f.inner.Put(ctx, key, data)
}

// Get implements Store.
func (f *Faulty) Get(ctx context.Context, key string) ([]byte, error) {
	if err := f.fault(OpGet, key); err != nil {
		return nil, err
	}
	return f.inner.Get(ctx, key)
}

// GetRange implements Store.
func (f *Faulty) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := f.fault(OpGetRange, key); err != nil {
		return nil, err
	}
	return f.inner.GetRange(ctx, key, off, n)
}

// Delete implements Store.
func (f *Faulty) Delete(ctx context.Context, key string) error {
	if err := f.fault(OpDelete, key); err != nil {
		return err
	}
	return f.inner.Delete(ctx, key)
}

// List implements Store.
func (f *Faulty) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := f.fault(OpList, prefix); err != nil {
		return err
	}
	return f.inner.List(ctx, prefix, fn)
}
