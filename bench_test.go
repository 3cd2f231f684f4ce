package memo_test

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-memo/memo"
)

// Benchmarks of the hit path compare a memo with the baselines a Go
// programmer writes by hand, in the same run:
//
//	go test -run '^$' -bench . -benchmem -cpu 1,2 -count 10 | tee new.txt
//	benchstat -col /impl new.txt
//
// Every hit benchmark reads a Zipf(s=1.01) key stream over a working set of
// 10 000 keys that is fully cached before the timer starts.

const (
	workingSet = 10_000
	streamLen  = 1 << 16 // keys per stream, a power of two
)

// zipfStream returns a fixed pseudo-random stream of keys in [0, workingSet),
// skewed as real traffic is: a few keys are asked for very often.
func zipfStream(seed uint64) []int {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, 42)), 1.01, 1, workingSet-1)
	keys := make([]int, streamLen)
	for i := range keys {
		keys[i] = int(z.Uint64())
	}
	return keys
}

type smallKey struct {
	ID     int32
	Region uint16
	Kind   byte
}

func toSmallKey(i int) smallKey {
	return smallKey{ID: int32(i), Region: uint16(i % 7), Kind: byte(i % 3)}
}

// runHits runs get over the key stream, serially with b.Loop or in parallel
// with b.RunParallel, each goroutine starting at its own offset.
func runHits[K any](b *testing.B, parallel bool, keys []K, get func(K) bool) {
	b.ReportAllocs()
	if !parallel {
		i := 0
		for b.Loop() {
			if !get(keys[i&(streamLen-1)]) {
				b.Fatal("miss on a cached key")
			}
			i++
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(streamLen)
		for pb.Next() {
			if !get(keys[i&(streamLen-1)]) {
				b.Error("miss on a cached key")
				return
			}
			i++
		}
	})
}

func modes(b *testing.B, f func(b *testing.B, parallel bool)) {
	b.Run("mode=serial", func(b *testing.B) { f(b, false) })
	b.Run("mode=parallel", func(b *testing.B) { f(b, true) })
}

func benchMemoHit[K comparable](b *testing.B, conv func(int) K, opts ...memo.Option) {
	modes(b, func(b *testing.B, parallel bool) {
		m := memo.Memoize(func(_ context.Context, k K) (int, error) { return 1, nil }, opts...)
		ctx := context.Background()
		keys := make([]K, streamLen)
		for i, k := range zipfStream(1) {
			keys[i] = conv(k)
			_, _ = m.Get(ctx, keys[i])
		}
		runHits(b, parallel, keys, func(k K) bool {
			v, err := m.Get(ctx, k)
			return err == nil && v == 1
		})
	})
}

func benchSyncMapHit[K comparable](b *testing.B, conv func(int) K) {
	modes(b, func(b *testing.B, parallel bool) {
		var m sync.Map
		keys := make([]K, streamLen)
		for i, k := range zipfStream(1) {
			keys[i] = conv(k)
			m.Store(keys[i], 1)
		}
		runHits(b, parallel, keys, func(k K) bool {
			v, ok := m.Load(k)
			return ok && v.(int) == 1
		})
	})
}

func benchRWMutexMapHit[K comparable](b *testing.B, conv func(int) K) {
	modes(b, func(b *testing.B, parallel bool) {
		var mu sync.RWMutex
		m := map[K]int{}
		keys := make([]K, streamLen)
		for i, k := range zipfStream(1) {
			keys[i] = conv(k)
			m[keys[i]] = 1
		}
		runHits(b, parallel, keys, func(k K) bool {
			mu.RLock()
			v, ok := m[k]
			mu.RUnlock()
			return ok && v == 1
		})
	})
}

// globalDict is what a Python programmer writes first in Go: a package-level
// dict behind one mutex, filled on a miss.
type globalDict[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
	fn func(context.Context, K) (V, error)
}

func (d *globalDict[K, V]) get(ctx context.Context, k K) (V, error) {
	d.mu.Lock()
	v, ok := d.m[k]
	d.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := d.fn(ctx, k)
	if err != nil {
		return v, err
	}
	d.mu.Lock()
	d.m[k] = v
	d.mu.Unlock()
	return v, nil
}

