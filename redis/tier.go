// Package memoredis is a shared tier for memo on Redis (or Valkey): memos in
// many processes share their values through it, collapse their misses across
// the fleet, and go on without it when Redis fails.
//
//	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
//	shared := memoredis.New[float64](client, "rates:v1", nil, memoredis.WithTTL(time.Minute))
//	rates := memo.Memoize(fetchRate, memo.WithCapacity(10_000), memo.WithTTL(10*time.Second),
//		memo.WithTier(shared))
//
// A local miss asks Redis before calling fn; a Redis hit answers it (and the
// memo stores the value locally); a load writes its value to Redis with the
// tier's TTL. When many processes miss the same key at once, one of them takes
// a short lease and calls fn; the others poll until the value appears, or
// until the lease is gone, and then one of them takes over; fn runs once per
// key across the fleet. If Redis is down, slow or returns a value that does
// not decode, Fetch calls fn and the memo answers as if it had no tier: a
// Redis error never reaches a Get that fn could answer.
//
// Every call to Redis returns within the call timeout, whatever the client's
// options (see call.go). A Forget, in any process, is never undone by a load
// that was in flight when it reached Redis: that load answers its callers but
// writes nothing (see lease.go). Keys under the tier's prefix that the tier
// did not write (another Redis type, a lease without expiry, a value over the
// maximum size) are that key's problem: they are replaced by the next load,
// and never slow down or cool down the tier for other keys.
//
// On a Redis Cluster (a *redis.ClusterClient), every command of one key stays
// in one slot, Clear reaches every master, and a master that fails cools down
// its own keys only (see cluster.go). The invalidations below travel on a
// sharded channel there (SPUBLISH and SSUBSCRIBE, Redis 7.0 or later or
// Valkey), which stays in one shard instead of crossing the cluster bus to
// every node (see invalidate.go).
//
// # Invalidation across processes
//
// Forget, Set and Clear reach the local store of every process whose memo
// uses the same prefix and value type, not only Redis: the tier publishes
// each of them on a pub/sub channel of its namespace, and every Tier
// subscribes to it, so that another process drops the key (or everything)
// from its local store and marks its load of the key in flight stale, as a
// local Forget would. Set also writes its value through to Redis. Pub/sub
// was chosen over client-side caching (CLIENT TRACKING), which go-redis does
// not implement, which tracks connections rather than memos, and whose
// broadcast mode would report every load's own write and every expiry in
// Redis; invalidate.go explains the design.
//
// The bound: after Forget (or Set, or Clear) returns in one process, the
// others serve the old value for at most the delivery time of one message
// when Redis is healthy (on loopback, a median of 5-18µs and a p99 of
// 50-240µs after the return: TestInvalidationDeliveryTime), and for at most their
// local TTL while their subscription is down. A subscriber cannot know what
// it missed while disconnected, so when it subscribes again it drops its
// memo's whole local store first, counted in TierStats.Resyncs;
// TierStats.Listening says whether invalidations arrive now. A Forget made
// while Redis cannot be reached is lost for the others (its failure is
// counted in TierStats.Errors): their local values then live out their local
// TTL, and Redis's values their Redis TTL. Each Tier holds one pub/sub
// connection and one goroutine, until Close; WithoutInvalidation turns it
// all off.
package memoredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-memo/memo"
)

// An Option configures a Tier.
type Option func(*options)

type options struct {
	ttl, timeout, lease, pollMin, pollMax, cooldown time.Duration
	maxValue                                        int
	noInvalidation                                  bool
}

// WithTTL sets how long values live in Redis, to the millisecond. 0, the
// default, keeps them until they are deleted or Redis evicts them under its
// maxmemory policy.
func WithTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// WithCallTimeout bounds every call to Redis, whatever the client's own
// timeouts: a call that takes longer counts as an error, starts the cooldown,
// and Fetch goes on without Redis. The default is 100ms. A Get waits longer
// than that only when another process holds the key's lease (at most the
// lease time), or in fn.
func WithCallTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithLease sets how long a process may hold the lease on a key while it
// loads it, to the millisecond: the others wait at most that long for it
// before one of them takes over. It should exceed fn's longest duration: a
// load that outlives its lease still answers its callers, but writes nothing
// to Redis (another process may have taken over). The default is 10s.
func WithLease(d time.Duration) Option { return func(o *options) { o.lease = d } }

