package memo_test

import (
	"container/list"
	"context"
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

func (r *refLRU) forget(k int) {
	if el, ok := r.pos[k]; ok {
		r.order.Remove(el)
		delete(r.pos, k)
	}
}

// atDepth runs f from depth nested calls whose frames are 256 bytes each:
// the goroutine's stack grows (it moves to a larger one) and the hit path
// sees another stack address, hence another stripe hint.
func atDepth(depth int, f func()) {
	var pad [256]byte
	if depth > 0 {
		atDepth(depth-1, f)
		pad[depth%256]++
		return
	}
	f()
	_ = pad
}

// Promise 1, the hard case: the exact order holds for one goroutine even
// while its stack moves. Operations are made from call depths that change
// every few steps (a stack address, and so the buffer's stripe, depends on
// the depth), and collections in between shrink the stack again; misses run
// fn on a goroutine of their own. Long traces at many capacities, with
// Forget, must match the reference step by step.
func TestLRUExactForOneGoroutineWhileItsStackMoves(t *testing.T) {
	const keys, steps = 3000, 60_000
	for _, capacity := range []int{1, 3, 8, 17, 64, 256, 1000, 2999} {
		t.Run(fmt.Sprintf("cap=%d", capacity), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(capacity), 11))
			z := rand.NewZipf(r, 1.1, 1, keys-1)
			m := memo.Memoize(square, memo.WithCapacity(capacity))
			ref := newRefLRU(capacity)
			// A context that can end: fn runs on a goroutine of its own,
			// which may still hold the memo's mutex when Get returns.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			depth := 0
			for i := range steps {
				if i%97 == 0 {
					depth = r.IntN(64)
				}
				if i%5000 == 0 {
					runtime.GC() // shrinks the stack, which moves it
				}
				k := int(z.Uint64())
				atDepth(depth, func() {
					switch op := r.IntN(100); {
					case op < 2:
						m.Forget(k)
						ref.forget(k)
					case op < 5:
						m.Set(k, k*k)
						ref.set(k)
					default:
						before := m.Stats().Hits
						_, _ = m.Get(ctx, k)
						require.Equal(t, ref.get(k), m.Stats().Hits > before, "Get(%d) at step %d", k, i)
					}
				})
			}
			for k := range keys {
				_, ok := m.Peek(k)
				require.Equal(t, ref.has(k), ok, "key %d at the end", k)
			}
		})
	}
}

// Promise 1 after concurrency: once concurrent use has ended and Clear has
// run, one goroutine's sequence is exact again.
func TestLRUExactAgainAfterConcurrentUseAndClear(t *testing.T) {
	const capacity = 50
	m := memo.Memoize(square, memo.WithCapacity(capacity))
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20_000 {
				_, _ = m.Get(ctx, (i*w)%70)
			}
		}()
	}
	wg.Wait()
	m.Clear()
	ref := newRefLRU(capacity)
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 50_000 {
		k := r.IntN(80)
		before := m.Stats().Hits
		_, _ = m.Get(ctx, k)
		require.Equal(t, ref.get(k), m.Stats().Hits > before, "Get(%d) at step %d", k, i)
	}
}