func benchGlobalDictHit[K comparable](b *testing.B, conv func(int) K) {
	modes(b, func(b *testing.B, parallel bool) {
		d := &globalDict[K, int]{m: map[K]int{}, fn: func(context.Context, K) (int, error) { return 1, nil }}
		ctx := context.Background()
		keys := make([]K, streamLen)
		for i, k := range zipfStream(1) {
			keys[i] = conv(k)
			_, _ = d.get(ctx, keys[i])
		}
		runHits(b, parallel, keys, func(k K) bool {
			v, err := d.get(ctx, k)
			return err == nil && v == 1
		})
	})
}

func identity(i int) int { return i }

func BenchmarkHit(b *testing.B) {
	b.Run("key=int", func(b *testing.B) {
		b.Run("impl=memo", func(b *testing.B) { benchMemoHit(b, identity) })
		b.Run("impl=memo-ttl", func(b *testing.B) { benchMemoHit(b, identity, memo.WithTTL(time.Hour)) })
		b.Run("impl=sync.Map", func(b *testing.B) { benchSyncMapHit(b, identity) })
		b.Run("impl=RWMutex-map", func(b *testing.B) { benchRWMutexMapHit(b, identity) })
		b.Run("impl=global-dict", func(b *testing.B) { benchGlobalDictHit(b, identity) })
	})
	b.Run("key=struct", func(b *testing.B) {
		b.Run("impl=memo", func(b *testing.B) { benchMemoHit(b, toSmallKey) })
		b.Run("impl=sync.Map", func(b *testing.B) { benchSyncMapHit(b, toSmallKey) })
		b.Run("impl=RWMutex-map", func(b *testing.B) { benchRWMutexMapHit(b, toSmallKey) })
		b.Run("impl=global-dict", func(b *testing.B) { benchGlobalDictHit(b, toSmallKey) })
	})
}

// BenchmarkMiss measures a Get that calls a trivial fn and stores its value:
// the cost memo adds to every load. Keys are always new; the memo is cleared
// every 64Ki keys so that it does not grow with b.N.
func BenchmarkMiss(b *testing.B) {
	fn := func(_ context.Context, k int) (int, error) { return k, nil }
	b.Run("ctx=background", func(b *testing.B) {
		modes(b, func(b *testing.B, parallel bool) { benchMiss(b, parallel, context.Background(), fn) })
	})
	b.Run("ctx=cancelable", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		modes(b, func(b *testing.B, parallel bool) { benchMiss(b, parallel, ctx, fn) })
	})
}

func benchMiss(b *testing.B, parallel bool, ctx context.Context, fn func(context.Context, int) (int, error)) {
	m := memo.Memoize(fn)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for b.Loop() {
			k := int(next.Add(1))
			if k&(1<<16-1) == 0 {
				m.Clear()
			}
			_, _ = m.Get(ctx, k)
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := int(next.Add(1))
			if k&(1<<16-1) == 0 {
				m.Clear()
			}
			_, _ = m.Get(ctx, k)
		}
	})
}

// BenchmarkThunderingHerd: 1000 goroutines ask for one cold key at once; fn
// takes 1ms. One op is the whole herd; loads/op must stay 1.
func BenchmarkThunderingHerd(b *testing.B) {
	const herd = 1000
	var loads atomic.Int64
	m := memo.Memoize(func(_ context.Context, k int) (int, error) {
		loads.Add(1)
		time.Sleep(time.Millisecond)
		return k, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	key := 0
	for b.Loop() {
		key++
		var start, wg sync.WaitGroup
		start.Add(1)
		for range herd {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				if v, err := m.Get(ctx, key); err != nil || v != key {
					b.Error("wrong result", v, err)
				}
			}()
		}
		start.Done()
		wg.Wait()
	}
	b.ReportMetric(float64(loads.Load())/float64(b.N), "loads/op")
}

// mutexLRU is the textbook LRU a Go programmer writes by hand: a map and a
// container/list under one mutex.
type mutexLRU struct {
	mu    sync.Mutex
	cap   int
	order *list.List
	items map[int]*list.Element
}

type lruItem struct{ k, v int }

func newMutexLRU(capacity int) *mutexLRU {
	return &mutexLRU{cap: capacity, order: list.New(), items: make(map[int]*list.Element, capacity)}
}

func (c *mutexLRU) get(k int) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruItem).v, true
	}
	return 0, false
}

