package memo

import (
	"context"
	"fmt"
	"reflect"
	"sync"
)

// Invalidation across processes (see TierListener): a tier shared by many
// processes can tell each memo that another process forgot a key, set it, or
// cleared the tier. The tier names the key by its canonical string; a keyed
// memo's store is keyed by that very string, but a Memoize or MemoizeWeak
// memo's store is keyed by K, and a canonical form cannot be decoded back.
// So a direct memo whose tier listens keeps a reverse map, tier key -> K,
// filled where a key enters through the tier: when a load starts (before
// the tier is asked, so that a load in flight is found and marked stale) and
// on Set. Entries are never removed on the drop paths (evictions, expiry,
// collection): the map is pruned instead, whenever it doubles past the last
// prune, of the keys that are neither stored nor loading, which costs O(1)
// amortized per load. The hit path never sees the map. Its price: one
// string and one K per key loaded (at most about twice the store's
// entries), and a prune that holds the memo's mutex for one pass over the
// map (misses and writes wait for it, hits do not), only for memos over a
// listening tier.

// A Tier is a second level under a memo's own store, usually one that many
// processes share, such as Redis (see the module github.com/go-memo/memo/redis).
// With WithTier, a memo asks its tier on a local miss, before calling fn:
// Fetch returns the value the tier holds for the key, or calls load (which
// calls fn), stores the result, and returns it. Local hits never reach the
// tier.
//
// The key is the canonical form of the memo's key: CanonicalKey's for
// Memoize and MemoizeWeak, the KeyFunc's for MemoizeKeyed. Fetch runs in the
// memo's load, so concurrent local misses on one key make one Fetch, and ctx
// is the context fn would get. A tier must not return an error of its own
// when load could answer: if the tier fails, it calls load.
//
// A tier may also implement TierListener, to receive the invalidations that
// other processes sharing it make.
type Tier[V any] interface {
	Fetch(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error)
	// Set stores v for key in the tier, for Memo.Set, after the memo has
	// stored it locally. A tier that fails to store it counts the error
	// and returns: the local value stands.
	Set(key string, v V)
	// Forget drops key from the tier, for Memo.Forget.
	Forget(key string)
	// Clear drops every key of the tier, for Memo.Clear.
	Clear()
	// Stats returns the tier's counters, for Memo.Stats.
	Stats() TierStats
}

// TierStats counts what a memo's tier did. They are the tier's own counters,
// reported beside the memo's: a local miss that the tier answered is still a
// Miss and a Load of the memo.
type TierStats struct {
	Hits       uint64 // fetches the tier answered
	Misses     uint64 // fetches that called load
	Errors     uint64 // failed or timed-out calls to the tier, and values it could not decode
	LeaseWaits uint64 // fetches that waited for another process's load of the same key

	// Invalidation across processes (TierListener); zero for a tier that
	// does not listen.
	Invalidations uint64 // Forgets, Sets and Clears of other processes applied to the local store
	Resyncs       uint64 // whole local stores dropped because invalidations may have been lost (the subscription reconnected)
	Listening     bool   // the tier receives other processes' invalidations now; false before it could subscribe, while it is disconnected, or if it does not listen at all
}

// A TierListener is a Tier that carries invalidations between the processes
// sharing it: when another process forgets a key, sets it or clears the
// tier, it calls the memo's handlers, so that no process serves the old
// value from its local store for long. A memo whose tier is a TierListener
// calls Listen once, at the end of its construction.
type TierListener interface {
	Listen(Invalidations)
}

// Invalidations are the handlers a memo gives its TierListener. They are
// safe to call from any goroutine, at any time after Listen, and never
// reach the tier (that would echo the invalidation back).
type Invalidations struct {
	// Forget drops key's local entry, if any, and marks a load of key in
	// flight stale, as Memo.Forget does: its waiters get its result, but it
	// is not stored. key is the canonical form the tier was given by Fetch.
	Forget func(key string)
	// Clear drops every local entry and marks every load in flight stale,
	// as Memo.Clear does, but leaves the memo's counters alone. A tier calls
	// it for another process's Clear, and when it may have missed
	// invalidations (after its subscription reconnects).
	Clear func()
}

// WithTier puts t under the memo's own store: see Tier. V is inferred from t
// and must be the memo's value type; the memo's constructor panics otherwise.
// Set, Forget and Clear reach the tier too: Set(k, v) stores v there,
// Forget(k) deletes k there, and Clear deletes every key of the tier, for
// every process that shares it; a TierListener also drops them from the
// local stores of the other processes.
func WithTier[V any](t Tier[V]) Option {
	if t == nil {
		panic("memo: WithTier(nil)")
	}
	return func(c *config) { c.tier = t }
}

// tierFor returns the tier of WithTier as the memo's type, or nil.
func tierFor[V any](cfg config) Tier[V] {
	if cfg.tier == nil {
		return nil
	}
	t, ok := cfg.tier.(Tier[V])
	if !ok {
		panic(fmt.Sprintf("memo: WithTier was given a %T, but this memo needs a memo.Tier[%v]", cfg.tier, reflect.TypeFor[V]()))
	}
	return t
}

