package memo_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
)

var errDown = errors.New("upstream down")

func TestErrorTTLCachesAnErrorThenLetsItExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(time.Second)
		u.failWith(errDown)
		m := memo.Memoize(u.fetch, memo.WithErrorTTL(10*time.Second))
		ctx := context.Background()
		_, err := m.Get(ctx, "a")
		require.ErrorIs(t, err, errDown)
		for range 5 {
			time.Sleep(time.Second)
			start := time.Now()
			_, err = m.Get(ctx, "a")
			assert.ErrorIs(t, err, errDown, "the cached error is returned")
			assert.Zero(t, time.Since(start), "without calling fn")
		}
		assert.Equal(t, 1, u.n("a"))
		_, ok := m.Peek("a")
		assert.False(t, ok, "Peek does not show a cached error")
		assert.Zero(t, m.Len())
		st := m.Stats()
		assert.Equal(t, memo.Stats{Hits: 5, Misses: 1, Loads: 1, LoadErrors: 1, LoadTime: time.Second}, st, st.String())

		time.Sleep(5 * time.Second) // 10s after the error was cached
		u.failWith(nil)
		v, err := m.Get(ctx, "a")
		require.NoError(t, err, "after its TTL the error is gone and fn is called again")
		assert.Equal(t, "a#2", v)
	})
}

func TestForgetSetAndClearDropACachedError(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(m *memo.Memo[string, string])
		want string
	}{
		{"Forget", func(m *memo.Memo[string, string]) { m.Forget("a") }, "a#2"},
		{"Set", func(m *memo.Memo[string, string]) { m.Set("a", "set") }, "set"},
		{"Clear", func(m *memo.Memo[string, string]) { m.Clear() }, "a#2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := newUpstream(0)
				u.failWith(errDown)
				m := memo.Memoize(u.fetch, memo.WithErrorTTL(time.Hour))
				_, err := m.Get(context.Background(), "a")
				require.ErrorIs(t, err, errDown)
				u.failWith(nil)
				tc.drop(m)
				v, err := m.Get(context.Background(), "a")
				require.NoError(t, err)
				assert.Equal(t, tc.want, v)
			})
		})
	}
}

func TestErrorTTLNeverCachesPanicsGoexitOrAnAbandonedCall(t *testing.T) {
	t.Run("panic", func(t *testing.T) {
		var calls atomic.Int32
		m := memo.Memoize(func(context.Context, int) (int, error) { calls.Add(1); panic("boom") }, memo.WithErrorTTL(time.Hour))
		assert.Panics(t, func() { _, _ = m.Get(context.Background(), 1) })
		assert.Panics(t, func() { _, _ = m.Get(context.Background(), 1) })
		assert.Equal(t, int32(2), calls.Load())
	})
	t.Run("Goexit", func(t *testing.T) {
		var calls atomic.Int32
		m := memo.Memoize(func(context.Context, int) (int, error) { calls.Add(1); runtime.Goexit(); return 0, nil }, memo.WithErrorTTL(time.Hour))
		for range 2 {
			ctx, cancel := context.WithCancel(context.Background()) // fn runs on a goroutine of its own
			_, err := m.Get(ctx, 1)
			cancel()
			assert.ErrorIs(t, err, memo.ErrGoexit)
		}
		assert.Equal(t, int32(2), calls.Load())
	})
	t.Run("every caller gave up", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var calls atomic.Int32
			m := memo.Memoize(func(ctx context.Context, _ int) (int, error) {
				if calls.Add(1) == 1 {
					<-ctx.Done() // canceled because its only caller gave up
					return 0, ctx.Err()
				}
				return 7, nil
			}, memo.WithErrorTTL(time.Hour))
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := m.Get(ctx, 1)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			synctest.Wait() // fn returned its context's error
			v, err := m.Get(context.Background(), 1)
			require.NoError(t, err, "the error of an abandoned call is not cached")
			assert.Equal(t, 7, v)
		})
	})
}

func TestErrorTTLWorksWithKeyedAndWeakMemos(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var keyedCalls, weakCalls int
		keyed := memo.MemoizeKeyed(func(context.Context, []string) (int, error) { keyedCalls++; return 0, errDown },
			memo.CanonicalKey[[]string], memo.WithErrorTTL(time.Minute))
		weak := memo.MemoizeWeak(func(context.Context, int) (*[64]byte, error) { weakCalls++; return nil, errDown },
			memo.WithErrorTTL(time.Minute))
		for range 3 {
			_, err := keyed.Get(context.Background(), []string{"x"})
			assert.ErrorIs(t, err, errDown)
			_, err = weak.Get(context.Background(), 1)
			assert.ErrorIs(t, err, errDown)
		}
		assert.Equal(t, 1, keyedCalls)
		assert.Equal(t, 1, weakCalls)
		time.Sleep(time.Minute)
		_, _ = keyed.Get(context.Background(), []string{"x"})
		_, _ = weak.Get(context.Background(), 1)
		assert.Equal(t, 2, keyedCalls)
		assert.Equal(t, 2, weakCalls)
	})
}

func TestErrorTTLRejectsANegativeDuration(t *testing.T) {
	assert.PanicsWithValue(t, "memo: WithErrorTTL(-1s): the error TTL must be >= 0 (0 means errors are not cached)", func() { memo.WithErrorTTL(-time.Second) })
}
