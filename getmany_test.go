package memo_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
)

func TestGetManyReturnsValuesInKeyOrderAndLoadsOnlyMisses(t *testing.T) {
	c := count(square)
	m := memo.Memoize(c.load)
	ctx := context.Background()
	m.Set(2, 4)
	m.Set(5, 25)
	keys := []int{5, 1, 2, 3, 1, 5, 3}
	vs, err := m.GetMany(ctx, keys)
	require.NoError(t, err)
	assert.Equal(t, []int{25, 1, 4, 9, 1, 25, 9}, vs)
	assert.Equal(t, 0, c.n(2), "a cached key is not loaded")
	assert.Equal(t, 1, c.n(1), "a key repeated in keys is loaded once")
	assert.Equal(t, 1, c.n(3))
	st := m.Stats()
	st.LoadTime = 0 // LoadTime is the real time spent in fn here (no synctest clock)
	// Every element is one Get: 5, 2, 5 hit; 1 and 3 miss; their repeats
	// share those loads.
	assert.Equal(t, memo.Stats{Hits: 3, Misses: 4, Loads: 2, Shared: 2, Len: 4}, st, st.String())
}

func TestGetManyOfNoKeysCallsNothing(t *testing.T) {
	c := count(square)
	m := memo.Memoize(c.load)
	vs, err := m.GetMany(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, vs)
	assert.Equal(t, memo.Stats{}, m.Stats())
}

func TestGetManyAllHitsAllocatesOnlyTheResult(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m := memo.Memoize(square)
	keys := []int{1, 2, 3, 4}
	_, err := m.GetMany(context.Background(), keys)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() { _, _ = m.GetMany(context.Background(), keys) })
	assert.LessOrEqual(t, allocs, 2.0) // the result slice (and the lookup closure)
}

func TestGetManyLoadsAtMostGOMAXPROCSKeysAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		procs := runtime.GOMAXPROCS(0)
		g := newGate()
		m := memo.Memoize(g.load)
		keys := make([]int, 3*procs+1)
		for i := range keys {
			keys[i] = i
		}
		done := make(chan []int)
		go func() {
			vs, err := m.GetMany(context.Background(), keys)
			assert.NoError(t, err)
			done <- vs
		}()
		synctest.Wait()
		assert.Equal(t, int32(procs), g.calls.Load(), "loads in flight")
		close(g.release)
		vs := <-done
		for i, v := range vs {
			assert.Equal(t, keys[i]*10, v)
		}
		assert.Equal(t, int32(len(keys)), g.calls.Load())
	})
}

func TestGetManyCollapsesWithConcurrentGetsOfTheSameKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		m := memo.Memoize(g.load)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got := make(chan int)
		go func() {
			v, err := m.Get(ctx, 1)
			assert.NoError(t, err)
			got <- v
		}()
		synctest.Wait()
		many := make(chan []int)
		go func() {
			vs, err := m.GetMany(ctx, []int{2, 1})
			assert.NoError(t, err)
			many <- vs
		}()
		synctest.Wait()
		assert.Equal(t, int32(2), g.calls.Load(), "key 1 is loaded once, for the Get and the GetMany")
		close(g.release)
		assert.Equal(t, 10, <-got)
		assert.Equal(t, []int{20, 10}, <-many)
		st := m.Stats()
		assert.Equal(t, memo.Stats{Misses: 3, Loads: 2, Shared: 1, Len: 2}, st, st.String())
	})
}

// GetMany returns the first error at once; a load another Get waits for goes
// on and is stored, and a load nobody else wants is canceled.
func TestGetManyReturnsTheFirstErrorWhileOtherLoadsGoOn(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3)) // room for the three loads
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("key 1 is broken")
		release, release2 := make(chan struct{}), make(chan struct{})
		canceled := make(chan int, 3)
		m := memo.Memoize(func(ctx context.Context, k int) (int, error) {
			switch k {
			case 1:
				<-release
				return 0, boom
			case 2: // wanted by another Get too
				<-release2
				return 20, nil
			}
			<-ctx.Done() // key 3: wanted by the GetMany only
			canceled <- k
			return 0, ctx.Err()
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		other := make(chan int)
		go func() {
			v, err := m.Get(ctx, 2)
			assert.NoError(t, err)
			other <- v
		}()
		synctest.Wait()
		manyErr := make(chan error)
		go func() {
			vs, err := m.GetMany(ctx, []int{3, 2, 1})
			assert.Nil(t, vs)
			manyErr <- err
		}()
		synctest.Wait()
		close(release)
		assert.ErrorIs(t, <-manyErr, boom, "GetMany returns while key 2 still loads")
		assert.Equal(t, 3, <-canceled, "the load only GetMany wanted is canceled")
		close(release2)
		assert.Equal(t, 20, <-other, "the load another Get waits for goes on")
		v, ok := m.Peek(2)
		assert.True(t, ok)
		assert.Equal(t, 20, v)
	})
}

