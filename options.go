package memo

import (
	"fmt"
	"reflect"
	"time"
)

// An Option configures a memo at construction. Options are not generic, so
// call sites need no type arguments:
//
//	m := memo.Memoize(fetch, memo.WithCapacity(1000), memo.WithTTL(time.Minute))
type Option func(*config)

type config struct {
	capacity  int
	ttl       time.Duration
	onEvict   any // a func(K, V, EvictReason), checked against the memo's types at construction
	tier      any // a Tier[V], checked likewise
	policy    Policy
	policySet bool // WithPolicy was given

	batch *batchConfig // WithBatch, for MemoizeBatch only (batch.go)

	// Expensive calls (refresh.go, expiry.go, errcache.go).
	refresh time.Duration
	ttlFunc any // a func(K, V) time.Duration, checked like onEvict
	errTTL  time.Duration
}

// deadlines reports whether the memo may give its entries deadlines
// (WithTTL, WithTTLFunc, WithRefresh), so that its store must make them timed
// (store.go). WithErrorTTL alone does not: cached errors keep their own.
func (c config) deadlines() bool { return c.ttl > 0 || c.ttlFunc != nil || c.refresh > 0 }

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o == nil {
			panic("memo: nil Option")
		}
		o(&c)
	}
	c.checkExpensive()
	c.checkPolicy()
	return c
}

// WithCapacity bounds the memo to n entries, evicting the least recently
// used entry to make room, like Python's lru_cache(maxsize=n). A Get that hits
// counts as a use; Peek does not. 0 means unbounded, the default. A negative n
// panics.
//
// The order is exact for operations that happen one after another (one
// goroutine, or goroutines handing the memo over): the memo then holds
// exactly the keys a textbook LRU would. Hits made concurrently by several
// goroutines are applied in an approximate order, and a hit may go unrecorded
// when its buffer is full; Len never exceeds n and Stats stay exact.
func WithCapacity(n int) Option {
	if n < 0 {
		panic(fmt.Sprintf("memo: WithCapacity(%d): capacity must be >= 0 (0 means unbounded)", n))
	}
	return func(c *config) { c.capacity = n }
}

// WithTTL makes every entry expire d after it was stored (by a load, counted
// from when fn returned, or by Set): from then on Get never returns it and
// loads the key again. Expired entries are reclaimed as the memo is written
// to, with no background goroutine, so an unbounded memo holds no more than
// what was stored within the last d. 0 means entries never expire, the
// default; a d above about 146 years (math.MaxInt64, say) is taken as 146
// years. A negative d panics.
func WithTTL(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("memo: WithTTL(%v): TTL must be >= 0 (0 means no expiry)", d))
	}
	return func(c *config) { c.ttl = min(d, maxTTL) }
}

// maxTTL caps WithTTL so that a deadline (the memo's clock plus the TTL) can
// never overflow: about 146 years, which no process reaches.
const maxTTL = time.Duration(1 << 62)

// WithOnEvict calls fn for every entry that leaves the memo, with the reason
// it left: to close a resource held by the value, or to log churn. fn runs
// after the memo's internal lock is released, on the goroutine whose
// operation dropped the entry (a Get, Set, Forget or Clear; for Collected,
// the runtime's cleanup goroutine), so it may call the memo, and calls for
// different entries may run concurrently.
//
// K and V are inferred from fn and must be the memo's key and value types;
// Memoize panics otherwise.
func WithOnEvict[K, V any](fn func(key K, value V, reason EvictReason)) Option {
	if fn == nil {
		panic("memo: WithOnEvict(nil)")
	}
	return func(c *config) { c.onEvict = fn }
}

// onEvictFor returns the callback of WithOnEvict as the memo's type, or nil.
func onEvictFor[K, V any](cfg config) func(K, V, EvictReason) {
	if cfg.onEvict == nil {
		return nil
	}
	fn, ok := cfg.onEvict.(func(K, V, EvictReason))
	if !ok {
		panic(fmt.Sprintf("memo: WithOnEvict was given a %T, but this memo needs a func(%v, %v, memo.EvictReason)",
			cfg.onEvict, reflect.TypeFor[K](), reflect.TypeFor[V]()))
	}
	return fn
}

