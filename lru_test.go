package memo_test

import (
	"container/list"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
)

// refLRU is an obviously correct LRU: a map and a list, front = most recent.
type refLRU struct {
	cap   int
	order *list.List
	pos   map[int]*list.Element
	hits  int
}

func newRefLRU(capacity int) *refLRU {
	return &refLRU{cap: capacity, order: list.New(), pos: map[int]*list.Element{}}
}

// get returns whether k was cached; either way k ends up most recent.
func (r *refLRU) get(k int) bool {
	if el, ok := r.pos[k]; ok {
		r.order.MoveToFront(el)
		r.hits++
		return true
	}
	r.set(k)
	return false
}

func (r *refLRU) set(k int) {
	if el, ok := r.pos[k]; ok {
		r.order.MoveToFront(el)
		return
	}
	r.pos[k] = r.order.PushFront(k)
	if r.order.Len() > r.cap {
		last := r.order.Back()
		r.order.Remove(last)
		delete(r.pos, last.Value.(int))
	}
}

func (r *refLRU) has(k int) bool { _, ok := r.pos[k]; return ok }

// Promise 1: on long skewed traces, at every capacity, memo's LRU hits
// exactly when the reference does and holds exactly the same keys. Gets and
// Sets are uses; Peeks are not.
func TestLRUMatchesAReferenceLRUExactly(t *testing.T) {
	const keys = 5000
	for _, s := range []float64{1.01, 1.2} {
		for _, capacity := range []int{1, 2, 10, 100, 1000, 4999} {
			t.Run(fmt.Sprintf("zipf=%v/cap=%d", s, capacity), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(capacity), 7))
				z := rand.NewZipf(r, s, 1, keys-1)
				m := memo.Memoize(square, memo.WithCapacity(capacity))
				ref := newRefLRU(capacity)
				ctx := context.Background()
				for i := range 100_000 {
					k := int(z.Uint64())
					switch op := r.IntN(100); {
					case op < 3:
						m.Set(k, k*k)
						ref.set(k)
					case op < 6:
						_, ok := m.Peek(k)
						require.Equal(t, ref.has(k), ok, "Peek(%d) at step %d", k, i)
					default:
						before := m.Stats().Hits
						_, _ = m.Get(ctx, k)
						hit := m.Stats().Hits > before
						require.Equal(t, ref.get(k), hit, "Get(%d) at step %d", k, i)
					}
				}
				st := m.Stats()
				assert.Equal(t, uint64(ref.hits), st.Hits, st.String())
				assert.Equal(t, ref.order.Len(), st.Len)
				for k := range keys {
					_, ok := m.Peek(k)
					require.Equal(t, ref.has(k), ok, "key %d at the end", k)
				}
			})
		}
	}
}

