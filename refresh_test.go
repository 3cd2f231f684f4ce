package memo_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
)

// upstream is a slow dependency for the tests of expensive calls: each call
// sleeps delay on the synctest clock, then returns the key's next version
// ("k#1", "k#2", ...) or, while fail is set, that error.
type upstream struct {
	delay time.Duration

	mu    sync.Mutex
	calls map[string]int
	fail  error
	ctxs  []context.Context // the context of every call, in order
}

func newUpstream(delay time.Duration) *upstream {
	return &upstream{delay: delay, calls: map[string]int{}}
}

func (u *upstream) fetch(ctx context.Context, k string) (string, error) {
	u.mu.Lock()
	u.calls[k]++
	n, fail := u.calls[k], u.fail
	u.ctxs = append(u.ctxs, ctx)
	u.mu.Unlock()
	time.Sleep(u.delay)
	if fail != nil {
		return "", fail
	}
	return fmt.Sprintf("%s#%d", k, n), nil
}

func (u *upstream) n(k string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[k]
}

func (u *upstream) failWith(err error) {
	u.mu.Lock()
	u.fail = err
	u.mu.Unlock()
}

func (u *upstream) lastCtx() context.Context {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ctxs[len(u.ctxs)-1]
}

// timedGet returns what Get returned and how long it took on the synctest
// clock: 0 when it did not wait for fn.
func timedGet(t *testing.T, m *memo.Memo[string, string], ctx context.Context, k string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	v, err := m.Get(ctx, k)
	require.NoError(t, err)
	return v, time.Since(start)
}

func TestRefreshServesTheOldValueAtOnceAndReloadsInTheBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(time.Second)
		m := memo.Memoize(u.fetch, memo.WithTTL(time.Minute), memo.WithRefresh(50*time.Second))
		ctx := context.Background()
		v, took := timedGet(t, m, ctx, "a")
		assert.Equal(t, "a#1", v)
		assert.Equal(t, time.Second, took, "the first load waits for fn")

		time.Sleep(49 * time.Second)
		v, took = timedGet(t, m, ctx, "a")
		assert.Equal(t, "a#1", v)
		assert.Zero(t, took)
		synctest.Wait()
		assert.Equal(t, 1, u.n("a"), "younger than the refresh age: no reload")

		time.Sleep(time.Second)
		synctest.Wait() // a reload ending at this instant has ended
		v, took = timedGet(t, m, ctx, "a")
		assert.Equal(t, "a#1", v, "a due entry is served at once")
		assert.Zero(t, took)
		synctest.Wait()
		assert.Equal(t, 2, u.n("a"), "and reloaded in the background")

		time.Sleep(time.Second) // the reload ends
		synctest.Wait()         // a reload ending at this instant has ended
		got, ok := m.Peek("a")
		require.True(t, ok)
		assert.Equal(t, "a#2", got)
		time.Sleep(55 * time.Second) // past the first value's TTL, within the reload's
		got, ok = m.Peek("a")
		assert.True(t, ok, "the reloaded value has a fresh TTL")
		assert.Equal(t, "a#2", got)

		st := m.Stats()
		assert.Equal(t, memo.Stats{Hits: 2, Misses: 1, Loads: 2, Refreshes: 1, LoadTime: 2 * time.Second, Len: 1}, st, st.String())
	})
}

func TestRefreshStartsOneReloadPerKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(time.Second)
		m := memo.Memoize(u.fetch, memo.WithTTL(time.Minute), memo.WithRefresh(30*time.Second))
		ctx := context.Background()
		_, _ = m.Get(ctx, "a")
		time.Sleep(30 * time.Second)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				v, err := m.Get(ctx, "a")
				assert.NoError(t, err)
				assert.Equal(t, "a#1", v)
			})
		}
		wg.Wait()
		synctest.Wait()
		assert.Equal(t, 2, u.n("a"), "50 hits on a due entry start one reload")
		time.Sleep(time.Second)
		synctest.Wait() // a reload ending at this instant has ended
		st := m.Stats()
		assert.Equal(t, uint64(1), st.Refreshes, st.String())
		assert.Equal(t, uint64(50), st.Hits, st.String())
	})
}

