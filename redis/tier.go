// Package memoredis is a shared tier for memo on Redis (or Valkey): memos in
// many processes share their values through it, collapse their misses across
// the fleet, and go on without it when Redis fails.
//
//	shared := memoredis.New[float64](client, "rates:v1", nil, memoredis.WithTTL(time.Minute))
//	rates := memo.Memoize(fetchRate, memo.WithCapacity(10_000), memo.WithTTL(10*time.Second),
//		memo.WithTier(shared))
//
// A local miss asks Redis before calling fn; a Redis hit answers it (and the
// memo stores the value locally); a load writes its value to Redis with the
// tier's TTL. When many processes miss the same key at once, one of them takes
// a short lease (SET NX PX) and calls fn; the others poll until the value
// appears, or until the lease is gone, and then one of them takes over. If
// Redis is down, slow or returns a value that does not decode, Fetch calls fn
// and the memo answers as if it had no tier: a Redis error never reaches a Get
// that fn could answer.
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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-memo/memo"
)

// A Codec turns values into bytes for Redis and back: encoding/json by
// default (JSON), or any Marshal/Unmarshal pair (Funcs), such as gob,
// protobuf or msgpack.
type Codec[V any] interface {
	Marshal(v V) ([]byte, error)
	Unmarshal(data []byte, v *V) error
}

// JSON is the default Codec: encoding/json.
type JSON[V any] struct{}

// Marshal encodes v with json.Marshal.
func (JSON[V]) Marshal(v V) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data with json.Unmarshal.
func (JSON[V]) Unmarshal(data []byte, v *V) error { return json.Unmarshal(data, v) }

// Funcs makes a Codec of a Marshal and an Unmarshal function.
type Funcs[V any] struct {
	MarshalFunc   func(V) ([]byte, error)
	UnmarshalFunc func([]byte, *V) error
}

// Marshal calls MarshalFunc.
func (f Funcs[V]) Marshal(v V) ([]byte, error) { return f.MarshalFunc(v) }

// Unmarshal calls UnmarshalFunc.
func (f Funcs[V]) Unmarshal(data []byte, v *V) error { return f.UnmarshalFunc(data, v) }

// An Option configures a Tier.
type Option func(*options)

type options struct {
	ttl, timeout, lease, pollMin, pollMax, cooldown time.Duration
	noInvalidation                                  bool
}

// WithTTL sets how long values live in Redis. 0, the default, keeps them
// until they are deleted or Redis evicts them under its maxmemory policy.
func WithTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// WithCallTimeout bounds every call to Redis; a call that takes longer counts
// as an error and Fetch goes on without Redis. The default is 100ms.
func WithCallTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithLease sets how long a process may hold the lease on a key while it
// loads it: the others wait at most that long for it before one of them takes
// over. It should exceed fn's usual duration. The default is 10s.
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

// Tier is a memo.Tier on Redis, and a memo.TierListener (see the package
// documentation on invalidation). Build one with New; it is safe for
// concurrent use, and one Tier may serve one memo. Close it when the memo is
// no longer used, to stop its subscription.
type Tier[V any] struct {
	client redis.UniversalClient
	ns     string // prefix + ":" + the value type's fingerprint + ":"
	codec  Codec[V]
	o      options

	downUntil                 atomic.Int64 // unix nanoseconds; Redis is skipped until then
	hits, misses, errs, waits atomic.Uint64

	bus bus // invalidation across processes (invalidate.go)
}

var (
	_ memo.Tier[int]    = (*Tier[int])(nil)
	_ memo.TierListener = (*Tier[int])(nil)
)

