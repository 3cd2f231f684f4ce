package memo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
)

// counted returns fn wrapped so that it counts its calls per key.
type counted[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]int
	fn    func(context.Context, K) (V, error)
}

func count[K comparable, V any](fn func(context.Context, K) (V, error)) *counted[K, V] {
	return &counted[K, V]{calls: map[K]int{}, fn: fn}
}

func (c *counted[K, V]) load(ctx context.Context, k K) (V, error) {
	c.mu.Lock()
	c.calls[k]++
	c.mu.Unlock()
	return c.fn(ctx, k)
}

func (c *counted[K, V]) n(k K) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[k]
}

func (c *counted[K, V]) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, n := range c.calls {
		t += n
	}
	return t
}

func square(_ context.Context, k int) (int, error) { return k * k, nil }

// contexts under which every collapsed-miss test runs: a caller whose context
// can never be done (fn runs on its goroutine) and one whose context can (fn
// runs on a goroutine of its own).
var contexts = []struct {
	name string
	ctx  func() (context.Context, context.CancelFunc)
}{
	{"background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
	{"cancelable", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
}

func TestGetCallsFnOncePerKey(t *testing.T) {
	c := count(square)
	m := memo.Memoize(c.load)
	ctx := context.Background()
	for range 3 {
		for k := range 10 {
			v, err := m.Get(ctx, k)
			require.NoError(t, err)
			assert.Equal(t, k*k, v)
		}
	}
	for k := range 10 {
		assert.Equal(t, 1, c.n(k), "calls of fn for key %d", k)
	}
	st := m.Stats()
	st.LoadTime = 0 // LoadTime is the real time spent in fn here (no synctest clock)
	assert.Equal(t, memo.Stats{Hits: 20, Misses: 10, Loads: 10, Len: 10}, st, st.String())
	assert.Equal(t, 10, m.Len())
}

func TestFuncIsADropInReplacement(t *testing.T) {
	c := count(square)
	var f func(context.Context, int) (int, error) = memo.Memoize(c.load).Func()
	v, err := f(context.Background(), 7)
	require.NoError(t, err)
	assert.Equal(t, 49, v)
	_, _ = f(context.Background(), 7)
	assert.Equal(t, 1, c.n(7))
}

func TestStructKeysAreComparedByValue(t *testing.T) {
	type point struct{ X, Y int }
	c := count(func(_ context.Context, p point) (int, error) { return p.X + p.Y, nil })
	m := memo.Memoize(c.load)
	ctx := context.Background()
	_, _ = m.Get(ctx, point{1, 2})
	_, _ = m.Get(ctx, point{1, 2})
	v, _ := m.Get(ctx, point{2, 1})
	assert.Equal(t, 3, v)
	assert.Equal(t, 1, c.n(point{1, 2}))
	assert.Equal(t, 1, c.n(point{2, 1}))
}

func TestPeekNeverLoadsAndLeavesStatsAlone(t *testing.T) {
	c := count(square)
	m := memo.Memoize(c.load)
	_, ok := m.Peek(3)
	assert.False(t, ok)
	_, _ = m.Get(context.Background(), 3)
	v, ok := m.Peek(3)
	assert.True(t, ok)
	assert.Equal(t, 9, v)
	assert.Equal(t, 1, c.total())
	st := m.Stats()
	st.LoadTime = 0 // LoadTime is the real time spent in fn here (no synctest clock)
	assert.Equal(t, memo.Stats{Misses: 1, Loads: 1, Len: 1}, st)
}

func TestSetPrimesTheCache(t *testing.T) {
	c := count(square)
	m := memo.Memoize(c.load)
	m.Set(4, 100)
	v, err := m.Get(context.Background(), 4)
	require.NoError(t, err)
	assert.Equal(t, 100, v)
	assert.Equal(t, 0, c.total())
	m.Set(4, 200) // replaces
	v, _ = m.Get(context.Background(), 4)
	assert.Equal(t, 200, v)
	assert.Equal(t, 1, m.Len())
}

func TestForgetDropsOneEntry(t *testing.T) {
	c := count(square)
	m := memo.Memoize(c.load)
	ctx := context.Background()
	_, _ = m.Get(ctx, 1)
	_, _ = m.Get(ctx, 2)
	m.Forget(1)
	m.Forget(99) // absent: no effect
	assert.Equal(t, 1, m.Len())
	_, ok := m.Peek(1)
	assert.False(t, ok)
	_, _ = m.Get(ctx, 1)
	_, _ = m.Get(ctx, 2)
	assert.Equal(t, 2, c.n(1))
	assert.Equal(t, 1, c.n(2))
}

func TestClearDropsEntriesAndResetsStats(t *testing.T) {
	c := count(square)
	m := memo.Memoize(c.load)
	ctx := context.Background()
	for k := range 5 {
		_, _ = m.Get(ctx, k)
		_, _ = m.Get(ctx, k)
	}
	m.Clear()
	assert.Equal(t, memo.Stats{}, m.Stats())
	assert.Equal(t, 0, m.Len())
	_, _ = m.Get(ctx, 0)
	assert.Equal(t, 2, c.n(0))
	st := m.Stats()
	st.LoadTime = 0 // LoadTime is the real time spent in fn here (no synctest clock)
	assert.Equal(t, memo.Stats{Misses: 1, Loads: 1, Len: 1}, st)
}

func TestStatsStringNamesEveryCounter(t *testing.T) {
	s := memo.Stats{Hits: 9, Misses: 1, Loads: 1, LoadErrors: 2, Shared: 3, Evictions: 4, Expirations: 5, Collected: 6, Refreshes: 7, LoadTime: 1500 * time.Millisecond, Len: 7, Capacity: 8}
	assert.Equal(t, "hits=9 misses=1 (90.0% hits) loads=1 load-errors=2 shared=3 evictions=4 expirations=5 collected=6 refreshes=7 load-time=1.5s len=7 cap=8", s.String())
	assert.Contains(t, memo.Stats{}.String(), "cap=unbounded")
}

func TestHitRatio(t *testing.T) {
	assert.Equal(t, 0.0, memo.Stats{}.HitRatio())
	assert.Equal(t, 0.75, memo.Stats{Hits: 3, Misses: 1}.HitRatio())
}

func TestRecursiveFunctionCallsFnOncePerKey(t *testing.T) {
	for _, tc := range contexts {
		t.Run(tc.name, func(t *testing.T) {
			var calls [91]atomic.Int32
			var fib *memo.Memo[int, uint64]
			fib = memo.Memoize(func(ctx context.Context, n int) (uint64, error) {
				calls[n].Add(1)
				if n < 2 {
					return uint64(n), nil
				}
				a, err := fib.Get(ctx, n-1)
				if err != nil {
					return 0, err
				}
				b, err := fib.Get(ctx, n-2)
				return a + b, err
			})
			ctx, cancel := tc.ctx()
			defer cancel()
			v, err := fib.Get(ctx, 90)
			require.NoError(t, err)
			assert.Equal(t, uint64(2880067194370816120), v)
			for n := range calls {
				assert.Equal(t, int32(1), calls[n].Load(), "calls of fib(%d)", n)
			}
			st := fib.Stats()
			assert.Equal(t, uint64(91), st.Loads, st.String())
			// fib(n-2) is cached once fib(n-1) returns, for n >= 3.
			assert.Equal(t, uint64(88), st.Hits, st.String())
		})
	}
}

func TestConstructionPanicsOnProgrammerErrors(t *testing.T) {
	assert.PanicsWithValue(t, "memo: Memoize called with a nil fn", func() {
		memo.Memoize[int, int](nil)
	})
	assert.PanicsWithValue(t, "memo: WithCapacity(-1): capacity must be >= 0 (0 means unbounded)", func() {
		memo.WithCapacity(-1)
	})
	assert.PanicsWithValue(t, "memo: WithTTL(-1s): TTL must be >= 0 (0 means no expiry)", func() {
		memo.WithTTL(-time.Second)
	})
	assert.PanicsWithValue(t, "memo: nil Option", func() {
		memo.Memoize(square, nil)
	})
}

// gate is a loader that blocks until released, so that a test can line up
// callers behind one call of fn.
type gate struct {
	release chan struct{}
	calls   atomic.Int32
	val     func(k int) (int, error)
}

func newGate() *gate {
	return &gate{release: make(chan struct{}), val: func(k int) (int, error) { return k * 10, nil }}
}

func (g *gate) load(ctx context.Context, k int) (int, error) {
	g.calls.Add(1)
	<-g.release
	return g.val(k)
}

// Promise 1: N goroutines that miss on one key while fn runs share one call.
func TestConcurrentMissesShareOneCall(t *testing.T) {
	for _, tc := range contexts {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 50
				g := newGate()
				m := memo.Memoize(g.load)
				ctx, cancel := tc.ctx()
				defer cancel()
				results := make(chan int, n)
				for range n {
					go func() {
						v, err := m.Get(ctx, 7)
						assert.NoError(t, err)
						results <- v
					}()
				}
				synctest.Wait() // every caller is blocked on the one call
				assert.Equal(t, int32(1), g.calls.Load())
				close(g.release)
				for range n {
					assert.Equal(t, 70, <-results)
				}
				st := m.Stats()
				assert.Equal(t, memo.Stats{Misses: n, Loads: 1, Shared: n - 1, Len: 1}, st, st.String())
			})
		})
	}
}