// WithPoll sets how often a process waiting on another's lease looks for the
// value: first after min, then backing off to max. The defaults are 5ms and
// 100ms.
func WithPoll(min, max time.Duration) Option {
	return func(o *options) { o.pollMin, o.pollMax = min, max }
}

// WithCooldown sets how long Fetch leaves Redis alone after a failed call,
// calling fn directly, before it tries Redis again. The default is 1s.
func WithCooldown(d time.Duration) Option { return func(o *options) { o.cooldown = d } }

// WithMaxValueSize sets the largest encoded value, in bytes, that the tier
// reads from Redis or writes to it; the default is 1 MiB. A larger value in
// Redis is neither transferred whole (the tier reads at most n+1 bytes) nor
// decoded: Fetch calls fn and replaces it. A larger value from fn is returned
// to its callers but not written (and an older one is deleted). Both count in
// TierStats.Refused.
func WithMaxValueSize(n int) Option { return func(o *options) { o.maxValue = n } }

// Tier is a memo.Tier on Redis. Build one with New; it is safe for concurrent
// use, and one Tier may serve one memo.
type Tier[V any] struct {
	client redis.UniversalClient
	ns     string // prefix + ":" + the value type's fingerprint + ":"
	codec  Codec[V]
	o      options

	downUntil                          atomic.Int64 // unix nanoseconds; Redis is skipped until then
	hits, misses, errs, waits, refused atomic.Uint64
	clearFails                         atomic.Uint64
	cluster                            *clusterState // nil unless client is a *redis.ClusterClient

	bus     bus          // invalidation across processes (invalidate.go)
	busDown atomic.Int64 // the cooldown of the bus's calls (see call)
}

var (
	_ memo.Tier[int]    = (*Tier[int])(nil)
	_ memo.TierListener = (*Tier[int])(nil)
)

