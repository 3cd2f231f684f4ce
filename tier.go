package memo

import (
	"context"
	"fmt"
	"reflect"
)

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
type Tier[V any] interface {
	Fetch(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error)
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
	Refused    uint64 // values over the tier's size limit, not read from it or not written to it
	// ClearFailures counts Clears that could not finish (Redis, or one
	// master of a cluster, failed): keys they had not reached stay.
	ClearFailures uint64
}

// WithTier puts t under the memo's own store: see Tier. V is inferred from t
// and must be the memo's value type; the memo's constructor panics otherwise.
// Forget and Clear reach the tier too: Forget(k) deletes k there, and Clear
// deletes every key of the tier, for every process that shares it.
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

// tierLink joins a memo to its tier: fn goes through Fetch, and Forget,
// Clear and Stats reach the tier. Its zero value is a memo without a tier.
type tierLink[K any] struct {
	key    func(K) string
	forget func(string)
	clear  func()
	stats  func() TierStats
}

// linkTier returns fn routed through the tier of cfg, if any, and the link
// for the memo's other methods.
func linkTier[K, V any](cfg config, fn func(context.Context, K) (V, error), key func(K) string) (func(context.Context, K) (V, error), tierLink[K]) {
	t := tierFor[V](cfg)
	if t == nil {
		return fn, tierLink[K]{}
	}
	fetch := func(ctx context.Context, k K) (V, error) {
		return t.Fetch(ctx, key(k), func(ctx context.Context) (V, error) { return fn(ctx, k) })
	}
	return fetch, tierLink[K]{key: key, forget: t.Forget, clear: t.Clear, stats: t.Stats}
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
