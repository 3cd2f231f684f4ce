package memoredis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
	memoredis "github.com/go-memo/memo/redis"
)

func canonical(k string) string { return string(memo.CanonicalKey(nil, k)) }

// prefix gives each test keys of its own, new on every run (-count=N), since
// the server keeps what earlier runs stored.
func prefix(t *testing.T) string {
	p, _ := prefixes.LoadOrStore(t, "test:"+t.Name()+":"+strconv.FormatInt(rnd.Add(1), 10))
	return p.(string)
}

var prefixes sync.Map // *testing.T -> its prefix

// rate is the value type of the tests.
type rate struct {
	Pair  string
	Value float64
}

// worker is one "process": its own Redis client, tier and memo, and a count
// of its calls of fn.
type worker struct {
	tier  *memoredis.Tier[rate]
	memo  *memo.Memo[string, rate]
	calls *atomic.Int64
}

func newWorker(t *testing.T, pfx string, calls *atomic.Int64, delay time.Duration, opts ...memoredis.Option) worker {
	tier := memoredis.New[rate](client(t), pfx, nil, opts...)
	t.Cleanup(func() { tier.Close() })
	m := memo.Memoize(func(ctx context.Context, pair string) (rate, error) {
		calls.Add(1)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return rate{}, ctx.Err()
		}
		return rate{pair, float64(len(pair))}, nil
	}, memo.WithTier(tier))
	return worker{tier, m, calls}
}

// valueKeys lists the tier's value keys in Redis.
func valueKeys(t *testing.T, c *redis.Client, pfx string) []string {
	keys, err := c.Keys(context.Background(), pfx+":*:v:*").Result() // a test-sized keyspace
	require.NoError(t, err)
	return keys
}

// 1. Two processes share values: the second one's Get is answered from Redis
// without calling its fn.
func TestTwoProcessesShareValues(t *testing.T) {
	var a, b atomic.Int64
	wa := newWorker(t, prefix(t), &a, 0)
	wb := newWorker(t, prefix(t), &b, 0)
	ctx := context.Background()
	v, err := wa.memo.Get(ctx, "EUR/USD")
	require.NoError(t, err)
	got, err := wb.memo.Get(ctx, "EUR/USD")
	require.NoError(t, err)
	assert.Equal(t, v, got)
	assert.Equal(t, int64(1), a.Load())
	assert.Equal(t, int64(0), b.Load(), "the second process's fn is not called")
	assert.Equal(t, memo.TierStats{Hits: 1, Listening: true}, wb.tier.Stats())
	assert.Equal(t, memo.TierStats{Misses: 1, Listening: true}, wa.tier.Stats())
	// Its memo still counts a miss and a load: the tier answered the load.
	st := wb.memo.Stats()
	assert.Equal(t, uint64(1), st.Misses)
	assert.Equal(t, memo.TierStats{Hits: 1, Listening: true}, st.Tier)
}

// 2. Fleet-wide dedupe: 8 processes, 50 goroutines each, one cold key: fn
// runs once in all.
func TestFleetCollapsesMissesToOneCall(t *testing.T) {
	var calls atomic.Int64
	workers := make([]worker, 8)
	for i := range workers {
		workers[i] = newWorker(t, prefix(t), &calls, 100*time.Millisecond)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, w := range workers {
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v, err := w.memo.Get(context.Background(), "GBP/JPY")
				assert.NoError(t, err)
				assert.Equal(t, rate{"GBP/JPY", 7}, v)
			}()
		}
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int64(1), calls.Load(), "fn runs once across the fleet")
	var waits uint64
	for _, w := range workers {
		waits += w.tier.Stats().LeaseWaits
		assert.Equal(t, uint64(50), w.memo.Stats().Misses+w.memo.Stats().Hits)
	}
	assert.Equal(t, uint64(7), waits, "the 7 processes without the lease waited for it")
}