// Promise 2: an error reaches every waiter and is not stored.
func TestErrorsReachEveryWaiterAndAreNotCached(t *testing.T) {
	for _, tc := range contexts {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				boom := errors.New("upstream down")
				g := newGate()
				g.val = func(int) (int, error) { return 0, boom }
				m := memo.Memoize(g.load)
				ctx, cancel := tc.ctx()
				defer cancel()
				errs := make(chan error, 5)
				for range 5 {
					go func() {
						_, err := m.Get(ctx, 1)
						errs <- err
					}()
				}
				synctest.Wait()
				close(g.release)
				for range 5 {
					assert.ErrorIs(t, <-errs, boom)
				}
				assert.Equal(t, 0, m.Len())
				g.val = func(k int) (int, error) { return k, nil }
				v, err := m.Get(ctx, 1)
				require.NoError(t, err)
				assert.Equal(t, 1, v)
				assert.Equal(t, int32(2), g.calls.Load())
				st := m.Stats()
				assert.Equal(t, memo.Stats{Misses: 6, Loads: 2, LoadErrors: 1, Shared: 4, Len: 1}, st, st.String())
			})
		})
	}
}

// Promise 3: a panic reaches every waiter with its original value; nothing is
// stored and nobody is left blocked.
func TestPanicReachesEveryWaiterWithItsValue(t *testing.T) {
	for _, tc := range contexts {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				type oops struct{ msg string }
				g := newGate()
				g.val = func(int) (int, error) { panic(oops{"broken"}) }
				m := memo.Memoize(g.load)
				ctx, cancel := tc.ctx()
				defer cancel()
				recovered := make(chan any, 5)
				for range 5 {
					go func() {
						defer func() { recovered <- recover() }()
						_, _ = m.Get(ctx, 1)
					}()
				}
				synctest.Wait()
				close(g.release)
				for range 5 {
					assert.Equal(t, oops{"broken"}, <-recovered)
				}
				synctest.Wait() // returns only if no goroutine of the bubble is blocked for good
				assert.Equal(t, 0, m.Len())
				g.val = func(k int) (int, error) { return k, nil }
				v, err := m.Get(ctx, 1)
				require.NoError(t, err)
				assert.Equal(t, 1, v)
				st := m.Stats()
				assert.Equal(t, memo.Stats{Misses: 6, Loads: 2, LoadErrors: 1, Shared: 4, Len: 1}, st, st.String())
			})
		})
	}
}