// New returns a tier that keeps values under keys that start with prefix.
// Give each memo a prefix of its own, and change it (rates:v1, rates:v2) when
// the meaning of the values changes; the keys also carry a fingerprint of
// what the codec writes for V (see JSON), so that processes running different
// versions of V never decode each other's values. A nil codec means JSON.
//
// New panics on a nil client, on options out of range (a negative TTL, a
// TTL or lease under a millisecond, a call timeout, poll interval or maximum
// value size that is not positive), on a prefix holding the empty hash tag
// "{}", and, with the JSON codec, on a V that JSON cannot encode.
func New[V any](client redis.UniversalClient, prefix string, codec Codec[V], opts ...Option) *Tier[V] {
	if client == nil {
		panic("memoredis: New called with a nil client")
	}
	checkPrefix(prefix)
	if codec == nil {
		codec = JSON[V]{}
	}
	o := options{timeout: 100 * time.Millisecond, lease: 10 * time.Second,
		pollMin: 5 * time.Millisecond, pollMax: 100 * time.Millisecond, cooldown: time.Second,
		maxValue: 1 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	if o.ttl < 0 || o.ttl > 0 && o.ttl < time.Millisecond || o.timeout <= 0 || o.lease < time.Millisecond ||
		o.pollMin <= 0 || o.pollMax < o.pollMin || o.cooldown < 0 || o.maxValue <= 0 {
		panic(fmt.Sprintf("memoredis: New: invalid options: WithTTL(%v) WithCallTimeout(%v) WithLease(%v) WithPoll(%v, %v) WithCooldown(%v) WithMaxValueSize(%d)",
			o.ttl, o.timeout, o.lease, o.pollMin, o.pollMax, o.cooldown, o.maxValue))
	}
	t := &Tier[V]{client: client, ns: prefix + ":" + fingerprint(codec) + ":", codec: codec, o: o,
		cluster: newClusterState(client)}
	t.initBus()
	return t
}

// Fetch returns key's value from Redis, or calls load, writes its value to
// Redis and returns it; see the package documentation. A panic or
// runtime.Goexit in load releases the lease and goes on up to the caller.
func (t *Tier[V]) Fetch(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error) {
	vk, lk := t.valueKey(key), t.leaseKey(key)
	if t.down(vk) {
		return load(ctx)
	}
	v, state := t.read(ctx, vk)
	switch state {
	case readHit:
		t.hits.Add(1)
		return v, nil
	case readFailed:
		return load(ctx)
	}
	return t.fetchSlow(ctx, vk, lk, state == readBad, load)
}

// fetchSlow takes the lease and loads, or waits for the value of the process
// that holds it, at most the lease time; bad says the value in Redis is not
// to be used.
func (t *Tier[V]) fetchSlow(ctx context.Context, vk, lk string, bad bool, load func(context.Context) (V, error)) (V, error) {
	token := newToken()
	deadline := time.Now().Add(t.o.lease)
	wait := t.o.pollMin
	var timer *time.Timer
	counted := bad // a refusal is counted once per Fetch
	for {
		r, err := t.acquire(ctx, vk, lk, token, bad)
		if err != nil {
			return load(ctx)
		}
		if r.refused && !counted {
			t.refused.Add(1)
			counted = true
		}
		bad = bad || r.refused
		switch r.state {
		case found:
			if v, ok := t.decode(r.data); ok {
				t.hits.Add(1)
				return v, nil
			}
			bad = true
			continue
		case leased:
			t.misses.Add(1)
			return t.loadAndStore(ctx, vk, lk, token, bad, load)
		}
		// Another process holds the lease: wait for its value, at most the
		// lease time, then call fn without the lease.
		if timer == nil {
			t.waits.Add(1)
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		if time.Now().Add(wait).After(deadline) {
			return load(ctx)
		}
		select {
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		case <-timer.C:
		}
		bad = false // look at the value again: the holder may have replaced it
		wait = min(2*wait, t.o.pollMax)
	}
}

// loadAndStore calls load while holding the lease, then writes the value
// (or deletes a bad one) and releases the lease, fenced by token. A panic or
// Goexit in load releases the lease on its way up.
func (t *Tier[V]) loadAndStore(ctx context.Context, vk, lk, token string, bad bool, load func(context.Context) (V, error)) (v V, err error) {
	finished := false
	defer func() {
		if !finished {
			t.finish(ctx, vk, lk, token, "none", nil)
		}
	}()
	v, err = load(ctx)
	finished = true
	mode, data := "none", []byte(nil)
	if err == nil {
		mode, data = t.encode(v)
	}
	if mode == "none" && bad {
		mode = "del"
	}
	t.finish(ctx, vk, lk, token, mode, data)
	return v, err
}

// encode returns the finish mode for v: "set" and its bytes, or "del" when
// it cannot be encoded or is over the maximum size (counted).
func (t *Tier[V]) encode(v V) (string, []byte) {
	data, err := t.codec.Marshal(v)
	switch {
	case err != nil:
		t.errs.Add(1)
		return "del", nil
	case len(data) > t.o.maxValue:
		t.refused.Add(1)
		return "del", nil
	}
	return "set", data
}

type readState uint8

const (
	readHit    readState = iota
	readAbsent           // no value (or an empty one: acquire tells)
	readBad              // a value the tier cannot use: over the maximum size, not decoding, not a string
	readFailed           // Redis failed
)

// read gets key's value with GETRANGE, which transfers at most the maximum
// size plus one byte: a longer value is refused without reading it whole.
func (t *Tier[V]) read(ctx context.Context, key string) (V, readState) {
	var zero V
	data, err := do(t, ctx, key, func(c context.Context) ([]byte, error) {
		return t.client.GetRange(c, key, 0, int64(t.o.maxValue)).Bytes()
	})
	switch {
	case isWrongType(err):
		return zero, readBad
	case err != nil:
		return zero, readFailed
	case len(data) == 0:
		return zero, readAbsent
	case len(data) > t.o.maxValue:
		t.refused.Add(1)
		return zero, readBad
	}
	if v, ok := t.decode(data); ok {
		return v, readHit
	}
	return zero, readBad
}

// decode decodes data; a value that does not decode counts as an error.
func (t *Tier[V]) decode(data []byte) (V, bool) {
	var v V
	if err := t.codec.Unmarshal(data, &v); err != nil {
		t.errs.Add(1)
		var zero V
		return zero, false
	}
	return v, true
}

// Forget deletes key's value from Redis, and its lease, so that a load in
// flight in any process writes nothing (see lease.go). A Forget that fails
// (Redis down or slow) is counted in TierStats.Errors and leaves the value.
func (t *Tier[V]) Forget(key string) {
	vk, lk := t.valueKey(key), t.leaseKey(key)
	_, _ = do(t, context.Background(), vk, func(c context.Context) (int64, error) {
		if t.cluster != nil {
			return t.forgetCluster(c, vk, lk)
		}
		return t.client.Del(c, vk, lk).Result()
	})
	t.publish(opForget, key)
}

// Clear deletes every key of the tier, values and leases, with SCAN and
// UNLINK, never KEYS; on a Redis Cluster, on every master. It may run for a
// while on a large keyspace: each batch has the call timeout. A Clear that
// cannot finish (a batch fails, a master is down) stops there, on that master
// only, and counts one in TierStats.ClearFailures (and the failed call in
// Errors): the keys it had not reached stay in Redis until their TTL, or a
// later Clear. A load whose lease it deleted writes nothing; a load that
// writes its value while Clear runs may leave that value.
func (t *Tier[V]) Clear() {
	defer t.publish(opClear, "") // the other processes drop their local stores
	match := escapeGlob(t.ns) + "*"
	var ok bool
	if t.cluster != nil {
		ok = t.clearCluster(match)
	} else {
		ok = t.clearServer(match)
	}
	if !ok {
		t.clearFails.Add(1)
	}
}

// clearServer is Clear on one Redis server: SCAN pages, each deleted with
// one UNLINK.
func (t *Tier[V]) clearServer(match string) bool {
	var cursor uint64
	for {
		p, err := do(t, context.Background(), "", func(c context.Context) (page, error) {
			keys, cursor, err := t.client.Scan(c, cursor, match, 1000).Result()
			return page{keys, cursor}, err
		})
		if err != nil {
			return false
		}
		if len(p.keys) > 0 {
			if _, err := do(t, context.Background(), "", func(c context.Context) (int64, error) {
				return t.client.Unlink(c, p.keys...).Result()
			}); err != nil {
				return false
			}
		}
		if cursor = p.cursor; cursor == 0 {
			return true
		}
	}
}

// Stats returns the tier's counters.
func (t *Tier[V]) Stats() memo.TierStats {
	s := memo.TierStats{Hits: t.hits.Load(), Misses: t.misses.Load(), Errors: t.errs.Load(),
		LeaseWaits: t.waits.Load(), Refused: t.refused.Load(), ClearFailures: t.clearFails.Load()}
	t.fillStats(&s)
	return s
}

// call runs f as a bounded call (see call.go), for the invalidation bus. Its
// failures are counted but cool down only the bus (busDown, which Fetch does
// not look at): on a cluster a PUBLISH may go to any node, one that is down
// included, and must not send every key to fn.
func (t *Tier[V]) call(ctx context.Context, f func(context.Context) error) (bool, error) {
	_, err := doWith(t, ctx, "", &t.busDown, func(c context.Context) (struct{}, error) { return struct{}{}, f(c) })
	return err == nil, err
}

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