func (c *mutexLRU) add(k, v int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		el.Value.(*lruItem).v = v
		c.order.MoveToFront(el)
		return
	}
	c.items[k] = c.order.PushFront(&lruItem{k, v})
	if c.order.Len() > c.cap {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruItem).k)
	}
}

// BenchmarkLRUHit: WithCapacity(10 000) holding the whole Zipf working set,
// so every Get hits and moves its entry to the front.
func BenchmarkLRUHit(b *testing.B) {
	b.Run("impl=memo", func(b *testing.B) { benchMemoHit(b, identity, memo.WithCapacity(workingSet)) })
	b.Run("impl=memo-unbounded", func(b *testing.B) { benchMemoHit(b, identity) })
	b.Run("impl=mutex-list", func(b *testing.B) {
		modes(b, func(b *testing.B, parallel bool) {
			c := newMutexLRU(workingSet)
			keys := zipfStream(1)
			for _, k := range keys {
				c.add(k, 1)
			}
			runHits(b, parallel, keys, func(k int) bool { v, ok := c.get(k); return ok && v == 1 })
		})
	})
}

// BenchmarkLRUMix90: nine Gets in ten ask for the Zipf working set, one for a
// key never seen before, which misses, loads and evicts. The hit-ratio metric
// is what the LRU achieved.
func BenchmarkLRUMix90(b *testing.B) {
	modes(b, func(b *testing.B, parallel bool) {
		m := memo.Memoize(func(_ context.Context, k int) (int, error) { return 1, nil }, memo.WithCapacity(workingSet))
		ctx := context.Background()
		keys := zipfStream(1)
		for _, k := range keys {
			_, _ = m.Get(ctx, k)
		}
		m.Clear() // resets the counters, keeps nothing: warm up again below
		for _, k := range keys {
			_, _ = m.Get(ctx, k)
		}
		var fresh atomic.Int64
		fresh.Store(workingSet)
		get := func(i int) {
			k := keys[i&(streamLen-1)]
			if i%10 == 9 {
				k = int(fresh.Add(1))
			}
			_, _ = m.Get(ctx, k)
		}
		runOps(b, parallel, m, get)
	})
}

// BenchmarkMemoryPerEntry fills a memo with 1 000 000 int→int entries and
// reports the heap it holds per entry (index, entries, lists), measured with
// runtime.MemStats after a GC. One op is one whole fill.
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 1_000_000
	for _, tc := range []struct {
		name string
		opts []memo.Option
	}{
		{"store=map", nil},
		{"store=map-ttl", []memo.Option{memo.WithTTL(time.Hour)}},
		{"store=lru", []memo.Option{memo.WithCapacity(n)}},
		{"store=tinylfu", []memo.Option{memo.WithCapacity(n), memo.WithPolicy(memo.TinyLFU)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var perEntry float64
			for b.Loop() {
				perEntry = heapPerEntry(n, func() any {
					m := memo.Memoize(square, tc.opts...)
					for k := range n {
						m.Set(k, k)
					}
					return m
				})
			}
			b.ReportMetric(perEntry, "bytes/entry")
		})
	}
}

// heapPerEntry returns the live heap that fill's result holds, divided by n.
func heapPerEntry(n int, fill func() any) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := fill()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(kept)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

type benchBlob struct {
	key  int
	data [120]byte
}

// BenchmarkWeakHit compares a hit on the weak store (with and without a
// strong window) with one on the map store, over the same Zipf stream; the
// benchmark holds every value, so none is reclaimed.
func BenchmarkWeakHit(b *testing.B) {
	load := func(_ context.Context, k int) (*benchBlob, error) { return &benchBlob{key: k}, nil }
	for _, tc := range []struct {
		name string
		memo func() *memo.Memo[int, *benchBlob]
	}{
		{"store=map", func() *memo.Memo[int, *benchBlob] { return memo.Memoize(load) }},
		{"store=weak", func() *memo.Memo[int, *benchBlob] { return memo.MemoizeWeak(load) }},
		{"store=weak-window", func() *memo.Memo[int, *benchBlob] { return memo.MemoizeWeak(load, memo.WithCapacity(workingSet)) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			modes(b, func(b *testing.B, parallel bool) {
				m := tc.memo()
				ctx := context.Background()
				keys := zipfStream(1)
				held := make([]*benchBlob, workingSet)
				for _, k := range keys {
					held[k], _ = m.Get(ctx, k)
				}
				runHits(b, parallel, keys, func(k int) bool {
					v, err := m.Get(ctx, k)
					return err == nil && v.key == k
				})
				runtime.KeepAlive(held)
			})
		})
	}
}