// Promise 2: Len never exceeds the capacity, even while many goroutines
// insert; Evictions counts every entry dropped for room.
func TestLRULenNeverExceedsCapacity(t *testing.T) {
	const capacity = 64
	m := memo.Memoize(square, memo.WithCapacity(capacity))
	var stop atomic.Bool
	watcher := make(chan int)
	go func() {
		maxLen := 0
		for !stop.Load() {
			maxLen = max(maxLen, m.Len())
		}
		watcher <- maxLen
	}()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 5000 {
				k := r.IntN(500)
				v, err := m.Get(context.Background(), k)
				if !assert.NoError(t, err) || !assert.Equal(t, k*k, v) {
					return
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	assert.LessOrEqual(t, <-watcher, capacity)
	st := m.Stats()
	assert.Equal(t, capacity, st.Len, st.String())
	assert.Equal(t, capacity, st.Capacity)
	assert.Equal(t, st.Loads, st.Evictions+uint64(st.Len), "every stored entry is either still there or was evicted: %v", st)
	assert.Equal(t, st.Misses, st.Loads+st.Shared, st.String())
}

// Promise 3: capacity 0 is unbounded.
func TestLRUCapacityZeroIsUnbounded(t *testing.T) {
	m := memo.Memoize(square, memo.WithCapacity(0))
	for k := range 10_000 {
		_, _ = m.Get(context.Background(), k)
	}
	st := m.Stats()
	assert.Equal(t, 10_000, st.Len)
	assert.Equal(t, 0, st.Capacity)
	assert.Zero(t, st.Evictions)
}

// Promise 4: with a TTL, whichever comes first drops the entry, each counted
// in its own counter.
func TestLRUWithTTLCountsEvictionsAndExpirationsApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := count(square)
		m := memo.Memoize(c.load, memo.WithCapacity(2), memo.WithTTL(time.Minute))
		ctx := context.Background()
		_, _ = m.Get(ctx, 1)
		_, _ = m.Get(ctx, 2)
		_, _ = m.Get(ctx, 3) // evicts 1 (live): an eviction
		st := m.Stats()
		assert.Equal(t, uint64(1), st.Evictions, st.String())
		time.Sleep(time.Minute)
		_, ok := m.Peek(2)
		assert.False(t, ok, "expired entries are never returned")
		_, _ = m.Get(ctx, 2) // replaces the expired 2: an expiration
		_, _ = m.Get(ctx, 4) // evicts 3, which had expired: an expiration
		st = m.Stats()
		assert.Equal(t, uint64(1), st.Evictions, st.String())
		assert.Equal(t, uint64(2), st.Expirations, st.String())
		assert.Equal(t, 2, st.Len)
		assert.Equal(t, 2, c.n(2))
	})
}

func TestLRUForgetClearAndSet(t *testing.T) {
	c := count(square)
	m := memo.Memoize(c.load, memo.WithCapacity(3))
	ctx := context.Background()
	for k := range 3 {
		_, _ = m.Get(ctx, k)
	}
	m.Forget(0)
	assert.Equal(t, 2, m.Len())
	m.Set(10, 100) // fills the freed slot: no eviction
	assert.Equal(t, uint64(0), m.Stats().Evictions)
	m.Set(11, 121) // evicts 1, the least recently used
	_, ok := m.Peek(1)
	assert.False(t, ok)
	assert.Equal(t, uint64(1), m.Stats().Evictions)
	m.Clear()
	assert.Equal(t, 0, m.Len())
	assert.Equal(t, memo.Stats{Capacity: 3}, m.Stats())
	_, _ = m.Get(ctx, 2)
	assert.Equal(t, 2, c.n(2))
}

// An entry being loaded does not count against the capacity until it is
// stored.
func TestLRULoadingEntriesDoNotTakeRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		m := memo.Memoize(g.load, memo.WithCapacity(1))
		m.Set(1, 1)
		go func() { _, _ = m.Get(context.Background(), 2) }()
		synctest.Wait()
		_, ok := m.Peek(1)
		assert.True(t, ok, "a load in flight evicts nothing")
		assert.Equal(t, 1, m.Len())
		close(g.release)
		synctest.Wait()
		_, ok = m.Peek(1)
		assert.False(t, ok)
		v, _ := m.Peek(2)
		assert.Equal(t, 20, v)
		assert.Equal(t, uint64(1), m.Stats().Evictions)
	})
}

// Promise 5: WithOnEvict tells which entry left and why, outside the memo's
// lock (the callback may call the memo).
func TestOnEvictReportsEveryDropWithItsReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type drop struct {
			k, v   int
			reason memo.EvictReason
		}
		var drops []drop
		var m *memo.Memo[int, int]
		m = memo.Memoize(square, memo.WithCapacity(2), memo.WithTTL(time.Minute),
			memo.WithOnEvict(func(k, v int, r memo.EvictReason) {
				_ = m.Len() // would deadlock under the memo's lock
				drops = append(drops, drop{k, v, r})
			}))
		ctx := context.Background()
		_, _ = m.Get(ctx, 1)
		_, _ = m.Get(ctx, 2)
		_, _ = m.Get(ctx, 3) // evicts 1
		m.Set(3, 0)          // replaces 3
		m.Forget(2)
		_, _ = m.Get(ctx, 4)
		time.Sleep(time.Minute)
		_, _ = m.Get(ctx, 4) // 4 expired
		m.Clear()            // drops 3 (expired) and 4
		assert.Equal(t, []drop{
			{1, 1, memo.Evicted},
			{3, 9, memo.Replaced},
			{2, 4, memo.Forgotten},
			{4, 16, memo.Expired},
		}, drops[:4])
		assert.ElementsMatch(t, []drop{{3, 0, memo.Expired}, {4, 16, memo.Cleared}}, drops[4:])
		assert.Equal(t, "evicted", memo.Evicted.String())
	})
}

func TestOnEvictWorksOnTheMapStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reasons []memo.EvictReason
		m := memo.Memoize(square, memo.WithTTL(time.Second),
			memo.WithOnEvict(func(k, v int, r memo.EvictReason) { reasons = append(reasons, r) }))
		ctx := context.Background()
		_, _ = m.Get(ctx, 1)
		m.Set(1, 5)
		m.Forget(1)
		_, _ = m.Get(ctx, 2)
		time.Sleep(time.Second)
		_, _ = m.Get(ctx, 3) // the miss sweeps 2
		m.Clear()
		assert.Equal(t, []memo.EvictReason{memo.Replaced, memo.Forgotten, memo.Expired, memo.Cleared}, reasons)
	})
}

func TestOnEvictOfTheWrongTypePanicsAtConstruction(t *testing.T) {
	assert.PanicsWithValue(t,
		"memo: WithOnEvict was given a func(string, int, memo.EvictReason), but this memo needs a func(int, int, memo.EvictReason)",
		func() { memo.Memoize(square, memo.WithOnEvict(func(string, int, memo.EvictReason) {})) })
}

// Many goroutines hit, miss, set and forget on a small LRU; under -race this
// checks the hit path's recording against the drains, and every value read
// must belong to its key.
func TestLRUConcurrentUse(t *testing.T) {
	const capacity = 100
	m := memo.Memoize(func(_ context.Context, k int) (string, error) { return fmt.Sprint(k), nil },
		memo.WithCapacity(capacity))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			z := rand.NewZipf(r, 1.1, 1, 400)
			for i := range 20_000 {
				k := int(z.Uint64())
				switch i % 100 {
				case 0:
					m.Forget(k)
				case 1:
					m.Set(k, fmt.Sprint(k))
				}
				v, err := m.Get(context.Background(), k)
				if !assert.NoError(t, err) || !assert.Equal(t, fmt.Sprint(k), v) {
					return
				}
			}
		}()
	}
	wg.Wait()
	st := m.Stats()
	assert.LessOrEqual(t, st.Len, capacity)
	assert.Equal(t, st.Misses, st.Loads+st.Shared, st.String())
}

func TestLRUHitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m := memo.Memoize(square, memo.WithCapacity(10))
	ctx := context.Background()
	_, _ = m.Get(ctx, 5)
	assert.Zero(t, testing.AllocsPerRun(10_000, func() { _, _ = m.Get(ctx, 5) }))
}

// Far more goroutines than stripes hammer a tiny LRU, so stripes are shared,
// fill up and are drained from every path at once. It must finish (a
// deadlock fails the test by its timeout) with the LRU's invariants intact.
func TestLRUManyGoroutinesShareStripesWithoutDeadlock(t *testing.T) {
	m := memo.Memoize(square, memo.WithCapacity(8))
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				k := (i*7 + w) % 12 // mostly hits, some misses and evictions
				if v, err := m.Get(ctx, k); err != nil || v != k*k {
					t.Errorf("Get(%d) = %d, %v", k, v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := m.Stats()
	assert.LessOrEqual(t, st.Len, 8)
	assert.Equal(t, st.Loads, st.Evictions+uint64(st.Len), st.String())
}
