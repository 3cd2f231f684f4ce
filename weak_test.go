package memo_test

import (
	"context"
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

// blob is a value big enough to get an allocation of its own.
type blob struct {
	key  int
	data [256]byte
}

// weakLoader counts its calls and makes a fresh blob per call.
type weakLoader struct{ calls atomic.Int64 }

func (l *weakLoader) load(_ context.Context, k int) (*blob, error) {
	l.calls.Add(1)
	return &blob{key: k}, nil
}

// collectUntil runs the collector until cond holds, or fails after many
// rounds: cleanups run on their own goroutine shortly after a collection.
func collectUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // real time: let the runtime's cleanup goroutine run
	}
	require.True(t, cond(), "not reached after 200 collections")
}

// Promise 1: a value the caller holds survives any number of collections,
// and Get keeps returning that same pointer without calling fn.
func TestWeakHeldValuesSurviveCollections(t *testing.T) {
	l := &weakLoader{}
	m := memo.MemoizeWeak(l.load)
	ctx := context.Background()
	held := make([]*blob, 100)
	for k := range held {
		held[k], _ = m.Get(ctx, k)
	}
	for range 5 {
		runtime.GC()
	}
	for k := range held {
		v, err := m.Get(ctx, k)
		require.NoError(t, err)
		require.Same(t, held[k], v, "key %d", k)
	}
	assert.Equal(t, int64(100), l.calls.Load())
	assert.Equal(t, 100, m.Len())
	st := m.Stats()
	assert.Equal(t, uint64(100), st.Hits, "the weak store counts each hit once")
	assert.Equal(t, uint64(100), st.Misses)
	runtime.KeepAlive(held)
}

// Promise 2: values nobody holds are reclaimed; their entries leave on their
// own, and Collected counts each exactly once.
func TestWeakUnheldValuesAreReclaimedAndCountedOnce(t *testing.T) {
	l := &weakLoader{}
	m := memo.MemoizeWeak(l.load)
	ctx := context.Background()
	for k := range 1000 {
		_, _ = m.Get(ctx, k)
	}
	collectUntil(t, func() bool { return m.Len() == 0 })
	st := m.Stats()
	assert.Equal(t, uint64(1000), st.Collected, st.String())
	for range 3 {
		runtime.GC()
	}
	assert.Equal(t, uint64(1000), m.Stats().Collected, "no entry is counted twice")
	v, _ := m.Get(ctx, 7)
	assert.Equal(t, 7, v.key)
	assert.Equal(t, int64(1001), l.calls.Load(), "a reclaimed key is loaded again")
	runtime.KeepAlive(v)
}

// Promise 3: the cleanup of an old value never removes a newer entry stored
// for the same key, however late it runs. Old values are dropped and
// collected while new ones are stored, forgotten and stored again.
func TestWeakLateCleanupNeverRemovesANewerEntry(t *testing.T) {
	l := &weakLoader{}
	m := memo.MemoizeWeak(l.load)
	ctx := context.Background()
	for i := range 300 {
		_, _ = m.Get(ctx, 1) // value A, dropped at once
		if i%3 == 0 {
			m.Forget(1)
		}
		runtime.GC() // A is collected; its cleanup may run now or later
		b, err := m.Get(ctx, 1)
		require.NoError(t, err)
		runtime.GC()
		runtime.GC()
		got, ok := m.Peek(1)
		require.True(t, ok, "round %d: the newer entry is gone", i)
		require.Same(t, b, got)
		runtime.KeepAlive(b)
	}
	st := m.Stats()
	assert.Equal(t, st.Loads, st.Collected+uint64(st.Len)+uint64(100), "each entry left once (100 by Forget): %v", st)
}

// Promise 5: Peek, Set, Forget, Clear and TTL behave as on the map store.
func TestWeakPeekSetForgetClear(t *testing.T) {
	l := &weakLoader{}
	m := memo.MemoizeWeak(l.load)
	ctx := context.Background()
	mine := &blob{key: -1}
	m.Set(1, mine)
	v, _ := m.Get(ctx, 1)
	assert.Same(t, mine, v)
	p, ok := m.Peek(1)
	assert.True(t, ok)
	assert.Same(t, mine, p)
	m.Forget(1)
	_, ok = m.Peek(1)
	assert.False(t, ok)
	v2, _ := m.Get(ctx, 1)
	assert.Equal(t, 1, v2.key)
	m.Clear()
	assert.Equal(t, 0, m.Len())
	assert.Equal(t, memo.Stats{}, m.Stats())
	runtime.GC()
	runtime.GC()
	assert.Zero(t, m.Stats().Collected, "a cleared entry's cleanup does not count")
	runtime.KeepAlive(mine)
	runtime.KeepAlive(v2)
}

func TestWeakTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &weakLoader{}
		m := memo.MemoizeWeak(l.load, memo.WithTTL(time.Minute))
		ctx := context.Background()
		a, _ := m.Get(ctx, 1)
		time.Sleep(time.Minute)
		_, ok := m.Peek(1)
		assert.False(t, ok, "expired, although the value is alive")
		b, _ := m.Get(ctx, 1)
		assert.NotSame(t, a, b)
		st := m.Stats()
		assert.Equal(t, uint64(1), st.Expirations, st.String())
		runtime.KeepAlive(a)
		runtime.KeepAlive(b)
	})
}

func TestWeakCollapsesConcurrentMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int32
		m := memo.MemoizeWeak(func(_ context.Context, k int) (*blob, error) {
			calls.Add(1)
			<-release
			return &blob{key: k}, nil
		})
		got := make(chan *blob, 10)
		for range 10 {
			go func() { v, _ := m.Get(context.Background(), 3); got <- v }()
		}
		synctest.Wait()
		close(release)
		first := <-got
		for range 9 {
			assert.Same(t, first, <-got)
		}
		assert.Equal(t, int32(1), calls.Load())
		runtime.KeepAlive(first)
	})
}

func TestWeakNilValuesAreNotCached(t *testing.T) {
	var calls atomic.Int32
	m := memo.MemoizeWeak(func(context.Context, int) (*blob, error) { calls.Add(1); return nil, nil })
	v, err := m.Get(context.Background(), 1)
	assert.NoError(t, err)
	assert.Nil(t, v)
	_, _ = m.Get(context.Background(), 1)
	assert.Equal(t, int32(2), calls.Load())
	assert.Equal(t, 0, m.Len())
}

func TestWeakRejectsZeroSizeValues(t *testing.T) {
	assert.PanicsWithValue(t,
		"memo: MemoizeWeak of the zero-size type struct {}: the garbage collector cannot reclaim zero-size values one by one, so they would never leave the memo",
		func() {
			memo.MemoizeWeak(func(context.Context, int) (*struct{}, error) { return nil, nil })
		})
}

// Promise 6: no entry, node or cleanup leaks. 100 000 distinct keys are
// loaded and dropped; once they are collected, the heap is back near where it
// started.
func TestWeakChurnLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100 000 values")
	}
	for _, tc := range []struct {
		name string
		opts []memo.Option
	}{{"weak", nil}, {"weak-window", []memo.Option{memo.WithCapacity(100)}}} {
		t.Run(tc.name, func(t *testing.T) {
			l := &weakLoader{}
			m := memo.MemoizeWeak(l.load, tc.opts...)
			ctx := context.Background()
			_, _ = m.Get(ctx, -1) // let the memo allocate what it needs up front
			m.Forget(-1)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for k := range 100_000 {
				_, _ = m.Get(ctx, k)
			}
			window := 0
			if len(tc.opts) > 0 {
				window = 100
			}
			collectUntil(t, func() bool { return m.Len() == window })
			collected := m.Stats().Collected
			assert.Equal(t, uint64(100_000-window), collected)
			runtime.GC()
			runtime.ReadMemStats(&after)
			grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			t.Logf("heap after 100 000 keys loaded, dropped and collected: %+d bytes", grew)
			assert.Less(t, grew, int64(1<<20), "the memo still holds memory for collected entries")
			runtime.KeepAlive(m)
		})
	}
}

// The strong window: the n most recently used values survive a collection
// although nobody holds them; older ones are reclaimed.
func TestWeakWindowKeepsTheMostRecentlyUsedValuesAlive(t *testing.T) {
	l := &weakLoader{}
	m := memo.MemoizeWeak(l.load, memo.WithCapacity(10))
	ctx := context.Background()
	for k := range 100 {
		_, _ = m.Get(ctx, k)
	}
	for k := range 5 { // uses 0..4 again (they may have been reclaimed already: then they are loaded again)
		_, _ = m.Get(ctx, k)
	}
	collectUntil(t, func() bool { return m.Len() == 10 })
	for range 3 {
		runtime.GC()
	}
	assert.Equal(t, 10, m.Len())
	for _, k := range []int{0, 1, 2, 3, 4, 95, 96, 97, 98, 99} {
		_, ok := m.Peek(k)
		assert.True(t, ok, "key %d is among the 10 most recently used", k)
	}
	assert.Equal(t, 10, m.Stats().Capacity)
}

// A value outside the window that a caller still holds stays cached, and a
// hit puts it back into the window.
func TestWeakWindowHeldValuesStayAndComeBack(t *testing.T) {
	l := &weakLoader{}
	m := memo.MemoizeWeak(l.load, memo.WithCapacity(2))
	ctx := context.Background()
	held, _ := m.Get(ctx, 0)
	for k := 1; k <= 10; k++ {
		_, _ = m.Get(ctx, k)
	}
	collectUntil(t, func() bool { return m.Len() == 3 }) // the window (9, 10) and the held 0
	v, _ := m.Get(ctx, 0)
	assert.Same(t, held, v)
	held = nil
	runtime.GC()
	runtime.GC()
	_, ok := m.Peek(0)
	assert.True(t, ok, "the hit pinned 0 in the window")
	assert.Equal(t, int64(11), l.calls.Load())
}

// OnEvict hears of collected values, with a nil value.
func TestWeakOnEvictReportsCollected(t *testing.T) {
	var mu sync.Mutex
	var reasons []memo.EvictReason
	l := &weakLoader{}
	m := memo.MemoizeWeak(l.load, memo.WithOnEvict(func(k int, v *blob, r memo.EvictReason) {
		mu.Lock()
		defer mu.Unlock()
		assert.Nil(t, v)
		reasons = append(reasons, r)
	}))
	_, _ = m.Get(context.Background(), 1)
	collectUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(reasons) == 1 })
	assert.Equal(t, memo.Collected, reasons[0])
}

func TestWeakHitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	for _, opts := range [][]memo.Option{nil, {memo.WithCapacity(10)}} {
		m := memo.MemoizeWeak((&weakLoader{}).load, opts...)
		v, _ := m.Get(ctx, 1)
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = m.Get(ctx, 1) }))
		runtime.KeepAlive(v)
	}
}
