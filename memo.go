package memo

import (
	"context"
	"sync"
	"time"
)

// A Memo wraps a function fn so that repeated calls with the same key are
// answered from memory. Build one with Memoize, MemoizeKeyed or MemoizeWeak.
//
// Get(ctx, k) returns fn's value for k, calling fn only when no live value is
// cached and no call for k is already in flight; concurrent misses on one key
// share one call. Errors and panics are never cached. Every method is safe
// for concurrent use. A Memo must not be copied.
type Memo[K, V any] struct {
	e engine[K, V]
}

// engine is what a Memo delegates to: direct for comparable keys, keyed for
// keys encoded by a KeyFunc.
type engine[K, V any] interface {
	get(ctx context.Context, k K) (V, error)
	getMany(ctx context.Context, keys []K) ([]V, error) // see getmany.go
	peek(k K) (V, bool)
	set(k K, v V)
	forget(k K)
	clear()
	length() int
	stats() Stats
}

// Memoize returns a memo of fn for comparable keys, which are used as they are:
// two keys share an entry exactly when they are ==. By default the memo is an
// unbounded map; WithCapacity bounds it (LRU) and WithTTL makes entries expire.
//
// fn receives a context that carries the values of the context of the Get
// that started the call; it is canceled once every Get waiting for the call
// has given up. fn must not Get its own key (that call would wait for
// itself), though it may Get other keys of the same memo, as a recursive
// function does.
//
// Memoize panics if fn is nil or an option is invalid. A key type whose
// values can panic on == (an interface field holding a slice, for example)
// panics in Get as it would as a Go map key; use MemoizeKeyed for such keys.
func Memoize[K comparable, V any](fn func(context.Context, K) (V, error), opts ...Option) *Memo[K, V] {
	if fn == nil {
		panic("memo: Memoize called with a nil fn")
	}
	cfg := newConfig(opts)
	rejectBatch(cfg, "Memoize")
	d := &direct[K, V]{}
	fn, d.tl = linkTier(cfg, fn, canonicalString[K], d.remember)
	d.init(fn, cfg, onEvictFor[K, V](cfg))
	d.ttlFn = ttlFuncFor[K, V](cfg)
	d.st = newStrongStore(cfg, &d.obs, &d.mu)
	d.linkRefresh()
	d.listen()
	return &Memo[K, V]{e: d}
}

// newStrongStore picks the store for strong values: an LRU or a TinyLFU
// (WithPolicy) when the memo has a capacity, else the map store.
func newStrongStore[S comparable, V any](cfg config, obs *observer[S, V], mu *sync.Mutex) store[S, V] {
	if cfg.capacity > 0 && cfg.policy == TinyLFU {
		return newTinyLFUStore(cfg.capacity, cfg.deadlines(), obs, mu)
	}
	if cfg.capacity > 0 {
		return newLRUStore(cfg.capacity, cfg.deadlines(), obs, mu)
	}
	return newMapStore(int64(cfg.ttl), cfg.ttlFunc != nil, cfg.deadlines(), obs)
}

// Get returns fn's value for key: from the cache if a live value is there,
// otherwise from a call of fn, shared with every concurrent Get of the same
// key. A successful result is stored; an error is returned to every caller
// waiting on that call and not stored, so the next Get calls fn again. A panic
// in fn stores nothing and panics in every waiting Get with the original
// value.
//
// Get returns ctx.Err() as soon as ctx is done, whether this Get started the
// call or joined it; the call goes on for the others, and its value is stored
// if it succeeds. A Get whose ctx is already done answers from the cache if
// it can, and otherwise returns ctx.Err() at once: it never starts a call of
// fn, nor counts as a miss. A nil ctx panics, leaving the memo usable.
func (m *Memo[K, V]) Get(ctx context.Context, key K) (V, error) {
	return m.e.get(ctx, key)
}

// Func returns Get as a function with fn's signature, a drop-in replacement
// for it.
func (m *Memo[K, V]) Func() func(context.Context, K) (V, error) {
	return m.Get
}

// Peek returns key's cached value, if a live one is there. It never calls fn,
// does not count as a use for the LRU, and leaves the counters untouched.
func (m *Memo[K, V]) Peek(key K) (V, bool) {
	return m.e.peek(key)
}

// Set stores v for key, as if fn had returned it, with a fresh TTL. A call
// of fn for key in flight still answers its waiters, but its result is not
// stored over v. With WithTier, v is written through to the tier too.
func (m *Memo[K, V]) Set(key K, v V) {
	m.e.set(key, v)
}

// Forget drops key's entry. A call of fn for key in flight still answers its
// waiters, but its result is not stored; the next Get starts a new call. With
// WithTier, the key is deleted from the tier too.
func (m *Memo[K, V]) Forget(key K) {
	m.e.forget(key)
}

// Clear drops every entry and resets the counters, like Python's
// cache_clear(). Calls in flight still answer their waiters, but their results
// are not stored. With WithTier, every key of the tier is deleted too.
func (m *Memo[K, V]) Clear() {
	m.e.clear()
}