// New returns a tier that keeps values under keys that start with prefix.
// Give each memo a prefix of its own, and change it (rates:v1, rates:v2) when
// the meaning of the values changes; the keys also carry a fingerprint of V's
// structure, so that processes running different versions of V never decode
// each other's values. A nil codec means JSON.
func New[V any](client redis.UniversalClient, prefix string, codec Codec[V], opts ...Option) *Tier[V] {
	if client == nil {
		panic("memoredis: New called with a nil client")
	}
	if codec == nil {
		codec = JSON[V]{}
	}
	o := options{timeout: 100 * time.Millisecond, lease: 10 * time.Second,
		pollMin: 5 * time.Millisecond, pollMax: 100 * time.Millisecond, cooldown: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.ttl < 0 || o.timeout <= 0 || o.lease <= 0 || o.pollMin <= 0 || o.pollMax < o.pollMin || o.cooldown < 0 {
		panic(fmt.Sprintf("memoredis: invalid options: ttl=%v timeout=%v lease=%v poll=%v..%v cooldown=%v",
			o.ttl, o.timeout, o.lease, o.pollMin, o.pollMax, o.cooldown))
	}
	t := &Tier[V]{client: client, ns: prefix + ":" + fingerprint(reflect.TypeFor[V]()) + ":", codec: codec, o: o}
	t.initBus()
	return t
}

// The keys of one memo key: its value and its lease, in two namespaces so
// that no key's value can ever be taken for another key's lease.
func (t *Tier[V]) valueKey(key string) string { return t.ns + "v:" + key }
func (t *Tier[V]) leaseKey(key string) string { return t.ns + "l:" + key }

// Fetch returns key's value from Redis, or calls load, writes its value to
// Redis and returns it; see the package documentation.
func (t *Tier[V]) Fetch(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error) {
	if t.down() {
		return load(ctx)
	}
	vk, lk := t.valueKey(key), t.leaseKey(key)
	waited := false
	for {
		v, found, ok := t.get(ctx, vk)
		switch {
		case !ok:
			return load(ctx)
		case found:
			t.hits.Add(1)
			return v, nil
		}
		token := newToken()
		taken, err := t.call(ctx, func(c context.Context) error {
			var err error
			_, err = t.client.SetArgs(c, lk, token, redis.SetArgs{Mode: "NX", TTL: t.o.lease}).Result()
			return err
		})
		switch {
		case err != nil && !errors.Is(err, redis.Nil):
			return load(ctx)
		case taken:
			t.misses.Add(1)
			v, err := load(ctx)
			t.finish(ctx, vk, v, err == nil, lk, token)
			return v, err
		}
		// Another process holds the lease: wait for its value.
		if !waited {
			t.waits.Add(1)
			waited = true
		}
		v, found, err = t.await(ctx, vk, lk)
		switch {
		case found:
			t.hits.Add(1)
			return v, nil
		case ctx.Err() != nil:
			var zero V
			return zero, ctx.Err()
		case err != nil:
			return load(ctx)
		}
		// The lease went without a value (its holder failed or died): try
		// to take it.
	}
}

// get reads and decodes key. ok is false when Redis failed; a value that does
// not decode counts as an error and a miss, and is overwritten by the load.
func (t *Tier[V]) get(ctx context.Context, key string) (v V, found, ok bool) {
	var data []byte
	_, err := t.call(ctx, func(c context.Context) error {
		var err error
		data, err = t.client.Get(c, key).Bytes()
		return err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return v, false, true
	case err != nil:
		return v, false, false
	}
	if err := t.codec.Unmarshal(data, &v); err != nil {
		t.errs.Add(1)
		var zero V
		return zero, false, true
	}
	return v, true, true
}

// await polls for key's value while lease exists, backing off.
func (t *Tier[V]) await(ctx context.Context, key, lease string) (v V, found bool, err error) {
	wait := t.o.pollMin
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return v, false, ctx.Err()
		case <-timer.C:
		}
		var data []byte
		var leased int64
		_, err := t.call(ctx, func(c context.Context) error {
			p := t.client.Pipeline()
			get := p.Get(c, key)
			exists := p.Exists(c, lease)
			_, err := p.Exec(c)
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			data, _ = get.Bytes()
			leased = exists.Val()
			return nil
		})
		if err != nil {
			return v, false, err
		}
		if data != nil {
			if err := t.codec.Unmarshal(data, &v); err == nil {
				return v, true, nil
			}
			t.errs.Add(1)
			var zero V
			v = zero
		}
		if leased == 0 {
			return v, false, nil
		}
		wait = min(2*wait, t.o.pollMax)
		timer.Reset(wait)
	}
}

