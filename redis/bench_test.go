package memoredis_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/go-memo/memo"
	memoredis "github.com/go-memo/memo/redis"
)

// BenchmarkReadThrough measures the three paths of a memo with a Redis tier
// beside the same work done by hand with go-redis:
//
//   - local-hit: the value is in the memo; Redis is not asked.
//   - redis-hit: the memo misses (WithCapacity(1) over two keys evicts each
//     time) and Redis has the value: one GET and a decode.
//   - miss: a key never seen: GETRANGE, the acquire script (which takes the
//     lease), fn, and the finish script (SET and the lease's release).
//
// impl=memo-cluster is the same memo on a 3-master Redis Cluster (the
// client's slot map sends each command straight to its master).
//
// The baselines are a GET (hit) and a GET then SET (miss) with go-redis and
// encoding/json, which is what a hand-written read-through cache does,
// without collapsing misses.
func BenchmarkReadThrough(b *testing.B) {
	if srv == nil {
		b.Skip(skipReason)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.addr()})
	defer c.Close()
	ctx := context.Background()
	fn := func(_ context.Context, k string) (rate, error) { return rate{k, 1}, nil }
	pfx := "bench:" + strconv.Itoa(int(rnd.Add(1)))

	b.Run("path=local-hit/impl=memo", func(b *testing.B) {
		m := memo.Memoize(fn, memo.WithTier(memoredis.New[rate](c, pfx, nil)))
		_, _ = m.Get(ctx, "EUR/USD")
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Get(ctx, "EUR/USD")
		}
	})
	b.Run("path=local-hit/impl=memo-without-tier", func(b *testing.B) {
		m := memo.Memoize(fn)
		_, _ = m.Get(ctx, "EUR/USD")
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Get(ctx, "EUR/USD")
		}
	})
	b.Run("path=redis-hit/impl=memo", func(b *testing.B) {
		m := memo.Memoize(fn, memo.WithCapacity(1), memo.WithTier(memoredis.New[rate](c, pfx, nil)))
		_, _ = m.Get(ctx, "a")
		_, _ = m.Get(ctx, "b")
		keys := [2]string{"a", "b"}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_, _ = m.Get(ctx, keys[i&1])
		}
	})
	b.Run("path=redis-hit/impl=go-redis-by-hand", func(b *testing.B) {
		data, _ := json.Marshal(rate{"a", 1})
		c.Set(ctx, pfx+":hand:a", data, 0)
		b.ReportAllocs()
		for b.Loop() {
			raw, err := c.Get(ctx, pfx+":hand:a").Bytes()
			var v rate
			if err != nil || json.Unmarshal(raw, &v) != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("path=miss/impl=memo", func(b *testing.B) {
		m := memo.Memoize(fn, memo.WithTier(memoredis.New[rate](c, pfx+":miss", nil)))
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Get(ctx, strconv.FormatInt(rnd.Add(1), 10)) // never seen, here or in Redis
		}
		b.StopTimer()
		m.Clear()
	})
	// The same memo on a 3-master Redis Cluster, beside the single server.
	cc := clusterClient(b)
	b.Run("path=redis-hit/impl=memo-cluster", func(b *testing.B) {
		m := memo.Memoize(fn, memo.WithCapacity(1), memo.WithTier(memoredis.New[rate](cc, pfx, nil)))
		_, _ = m.Get(ctx, "a")
		_, _ = m.Get(ctx, "b")
		keys := [2]string{"a", "b"}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_, _ = m.Get(ctx, keys[i&1])
		}
	})
	b.Run("path=miss/impl=memo-cluster", func(b *testing.B) {
		m := memo.Memoize(fn, memo.WithTier(memoredis.New[rate](cc, pfx+":miss", nil)))
		b.ReportAllocs()
		for b.Loop() {
			_, _ = m.Get(ctx, strconv.FormatInt(rnd.Add(1), 10))
		}
		b.StopTimer()
		m.Clear()
	})
	b.Run("path=miss/impl=go-redis-by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k := pfx + ":hand-miss:" + strconv.FormatInt(rnd.Add(1), 10)
			if _, err := c.Get(ctx, k).Bytes(); err == nil {
				b.Fatal("hit")
			}
			v, _ := fn(ctx, k)
			data, _ := json.Marshal(v)
			c.Set(ctx, k, data, 0)
		}
	})
}

// rnd numbers the benchmarks' prefixes and fresh keys, so that no run of a
// miss benchmark finds a key an earlier run stored.
var rnd atomic.Int64