// Len returns the number of entries. With a TTL it may count expired entries
// that have not yet been reclaimed.
func (m *Memo[K, V]) Len() int {
	return m.e.length()
}

// Stats returns a snapshot of the counters.
func (m *Memo[K, V]) Stats() Stats {
	return m.e.stats()
}

// core is the machinery shared by every memo: the store, the calls in flight
// and the counters. K is the caller's key type; S is the store's key, K itself
// for comparable keys or the canonical encoding of K for keyed memos.
type core[K any, S comparable, V any] struct {
	fn       func(context.Context, K) (V, error)
	st       store[S, V]
	ttl      time.Duration
	clock    bool                     // some deadline is kept (TTL, refresh, error TTL): now reads the clock
	lead     int64                    // WithRefresh: how far ahead hits look, so a due entry misses (refresh.go)
	ttlFn    func(S, V) time.Duration // WithTTLFunc, adapted to the store's types (expiry.go)
	rfIdx    *index[S, V]             // WithRefresh: the store's index, to mark a due entry
	errs     *errCache[S]             // WithErrorTTL (errcache.go); nil without
	epoch    time.Time                // origin of the memo's clock, for deadlines
	capacity int
	ctr      counters
	obs      observer[S, V]

	mu    sync.Mutex // guards calls, every write to st, obs, and ctr except hits
	calls map[S]*call[K, V]
	spare sync.Pool // of *call[K, V]: inline calls that nobody joined, for reuse (flight.go)

	tl tierLink[K] // the WithTier tier, if any: fn already goes through it
}

// init sets up everything but the store, which needs the address of c.obs
// and c.mu.
func (c *core[K, S, V]) init(fn func(context.Context, K) (V, error), cfg config, onEvict func(S, V, EvictReason)) {
	c.fn = fn
	c.initExpiry(cfg)
	c.errs = newErrCache[S](cfg.errTTL)
	c.epoch = time.Now()
	c.capacity = cfg.capacity
	c.ctr.hits = newHitCounter()
	c.obs = observer[S, V]{ctr: &c.ctr, onEvict: onEvict}
	c.calls = make(map[S]*call[K, V])
}

// unlock releases c.mu, then hands the entries dropped meanwhile to the
// WithOnEvict callback, outside the lock.
func (c *core[K, S, V]) unlock() { c.obs.unlock(&c.mu) }

// now reads the memo's clock, in nanoseconds since the memo was made. Without
// a TTL (or another deadline) none is ever set and the clock is not read.
func (c *core[K, S, V]) now() int64 {
	if !c.clock {
		return 0
	}
	return int64(time.Since(c.epoch))
}

func (c *core[K, S, V]) get(ctx context.Context, k K, s S) (V, error) {
	now := c.now()
	if v, ok := c.st.load(s, now+c.lead); ok { // counts the hit
		return v, nil
	}
	if v, ok := c.serveDue(ctx, k, s, now); ok {
		return v, nil
	}
	return c.miss(ctx, k, s)
}

func (c *core[K, S, V]) peek(s S) (V, bool) {
	return c.st.peek(s, c.now())
}

func (c *core[K, S, V]) set(s S, v V) {
	d := c.ttlOf(s, v) // outside the lock: it is the caller's code
	c.mu.Lock()
	defer c.unlock() // a key that cannot be hashed panics here; the memo stays usable
	c.invalidate(s)
	c.store(s, v, d, c.now())
}

func (c *core[K, S, V]) forget(s S) {
	c.mu.Lock()
	defer c.unlock() // a key that cannot be hashed panics here; the memo stays usable
	c.invalidate(s)
	c.st.del(s, c.now())
}

func (c *core[K, S, V]) clear() {
	c.mu.Lock()
	for s := range c.calls {
		c.invalidate(s)
	}
	c.st.clear(c.now())
	c.errs.clear()
	c.ctr.reset()
	c.unlock()
	c.tl.clearAll()
}

func (c *core[K, S, V]) length() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.len()
}

func (c *core[K, S, V]) stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.ctr.snapshot()
	s.Len = c.st.len()
	s.Capacity = c.capacity
	s.Tier = c.tl.tierStats()
	return s
}

// direct is the engine for comparable keys: the store is keyed by K itself.
type direct[K comparable, V any] struct {
	core[K, K, V]
	keys tierKeys[K] // tier keys back to K, when the tier listens (tier.go)
}

func (d *direct[K, V]) get(ctx context.Context, k K) (V, error) { return d.core.get(ctx, k, k) }
func (d *direct[K, V]) peek(k K) (V, bool)                      { return d.core.peek(k) }
func (d *direct[K, V]) set(k K, v V) {
	d.core.set(k, v)
	setTier(d.tl, k, v)
}
func (d *direct[K, V]) forget(k K) {
	d.core.forget(k)
	d.tl.forgetKey(k)
}
