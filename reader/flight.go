package reader

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// flightGroup merges concurrent calls for the same key into one. The work
// runs in its own goroutine with a context detached from the callers' (and
// bounded by timeout), so that a caller giving up neither cancels the work
// for the others nor wastes what was fetched: the result still lands in the
// cache. Its mutex is a leaf lock.
type flightGroup struct {
	timeout time.Duration
	// onPanic learns of a panic of a call's work, which is then the
	// call's error: a bug in one read fails that read, not the node.
	onPanic func(p any, stack []byte)
	mu      sync.Mutex
	calls   map[string]*flightCall
}

// errPanic is the error of a call whose work panicked.
var errPanic = errors.New("reader: read failed on an internal error")

type flightCall struct {
	done chan struct{}
	val  any
	err  error
}

// do runs fn once for all concurrent callers with the same key and waits for
// its result or for ctx to end.
func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	call, _ := g.start(ctx, key, fn)
	select {
	case <-call.done:
		return call.val, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// start runs fn for key unless a call for key is running, and returns the
// call without waiting for it; started says whether fn runs. ctx gives only
// its values to fn.
func (g *flightGroup) start(ctx context.Context, key string, fn func(context.Context) (any, error)) (call *flightCall, started bool) {
	g.mu.Lock()
	call, ok := g.calls[key]
	started = !ok
	if !ok {
		if g.calls == nil {
			g.calls = make(map[string]*flightCall)
		}
		call = &flightCall{done: make(chan struct{})}
		g.calls[key] = call
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout)
		go func() {
			defer cancel()
			call.val, call.err = g.run(wctx, fn)
			g.mu.Lock()
			delete(g.calls, key)
			g.mu.Unlock()
			close(call.done)
		}()
	}
	g.mu.Unlock()
	return call, started
}

// run runs fn, turning a panic into errPanic.
func (g *flightGroup) run(ctx context.Context, fn func(context.Context) (any, error)) (val any, err error) {
	defer func() {
		if p := recover(); p != nil {
			if g.onPanic != nil {
				g.onPanic(p, debug.Stack())
			}
			val, err = nil, fmt.Errorf("%w: %v", errPanic, p)
		}
	}()
	return fn(ctx)
}
