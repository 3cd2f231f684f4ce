package benchmarks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/singleflight"
)

// The benchmarks: see README.md for the results and cmd/report for the
// command that runs them all and renders the tables and plots.

const (
	workingSet = 10_000
	streamLen  = 1 << 16
)

func identityLoad(_ context.Context, k int) (int, error) { return k, nil }

func modes(b *testing.B, f func(b *testing.B, parallel bool)) {
	b.Run("mode=serial", func(b *testing.B) { f(b, false) })
	b.Run("mode=parallel", func(b *testing.B) { f(b, true) })
}

// run calls op(i) for i = 0, 1, 2… serially, or from every goroutine of
// b.RunParallel, each from its own offset.
func run(b *testing.B, parallel bool, op func(i int)) {
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := 0; b.Loop(); i++ {
			op(i)
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for i := rand.IntN(streamLen); pb.Next(); i++ {
			op(i)
		}
	})
}

// Workload 1: hit throughput. Zipf(1.01) keys over a 10 000-key working set
// that fits the cache; every Get hits.
func BenchmarkHit(b *testing.B) {
	keys := Zipf(1.01, workingSet, streamLen, 1)
	for _, p := range Peers {
		b.Run("peer="+p.Name, func(b *testing.B) {
			modes(b, func(b *testing.B, parallel bool) {
				c := p.New(2*workingSet, identityLoad) // room for all, whatever the admission policy
				defer c.Close()
				ctx := context.Background()
				for range 3 { // several passes, so that frequency-based policies admit the keys
					for k := range workingSet {
						_, _ = c.Get(ctx, k)
					}
				}
				if w, ok := c.(interface{ Wait() }); ok {
					w.Wait()
				}
				run(b, parallel, func(i int) {
					if v, err := c.Get(ctx, keys[i&(streamLen-1)]); err != nil || v != keys[i&(streamLen-1)] {
						b.Error("wrong value")
					}
				})
			})
		})
	}
}

// Workload 1b: hits on a full cache. The same Zipf(1.01) stream over the same
// 10 000 keys, through a cache of exactly 10 000 entries, so that every key
// the cache holds is at stake: an LRU must order all of them, and a policy
// that admits by frequency may keep some keys out (they miss, and the
// hit-ratio metric says how often).
func BenchmarkHitFull(b *testing.B) {
	keys := Zipf(1.01, workingSet, streamLen, 1)
	for _, p := range Peers {
		b.Run("peer="+p.Name, func(b *testing.B) {
			modes(b, func(b *testing.B, parallel bool) {
				var loads atomic.Int64
				c := p.New(workingSet, func(_ context.Context, k int) (int, error) { loads.Add(1); return k, nil })
				defer c.Close()
				ctx := context.Background()
				for range 3 {
					for k := range workingSet {
						_, _ = c.Get(ctx, k)
					}
				}
				if w, ok := c.(interface{ Wait() }); ok {
					w.Wait()
				}
				loads.Store(0)
				run(b, parallel, func(i int) {
					if v, err := c.Get(ctx, keys[i&(streamLen-1)]); err != nil || v != keys[i&(streamLen-1)] {
						b.Error("wrong value")
					}
				})
				b.ReportMetric(100*(1-float64(loads.Load())/float64(b.N)), "hit%")
			})
		})
	}
}

// Workload 2: mixed reads and writes at a capacity that forces evictions:
// Zipf(1.01) over 100 000 keys through 10 000 entries. A read is a
// read-through Get, a write a Set.
func BenchmarkMixed(b *testing.B) {
	keys := Zipf(1.01, 10*workingSet, streamLen, 2)
	for _, reads := range []int{75, 50} {
		b.Run(fmt.Sprintf("reads=%d", reads), func(b *testing.B) {
			for _, p := range Peers {
				b.Run("peer="+p.Name, func(b *testing.B) {
					modes(b, func(b *testing.B, parallel bool) {
						c := p.New(workingSet, identityLoad)
						defer c.Close()
						ctx := context.Background()
						for _, k := range keys {
							_, _ = c.Get(ctx, k)
						}
						run(b, parallel, func(i int) {
							k := keys[i&(streamLen-1)]
							if i%100 < reads {
								_, _ = c.Get(ctx, k)
							} else {
								c.Set(k, k)
							}
						})
					})
				})
			}
		})
	}
}

