package memo

import (
	"context"
	"sync"
	"time"
	"unsafe"
)

// MemoizeKeyed returns a memo of fn for keys of any type, comparable or not:
// a struct holding slices and maps, a []string, a map[string]any of options.
// Where Python's lru_cache raises "unhashable type", pass CanonicalKey:
//
//	search := memo.MemoizeKeyed(runQuery, memo.CanonicalKey)
//
// key appends a key's canonical form to a buffer; two keys share an entry
// exactly when their forms are equal. A custom KeyFunc can be faster than
// CanonicalKey, or coarser on purpose (only the fields that affect the
// result). A hit encodes the key into a buffer the memo reuses and looks it up
// without copying it, so with an appending KeyFunc it makes no allocation.
//
// The memo keeps, with each entry, the key it was loaded for (to hand it to a
// WithOnEvict callback): do not modify a key's slices or maps after a Get.
// Everything else behaves as with Memoize. MemoizeKeyed panics if fn or key is
// nil or an option is invalid.
func MemoizeKeyed[K, V any](fn func(context.Context, K) (V, error), key KeyFunc[K], opts ...Option) *Memo[K, V] {
	if fn == nil {
		panic("memo: MemoizeKeyed called with a nil fn")
	}
	if key == nil {
		panic("memo: MemoizeKeyed called with a nil KeyFunc")
	}
	cfg := newConfig(opts)
	rejectBatch(cfg, "MemoizeKeyed")
	fn, tl := linkTier(cfg, fn, func(k K) string { return string(key(nil, k)) }, nil)
	var onEvict func(string, keyed1[K, V], EvictReason)
	if cb := onEvictFor[K, V](cfg); cb != nil {
		onEvict = func(_ string, x keyed1[K, V], r EvictReason) { cb(x.k, x.v, r) }
	}
	load := func(ctx context.Context, k K) (keyed1[K, V], error) {
		v, err := fn(ctx, k)
		return keyed1[K, V]{k, v}, err
	}
	d := &keyed[K, V]{key: key}
	d.bufs.New = func() any { b := make([]byte, 0, 128); return &b }
	d.init(load, cfg, onEvict)
	if ttl := ttlFuncFor[K, V](cfg); ttl != nil {
		d.ttlFn = func(_ string, x keyed1[K, V]) time.Duration { return ttl(x.k, x.v) }
	}
	d.tl = tl
	d.st = newStrongStore(cfg, &d.obs, &d.mu)
	d.linkRefresh()
	d.listen()
	return &Memo[K, V]{e: d}
}

// keyed1 is what a keyed memo stores: the value, and the key it was loaded
// for.
type keyed1[K, V any] struct {
	k K
	v V
}

// keyed is the engine for keys encoded by a KeyFunc: the store is keyed by
// the encoded form.
type keyed[K, V any] struct {
	core[K, string, keyed1[K, V]]
	key  KeyFunc[K]
	bufs sync.Pool // *[]byte, reused to encode keys
}

// encode returns k's form in a pooled buffer; release gives the buffer back.
func (d *keyed[K, V]) encode(k K) (*[]byte, []byte) {
	bp := d.bufs.Get().(*[]byte)
	return bp, d.key((*bp)[:0], k)
}

func (d *keyed[K, V]) release(bp *[]byte, b []byte) {
	if cap(b) <= 64<<10 { // do not keep a huge buffer for one huge key
		*bp = b[:0]
		d.bufs.Put(bp)
	}
}

// view looks at b as a string without copying it: valid only while b is not
// modified, and never stored.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (d *keyed[K, V]) get(ctx context.Context, k K) (V, error) {
	bp, b := d.encode(k)
	now := d.now()
	if x, ok := d.st.load(view(b), now+d.lead); ok { // counts the hit
		d.release(bp, b)
		return x.v, nil
	}
	if x, e, ok := d.due(view(b), now); ok { // WithRefresh: served, maybe reloaded; counts the hit
		if e != nil {
			d.refresh(ctx, k, string(b), e)
		}
		d.release(bp, b)
		return x.v, nil
	}
	s := string(b)
	d.release(bp, b)
	x, err := d.core.miss(ctx, k, s)
	return x.v, err
}

func (d *keyed[K, V]) peek(k K) (V, bool) {
	bp, b := d.encode(k)
	x, ok := d.core.peek(view(b))
	d.release(bp, b)
	return x.v, ok
}