// BenchmarkWeakLoadCollect: every Get loads a new value that nobody keeps;
// the collector reclaims it and its cleanup removes the entry. One op is one
// load plus, amortized, its collection and cleanup; the memo must stay small.
func BenchmarkWeakLoadCollect(b *testing.B) {
	m := memo.MemoizeWeak(func(_ context.Context, k int) (*benchBlob, error) { return &benchBlob{key: k}, nil })
	ctx := context.Background()
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		k++
		_, _ = m.Get(ctx, k)
	}
	runtime.GC()
	b.ReportMetric(float64(m.Len()), "entries-left")
}

// keyBench is the flat key of the key-encoding benchmarks: strings, ints and
// a short slice, the kind of key a search or listing function takes.
var keyBench = flatKey{Tenant: "acme", Region: "eu-west-1", Page: 3, Limit: 50, Tags: []string{"new", "sale"}}

// BenchmarkKeyEncode compares CanonicalKey with what users write by hand to
// turn such a key into a string: fmt.Sprintf("%#v") and encoding/json.
func BenchmarkKeyEncode(b *testing.B) {
	b.Run("impl=CanonicalKey", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 128)
		for b.Loop() {
			buf = memo.CanonicalKey(buf[:0], keyBench)
		}
	})
	b.Run("impl=append-KeyFunc", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 128)
		for b.Loop() {
			buf = appendFlatKey(buf[:0], keyBench)
		}
	})
	b.Run("impl=fmt-Sprintf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = fmt.Sprintf("%#v", keyBench)
		}
	})
	b.Run("impl=json-Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(keyBench)
		}
	})
}

// BenchmarkKeyEncodeDeep encodes a linked list of n nodes, deeper than
// trackAfter, so that every reference past it is tracked for cycles. Linear
// time shows as a time per node that barely moves when n grows tenfold (it
// grows a little as the set of tracked references outgrows the caches: 280,
// 440 and 730 ns per node on the 2-core VM, medians of -count 10 at
// -benchtime 1s, ranges 240-310, 420-540, 670-850); a walk that searched the whole
// path at every pointer took ten times as long per node for ten times the
// nodes (19 s for 100 000).
func BenchmarkKeyEncodeDeep(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			c := chainOf(n)
			buf := memo.CanonicalKey(nil, c)
			b.ReportAllocs()
			for b.Loop() {
				buf = memo.CanonicalKey(buf[:0], c)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/node")
		})
	}
}

// BenchmarkKeyedHit: a hit on MemoizeKeyed, with CanonicalKey and with an
// appending KeyFunc, beside a comparable-key hit and a hand-made string key.
func BenchmarkKeyedHit(b *testing.B) {
	one := func(context.Context, flatKey) (int, error) { return 1, nil }
	ctx := context.Background()
	run := func(b *testing.B, get func() (int, error)) {
		b.ReportAllocs()
		for b.Loop() {
			if v, err := get(); err != nil || v != 1 {
				b.Fatal(v, err)
			}
		}
	}
	b.Run("impl=CanonicalKey", func(b *testing.B) {
		m := memo.MemoizeKeyed(one, memo.CanonicalKey)
		run(b, func() (int, error) { return m.Get(ctx, keyBench) })
	})
	b.Run("impl=append-KeyFunc", func(b *testing.B) {
		m := memo.MemoizeKeyed(one, appendFlatKey)
		run(b, func() (int, error) { return m.Get(ctx, keyBench) })
	})
	b.Run("impl=Sprintf-string-key", func(b *testing.B) {
		m := memo.Memoize(func(context.Context, string) (int, error) { return 1, nil })
		run(b, func() (int, error) { return m.Get(ctx, fmt.Sprintf("%#v", keyBench)) })
	})
}