// EvictReason says why an entry left a memo.
type EvictReason uint8

const (
	Evicted   EvictReason = iota + 1 // dropped to stay within WithCapacity
	Expired                          // its TTL passed (also when an eviction, Set, Forget or Clear found it so)
	Collected                        // MemoizeWeak: the garbage collector reclaimed the value
	Replaced                         // Set or a new load stored another value for its key
	Forgotten                        // Forget
	Cleared                          // Clear
)

func (r EvictReason) String() string {
	switch r {
	case Evicted:
		return "evicted"
	case Expired:
		return "expired"
	case Collected:
		return "collected"
	case Replaced:
		return "replaced"
	case Forgotten:
		return "forgotten"
	case Cleared:
		return "cleared"
	}
	return fmt.Sprintf("EvictReason(%d)", uint8(r))
}

// Policy is the eviction policy of a bounded memo: which entries WithCapacity
// keeps when it must make room.
type Policy uint8

const (
	// LRU evicts the least recently used entry, exactly, like Python's
	// lru_cache. It is the default.
	LRU Policy = iota
	// TinyLFU is adaptive W-TinyLFU, the policy of Caffeine: a new key must
	// be more frequent than the entry it would replace to get into the main
	// region, and a small LRU window, whose size adapts to the workload (a
	// hill climber, and from 256 entries scale models of the cache at six
	// window sizes), gives new keys a chance to prove themselves. It keeps frequent keys
	// through scans and loops that flush an LRU, so fn is called less on
	// most real traffic; recording hits is lossy, so its order is not exact.
	// An entry the policy refuses or drops to make room is reported with
	// reason Evicted, and it may be the entry stored last: a key seen once
	// does not push out a frequent one.
	TinyLFU
)

func (p Policy) String() string {
	switch p {
	case LRU:
		return "LRU"
	case TinyLFU:
		return "TinyLFU"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// WithPolicy picks the eviction policy of a memo bounded by WithCapacity; LRU
// is the default. Without WithCapacity there is nothing to evict, and the
// memo's constructor panics; so does a Policy other than LRU and TinyLFU.
// MemoizeWeak's window of strong references stays an LRU whatever the policy.
func WithPolicy(p Policy) Option {
	if p > TinyLFU {
		panic(fmt.Sprintf("memo: WithPolicy(%v): unknown policy (use memo.LRU or memo.TinyLFU)", p))
	}
	return func(c *config) { c.policy, c.policySet = p, true }
}

// checkPolicy panics for a WithPolicy that has no WithCapacity to apply to.
func (c *config) checkPolicy() {
	if c.policySet && c.capacity == 0 {
		panic(fmt.Sprintf("memo: WithPolicy(%v) needs WithCapacity(n > 0): an unbounded memo evicts nothing", c.policy))
	}
}

// WithRefresh reloads entries ahead of their expiry: once an entry is older
// than d (and still live), a Get returns it at once, counted as a hit, and
// starts one reload of its key in the background. The reload's value replaces
// the entry with a fresh TTL, so a key in steady use never makes a caller wait
// for fn after its first load.
//
// Only one reload per key runs at a time; a Get that misses the key meanwhile
// (its entry expired) waits for that reload instead of calling fn again. A
// failed reload (an error or a panic, counted in LoadErrors) keeps the old
// value until its TTL ends and is not retried before then; the next load is
// the Get that misses it. Forget, Set and Clear during a reload win over it:
// its result is not stored. The reload's context carries the values of the
// Get that triggered it but never its cancellation nor deadline: nobody
// waits for a reload, so nothing cancels it. A reload that panics while no
// Get waits for it crashes the program, as any unrecovered panic does.
// Reloads go through WithTier like any load, count in Stats.Refreshes and in
// Stats.Loads, and are not started by a Get whose context is already done.
//
// d must be shorter than WithTTL's d; without WithTTL, entries never expire
// but are still reloaded once older than d. 0 means no refresh, the default.
// WithRefresh panics for a negative d; the memo's constructor panics when d is
// not shorter than the TTL, with WithTTLFunc (an entry's age is not known
// from a per-entry deadline), and for MemoizeWeak (a weak entry lives only
// as long as its callers hold the value; replacing it would split them).
func WithRefresh(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("memo: WithRefresh(%v): the refresh age must be >= 0 (0 means no refresh)", d))
	}
	return func(c *config) { c.refresh = d }
}

