package memo

// This file answers many keys in one call: GetMany.
//
// The obvious GetMany is a loop of Gets. It is correct but slow where it
// matters: the misses are loaded one after another, so a page of 50 cold
// products waits for 50 round trips in a row. The next obvious one starts a
// goroutine per key, which costs two goroutines per hit that needed none,
// lets one call of GetMany start thousands of calls of fn at once, and loads a
// key that appears twice in keys twice (or, with collapsing, waits twice).
//
// So GetMany works in two passes. The first answers every key it can from the
// store, on the caller's goroutine, without a lock or an allocation per key,
// and gathers the distinct missing keys (distinct by the store's key: ==
// for Memoize, the canonical form for MemoizeKeyed). The second loads them
// through the ordinary miss path, so each one collapses with concurrent Gets
// of the same key and keeps every promise of Get (contexts, Forget, TTL,
// Stats). Loads run concurrently through an errgroup bounded to GOMAXPROCS
// goroutines (for MemoizeBatch, enough to keep GOMAXPROCS calls of fn full);
// a lone miss is loaded on the caller's goroutine, with no group at all.
//
// The first error cancels the group's context. That context is only this
// GetMany's stake in the loads: a load that another Get also waits for goes
// on for it, and a load nobody else wants is canceled as a Get's would be.
// errgroup does not carry panics across goroutines, so a panic of fn that
// reaches one of the group's goroutines is recovered there and re-raised on
// the caller's goroutine once the group is done, with the original value.
//
// The price: a miss costs one more goroutine than a Get's (the group's), a
// map when more than one key misses, and the result slice.

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"
)

// GetMany returns fn's values for keys, in the order of keys: what Get would
// return for each of them, in one call. Keys with a live cached value are
// answered from memory first; each distinct missing key is then loaded once,
// however often it appears in keys, sharing the call with concurrent Gets of
// the same key as Get does. Missing keys are loaded concurrently, at most
// GOMAXPROCS at a time; for a MemoizeBatch memo they are handed to the batcher
// together, so that they share calls of fn.
//
// GetMany returns the first error of any of its loads (or ctx.Err() once ctx
// is done), with nil values. It stops waiting at once; the loads it started
// go on for the other Gets that wait on them, and their values are stored if
// they succeed. Where every key's own error matters, call Get per key. A panic
// of fn in one of the loads panics in GetMany with the original value, once
// the other loads have been told to stop.
//
// The counters count each element of keys as one Get: a hit, or a miss; a key
// repeated in keys that misses counts as a Shared miss after its first
// occurrence. An empty keys returns an empty slice and calls nothing.
func (m *Memo[K, V]) GetMany(ctx context.Context, keys []K) ([]V, error) {
	return m.e.getMany(ctx, keys)
}

// pending is a distinct missing key of a GetMany, and where its value goes.
type pending[K any, S comparable] struct {
	k   K
	s   S
	pos int // the first position of the key in keys
}

// getMany is GetMany over core c. look answers a key from the store (counting
// the hit) or returns its store key; val unwraps what the store holds. limit
// bounds the loads run at once.
func getMany[K any, S comparable, W, V any](ctx context.Context, c *core[K, S, W], keys []K,
	look func(K) (V, S, bool), val func(W) V, limit int) ([]V, error) {
	out := make([]V, len(keys))
	var todo []pending[K, S]
	var first map[S]int // store key -> index in todo, once two keys miss
	var dups [][2]int   // (position, index in todo) of repeated missing keys
	for i, k := range keys {
		v, s, ok := look(k)
		if ok {
			out[i] = v
			continue
		}
		if len(todo) == 1 && first == nil {
			first = map[S]int{todo[0].s: 0}
		}
		if j, seen := first[s]; seen {
			dups = append(dups, [2]int{i, j})
			continue
		}
		if first != nil {
			first[s] = len(todo)
		}
		todo = append(todo, pending[K, S]{k, s, i})
	}
	if err := loadMany(ctx, c, todo, out, val, limit); err != nil {
		return nil, err
	}
	if len(dups) > 0 {
		c.mu.Lock()
		c.ctr.misses += uint64(len(dups))
		c.ctr.shared += uint64(len(dups))
		c.mu.Unlock()
		for _, d := range dups {
			out[d[0]] = out[todo[d[1]].pos]
		}
	}
	return out, nil
}

// loadMany loads the keys of todo into out, at most limit at a time.
func loadMany[K any, S comparable, W, V any](ctx context.Context, c *core[K, S, W], todo []pending[K, S],
	out []V, val func(W) V, limit int) error {
	switch len(todo) {
	case 0:
		return nil
	case 1:
		w, err := c.miss(ctx, todo[0].k, todo[0].s)
		out[todo[0].pos] = val(w)
		return err
	}
	if ctx == nil { // miss checks it too, but errgroup would fail first, less clearly
		panic("memo: GetMany called with a nil context.Context (use context.Background())")
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	var p panicked
	stopped := false
	for _, t := range todo {
		if gctx.Err() != nil {
			stopped = true // an error or ctx already ended this GetMany
			break
		}
		g.Go(func() (err error) {
			defer p.catch(&err)
			w, err := c.miss(gctx, t.k, t.s)
			out[t.pos] = val(w)
			return err
		})
	}
	err := g.Wait()
	p.raise()
	if err == nil && stopped {
		err = ctx.Err()
	}
	return err
}

// errPanicked ends a GetMany's group when a load panicked; the panic itself
// is re-raised by panicked.raise.
var errPanicked = errors.New("memo: a load of GetMany panicked")

// panicked carries the first panic of a group's goroutines to the goroutine
// that waits for the group.
type panicked struct {
	mu  sync.Mutex
	val any
	ok  bool
}

// catch is deferred by each goroutine of the group: it recovers a panic,
// keeps the first one, and makes the goroutine return errPanicked so that
// the group stops.
func (p *panicked) catch(err *error) {
	if r := recover(); r != nil {
		p.mu.Lock()
		if !p.ok {
			p.val, p.ok = r, true
		}
		p.mu.Unlock()
		*err = errPanicked
	}
}

// raise panics with the first panic caught, if any.
func (p *panicked) raise() {
	p.mu.Lock()
	val, ok := p.val, p.ok
	p.mu.Unlock()
	if ok {
		panic(val)
	}
}

// manyLimit is GetMany's bound on the loads it runs at once.
func manyLimit() int { return runtime.GOMAXPROCS(0) }

func (d *direct[K, V]) getMany(ctx context.Context, keys []K) ([]V, error) {
	return d.getManyLimit(ctx, keys, manyLimit())
}

func (d *direct[K, V]) getManyLimit(ctx context.Context, keys []K, limit int) ([]V, error) {
	now := d.now()
	look := func(k K) (V, K, bool) {
		v, ok := d.st.load(k, now) // counts the hit
		return v, k, ok
	}
	return getMany(ctx, &d.core, keys, look, func(v V) V { return v }, limit)
}

func (d *keyed[K, V]) getMany(ctx context.Context, keys []K) ([]V, error) {
	now := d.now()
	look := func(k K) (V, string, bool) {
		bp, b := d.encode(k)
		defer d.release(bp, b)
		if x, ok := d.st.load(view(b), now); ok { // counts the hit
			return x.v, "", true
		}
		return *new(V), string(b), false
	}
	return getMany(ctx, &d.core, keys, look, func(x keyed1[K, V]) V { return x.v }, manyLimit())
}