// Promise 4: runtime.Goexit in fn leaves no caller blocked.
func TestGoexitInFnLeavesNoCallerBlocked(t *testing.T) {
	for _, tc := range contexts {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newGate()
				g.val = func(int) (int, error) { runtime.Goexit(); panic("unreachable") }
				m := memo.Memoize(g.load)
				ctx, cancel := tc.ctx()
				defer cancel()
				errs := make(chan error, 5)
				exited := make(chan struct{}, 5)
				for range 5 {
					go func() {
						returned := false
						defer func() {
							if !returned {
								exited <- struct{}{}
							}
						}()
						_, err := m.Get(ctx, 1)
						returned = true
						errs <- err
					}()
				}
				synctest.Wait()
				close(g.release)
				synctest.Wait()
				// Every caller either returned ErrGoexit or, when fn ran on its
				// own goroutine, exited with it.
				assert.Equal(t, 5, len(errs)+len(exited))
				for len(errs) > 0 {
					assert.ErrorIs(t, <-errs, memo.ErrGoexit)
				}
				if tc.name == "background" {
					assert.Equal(t, 1, len(exited), "the caller that ran fn exits")
				}
				assert.Equal(t, 0, m.Len())
				st := m.Stats()
				assert.Equal(t, uint64(1), st.LoadErrors, st.String())
			})
		})
	}
}

