package memo_test

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
)

// These tests pin down what a memo does with input that a careless or
// malicious caller can pass: a context that already ended, a nil context,
// keys that cannot be hashed, NaN keys, absurd TTLs.

// storeKinds builds one memo of each store over the same fn, so that a
// promise of the core is checked on every store.
func storeKinds(fn func(context.Context, int) (*int, error), opts ...memo.Option) map[string]*memo.Memo[int, *int] {
	keyed := func(dst []byte, k int) []byte { return append(dst, byte(k), byte(k>>8), byte(k>>16), byte(k>>24)) }
	return map[string]*memo.Memo[int, *int]{
		"map":         memo.Memoize(fn, opts...),
		"lru":         memo.Memoize(fn, append(opts, memo.WithCapacity(4))...),
		"weak":        memo.MemoizeWeak(fn, opts...),
		"weak-window": memo.MemoizeWeak(fn, append(opts, memo.WithCapacity(4))...),
		"keyed":       memo.MemoizeKeyed(fn, keyed, opts...),
		"keyed-lru":   memo.MemoizeKeyed(fn, keyed, append(opts, memo.WithCapacity(4))...),
	}
}

func TestGetWithEndedContextNeverCallsFn(t *testing.T) {
	var calls atomic.Int64
	fn := func(_ context.Context, k int) (*int, error) { calls.Add(1); return &k, nil }
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	for name, m := range storeKinds(fn) {
		t.Run(name, func(t *testing.T) {
			calls.Store(0)
			for range 20 {
				v, err := m.Get(dead, 1)
				assert.ErrorIs(t, err, context.Canceled)
				assert.Nil(t, v)
			}
			assert.Zero(t, calls.Load(), "a Get that has given up started fn")
			assert.Zero(t, m.Len(), "a load nobody asked for was stored")
			assert.Equal(t, memo.Stats{Capacity: m.Stats().Capacity}, m.Stats())

			// A present key is still answered from the cache.
			v, err := m.Get(context.Background(), 2)
			require.NoError(t, err)
			got, err := m.Get(dead, 2)
			require.NoError(t, err)
			assert.Same(t, v, got)
			assert.Equal(t, int64(1), calls.Load())
			_ = *v // keeps the weak value alive until here
		})
	}
}

func TestGetWithEndedContextDoesNotJoinACallInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		m := memo.Memoize(func(context.Context, int) (int, error) { <-release; return 7, nil })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.Get(ctx, 1)
		synctest.Wait()
		dead, stop := context.WithCancel(context.Background())
		stop()
		_, err := m.Get(dead, 1)
		assert.ErrorIs(t, err, context.Canceled)
		close(release)
		synctest.Wait()
		v, err := m.Get(context.Background(), 1)
		require.NoError(t, err)
		assert.Equal(t, 7, v)
		st := m.Stats()
		assert.Equal(t, memo.Stats{Hits: 1, Misses: 1, Loads: 1, Len: 1}, st, st.String())
	})
}

func TestNilContextPanicsAndLeavesTheMemoUsable(t *testing.T) {
	fn := func(_ context.Context, k int) (*int, error) { return &k, nil }
	for name, m := range storeKinds(fn) {
		t.Run(name, func(t *testing.T) {
			//lint:ignore SA1012 the point of the test
			assert.PanicsWithValue(t, "memo: Get called with a nil context.Context (use context.Background())",
				func() { m.Get(nil, 1) }) //nolint:staticcheck
			v, err := m.Get(context.Background(), 1)
			require.NoError(t, err)
			assert.Equal(t, 1, *v)
			assert.Equal(t, 1, m.Len())
			m.Set(2, v)
			m.Forget(2)
			m.Clear()
			assert.Zero(t, m.Len())
		})
	}
}

func TestUnhashableKeyPanicsAndLeavesTheMemoUsable(t *testing.T) {
	fn := func(_ context.Context, k any) (int, error) { return 1, nil }
	for name, m := range map[string]*memo.Memo[any, int]{
		"map": memo.Memoize(fn),
		"lru": memo.Memoize(fn, memo.WithCapacity(4)),
		"ttl": memo.Memoize(fn, memo.WithTTL(time.Hour)),
	} {
		t.Run(name, func(t *testing.T) {
			bad := []int{1}
			assert.Panics(t, func() { m.Set(bad, 1) })
			assert.Panics(t, func() { m.Forget(bad) })
			assert.Panics(t, func() { m.Get(context.Background(), bad) })
			assert.Panics(t, func() { m.Peek(bad) })

			done := make(chan struct{})
			go func() {
				defer close(done)
				m.Set("a", 2)
				v, err := m.Get(context.Background(), "b")
				assert.NoError(t, err)
				assert.Equal(t, 1, v)
				assert.Equal(t, 2, m.Len())
				m.Forget("a")
				assert.Equal(t, uint64(1), m.Stats().Loads)
				m.Clear()
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the memo stayed locked after a panic on a bad key")
			}
		})
	}
}

func TestHugeTTLSaturatesInsteadOfOverflowing(t *testing.T) {
	for _, ttl := range []time.Duration{math.MaxInt64, math.MaxInt64 - 1, 1 << 62} {
		var calls atomic.Int64
		fn := func(_ context.Context, k int) (*int, error) { calls.Add(1); return &k, nil }
		for name, m := range storeKinds(fn, memo.WithTTL(ttl)) {
			v, err := m.Get(context.Background(), 1)
			require.NoError(t, err, name)
			_, err = m.Get(context.Background(), 1)
			require.NoError(t, err, name)
			assert.Equal(t, uint64(1), m.Stats().Hits, "%s with WithTTL(%d) cached nothing", name, ttl)
			_ = *v
		}
		assert.Equal(t, int64(len(storeKinds(fn))), calls.Load())
	}
}

func TestAnExpiredEntryCountsAsExpiredWhateverRemovesIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, capacity := range []int{0, 4} {
			var reasons []memo.EvictReason
			m := memo.Memoize(func(_ context.Context, k int) (int, error) { return k, nil },
				memo.WithTTL(time.Second), memo.WithCapacity(capacity),
				memo.WithOnEvict(func(_ int, _ int, r memo.EvictReason) { reasons = append(reasons, r) }))
			ctx := context.Background()
			m.Get(ctx, 1)
			m.Get(ctx, 2)
			m.Get(ctx, 3)
			time.Sleep(2 * time.Second)
			m.Forget(1)
			m.Set(2, 20)
			// The map store also sweeps key 3 on the Set; the LRU leaves it.
			st := m.Stats()
			assert.GreaterOrEqual(t, len(reasons), 2)
			assert.Equal(t, uint64(len(reasons)), st.Expirations, "cap %d: %s", capacity, st)
			for _, r := range reasons {
				assert.Equal(t, memo.Expired, r, "cap %d", capacity)
			}
		}
	})
}