// 3. Redis killed mid-run: every Get still succeeds, the errors are counted,
// and once Redis is back the tier is used again.
func TestRedisDownThenBack(t *testing.T) {
	var calls atomic.Int64
	w := newWorker(t, prefix(t), &calls, 0, memoredis.WithCallTimeout(200*time.Millisecond), memoredis.WithCooldown(100*time.Millisecond))
	c := client(t)
	ctx := context.Background()
	_, err := w.memo.Get(ctx, "before")
	require.NoError(t, err)
	require.Len(t, valueKeys(t, c, prefix(t)), 1)

	srv.stop()
	for i := range 20 {
		v, err := w.memo.Get(ctx, fmt.Sprint("down-", i))
		require.NoError(t, err, "a Get never fails because Redis does")
		assert.Equal(t, fmt.Sprint("down-", i), v.Pair)
	}
	assert.Equal(t, int64(21), calls.Load())
	assert.NotZero(t, w.tier.Stats().Errors, "the failures are counted")

	require.NoError(t, srv.start())
	time.Sleep(150 * time.Millisecond) // real time: the cooldown passes
	_, err = w.memo.Get(ctx, "after")
	require.NoError(t, err)
	assert.Contains(t, strings.Join(valueKeys(t, c, prefix(t)), " "), "after", "the tier is used again")
}

// 4. A value in Redis that does not decode is a miss: fn is called, the value
// is overwritten, and the error is counted.
func TestCorruptedValueIsReplaced(t *testing.T) {
	var a, b atomic.Int64
	wa := newWorker(t, prefix(t), &a, 0)
	c := client(t)
	ctx := context.Background()
	_, err := wa.memo.Get(ctx, "EUR/CHF")
	require.NoError(t, err)
	keys := valueKeys(t, c, prefix(t))
	require.Len(t, keys, 1)
	require.NoError(t, c.Set(ctx, keys[0], "{not json", 0).Err())

	wb := newWorker(t, prefix(t), &b, 0)
	v, err := wb.memo.Get(ctx, "EUR/CHF")
	require.NoError(t, err)
	assert.Equal(t, rate{"EUR/CHF", 7}, v)
	assert.Equal(t, int64(1), b.Load(), "the corrupted value is a miss")
	assert.Equal(t, uint64(1), wb.tier.Stats().Errors, "and it is counted")
	raw, err := c.Get(ctx, keys[0]).Result()
	require.NoError(t, err)
	assert.JSONEq(t, `{"Pair":"EUR/CHF","Value":7}`, raw, "and overwritten")
}

// 5. The TTL in Redis is the tier's.
func TestTTLInRedisMatchesTheOption(t *testing.T) {
	var calls atomic.Int64
	w := newWorker(t, prefix(t), &calls, 0, memoredis.WithTTL(90*time.Second))
	c := client(t)
	_, err := w.memo.Get(context.Background(), "USD/JPY")
	require.NoError(t, err)
	keys := valueKeys(t, c, prefix(t))
	require.Len(t, keys, 1)
	ttl, err := c.PTTL(context.Background(), keys[0]).Result()
	require.NoError(t, err)
	assert.InDelta(t, float64(90*time.Second), float64(ttl), float64(2*time.Second))
}

// Forget and Clear reach Redis: Forget deletes the key, Clear the whole
// prefix (with SCAN), for every process.
func TestForgetAndClearReachRedis(t *testing.T) {
	var a, b atomic.Int64
	wa := newWorker(t, prefix(t), &a, 0)
	wb := newWorker(t, prefix(t), &b, 0)
	c := client(t)
	ctx := context.Background()
	for i := range 30 {
		_, _ = wa.memo.Get(ctx, fmt.Sprint("k", i))
	}
	require.Len(t, valueKeys(t, c, prefix(t)), 30)
	wa.memo.Forget("k0")
	assert.Len(t, valueKeys(t, c, prefix(t)), 29)
	_, _ = wb.memo.Get(ctx, "k0")
	assert.Equal(t, int64(1), b.Load(), "a forgotten key is loaded again in other processes too")
	wa.memo.Clear()
	assert.Empty(t, valueKeys(t, c, prefix(t)))
}