// Promise 2, concurrently: with a working set that fits, no entry is ever
// lost and every counter is exact, whatever the buffers dropped.
func TestLRUConcurrentHitsLoseNoEntryAndCountExactly(t *testing.T) {
	const capacity, keys, workers, each = 256, 200, 8, 20_000
	c := count(square)
	m := memo.Memoize(c.load, memo.WithCapacity(capacity))
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for range each {
				k := r.IntN(keys)
				if v, err := m.Get(ctx, k); err != nil || v != k*k {
					t.Errorf("Get(%d) = %d, %v", k, v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := m.Stats()
	assert.Equal(t, keys, st.Len, st.String())
	assert.Equal(t, uint64(workers*each), st.Hits+st.Misses, st.String())
	assert.Equal(t, uint64(keys), st.Loads, "each key loaded once: %v", st)
	assert.Equal(t, keys, c.total())
	assert.Zero(t, st.Evictions)
	for k := range keys {
		_, ok := m.Peek(k)
		assert.True(t, ok, "key %d lost", k)
	}
}

// releaseCase is one way for every entry of a store to leave it.
type releaseCase struct {
	name  string
	leave func(set func(int), forget func(int), clear func())
}

var releaseCases = []releaseCase{
	{"clear", func(_ func(int), _ func(int), clear func()) { clear() }},
	{"forget-all-then-set", func(set func(int), forget func(int), _ func()) {
		for k := range 500 {
			forget(k)
		}
		set(10_000)
	}},
	{"600-sets-evict-all", func(set func(int), _ func(int), _ func()) {
		for k := range 600 {
			set(1000 + k)
		}
	}},
}

// Promise (issue 17.1, CPython's lru_cache test ported): no store keeps a
// value reachable once its entry has left, whether cleared, forgotten or
// evicted. 500 values of 128 bytes are loaded from 4 goroutines (80 000 Gets),
// then every entry leaves; after collections every value must be released.
// (600 Sets evict nothing from an unbounded store, so that case is skipped
// there.)
func TestNoStoreKeepsAValueAfterItsEntryLeft(t *testing.T) {
	type val = [128]byte
	stores := []struct {
		name    string
		bounded bool
		make    func(load func(context.Context, int) (*val, error)) *memo.Memo[int, *val]
	}{
		{"lru", true, func(l func(context.Context, int) (*val, error)) *memo.Memo[int, *val] {
			return memo.Memoize(l, memo.WithCapacity(600))
		}},
		{"lru-ttl", true, func(l func(context.Context, int) (*val, error)) *memo.Memo[int, *val] {
			return memo.Memoize(l, memo.WithCapacity(600), memo.WithTTL(time.Hour))
		}},
		{"map", false, func(l func(context.Context, int) (*val, error)) *memo.Memo[int, *val] {
			return memo.Memoize(l)
		}},
		{"map-ttl", false, func(l func(context.Context, int) (*val, error)) *memo.Memo[int, *val] {
			return memo.Memoize(l, memo.WithTTL(time.Hour))
		}},
		{"weak-window", true, func(l func(context.Context, int) (*val, error)) *memo.Memo[int, *val] {
			return memo.MemoizeWeak(l, memo.WithCapacity(600))
		}},
	}
	for _, st := range stores {
		for _, rc := range releaseCases {
			if rc.name == "600-sets-evict-all" && !st.bounded {
				continue
			}
			t.Run(st.name+"/"+rc.name, func(t *testing.T) {
				var released atomic.Int64
				load := func(_ context.Context, k int) (*val, error) {
					v := new(val)
					if k < 500 {
						runtime.AddCleanup(v, func(int) { released.Add(1) }, k)
					}
					return v, nil
				}
				m := st.make(load)
				ctx := context.Background()
				var wg sync.WaitGroup
				for w := range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range 20_000 {
							_, _ = m.Get(ctx, (i*7+w)%500)
						}
					}()
				}
				wg.Wait()
				require.Equal(t, 500, m.Len())
				rc.leave(func(k int) { m.Set(k, new(val)) }, m.Forget, m.Clear)
				for i := 0; i < 200 && released.Load() < 500; i++ {
					runtime.GC()
					time.Sleep(time.Millisecond) // real time: let the runtime's cleanup goroutine run
				}
				assert.Equal(t, int64(500), released.Load(), "values still reachable: %d of 500", 500-released.Load())
				runtime.KeepAlive(m)
			})
		}
	}
}

// Promise (issue 17.3): Get, Set, Forget and Clear racing on every store, the
// weak window included, never panic, and the memo works afterwards.
func TestEveryStoreSurvivesGetSetForgetClearRacing(t *testing.T) {
	rounds := 200_000
	if raceEnabled {
		rounds = 40_000
	}
	type val struct{ k int }
	load := func(_ context.Context, k int) (*val, error) { return &val{k}, nil }
	stores := map[string]func() *memo.Memo[int, *val]{
		"map":     func() *memo.Memo[int, *val] { return memo.Memoize(load) },
		"map-ttl": func() *memo.Memo[int, *val] { return memo.Memoize(load, memo.WithTTL(time.Millisecond)) },
		"lru":     func() *memo.Memo[int, *val] { return memo.Memoize(load, memo.WithCapacity(4)) },
		"lru-ttl": func() *memo.Memo[int, *val] {
			return memo.Memoize(load, memo.WithCapacity(4), memo.WithTTL(time.Millisecond))
		},
		"weak":        func() *memo.Memo[int, *val] { return memo.MemoizeWeak(load) },
		"weak-window": func() *memo.Memo[int, *val] { return memo.MemoizeWeak(load, memo.WithCapacity(4)) },
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			m := mk()
			ctx := context.Background()
			var wg sync.WaitGroup
			run := func(f func(i int)) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range rounds {
						f(i)
					}
				}()
			}
			get := func(i int) {
				k := i % 6
				if v, err := m.Get(ctx, k); err != nil || v.k != k {
					t.Errorf("Get(%d) = %v, %v", k, v, err)
				}
			}
			run(get)
			run(func(i int) { get(i * 5) })
			run(func(i int) {
				switch i % 3 {
				case 0:
					m.Clear()
				case 1:
					m.Set(i%6, &val{i % 6})
				default:
					m.Forget(i % 6)
				}
			})
			wg.Wait()
			v, err := m.Get(ctx, 3)
			require.NoError(t, err)
			assert.Equal(t, 3, v.k)
			assert.LessOrEqual(t, m.Len(), 6)
		})
	}
}