func TestSteadilyUsedKeyNeverWaitsAfterItsFirstLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(2 * time.Second)
		m := memo.Memoize(u.fetch, memo.WithTTL(time.Minute), memo.WithRefresh(50*time.Second))
		ctx := context.Background()
		_, took := timedGet(t, m, ctx, "a")
		require.Equal(t, 2*time.Second, took)
		for i := range 600 { // 50 minutes, a Get every 5s, so within every refresh window
			time.Sleep(5 * time.Second)
			_, took = timedGet(t, m, ctx, "a")
			assert.Zero(t, took, "Get %d waited for fn", i)
		}
		st := m.Stats()
		assert.Equal(t, uint64(1), st.Misses, st.String())
		assert.Equal(t, st.Loads-1, st.Refreshes, st.String())
	})
}

func TestGetMissingDuringRefreshJoinsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(20 * time.Second) // the reload outlives the entry
		m := memo.Memoize(u.fetch, memo.WithTTL(time.Minute), memo.WithRefresh(50*time.Second))
		ctx := context.Background()
		_, _ = m.Get(ctx, "a")       // stored at 20s, expires at 80s
		time.Sleep(50 * time.Second) // 70s: due
		_, _ = m.Get(ctx, "a")       // the reload runs until 90s
		time.Sleep(15 * time.Second) // 85s: expired, reload in flight
		v, took := timedGet(t, m, ctx, "a")
		assert.Equal(t, "a#2", v, "the Get that missed got the reload's value")
		assert.Equal(t, 5*time.Second, took, "it waited for the reload, not for a new call")
		assert.Equal(t, 2, u.n("a"))
		st := m.Stats()
		assert.Equal(t, memo.Stats{Hits: 1, Misses: 2, Loads: 2, Shared: 1, Refreshes: 1, Expirations: 1, LoadTime: 40 * time.Second, Len: 1}, st, st.String())
	})
}

func TestGetThatJoinedARefreshAndGaveUpDoesNotCancelIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(20 * time.Second)
		m := memo.Memoize(u.fetch, memo.WithTTL(time.Minute), memo.WithRefresh(50*time.Second))
		_, _ = m.Get(context.Background(), "a")
		time.Sleep(50 * time.Second)
		_, _ = m.Get(context.Background(), "a")
		time.Sleep(15 * time.Second)
		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := m.Get(short, "a")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NoError(t, u.lastCtx().Err(), "the reload goes on")
		time.Sleep(5 * time.Second)
		v, ok := m.Peek("a")
		assert.True(t, ok)
		assert.Equal(t, "a#2", v)
	})
}

func TestFailedRefreshKeepsTheOldValueUntilItsTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(time.Second)
		m := memo.Memoize(u.fetch, memo.WithTTL(time.Minute), memo.WithRefresh(30*time.Second),
			memo.WithErrorTTL(time.Hour)) // a failed reload's error is not cached either
		ctx := context.Background()
		_, _ = m.Get(ctx, "a") // stored at 1s
		u.failWith(errors.New("upstream down"))
		time.Sleep(30 * time.Second)
		v, _ := timedGet(t, m, ctx, "a")
		assert.Equal(t, "a#1", v)
		time.Sleep(2 * time.Second) // the reload failed
		st := m.Stats()
		assert.Equal(t, uint64(1), st.LoadErrors, st.String())
		for range 5 {
			v, _ = timedGet(t, m, ctx, "a")
			assert.Equal(t, "a#1", v, "the old value is served until its TTL")
			time.Sleep(5 * time.Second)
		}
		assert.Equal(t, 2, u.n("a"), "a failed reload is not retried before the entry expires")

		time.Sleep(time.Minute) // expired
		u.failWith(nil)
		v, took := timedGet(t, m, ctx, "a")
		assert.Equal(t, "a#3", v)
		assert.Equal(t, time.Second, took, "after its TTL the key is loaded by the Get that misses")
	})
}

func TestInvalidationDuringRefreshWins(t *testing.T) {
	for _, tc := range []struct {
		name       string
		invalidate func(m *memo.Memo[string, string])
		want       string // "" for no entry
	}{
		{"Forget", func(m *memo.Memo[string, string]) { m.Forget("a") }, ""},
		{"Set", func(m *memo.Memo[string, string]) { m.Set("a", "set") }, "set"},
		{"Clear", func(m *memo.Memo[string, string]) { m.Clear() }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := newUpstream(time.Second)
				m := memo.Memoize(u.fetch, memo.WithTTL(time.Minute), memo.WithRefresh(30*time.Second))
				ctx := context.Background()
				_, _ = m.Get(ctx, "a")
				time.Sleep(30 * time.Second)
				_, _ = m.Get(ctx, "a")
				synctest.Wait() // the reload is in fn
				tc.invalidate(m)
				time.Sleep(time.Second) // the reload ends
				synctest.Wait()         // a reload ending at this instant has ended
				v, ok := m.Peek("a")
				assert.Equal(t, tc.want != "", ok, "entry after the reload ended")
				assert.Equal(t, tc.want, v, "the reload's value is not stored")
				if tc.want == "" {
					v, took := timedGet(t, m, ctx, "a")
					assert.Equal(t, "a#3", v, "the next Get starts a new call")
					assert.Equal(t, time.Second, took)
				}
			})
		})
	}
}