// Promise 5: each caller returns with its own ctx.Err() as soon as its ctx is
// done, the one that started the call too, while the others keep waiting and
// get the value.
func TestEachCallerHonoursItsOwnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		m := memo.Memoize(g.load)
		starterCtx, cancelStarter := context.WithCancel(context.Background())
		joinerCtx, cancelJoiner := context.WithTimeout(context.Background(), time.Second)
		defer cancelJoiner()

		starter := make(chan error, 1)
		go func() { _, err := m.Get(starterCtx, 1); starter <- err }()
		synctest.Wait()
		joiner := make(chan error, 1)
		go func() { _, err := m.Get(joinerCtx, 1); joiner <- err }()
		patient := make(chan int, 1)
		go func() { v, err := m.Get(context.Background(), 1); assert.NoError(t, err); patient <- v }()
		synctest.Wait()

		cancelStarter()
		synctest.Wait()
		assert.ErrorIs(t, <-starter, context.Canceled)

		time.Sleep(time.Second) // fake time: the joiner's deadline passes
		synctest.Wait()
		assert.ErrorIs(t, <-joiner, context.DeadlineExceeded)

		assert.Empty(t, patient, "the patient caller is still waiting")
		close(g.release)
		assert.Equal(t, 10, <-patient)
		assert.Equal(t, int32(1), g.calls.Load())
		v, ok := m.Peek(1)
		assert.True(t, ok)
		assert.Equal(t, 10, v)
	})
}

type ctxKey struct{}

// Promise 6: fn's ctx carries the starter's values, is not canceled while any
// caller waits, and is canceled once every caller has given up. A value that
// arrives after that is still stored.
func TestFnContextLivesAsLongAsAnyCallerWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fnCtx := make(chan context.Context, 1)
		release := make(chan struct{})
		m := memo.Memoize(func(ctx context.Context, k int) (int, error) {
			fnCtx <- ctx
			<-release
			return k, nil
		})
		ctx1, cancel1 := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "starter"))
		ctx2, cancel2 := context.WithCancel(context.Background())
		go func() { _, _ = m.Get(ctx1, 5) }()
		fctx := <-fnCtx
		go func() { _, _ = m.Get(ctx2, 5) }()
		synctest.Wait()

		assert.Equal(t, "starter", fctx.Value(ctxKey{}))
		cancel1()
		synctest.Wait()
		assert.NoError(t, fctx.Err(), "one caller still waits")
		cancel2()
		synctest.Wait()
		assert.ErrorIs(t, fctx.Err(), context.Canceled, "every caller gave up")

		close(release) // fn ignores its context and succeeds anyway
		synctest.Wait()
		v, ok := m.Peek(5)
		assert.True(t, ok, "a completed call is stored even with nobody waiting")
		assert.Equal(t, 5, v)
	})
}

