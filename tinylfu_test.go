package memo_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

func tinyLFU(n int) []memo.Option {
	return []memo.Option{memo.WithCapacity(n), memo.WithPolicy(memo.TinyLFU)}
}

func TestWithPolicyPanicsWithoutCapacityOrForAnUnknownPolicy(t *testing.T) {
	assert.PanicsWithValue(t, "memo: WithPolicy(TinyLFU) needs WithCapacity(n > 0): an unbounded memo evicts nothing", func() {
		memo.Memoize(square, memo.WithPolicy(memo.TinyLFU))
	})
	assert.PanicsWithValue(t, "memo: WithPolicy(LRU) needs WithCapacity(n > 0): an unbounded memo evicts nothing", func() {
		memo.MemoizeKeyed(square, memo.CanonicalKey[int], memo.WithPolicy(memo.LRU), memo.WithCapacity(0))
	})
	assert.PanicsWithValue(t, "memo: WithPolicy(Policy(7)): unknown policy (use memo.LRU or memo.TinyLFU)", func() {
		memo.WithPolicy(memo.Policy(7))
	})
	assert.NotPanics(t, func() { memo.Memoize(square, memo.WithPolicy(memo.LRU), memo.WithCapacity(1)) })
	assert.Equal(t, "TinyLFU", memo.TinyLFU.String())
}

// A key asked for again and again stays cached through a stream of keys seen
// once, which would flush an LRU of the same size: fn runs once for it.
func TestTinyLFUOneHitWondersDoNotEvictAFrequentKey(t *testing.T) {
	const hot = -1
	for _, policy := range []memo.Policy{memo.LRU, memo.TinyLFU} {
		c := count(square)
		m := memo.Memoize(c.load, memo.WithCapacity(50), memo.WithPolicy(policy))
		ctx := context.Background()
		for i := range 20_000 {
			if i%100 == 0 {
				_, _ = m.Get(ctx, hot)
			}
			_, _ = m.Get(ctx, i) // seen once
		}
		if policy == memo.LRU {
			assert.Equal(t, 200, c.n(hot), "the LRU reloads the frequent key every time")
			continue
		}
		// The first time, the key is as rare as any: it must come back once
		// to prove itself, then it stays.
		assert.LessOrEqual(t, c.n(hot), 2, "TinyLFU kept the frequent key")
		st := m.Stats()
		assert.GreaterOrEqual(t, st.Hits, uint64(198), st.String())
		assert.Equal(t, st.Loads-uint64(st.Len), st.Evictions, "every entry refused or dropped counts as evicted: %s", st)
	}
}

// On recency-heavy traffic (a hot set that keeps moving, as on a news site:
// keys come in popular and go cold for good), frequency is yesterday's news
// and an LRU is what wins. The climber must find that out and grow the
// window until the policy is as good as the LRU: once it has adapted,
// TinyLFU hits within a point of an exact LRU over the same requests.
func TestTinyLFUFollowsAMovingHotSetAsWellAsAnLRU(t *testing.T) {
	const capacity, hot, slide, every = 1000, 10_000, 1_000, 5_000
	const warmUp, measured = 400_000, 200_000
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.01, 1, hot-1)
	m := memo.Memoize(square, tinyLFU(capacity)...)
	ref := newRefLRU(capacity)
	ctx := context.Background()
	var before memo.Stats
	for i := range warmUp + measured {
		if i == warmUp {
			before, ref.hits = m.Stats(), 0
		}
		k := int(z.Uint64()) + i/every*slide
		_, _ = m.Get(ctx, k)
		ref.get(k)
	}
	after := m.Stats()
	got := float64(after.Hits-before.Hits) / measured
	lru := float64(ref.hits) / measured
	assert.Greater(t, got, lru-0.01, "TinyLFU %.4f, LRU %.4f on the same requests", got, lru)
}

// Len never exceeds the capacity at rest, whatever concurrent writers do,
// and the counters add up: every value loaded is held or was evicted.
func TestTinyLFULenNeverExceedsCapacityUnderConcurrentWriters(t *testing.T) {
	const capacity = 64
	m := memo.Memoize(square, tinyLFU(capacity)...)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for range 5_000 {
				k := r.IntN(1_000)
				v, err := m.Get(context.Background(), k)
				if !assert.NoError(t, err) || !assert.Equal(t, k*k, v) {
					return
				}
			}
		})
	}
	wg.Wait()
	st := m.Stats()
	assert.Equal(t, capacity, st.Len, st.String())
	assert.Equal(t, st.Loads, uint64(st.Len)+st.Evictions, st.String())
	assert.Equal(t, st.Misses, st.Loads+st.Shared, st.String())
}