type valueKey struct{}

func TestRefreshContextCarriesTheGetsValuesNotItsCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(time.Second)
		m := memo.Memoize(u.fetch, memo.WithTTL(time.Minute), memo.WithRefresh(30*time.Second))
		_, _ = m.Get(context.Background(), "a")
		time.Sleep(30 * time.Second)
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), valueKey{}, "request-7"))
		_, _ = m.Get(ctx, "a")
		cancel()
		synctest.Wait()
		rctx := u.lastCtx()
		assert.Equal(t, "request-7", rctx.Value(valueKey{}))
		assert.NoError(t, rctx.Err(), "the triggering Get's cancellation does not reach the reload")
		_, hasDeadline := rctx.Deadline()
		assert.False(t, hasDeadline)
		time.Sleep(time.Second)
		synctest.Wait() // a reload ending at this instant has ended
		v, _ := m.Peek("a")
		assert.Equal(t, "a#2", v)
	})
}

func TestGetWithAnEndedContextStartsNoRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(time.Second)
		m := memo.Memoize(u.fetch, memo.WithTTL(time.Minute), memo.WithRefresh(30*time.Second))
		_, _ = m.Get(context.Background(), "a")
		time.Sleep(30 * time.Second)
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		v, err := m.Get(ended, "a")
		require.NoError(t, err)
		assert.Equal(t, "a#1", v, "a live value is still served")
		synctest.Wait()
		assert.Equal(t, 1, u.n("a"))
		_, _ = m.Get(context.Background(), "a")
		synctest.Wait()
		assert.Equal(t, 2, u.n("a"), "the next Get starts the reload")
		time.Sleep(time.Second)
		synctest.Wait() // a reload ending at this instant has ended
	})
}

func TestRefreshWithoutTTLReloadsEntriesThatNeverExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(time.Second)
		m := memo.Memoize(u.fetch, memo.WithRefresh(time.Hour))
		ctx := context.Background()
		_, _ = m.Get(ctx, "a")
		time.Sleep(1000 * time.Hour)
		v, took := timedGet(t, m, ctx, "a")
		assert.Equal(t, "a#1", v, "never expires")
		assert.Zero(t, took)
		time.Sleep(time.Second)
		synctest.Wait() // a reload ending at this instant has ended
		v, _ = m.Peek("a")
		assert.Equal(t, "a#2", v, "but is reloaded once older than the refresh age")
	})
}

// Every kind of memo that refreshes: the map store, the LRU, MemoizeKeyed,
// Memoize2.
func TestRefreshWorksWithEveryStrongMemo(t *testing.T) {
	opts := []memo.Option{memo.WithTTL(time.Minute), memo.WithRefresh(30 * time.Second)}
	type getter func(ctx context.Context) (string, error)
	for _, tc := range []struct {
		name string
		make func(u *upstream) getter
	}{
		{"map", func(u *upstream) getter {
			m := memo.Memoize(u.fetch, opts...)
			return func(ctx context.Context) (string, error) { return m.Get(ctx, "a") }
		}},
		{"LRU", func(u *upstream) getter {
			m := memo.Memoize(u.fetch, append(opts, memo.WithCapacity(10))...)
			return func(ctx context.Context) (string, error) { return m.Get(ctx, "a") }
		}},
		{"keyed", func(u *upstream) getter {
			m := memo.MemoizeKeyed(func(ctx context.Context, k []string) (string, error) { return u.fetch(ctx, k[0]) },
				memo.CanonicalKey[[]string], opts...)
			return func(ctx context.Context) (string, error) { return m.Get(ctx, []string{"a"}) }
		}},
		{"keyed LRU", func(u *upstream) getter {
			m := memo.MemoizeKeyed(func(ctx context.Context, k []string) (string, error) { return u.fetch(ctx, k[0]) },
				memo.CanonicalKey[[]string], append(opts, memo.WithCapacity(10))...)
			return func(ctx context.Context) (string, error) { return m.Get(ctx, []string{"a"}) }
		}},
		{"Memoize2", func(u *upstream) getter {
			m := memo.Memoize2(func(ctx context.Context, a string, _ int) (string, error) { return u.fetch(ctx, a) }, opts...)
			return func(ctx context.Context) (string, error) { return m.Get(ctx, "a", 1) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := newUpstream(time.Second)
				get := tc.make(u)
				ctx := context.Background()
				_, _ = get(ctx)
				time.Sleep(30 * time.Second)
				start := time.Now()
				v, err := get(ctx)
				require.NoError(t, err)
				assert.Equal(t, "a#1", v)
				assert.Zero(t, time.Since(start))
				time.Sleep(time.Second)
				synctest.Wait() // a reload ending at this instant has ended
				v, _ = get(ctx)
				assert.Equal(t, "a#2", v)
				assert.Equal(t, 2, u.n("a"))
			})
		})
	}
}