// After every caller gave up, the next Get does not join the canceled call:
// it starts a new one, whose value wins over the abandoned call's.
func TestGetAfterEveryoneGaveUpStartsANewCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		releases := []chan struct{}{make(chan struct{}), make(chan struct{})}
		m := memo.Memoize(func(ctx context.Context, k int) (int, error) {
			i := n.Add(1) - 1
			<-releases[i]
			return int(i), nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _, _ = m.Get(ctx, 1) }()
		synctest.Wait()
		cancel()
		synctest.Wait()

		got := make(chan int)
		go func() { v, _ := m.Get(context.Background(), 1); got <- v }()
		synctest.Wait()
		assert.Equal(t, int32(2), n.Load())
		close(releases[1])
		assert.Equal(t, 1, <-got)
		close(releases[0]) // the abandoned call ends last; it must not overwrite
		synctest.Wait()
		v, _ := m.Peek(1)
		assert.Equal(t, 1, v)
	})
}

// Promise 7: Forget or Clear during a call: its waiters get its result, it is
// not stored, and the next Get starts a new call.
func TestForgetOrClearDuringACallInvalidatesIt(t *testing.T) {
	for _, op := range []struct {
		name string
		do   func(m *memo.Memo[int, int])
	}{
		{"Forget", func(m *memo.Memo[int, int]) { m.Forget(1) }},
		{"Clear", func(m *memo.Memo[int, int]) { m.Clear() }},
		{"Set", func(m *memo.Memo[int, int]) { m.Set(1, -1) }},
	} {
		for _, tc := range contexts {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					g := newGate()
					m := memo.Memoize(g.load)
					ctx, cancel := tc.ctx()
					defer cancel()
					got := make(chan int, 2)
					for range 2 {
						go func() { v, err := m.Get(ctx, 1); assert.NoError(t, err); got <- v }()
					}
					synctest.Wait()
					op.do(m)
					after := make(chan int, 1)
					go func() { v, _ := m.Get(ctx, 1); after <- v }()
					synctest.Wait()
					if op.name == "Set" {
						assert.Equal(t, -1, <-after, "Set's value answers at once")
						assert.Equal(t, int32(1), g.calls.Load())
					} else {
						assert.Equal(t, int32(2), g.calls.Load(), "the next Get starts a new call")
					}
					close(g.release)
					assert.Equal(t, 10, <-got)
					assert.Equal(t, 10, <-got)
					synctest.Wait()
					if op.name == "Set" {
						v, _ := m.Peek(1)
						assert.Equal(t, -1, v, "the invalidated call did not overwrite Set's value")
					} else {
						assert.Equal(t, 10, <-after)
						assert.Equal(t, 1, m.Len())
					}
				})
			})
		}
	}
}

func TestForgetDuringACallDoesNotStoreItsResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		m := memo.Memoize(g.load)
		got := make(chan int, 1)
		go func() { v, _ := m.Get(context.Background(), 1); got <- v }()
		synctest.Wait()
		m.Forget(1)
		close(g.release)
		assert.Equal(t, 10, <-got)
		_, ok := m.Peek(1)
		assert.False(t, ok)
		assert.Equal(t, 0, m.Len())
	})
}

// Promise 8: two distinct keys never share a call or an entry.
func TestDistinctKeysNeverShareACallOrAnEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		m := memo.Memoize(g.load)
		got := make(chan [2]int, 20)
		for k := range 10 {
			for range 2 {
				go func() { v, _ := m.Get(context.Background(), k); got <- [2]int{k, v} }()
			}
		}
		synctest.Wait()
		assert.Equal(t, int32(10), g.calls.Load())
		close(g.release)
		for range 20 {
			r := <-got
			assert.Equal(t, r[0]*10, r[1])
		}
		assert.Equal(t, 10, m.Len())
	})
}