// finish writes v under key with the tier's TTL, if the load succeeded, and
// releases the lease, in one round trip. It runs even if every caller has
// given up (a completed value is worth keeping). A failure is counted and the
// value is still returned: Redis is a cache of fn, not its source.
func (t *Tier[V]) finish(ctx context.Context, key string, v V, ok bool, lease, token string) {
	var data []byte
	if ok {
		var err error
		if data, err = t.codec.Marshal(v); err != nil {
			t.errs.Add(1)
			ok = false
		}
	}
	_, _ = t.call(context.WithoutCancel(ctx), func(c context.Context) error {
		p := t.client.Pipeline()
		if ok {
			p.Set(c, key, data, t.o.ttl)
		}
		p.Eval(c, releaseLease, []string{lease}, token)
		_, err := p.Exec(c)
		return err
	})
}

// releaseLease deletes a lease only if it still holds the caller's token, so
// that a process whose lease expired never deletes another's.
const releaseLease = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`

// Forget deletes key's value from Redis, then tells the other processes to
// drop their local value of key (see invalidate.go).
func (t *Tier[V]) Forget(key string) {
	_, _ = t.call(context.Background(), func(c context.Context) error {
		return t.client.Del(c, t.valueKey(key)).Err()
	})
	t.publish(opForget, key)
}

// Clear deletes every key of the tier, with SCAN and UNLINK, never KEYS. It
// may run for a while on a large keyspace: each batch has the call timeout.
// Then it tells the other processes to drop their whole local store.
func (t *Tier[V]) Clear() {
	defer t.publish(opClear, "")
	match := escapeGlob(t.ns) + "*"
	var cursor uint64
	for {
		var keys []string
		_, err := t.call(context.Background(), func(c context.Context) error {
			var err error
			keys, cursor, err = t.client.Scan(c, cursor, match, 1000).Result()
			return err
		})
		if err != nil {
			return
		}
		if len(keys) > 0 {
			_, _ = t.call(context.Background(), func(c context.Context) error {
				return t.client.Unlink(c, keys...).Err()
			})
		}
		if cursor == 0 {
			return
		}
	}
}

// Stats returns the tier's counters.
func (t *Tier[V]) Stats() memo.TierStats {
	s := memo.TierStats{Hits: t.hits.Load(), Misses: t.misses.Load(), Errors: t.errs.Load(), LeaseWaits: t.waits.Load()}
	t.fillStats(&s)
	return s
}

// call runs f with the call timeout. It reports whether f succeeded; a
// failure other than a missing key (redis.Nil) or the caller's own context
// ending counts as an error and makes Fetch leave Redis alone for the
// cooldown.
func (t *Tier[V]) call(ctx context.Context, f func(context.Context) error) (bool, error) {
	c, cancel := context.WithTimeout(ctx, t.o.timeout)
	err := f(c)
	cancel()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, err
	case ctx.Err() != nil:
		return false, err // the caller gave up: not Redis's fault
	}
	t.errs.Add(1)
	t.downUntil.Store(time.Now().Add(t.o.cooldown).UnixNano())
	return false, err
}

func (t *Tier[V]) down() bool { return time.Now().UnixNano() < t.downUntil.Load() }

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fingerprint hashes the structure of t: its name, and for structs the names,
// types and tags of its fields, recursively, so that a value type that
// changes shape gets other keys.
func fingerprint(t reflect.Type) string {
	var sb strings.Builder
	shape(&sb, t, map[reflect.Type]bool{})
	sum := sha256.Sum256([]byte(sb.String()))
	return hex.EncodeToString(sum[:6])
}

func shape(sb *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	sb.WriteString(t.PkgPath() + "." + t.String())
	if seen[t] {
		return
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		sb.WriteString("(")
		shape(sb, t.Elem(), seen)
		sb.WriteString(")")
	case reflect.Map:
		sb.WriteString("(")
		shape(sb, t.Key(), seen)
		sb.WriteString(",")
		shape(sb, t.Elem(), seen)
		sb.WriteString(")")
	case reflect.Struct:
		sb.WriteString("{")
		for i := range t.NumField() {
			f := t.Field(i)
			fmt.Fprintf(sb, "%s %q ", f.Name, f.Tag)
			shape(sb, f.Type, seen)
			sb.WriteString(";")
		}
		sb.WriteString("}")
	}
}

// escapeGlob escapes the characters that SCAN MATCH treats as a pattern.
func escapeGlob(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