// BenchmarkTinyLFUHit: WithPolicy(TinyLFU) holding the whole Zipf working
// set, so every Get hits and records its use in the read buffer; the LRU and
// the unbounded store beside it, over the same stream.
func BenchmarkTinyLFUHit(b *testing.B) {
	b.Run("impl=memo-tinylfu", func(b *testing.B) {
		benchMemoHit(b, identity, memo.WithCapacity(workingSet), memo.WithPolicy(memo.TinyLFU))
	})
	b.Run("impl=memo-lru", func(b *testing.B) { benchMemoHit(b, identity, memo.WithCapacity(workingSet)) })
	b.Run("impl=memo-unbounded", func(b *testing.B) { benchMemoHit(b, identity) })
}

// BenchmarkTinyLFUMixed: reads (a Get of the Zipf stream over ten times the
// capacity, so misses load and evict) and writes (a Set of a stream key) in
// the given proportions. The hit-ratio metric is what the policy achieved.
func BenchmarkTinyLFUMixed(b *testing.B) {
	for _, reads := range []int{75, 50} {
		for _, p := range []memo.Policy{memo.TinyLFU, memo.LRU} {
			b.Run(fmt.Sprintf("reads=%d/policy=%v", reads, p), func(b *testing.B) {
				modes(b, func(b *testing.B, parallel bool) { benchMixed(b, parallel, reads, p) })
			})
		}
	}
}

func benchMixed(b *testing.B, parallel bool, reads int, p memo.Policy) {
	const capacity = workingSet / 10
	m := memo.Memoize(func(_ context.Context, k int) (int, error) { return k, nil },
		memo.WithCapacity(capacity), memo.WithPolicy(p))
	ctx := context.Background()
	keys := zipfStream(1)
	op := func(i int) {
		k := keys[i&(streamLen-1)]
		if i*7%100 < reads {
			_, _ = m.Get(ctx, k)
		} else {
			m.Set(k, k)
		}
	}
	for i := range streamLen {
		op(i)
	}
	runOps(b, parallel, m, op)
}

// runOps times op over the stream, serially or from b.RunParallel's
// goroutines each starting at a random place, and reports the hit ratio of
// the Gets it made.
func runOps(b *testing.B, parallel bool, m *memo.Memo[int, int], op func(i int)) {
	before := m.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for i := rand.IntN(streamLen); pb.Next(); i++ {
				op(i)
			}
		})
	} else {
		for i := 0; b.Loop(); i++ {
			op(i)
		}
	}
	b.StopTimer()
	after := m.Stats()
	hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
	b.ReportMetric(100*float64(hits)/float64(max(hits+misses, 1)), "hit%")
}

// BenchmarkHitRefresh compares a hit on a memo with WithRefresh to one with
// WithTTL alone (the promise: at most 1.2x), on the map store and the LRU,
// and with WithTTLFunc and WithErrorTTL, which add nothing to a hit either.
// Entries are younger than the refresh age, as in steady use: a due entry
// costs one more look-up only while its reload runs.
func BenchmarkHitRefresh(b *testing.B) {
	ttl := memo.WithTTL(time.Hour)
	refresh := memo.WithRefresh(59 * time.Minute)
	ttlFunc := memo.WithTTLFunc(func(int, int) time.Duration { return time.Hour })
	lru := memo.WithCapacity(2 * streamLen)
	b.Run("impl=memo-ttl", func(b *testing.B) { benchMemoHit(b, identity, ttl) })
	b.Run("impl=memo-ttl-refresh", func(b *testing.B) { benchMemoHit(b, identity, ttl, refresh) })
	b.Run("impl=memo-ttlfunc", func(b *testing.B) { benchMemoHit(b, identity, ttlFunc) })
	b.Run("impl=memo-ttl-errorttl", func(b *testing.B) { benchMemoHit(b, identity, ttl, memo.WithErrorTTL(time.Minute)) })
	b.Run("impl=lru-ttl", func(b *testing.B) { benchMemoHit(b, identity, lru, ttl) })
	b.Run("impl=lru-ttl-refresh", func(b *testing.B) { benchMemoHit(b, identity, lru, ttl, refresh) })
}