// countingTier is a Tier that calls load every time and counts its fetches.
type countingTier struct {
	mu      sync.Mutex
	fetches int
}

func (c *countingTier) Fetch(ctx context.Context, _ string, load func(context.Context) (string, error)) (string, error) {
	c.mu.Lock()
	c.fetches++
	c.mu.Unlock()
	return load(ctx)
}
func (c *countingTier) Set(string, string)    {}
func (c *countingTier) Forget(string)         {}
func (c *countingTier) Clear()                {}
func (c *countingTier) Stats() memo.TierStats { return memo.TierStats{} }

func TestRefreshGoesThroughTheTier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUpstream(time.Second)
		tier := &countingTier{}
		m := memo.Memoize(u.fetch, memo.WithTTL(time.Minute), memo.WithRefresh(30*time.Second), memo.WithTier[string](tier))
		_, _ = m.Get(context.Background(), "a")
		time.Sleep(30 * time.Second)
		_, _ = m.Get(context.Background(), "a")
		time.Sleep(time.Second)
		synctest.Wait() // a reload ending at this instant has ended
		tier.mu.Lock()
		defer tier.mu.Unlock()
		assert.Equal(t, 2, tier.fetches)
	})
}

func TestRefreshMeaninglessCombinationsPanic(t *testing.T) {
	fn := func(context.Context, int) (int, error) { return 0, nil }
	assert.PanicsWithValue(t, "memo: WithRefresh(1m0s) must be shorter than WithTTL(1m0s): an entry would expire before it is refreshed", func() {
		memo.Memoize(fn, memo.WithRefresh(time.Minute), memo.WithTTL(time.Minute))
	})
	assert.PanicsWithValue(t, "memo: WithRefresh(1s) and WithTTLFunc cannot be combined: a refresh age is measured against WithTTL's single TTL", func() {
		memo.Memoize(fn, memo.WithRefresh(time.Second), memo.WithTTLFunc(func(int, int) time.Duration { return time.Minute }))
	})
	assert.Panics(t, func() { memo.WithRefresh(-time.Second) })
	assert.PanicsWithValue(t, "memo: WithRefresh cannot be used with MemoizeWeak: a weak entry lives as long as its callers hold the value, and a reload would split them between two values", func() {
		memo.MemoizeWeak(func(context.Context, int) (*[64]byte, error) { return new([64]byte), nil }, memo.WithRefresh(time.Second))
	})
	assert.NotPanics(t, func() { memo.Memoize(fn, memo.WithRefresh(0), memo.WithTTL(time.Minute)) }, "0 means no refresh")
}

func TestLoadTimeSumsTheTimeSpentInFn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		delays := map[int]time.Duration{1: 3 * time.Second, 2: 5 * time.Second, 3: 7 * time.Second}
		m := memo.Memoize(func(_ context.Context, k int) (int, error) {
			time.Sleep(delays[k])
			if k == 3 {
				return 0, errors.New("failed slowly")
			}
			return k, nil
		})
		ctx := context.Background()
		for range 3 {
			for k := 1; k <= 3; k++ {
				_, _ = m.Get(ctx, k)
			}
		}
		st := m.Stats()
		assert.Equal(t, 3*time.Second+5*time.Second+3*7*time.Second, st.LoadTime, "every load counts, failed ones too; hits add nothing")
		m.Clear()
		assert.Zero(t, m.Stats().LoadTime)
	})
}
