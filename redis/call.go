// Bounded calls: every call to Redis returns within the tier's call timeout,
// whatever the client's options.
//
// The obvious design, a context with a deadline handed to go-redis, does not
// hold: go-redis ignores context deadlines on the socket unless the client
// was built with Options.ContextTimeoutEnabled, and waits for its own
// ReadTimeout (3 s by default) instead. With Redis stalled for 2 s, a Get
// with a 100 ms call timeout took 2 s, and since a call that eventually
// succeeds counted no error, the cooldown never started. The tier cannot
// require an option of a client it is handed (a ClusterClient or a Ring has
// other options types, and users share one client between many uses).
//
// So each call runs in a goroutine of its own, and the caller waits for it
// or for the deadline, whichever comes first. A call that times out counts
// as an error and starts the cooldown, so the Gets after it leave Redis
// alone. Its price: a goroutine and a channel per call (about a microsecond,
// beside a round trip of tens), and, with a client that ignores deadlines, a
// stalled call goes on in the background, holding a pooled connection until
// the client's own ReadTimeout; a write (a value, a delete) may still land
// after its caller stopped waiting. With ContextTimeoutEnabled the client
// also abandons the socket at the deadline, which is why the README shows it.
package memoredis

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

type result[T any] struct {
	v    T
	err  error
	cool *atomic.Int64 // the cooldown of the master that served key, on a cluster
}

// do runs f with the call timeout and returns its result, or the deadline's
// error once the timeout has passed, then judges the error (see judge). key
// is the Redis key f is about, which on a cluster says whose cooldown a
// failure starts ("" for the whole tier).
func do[T, V any](t *Tier[V], ctx context.Context, key string, f func(context.Context) (T, error)) (T, error) {
	return doWith(t, ctx, key, nil, f)
}

// doWith is do with a given cooldown (a cluster master's, for the calls of
// Clear to that master), when cool is not nil.
func doWith[T, V any](t *Tier[V], ctx context.Context, key string, cool *atomic.Int64, f func(context.Context) (T, error)) (T, error) {
	c, cancel := context.WithTimeout(ctx, t.o.timeout)
	defer cancel()
	ch := make(chan result[T], 1)
	go func() {
		cool := cool
		if cool == nil && t.cluster != nil && key != "" {
			cool = t.cluster.learn(c, key)
		}
		v, err := f(c)
		ch <- result[T]{v, err, cool}
	}()
	var r result[T]
	select {
	case r = <-ch:
	case <-c.Done():
		r.err, r.cool = c.Err(), cool
		if cool == nil && t.cluster != nil && key != "" {
			r.cool = t.cluster.cooldownOf(key)
		}
	}
	return r.v, t.judge(ctx, r.cool, r.err)
}

// judge counts err and returns it. A missing key (redis.Nil) and the
// caller's own context ending are not Redis's fault. A WRONGTYPE reply means
// one key holds something the tier did not write, and TRYAGAIN (or a MOVED
// or ASK left after go-redis's redirects) that the key's cluster slot is
// migrating: errors of that key, counted but without the cooldown, so that
// other keys keep being served.
// Anything else (a timeout, a refused connection) starts the cooldown: cool,
// a cluster master's, or the tier's when cool is nil.
func (t *Tier[V]) judge(ctx context.Context, cool *atomic.Int64, err error) error {
	switch {
	case err == nil, errors.Is(err, redis.Nil):
		return err
	case ctx.Err() != nil:
		return err
	case isWrongType(err), isMigrating(err):
		t.errs.Add(1)
		return err
	}
	t.errs.Add(1)
	if cool == nil {
		cool = &t.downUntil
	}
	cool.Store(time.Now().Add(t.o.cooldown).UnixNano())
	return err
}

func isWrongType(err error) bool { return redis.HasErrorPrefix(err, "WRONGTYPE") }

// isMigrating reports a reply of a cluster slot in migration.
func isMigrating(err error) bool {
	return redis.HasErrorPrefix(err, "TRYAGAIN") || redis.HasErrorPrefix(err, "MOVED") ||
		redis.HasErrorPrefix(err, "ASK")
}

// down reports whether the tier, or on a cluster the master of key, is in
// its cooldown.
func (t *Tier[V]) down(key string) bool {
	now := time.Now().UnixNano()
	if now < t.downUntil.Load() {
		return true
	}
	if t.cluster != nil {
		if cool := t.cluster.cooldownOf(key); cool != nil && now < cool.Load() {
			return true
		}
	}
	return false
}