func TestGetManyReturnsAsSoonAsItsContextIsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		m := memo.Memoize(g.load)
		ctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error)
		go func() {
			_, err := m.GetMany(ctx, []int{1, 2, 3})
			errs <- err
		}()
		synctest.Wait()
		started := g.calls.Load()
		assert.Equal(t, int32(min(3, runtime.GOMAXPROCS(0))), started)
		cancel()
		assert.ErrorIs(t, <-errs, context.Canceled)
		close(g.release)
		synctest.Wait() // no goroutine left blocked
		assert.Equal(t, started, g.calls.Load(), "no load starts once GetMany has given up")
		assert.Equal(t, int(started), m.Len(), "a call that completes is stored even if nobody waits")
	})
}

func TestGetManyPanicsWithTheValueFnPanickedWith(t *testing.T) {
	for _, keys := range [][]int{{7}, {1, 7, 2}} {
		synctest.Test(t, func(t *testing.T) {
			type oops struct{ msg string }
			m := memo.Memoize(func(ctx context.Context, k int) (int, error) {
				if k == 7 {
					panic(oops{"seven"})
				}
				return k, nil
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			recovered := func() (r any) {
				defer func() { r = recover() }()
				_, _ = m.GetMany(ctx, keys)
				return nil
			}()
			assert.Equal(t, oops{"seven"}, recovered, "keys %v", keys)
			synctest.Wait() // no goroutine left blocked
		})
	}
}

func TestGetManyOnAKeyedMemoLoadsEqualKeysOnce(t *testing.T) {
	var calls atomic.Int32
	m := memo.MemoizeKeyed(func(_ context.Context, k []string) (string, error) {
		calls.Add(1)
		return strings.Join(k, "+"), nil
	}, memo.CanonicalKey[[]string])
	vs, err := m.GetMany(context.Background(), [][]string{{"a", "b"}, {"a", "b"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"a+b", "a+b"}, vs)
	assert.Equal(t, int32(1), calls.Load())
	vs, err = m.GetMany(context.Background(), [][]string{{"c"}, {"a", "b"}, {"d"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"c", "a+b", "d"}, vs)
	assert.Equal(t, 3, m.Len())
	assert.Equal(t, int32(3), calls.Load())
}

func TestGetManyOnMemo2TakesKey2s(t *testing.T) {
	m := memo.Memoize2(func(_ context.Context, a, b int) (int, error) { return a * b, nil })
	vs, err := m.GetMany(context.Background(), []memo.Key2[int, int]{{A: 2, B: 3}, {A: 4, B: 5}})
	require.NoError(t, err)
	assert.Equal(t, []int{6, 20}, vs)
	v, ok := m.Peek(4, 5)
	assert.True(t, ok)
	assert.Equal(t, 20, v)
}

func TestGetManyStoresWhatItLoads(t *testing.T) {
	c := count(square)
	m := memo.Memoize(c.load, memo.WithCapacity(100))
	keys := []int{4, 3, 2, 1}
	_, err := m.GetMany(context.Background(), keys)
	require.NoError(t, err)
	_, err = m.GetMany(context.Background(), slices.Concat(keys, keys))
	require.NoError(t, err)
	assert.Equal(t, 4, c.total())
	st := m.Stats()
	assert.Equal(t, uint64(8), st.Hits, st.String())
}

func TestGetManyWithANilContextPanicsClearly(t *testing.T) {
	m := memo.Memoize(square)
	assert.PanicsWithValue(t, "memo: GetMany called with a nil context.Context (use context.Background())", func() {
		_, _ = m.GetMany(nil, []int{1, 2}) //nolint:staticcheck // the point of the test
	})
	assert.Equal(t, 0, m.Len())
}