func TestTTLEntriesAreNeverReturnedAfterTheyExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := count(square)
		m := memo.Memoize(c.load, memo.WithTTL(time.Minute))
		ctx := context.Background()
		_, _ = m.Get(ctx, 3)
		time.Sleep(time.Minute - time.Nanosecond)
		_, ok := m.Peek(3)
		assert.True(t, ok, "alive just before its TTL")
		_, _ = m.Get(ctx, 3)
		assert.Equal(t, 1, c.n(3))
		time.Sleep(time.Nanosecond)
		_, ok = m.Peek(3)
		assert.False(t, ok, "gone at its TTL")
		_, _ = m.Get(ctx, 3)
		assert.Equal(t, 2, c.n(3), "an expired entry is loaded again")
		st := m.Stats()
		assert.Equal(t, memo.Stats{Hits: 1, Misses: 2, Loads: 2, Expirations: 1, Len: 1}, st, st.String())
	})
}

func TestTTLRestartsWhenAKeyIsStoredAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memo.Memoize(square, memo.WithTTL(time.Minute))
		m.Set(1, 1)
		time.Sleep(30 * time.Second)
		m.Set(1, 2)
		time.Sleep(45 * time.Second)
		v, ok := m.Peek(1)
		assert.True(t, ok)
		assert.Equal(t, 2, v)
		time.Sleep(15 * time.Second)
		_, ok = m.Peek(1)
		assert.False(t, ok)
	})
}

func TestTTLMemoStaysBoundedByItsLiveData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memo.Memoize(square, memo.WithTTL(time.Second))
		ctx := context.Background()
		// A stream of distinct keys, 100 a second for 100 seconds: only the
		// last second's keys are alive at any time.
		for k := range 10_000 {
			_, _ = m.Get(ctx, k)
			time.Sleep(10 * time.Millisecond)
			require.LessOrEqual(t, m.Len(), 101)
		}
		st := m.Stats()
		assert.GreaterOrEqual(t, st.Expirations, uint64(10_000-101), st.String())
		assert.Equal(t, st.Loads, st.Expirations+uint64(st.Len), st.String())
	})
}

func TestWithoutTTLEntriesNeverExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := count(square)
		m := memo.Memoize(c.load, memo.WithTTL(0))
		_, _ = m.Get(context.Background(), 2)
		time.Sleep(1000 * time.Hour)
		_, _ = m.Get(context.Background(), 2)
		assert.Equal(t, 1, c.n(2))
	})
}

// Many goroutines hammer few keys with Gets, Sets, Forgets and Clears; under
// -race this checks the locking, and every value read must be one that was
// computed or set for that key.
func TestConcurrentUseReturnsOnlyValuesOfTheKey(t *testing.T) {
	m := memo.Memoize(func(_ context.Context, k int) (string, error) {
		return fmt.Sprint("v", k), nil
	}, memo.WithTTL(time.Millisecond))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := range 2000 {
				k := (i * (w + 1)) % 17
				switch i % 50 {
				case 0:
					m.Forget(k)
				case 1:
					m.Set(k, fmt.Sprint("v", k))
				case 2:
					if w == 0 {
						m.Clear()
					}
				}
				v, err := m.Get(ctx, k)
				if !assert.NoError(t, err) || !assert.Equal(t, fmt.Sprint("v", k), v) {
					return
				}
			}
		}()
	}
	wg.Wait()
	st := m.Stats()
	assert.LessOrEqual(t, m.Len(), 17)
	assert.Equal(t, st.Misses, st.Loads+st.Shared, st.String())
}