// Every drop is reported once with its reason; an entry the policy refuses
// or drops for room is Evicted.
func TestTinyLFUOnEvictReportsEveryDropWithItsReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reasons := map[memo.EvictReason]int{}
		var m *memo.Memo[int, int]
		m = memo.Memoize(square, append(tinyLFU(10), memo.WithTTL(time.Minute),
			memo.WithOnEvict(func(k, v int, r memo.EvictReason) {
				_ = m.Len() // would deadlock under the memo's lock
				assert.Equal(t, k*k, v)
				reasons[r]++
			}))...)
		ctx := context.Background()
		for k := range 30 {
			_, _ = m.Get(ctx, k)
		}
		require.Equal(t, 10, m.Len())
		assert.Equal(t, 20, reasons[memo.Evicted])
		held := heldKeys(m, 30)
		require.Len(t, held, 10)
		m.Set(held[0], held[0]*held[0])
		assert.Equal(t, 1, reasons[memo.Replaced])
		m.Forget(held[0])
		assert.Equal(t, 1, reasons[memo.Forgotten])
		time.Sleep(time.Minute)
		_, ok := m.Peek(held[1])
		assert.False(t, ok, "expired")
		_, _ = m.Get(ctx, held[1]) // reloaded: the old entry expired
		assert.Equal(t, 1, reasons[memo.Expired])
		n := m.Len()
		m.Clear() // the entries stored before the sleep have expired: they leave as Expired
		assert.Equal(t, 1, reasons[memo.Cleared], "only the reloaded entry was live")
		assert.Equal(t, n, reasons[memo.Expired]+reasons[memo.Cleared]-1)
		assert.Zero(t, m.Len())
		assert.Equal(t, 20, reasons[memo.Evicted], "nothing else was evicted")
	})
}

// heldKeys returns the keys below n that m holds.
func heldKeys(m *memo.Memo[int, int], n int) []int {
	var ks []int
	for k := range n {
		if _, ok := m.Peek(k); ok {
			ks = append(ks, k)
		}
	}
	return ks
}

// The promises of every memo hold for TinyLFU too: collapsed misses,
// errors not cached, Forget during a call, keyed and multi-argument keys.
func TestTinyLFUKeepsTheMemoPromises(t *testing.T) {
	t.Run("collapsed misses", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := newGate()
			m := memo.Memoize(g.load, tinyLFU(4)...)
			got := make(chan int, 20)
			for range 20 {
				go func() { v, _ := m.Get(context.Background(), 3); got <- v }()
			}
			synctest.Wait()
			close(g.release)
			for range 20 {
				assert.Equal(t, 30, <-got)
			}
			assert.Equal(t, int32(1), g.calls.Load())
		})
	})
	t.Run("errors are not cached", func(t *testing.T) {
		var calls atomic.Int32
		boom := errors.New("boom")
		m := memo.Memoize(func(context.Context, int) (int, error) { calls.Add(1); return 0, boom }, tinyLFU(4)...)
		for range 3 {
			_, err := m.Get(context.Background(), 1)
			assert.ErrorIs(t, err, boom)
		}
		assert.Equal(t, int32(3), calls.Load())
		assert.Zero(t, m.Len())
	})
	t.Run("forget during a call", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := newGate()
			m := memo.Memoize(g.load, tinyLFU(4)...)
			done := make(chan struct{})
			go func() { _, _ = m.Get(context.Background(), 1); close(done) }()
			synctest.Wait()
			m.Forget(1)
			close(g.release)
			<-done
			assert.Zero(t, m.Len(), "the invalidated call stored nothing")
		})
	})
	t.Run("context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := newGate()
			m := memo.Memoize(g.load, tinyLFU(4)...)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { _, err := m.Get(ctx, 1); errc <- err }()
			synctest.Wait()
			cancel()
			assert.ErrorIs(t, <-errc, context.Canceled)
			close(g.release)
			synctest.Wait()
			v, ok := m.Peek(1)
			assert.True(t, ok, "a call that completes is stored even if nobody waits")
			assert.Equal(t, 10, v)
		})
	})
	t.Run("keyed and Memoize2", func(t *testing.T) {
		m := memo.MemoizeKeyed(func(_ context.Context, k []int) (int, error) { return len(k), nil },
			memo.CanonicalKey[[]int], tinyLFU(2)...)
		v, err := m.Get(context.Background(), []int{1, 2, 3})
		require.NoError(t, err)
		assert.Equal(t, 3, v)
		_, _ = m.Get(context.Background(), []int{1, 2, 3})
		assert.Equal(t, uint64(1), m.Stats().Hits)
		add := memo.Memoize2(func(_ context.Context, a, b int) (int, error) { return a + b, nil }, tinyLFU(2)...)
		s, err := add.Get(context.Background(), 2, 3)
		require.NoError(t, err)
		assert.Equal(t, 5, s)
	})
	t.Run("stats are exact", func(t *testing.T) {
		m := memo.Memoize(square, tinyLFU(8)...)
		ctx := context.Background()
		for i := range 100 {
			_, _ = m.Get(ctx, i%20)
		}
		st := m.Stats()
		assert.Equal(t, uint64(100), st.Hits+st.Misses, st.String())
		assert.Equal(t, st.Misses, st.Loads, st.String())
		assert.Equal(t, st.Loads-uint64(st.Len), st.Evictions, st.String())
		assert.Equal(t, 8, st.Capacity)
		assert.Equal(t, 8, st.Len)
	})
}