// WithTTLFunc gives each entry the TTL that ttl computes from its key and
// value, for values that say how long they are valid (an OAuth token, an HTTP
// response's Cache-Control). ttl runs once per value stored, whether fn
// returned it or Set stored it, outside the memo's lock; a panic in it is
// treated as a panic of fn. A result of 0 or less means the value is returned
// (by the Get, or dropped by Set) but not stored, and any entry the key had is
// dropped (reported to WithOnEvict as Replaced).
//
// Expired entries of the unbounded store are reclaimed as the memo is read
// and written, with no goroutine, earliest deadline first; a bounded store
// drops them as they reach the end of its order. K and V are inferred from
// ttl and must be the memo's key and value types (Key2 or Key3 for Memoize2
// and Memoize3); the constructor panics otherwise, and with WithTTL, which
// sets one TTL for all. WithTTLFunc(nil) panics.
func WithTTLFunc[K, V any](ttl func(key K, v V) time.Duration) Option {
	if ttl == nil {
		panic("memo: WithTTLFunc(nil)")
	}
	return func(c *config) { c.ttlFunc = ttl }
}

// WithErrorTTL caches fn's errors for d, so that a failing upstream is not
// called again by every Get while it fails: within d of the failure, a Get of
// the key returns the same error without calling fn, counted as a hit. Peek
// does not see a cached error, and Forget, Set and Clear drop it. Never
// cached: a panic, runtime.Goexit (ErrGoexit), an error of a call whose every
// caller gave up (fn's context was canceled under it), an error of a call
// that Forget, Set or Clear made stale, and the error of a failed WithRefresh
// reload, for which the old value stands in. It works with every store,
// MemoizeWeak included.
//
// 0 means errors are not cached, the default; a negative d panics.
func WithErrorTTL(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("memo: WithErrorTTL(%v): the error TTL must be >= 0 (0 means errors are not cached)", d))
	}
	return func(c *config) { c.errTTL = d }
}

// checkExpensive panics on the combinations of WithTTL, WithTTLFunc and
// WithRefresh that cannot mean anything.
func (c *config) checkExpensive() {
	if c.ttl > 0 && c.ttlFunc != nil {
		panic(fmt.Sprintf("memo: WithTTL(%v) and WithTTLFunc cannot be combined: WithTTL sets one TTL for every entry, WithTTLFunc one per entry", c.ttl))
	}
	if c.refresh > 0 && c.ttlFunc != nil {
		panic(fmt.Sprintf("memo: WithRefresh(%v) and WithTTLFunc cannot be combined: a refresh age is measured against WithTTL's single TTL", c.refresh))
	}
	if c.refresh > 0 && c.ttl > 0 && c.refresh >= c.ttl {
		panic(fmt.Sprintf("memo: WithRefresh(%v) must be shorter than WithTTL(%v): an entry would expire before it is refreshed", c.refresh, c.ttl))
	}
}

// ttlFuncFor returns the function of WithTTLFunc as the memo's type, or nil.
func ttlFuncFor[K, V any](cfg config) func(K, V) time.Duration {
	if cfg.ttlFunc == nil {
		return nil
	}
	fn, ok := cfg.ttlFunc.(func(K, V) time.Duration)
	if !ok {
		panic(fmt.Sprintf("memo: WithTTLFunc was given a %T, but this memo needs a func(%v, %v) time.Duration",
			cfg.ttlFunc, reflect.TypeFor[K](), reflect.TypeFor[V]()))
	}
	return fn
}