// A hit makes no allocation, for int and struct keys, with and without a TTL.
func TestHitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	ints := memo.Memoize(square)
	ttl := memo.Memoize(square, memo.WithTTL(time.Hour))
	type key struct {
		Name string
		ID   int
	}
	structs := memo.Memoize(func(_ context.Context, k key) (string, error) { return k.Name, nil })
	_, _ = ints.Get(ctx, 1000)
	_, _ = ttl.Get(ctx, 1000)
	_, _ = structs.Get(ctx, key{"a", 1000})
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = ints.Get(ctx, 1000) }))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = ttl.Get(ctx, 1000) }))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = structs.Get(ctx, key{"a", 1000}) }))
}

// A panic in fn with no caller left to receive it is not swallowed: it
// crashes the program, as an unrecovered panic in any goroutine does. The
// scenario runs in a child process.
func TestPanicWithNobodyWaitingCrashesTheProgram(t *testing.T) {
	if os.Getenv("MEMO_TEST_CRASH") == "1" {
		started, release := make(chan struct{}), make(chan struct{})
		m := memo.Memoize(func(ctx context.Context, k int) (int, error) {
			close(started)
			<-release
			panic("nobody is listening")
		})
		ctx, cancel := context.WithCancel(context.Background())
		// Cancel only once fn runs: a Get whose ctx is already done never
		// starts fn, and then nothing would panic.
		go func() { <-started; cancel() }()
		_, err := m.Get(ctx, 1)
		if !errors.Is(err, context.Canceled) {
			os.Exit(3)
		}
		close(release)
		select {} // the panic in fn's goroutine ends the process
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPanicWithNobodyWaitingCrashesTheProgram$")
	cmd.Env = append(os.Environ(), "MEMO_TEST_CRASH=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child must crash; output:\n%s", out)
	assert.Equal(t, 2, exit.ExitCode(), "exit code of an unrecovered panic")
	assert.Contains(t, string(out), "panic: nobody is listening")
}

// A TTL counts from when fn returned, not from when it started, and
// Stats.LoadTime is the time spent in fn.
func TestTTLCountsFromWhenFnReturned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memo.Memoize(func(_ context.Context, k int) (int, error) {
			time.Sleep(30 * time.Second)
			return k, nil
		}, memo.WithTTL(time.Minute))
		v, err := m.Get(context.Background(), 1) // fn runs inline: the context is never done
		require.NoError(t, err)
		assert.Equal(t, 1, v)
		assert.Equal(t, 30*time.Second, m.Stats().LoadTime)
		time.Sleep(time.Minute - time.Nanosecond)
		_, ok := m.Peek(1)
		assert.True(t, ok, "alive a minute after fn returned, less a nanosecond")
		time.Sleep(time.Nanosecond)
		_, ok = m.Peek(1)
		assert.False(t, ok, "expired a minute after fn returned")
	})
}

// Calls that run inline are reused once nobody else holds them; a call that
// another caller joined is not. Every caller still gets its own key's value.
func TestReusedCallsNeverCarryAValueToAnotherKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		m := memo.Memoize(func(_ context.Context, k int) (int, error) {
			if k == 0 {
				<-release
			}
			return 10 * k, nil
		})
		ctx := context.Background()
		started := make(chan int, 2)
		for range 2 { // one runs fn inline, the other joins it
			go func() {
				v, err := m.Get(ctx, 0)
				assert.NoError(t, err)
				started <- v
			}()
		}
		synctest.Wait()
		close(release)
		assert.Equal(t, 0, <-started)
		assert.Equal(t, 0, <-started)
		for k := 1; k <= 1000; k++ {
			v, err := m.Get(ctx, k)
			require.NoError(t, err)
			require.Equal(t, 10*k, v)
		}
		for k := 0; k <= 1000; k++ {
			v, ok := m.Peek(k)
			require.True(t, ok)
			require.Equal(t, 10*k, v)
		}
		st := m.Stats()
		assert.Equal(t, memo.Stats{Misses: 1002, Loads: 1001, Shared: 1, Len: 1001}, st, st.String())
	})
}
