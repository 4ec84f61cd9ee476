package bitrix24redis

import (
	"context"
	"sync"
)

// bounded runs f and returns when f does or ctx ends, whichever comes first.
//
// go-redis honours a context's deadline on reads and writes only when the client was made
// with Options.ContextTimeoutEnabled; otherwise a server that accepts connections and
// never answers holds a call for the client's dial or read timeout (seconds), whatever the
// caller's deadline. Users pass in their own clients, so the package does not rely on that
// option: f keeps running in its goroutine (bounded by go-redis's own timeouts) and
// abandoned, if not nil, sees its result when the caller has already gone, so it can undo
// what f did (give a slot back, free a lock).
func bounded[T any](ctx context.Context, f func(context.Context) (T, error), abandoned func(T, error)) (T, error) {
	if ctx.Done() == nil { // context.Background and the like: go-redis's timeouts bound f
		return f(ctx)
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	var mu sync.Mutex
	left := false // the caller returned without f's result
	go func() {
		v, err := f(ctx)
		mu.Lock()
		if left {
			mu.Unlock()
			if abandoned != nil {
				abandoned(v, err)
			}
			return
		}
		ch <- result{v, err}
		mu.Unlock()
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		select {
		case r := <-ch: // f finished at the same moment: its result is complete, use it
			return r.v, r.err
		default:
		}
		left = true
		var zero T
		return zero, ctx.Err()
	}
}