// tierLink joins a memo to its tier: fn goes through Fetch, and Set, Forget,
// Clear and Stats reach the tier. Its zero value is a memo without a tier.
type tierLink[K any] struct {
	key      func(K) string
	set      any // func(K, V) with the memo's V (core's V is the stored type, which differs for keyed memos)
	forget   func(string)
	clear    func()
	stats    func() TierStats
	listener TierListener // the tier, if it listens
}

// linkTier returns fn routed through the tier of cfg, if any, and the link
// for the memo's other methods. remember, if not nil, is told each key's
// tier key as it enters through the tier (see tierKeys).
func linkTier[K, V any](cfg config, fn func(context.Context, K) (V, error), key func(K) string, remember func(string, K)) (func(context.Context, K) (V, error), tierLink[K]) {
	t := tierFor[V](cfg)
	if t == nil {
		return fn, tierLink[K]{}
	}
	l, _ := t.(TierListener)
	if l == nil {
		remember = nil
	}
	fetch := func(ctx context.Context, k K) (V, error) {
		s := key(k)
		if remember != nil {
			remember(s, k)
		}
		return t.Fetch(ctx, s, func(ctx context.Context) (V, error) { return fn(ctx, k) })
	}
	set := func(k K, v V) {
		s := key(k)
		if remember != nil {
			remember(s, k)
		}
		t.Set(s, v)
	}
	return fetch, tierLink[K]{key: key, set: set, forget: t.Forget, clear: t.Clear, stats: t.Stats, listener: l}
}

// setTier writes v through to the tier of l, if any, for Memo.Set.
func setTier[K, V any](l tierLink[K], k K, v V) {
	if l.set != nil {
		l.set.(func(K, V))(k, v)
	}
}

func (l tierLink[K]) forgetKey(k K) {
	if l.forget != nil {
		l.forget(l.key(k))
	}
}

func (l tierLink[K]) clearAll() {
	if l.clear != nil {
		l.clear()
	}
}

func (l tierLink[K]) tierStats() TierStats {
	if l.stats == nil {
		return TierStats{}
	}
	return l.stats()
}

// canonicalString is CanonicalKey as a string, the tier key of comparable keys.
func canonicalString[K any](k K) string { return string(CanonicalKey(nil, k)) }

// dropLocal drops every entry and marks every call in flight stale, for an
// invalidation from another process: like clear, without the counters and
// the tier.
func (c *core[K, S, V]) dropLocal() {
	c.mu.Lock()
	for s := range c.calls {
		c.invalidate(s)
	}
	c.st.clear(c.now())
	c.unlock()
}

// listen hands a keyed memo's handlers to its tier, if it listens: the store
// is keyed by the tier's key itself.
func (d *keyed[K, V]) listen() {
	if d.tl.listener != nil {
		d.tl.listener.Listen(Invalidations{Forget: d.core.forget, Clear: d.dropLocal})
	}
}

// tierKeys is a direct memo's reverse map from tier keys to its keys, kept
// only when its tier listens; see the top of this file.
type tierKeys[K comparable] struct {
	mu    sync.Mutex // taken after the memo's mutex, never before
	m     map[string]K
	limit int // prune when m reaches it
}

const minTierKeysLimit = 1024

// listen hands a direct memo's handlers to its tier, if it listens.
func (d *direct[K, V]) listen() {
	if d.tl.listener == nil {
		return
	}
	d.keys.m = make(map[string]K)
	d.keys.limit = minTierKeysLimit
	d.tl.listener.Listen(Invalidations{Forget: d.forgetLocal, Clear: d.dropLocal})
}

// remember records that k's tier key is s; linkTier calls it before the tier
// is asked for k or given a value for it.
func (d *direct[K, V]) remember(s string, k K) {
	r := &d.keys
	r.mu.Lock()
	r.m[s] = k
	full := len(r.m) >= r.limit
	r.mu.Unlock()
	if full {
		d.pruneKeys()
	}
}

// pruneKeys forgets the tier keys of keys that are neither stored nor being
// loaded: an invalidation of them has nothing to drop.
func (d *direct[K, V]) pruneKeys() {
	r := &d.keys
	d.mu.Lock()
	r.mu.Lock()
	now := d.now()
	for s, k := range r.m {
		if _, ok := d.st.peek(k, now); !ok && d.calls[k] == nil {
			delete(r.m, s)
		}
	}
	r.limit = max(2*len(r.m), minTierKeysLimit)
	r.mu.Unlock()
	d.mu.Unlock()
}

// forgetLocal is Forget for another process's invalidation of tier key s.
func (d *direct[K, V]) forgetLocal(s string) {
	r := &d.keys
	r.mu.Lock()
	k, ok := r.m[s]
	r.mu.Unlock()
	if ok {
		d.core.forget(k)
	}
}