// A TinyLFU hit makes no allocation.
func TestTinyLFUHitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m := memo.Memoize(square, tinyLFU(10)...)
	ctx := context.Background()
	_, _ = m.Get(ctx, 5)
	assert.Zero(t, testing.AllocsPerRun(10_000, func() { _, _ = m.Get(ctx, 5) }))
}

type tlfuBlob struct {
	key int
	pad [64]byte
}

// Entries that leave the memo (evicted, refused, forgotten, replaced or
// cleared) are not kept reachable by the policy or the read buffer: their
// values are collected.
func TestTinyLFUEntriesAreNotReachableAfterTheyLeave(t *testing.T) {
	var collected atomic.Int64
	load := func(_ context.Context, k int) (*tlfuBlob, error) {
		b := &tlfuBlob{key: k}
		runtime.AddCleanup(b, func(int) { collected.Add(1) }, k)
		return b, nil
	}
	m := memo.Memoize(load, tinyLFU(16)...)
	ctx := context.Background()
	for k := range 200 {
		for range 3 {
			_, _ = m.Get(ctx, k) // hits go through the read buffer
		}
	}
	m.Forget(199)
	m.Set(198, &tlfuBlob{key: 198})
	stored := int64(m.Stats().Loads)
	left := stored - int64(m.Len())
	collectUntil(t, func() bool { return collected.Load() >= left })
	m.Clear()
	collectUntil(t, func() bool { return collected.Load() == stored })
	runtime.KeepAlive(m)
}

// Under heavy concurrent use, with Forget, Set and Clear mixed in, every Get
// returns its key's value and the memo's invariants hold.
func TestTinyLFUConcurrentUse(t *testing.T) {
	const capacity = 100
	m := memo.Memoize(func(_ context.Context, k int) (string, error) { return fmt.Sprint(k), nil }, tinyLFU(capacity)...)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 3))
			z := rand.NewZipf(r, 1.1, 1, 400)
			for i := range 20_000 {
				k := int(z.Uint64())
				switch i % 1000 {
				case 0:
					m.Forget(k)
				case 1:
					m.Set(k, fmt.Sprint(k))
				case 2:
					if w == 0 {
						m.Clear()
					}
				}
				v, err := m.Get(context.Background(), k)
				if !assert.NoError(t, err) || !assert.Equal(t, fmt.Sprint(k), v) {
					return
				}
			}
		})
	}
	wg.Wait()
	st := m.Stats()
	assert.LessOrEqual(t, st.Len, capacity)
	assert.Equal(t, st.Misses, st.Loads+st.Shared, st.String())
}