// Workload 3: the thundering herd. 1 000 goroutines ask for one cold key at
// once; its loader takes 10ms. One op is one herd. Reported: loads per herd,
// and the median and 99th percentile latency of the callers.
func BenchmarkHerd(b *testing.B) {
	const herd = 1000
	type getter func(ctx context.Context, k int) (int, error)
	peers := []struct {
		name string
		make func(load Loader) (getter, func())
	}{}
	for _, p := range Peers {
		peers = append(peers, struct {
			name string
			make func(load Loader) (getter, func())
		}{p.Name, func(load Loader) (getter, func()) {
			c := p.New(100_000, load)
			return c.Get, c.Close
		}})
	}
	peers = append(peers, struct {
		name string
		make func(load Loader) (getter, func())
	}{"singleflight", func(load Loader) (getter, func()) {
		var g singleflight.Group
		return func(ctx context.Context, k int) (int, error) {
			v, err, _ := g.Do(fmt.Sprint(k), func() (any, error) { return load(ctx, k) })
			return v.(int), err
		}, func() {}
	}})
	for _, p := range peers {
		b.Run("peer="+p.name, func(b *testing.B) {
			var loads atomic.Int64
			get, closeFn := p.make(func(_ context.Context, k int) (int, error) {
				loads.Add(1)
				time.Sleep(10 * time.Millisecond)
				return k, nil
			})
			defer closeFn()
			ctx := context.Background()
			var latencies []time.Duration
			var mu sync.Mutex
			key := 0
			b.ReportAllocs()
			for b.Loop() {
				key++
				var start, done sync.WaitGroup
				start.Add(1)
				for range herd {
					done.Add(1)
					go func() {
						defer done.Done()
						start.Wait()
						t0 := time.Now()
						if v, err := get(ctx, key); err != nil || v != key {
							b.Error("wrong result", v, err)
						}
						d := time.Since(t0)
						mu.Lock()
						latencies = append(latencies, d)
						mu.Unlock()
					}()
				}
				start.Done()
				done.Wait()
			}
			slices.Sort(latencies)
			b.ReportMetric(float64(loads.Load())/float64(b.N), "loads/op")
			b.ReportMetric(float64(latencies[len(latencies)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(latencies[len(latencies)*99/100])/1e6, "p99-ms")
		})
	}
}

// Workload 5: memory. Each peer is filled with 1 000 000 entries, int→int
// and string→[]byte(64), and the heap it holds is divided by the entries it
// holds.
func BenchmarkMemory(b *testing.B) {
	const n = 1_000_000
	intKeys := make([]int, n)
	strKeys := make([]string, n)
	for i := range n {
		intKeys[i] = i
		strKeys[i] = fmt.Sprintf("key-%07d", i)
	}
	for _, f := range memoryFillers {
		b.Run("kind=int/peer="+f.name, func(b *testing.B) { memoryRun(b, intKeys, f.ints) })
		b.Run("kind=string-bytes64/peer="+f.name, func(b *testing.B) { memoryRun(b, strKeys, f.strs) })
	}
}

// memoryRun fills a cache with keys and reports its bytes per entry held and
// the share of keys it holds.
func memoryRun[K comparable](b *testing.B, keys []K, fill func([]K) any) {
	var heap float64
	var kept int
	for b.Loop() {
		heap = heapOf(func() any { return fill(keys) }, func(c any) { kept = held(c, keys) })
	}
	b.ReportMetric(heap/float64(kept), "bytes/entry")
	b.ReportMetric(100*float64(kept)/float64(len(keys)), "held%")
}

// heapOf returns the live heap that fill's result holds. The keys (and, for
// string keys, their bytes) exist before fill runs and are not counted; the
// values are. count is then called with the cache, after the measurement:
// bytes are divided by the entries the cache really holds, since an admission
// policy may have refused some.
func heapOf(fill func() any, count func(any)) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := fill()
	runtime.GC()
	runtime.ReadMemStats(&after)
	count(kept)
	if c, ok := kept.(interface{ Close() }); ok {
		c.Close()
	}
	return float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
}

// Workload 6, key encoding, is the core module's BenchmarkKeyEncode
// (CanonicalKey against fmt.Sprintf("%#v") and encoding/json on one struct):
// cmd/report runs it from here, as `go test github.com/go-memo/memo`.