// A process that dies holding the lease delays the others by at most the
// lease: then one of them takes over.
func TestDeadLeaseHolderIsTakenOver(t *testing.T) {
	var calls atomic.Int64
	w := newWorker(t, prefix(t), &calls, 0, memoredis.WithPoll(5*time.Millisecond, 20*time.Millisecond))
	c := client(t)
	ctx := context.Background()
	// Find the lease key the tier uses, by loading another key and reading
	// its value key's namespace; memo keys are in their canonical form.
	_, _ = w.memo.Get(ctx, "probe")
	ns := strings.TrimSuffix(valueKeys(t, c, prefix(t))[0], "v:"+canonical("probe"))
	require.NoError(t, c.Set(ctx, ns+"l:"+canonical("EUR/SEK"), "a dead process", 300*time.Millisecond).Err())

	start := time.Now()
	v, err := w.memo.Get(ctx, "EUR/SEK")
	require.NoError(t, err)
	assert.Equal(t, "EUR/SEK", v.Pair)
	assert.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "it waited for the lease")
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, int64(2), calls.Load())
	assert.Equal(t, uint64(1), w.tier.Stats().LeaseWaits)
}

// Two value types under one prefix never read each other's values: the keys
// carry a fingerprint of the value type's structure.
func TestDifferentValueTypesNeverShareKeys(t *testing.T) {
	type rateV2 struct {
		Pair  string
		Value float64
		Bank  string
	}
	c := client(t)
	ctx := context.Background()
	v1 := memo.Memoize(func(context.Context, string) (rate, error) { return rate{"x", 1}, nil },
		memo.WithTier(memoredis.New[rate](c, prefix(t), nil)))
	var calls atomic.Int64
	v2 := memo.Memoize(func(context.Context, string) (rateV2, error) { calls.Add(1); return rateV2{"x", 2, "b"}, nil },
		memo.WithTier(memoredis.New[rateV2](c, prefix(t), nil)))
	_, _ = v1.Get(ctx, "k")
	got, err := v2.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, rateV2{"x", 2, "b"}, got)
	assert.Equal(t, int64(1), calls.Load())
}

// A load that fails returns its error to every process waiting on it, and
// the next Get loads again.
func TestLoadErrorsAreNotStored(t *testing.T) {
	c := client(t)
	boom := errors.New("upstream down")
	var calls atomic.Int64
	m := memo.Memoize(func(context.Context, string) (rate, error) {
		if calls.Add(1) == 1 {
			return rate{}, boom
		}
		return rate{"ok", 1}, nil
	}, memo.WithTier(memoredis.New[rate](c, prefix(t), nil)))
	_, err := m.Get(context.Background(), "k")
	assert.ErrorIs(t, err, boom)
	assert.Empty(t, valueKeys(t, c, prefix(t)))
	v, err := m.Get(context.Background(), "k")
	require.NoError(t, err)
	assert.Equal(t, "ok", v.Pair)
}

// Keyed memos use their KeyFunc's form as the Redis key.
func TestKeyedMemoSharesThroughItsKeyFunc(t *testing.T) {
	type query struct{ Terms []string }
	c := client(t)
	var a, b atomic.Int64
	mk := func(calls *atomic.Int64) *memo.Memo[query, int] {
		return memo.MemoizeKeyed(func(_ context.Context, q query) (int, error) {
			calls.Add(1)
			return len(q.Terms), nil
		}, memo.CanonicalKey, memo.WithTier(memoredis.New[int](c, prefix(t), nil)))
	}
	ma, mb := mk(&a), mk(&b)
	_, _ = ma.Get(context.Background(), query{[]string{"a", "b"}})
	v, _ := mb.Get(context.Background(), query{[]string{"a", "b"}})
	assert.Equal(t, 2, v)
	assert.Equal(t, int64(0), b.Load())
}