func (d *keyed[K, V]) set(k K, v V) {
	bp, b := d.encode(k)
	s := string(b)
	d.release(bp, b)
	d.core.set(s, keyed1[K, V]{k, v})
	setTier(d.tl, k, v)
}

func (d *keyed[K, V]) forget(k K) {
	bp, b := d.encode(k)
	s := string(b)
	d.release(bp, b)
	d.core.forget(s)
	d.tl.forgetKey(k)
}

// Key2 is the key of a Memo2: the two arguments of its function.
type Key2[A, B comparable] struct {
	A A
	B B
}

// Memo2 memoizes a function of two comparable arguments, without a key
// struct of the caller's: Get, Peek, Set and Forget take the arguments in
// order. Clear, Len and Stats come from the embedded Memo, which is keyed by
// Key2.
type Memo2[A, B comparable, V any] struct {
	*Memo[Key2[A, B], V]
}

// Memoize2 returns a memo of a function of two comparable arguments:
//
//	rate := memo.Memoize2(fetchRate) // fetchRate(ctx, from, to string) (float64, error)
//	r, err := rate.Get(ctx, "EUR", "USD")
//
// Options are those of Memoize; a WithOnEvict callback receives a Key2.
func Memoize2[A, B comparable, V any](fn func(context.Context, A, B) (V, error), opts ...Option) Memo2[A, B, V] {
	if fn == nil {
		panic("memo: Memoize2 called with a nil fn")
	}
	return Memo2[A, B, V]{Memoize(func(ctx context.Context, k Key2[A, B]) (V, error) {
		return fn(ctx, k.A, k.B)
	}, opts...)}
}

// Get returns fn(ctx, a, b), from the cache when it can; see Memo.Get.
func (m Memo2[A, B, V]) Get(ctx context.Context, a A, b B) (V, error) {
	return m.Memo.Get(ctx, Key2[A, B]{a, b})
}

// Func returns Get as a function with fn's signature.
func (m Memo2[A, B, V]) Func() func(context.Context, A, B) (V, error) { return m.Get }

// Peek returns the cached value for (a, b); see Memo.Peek.
func (m Memo2[A, B, V]) Peek(a A, b B) (V, bool) { return m.Memo.Peek(Key2[A, B]{a, b}) }

// Set stores v for (a, b); see Memo.Set.
func (m Memo2[A, B, V]) Set(a A, b B, v V) { m.Memo.Set(Key2[A, B]{a, b}, v) }

// Forget drops the entry for (a, b); see Memo.Forget.
func (m Memo2[A, B, V]) Forget(a A, b B) { m.Memo.Forget(Key2[A, B]{a, b}) }

// Key3 is the key of a Memo3: the three arguments of its function.
type Key3[A, B, C comparable] struct {
	A A
	B B
	C C
}

// Memo3 memoizes a function of three comparable arguments; see Memo2.
type Memo3[A, B, C comparable, V any] struct {
	*Memo[Key3[A, B, C], V]
}

// Memoize3 returns a memo of a function of three comparable arguments; see
// Memoize2.
func Memoize3[A, B, C comparable, V any](fn func(context.Context, A, B, C) (V, error), opts ...Option) Memo3[A, B, C, V] {
	if fn == nil {
		panic("memo: Memoize3 called with a nil fn")
	}
	return Memo3[A, B, C, V]{Memoize(func(ctx context.Context, k Key3[A, B, C]) (V, error) {
		return fn(ctx, k.A, k.B, k.C)
	}, opts...)}
}

// Get returns fn(ctx, a, b, c), from the cache when it can; see Memo.Get.
func (m Memo3[A, B, C, V]) Get(ctx context.Context, a A, b B, c C) (V, error) {
	return m.Memo.Get(ctx, Key3[A, B, C]{a, b, c})
}

// Func returns Get as a function with fn's signature.
func (m Memo3[A, B, C, V]) Func() func(context.Context, A, B, C) (V, error) { return m.Get }

// Peek returns the cached value for (a, b, c); see Memo.Peek.
func (m Memo3[A, B, C, V]) Peek(a A, b B, c C) (V, bool) { return m.Memo.Peek(Key3[A, B, C]{a, b, c}) }

// Set stores v for (a, b, c); see Memo.Set.
func (m Memo3[A, B, C, V]) Set(a A, b B, c C, v V) { m.Memo.Set(Key3[A, B, C]{a, b, c}, v) }

// Forget drops the entry for (a, b, c); see Memo.Forget.
func (m Memo3[A, B, C, V]) Forget(a A, b B, c C) { m.Memo.Forget(Key3[A, B, C]{a, b, c}) }
