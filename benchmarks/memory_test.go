package benchmarks

import (
	"context"
	"fmt"
	"sync"

	"github.com/Yiling-J/theine-go"
	"github.com/dgraph-io/ristretto/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/jellydator/ttlcache/v3"
	"github.com/maypok86/otter/v2"

	"github.com/go-memo/memo"
)

// The memory benchmark fills each cache with n entries of two kinds; each
// peer needs its own generic fill function, instantiated for both.

type filler struct {
	name string
	ints func(keys []int) any
	strs func(keys []string) any
}

// held counts the keys a filled cache still holds: a cache whose admission
// policy refused some holds fewer than it was given, which makes its bytes
// per entry look smaller than they are.
func held[K comparable](c any, keys []K) int {
	n := 0
	for _, k := range keys {
		var ok bool
		switch c := c.(type) {
		case *memo.Memo[K, int]:
			_, ok = c.Peek(k)
		case *memo.Memo[K, []byte]:
			_, ok = c.Peek(k)
		case *lru.Cache[K, int]:
			ok = c.Contains(k)
		case *lru.Cache[K, []byte]:
			ok = c.Contains(k)
		case *expirable.LRU[K, int]:
			ok = c.Contains(k)
		case *expirable.LRU[K, []byte]:
			ok = c.Contains(k)
		case *otter.Cache[K, int]:
			_, ok = c.GetIfPresent(k)
		case *otter.Cache[K, []byte]:
			_, ok = c.GetIfPresent(k)
		case *theine.Cache[K, int]:
			_, ok = c.Get(k)
		case *theine.Cache[K, []byte]:
			_, ok = c.Get(k)
		case *ttlcache.Cache[K, int]:
			ok = c.Has(k)
		case *ttlcache.Cache[K, []byte]:
			ok = c.Has(k)
		case *sync.Map:
			_, ok = c.Load(k)
		case map[K]int:
			_, ok = c[k]
		case map[K][]byte:
			_, ok = c[k]
		default:
			ok = heldByRistretto(c, k)
		}
		if ok {
			n++
		}
	}
	return n
}

func heldByRistretto[K comparable](c any, k K) bool {
	switch c := c.(type) {
	case *ristretto.Cache[int, int]:
		_, ok := c.Get(any(k).(int))
		return ok
	case *ristretto.Cache[string, []byte]:
		_, ok := c.Get(any(k).(string))
		return ok
	}
	panic(fmt.Sprintf("held: unknown cache %T", c))
}

func value64(string) []byte { return make([]byte, 64) }

func fillInts[C any](fill func(n int, each func(func(k, v int))) C) func([]int) any {
	return func(keys []int) any {
		return fill(len(keys), func(put func(k, v int)) {
			for _, k := range keys {
				put(k, k)
			}
		})
	}
}

func fillStrs[C any](fill func(n int, each func(func(k string, v []byte))) C) func([]string) any {
	return func(keys []string) any {
		return fill(len(keys), func(put func(k string, v []byte)) {
			for _, k := range keys {
				put(k, value64(k))
			}
		})
	}
}

func memoFill[K comparable, V any](n int, each func(func(K, V))) *memo.Memo[K, V] {
	m := memo.Memoize(func(context.Context, K) (V, error) { var v V; return v, nil }, memo.WithCapacity(n))
	each(m.Set)
	return m
}

func memoTinyLFUFill[K comparable, V any](n int, each func(func(K, V))) *memo.Memo[K, V] {
	m := memo.Memoize(func(context.Context, K) (V, error) { var v V; return v, nil }, memo.WithCapacity(n), memo.WithPolicy(memo.TinyLFU))
	each(m.Set)
	return m
}

func memoUnboundedFill[K comparable, V any](n int, each func(func(K, V))) *memo.Memo[K, V] {
	m := memo.Memoize(func(context.Context, K) (V, error) { var v V; return v, nil })
	each(m.Set)
	return m
}

func golangLRUFill[K comparable, V any](n int, each func(func(K, V))) *lru.Cache[K, V] {
	c, _ := lru.New[K, V](n)
	each(func(k K, v V) { c.Add(k, v) })
	return c
}

func expirableFill[K comparable, V any](n int, each func(func(K, V))) *expirable.LRU[K, V] {
	c := expirable.NewLRU[K, V](n, nil, 0)
	each(func(k K, v V) { c.Add(k, v) })
	return c
}

func otterFill[K comparable, V any](n int, each func(func(K, V))) *otter.Cache[K, V] {
	c := otter.Must(&otter.Options[K, V]{MaximumSize: n})
	each(func(k K, v V) { c.Set(k, v) })
	return c
}

type ristrettoKey interface{ ~int | ~string }

func ristrettoFill[K ristrettoKey, V any](n int, each func(func(K, V))) *ristretto.Cache[K, V] {
	c, _ := ristretto.NewCache(&ristretto.Config[K, V]{NumCounters: int64(10 * n), MaxCost: int64(n), BufferItems: 64, IgnoreInternalCost: true})
	each(func(k K, v V) { c.Set(k, v, 1) })
	c.Wait()
	return c
}

func theineFill[K comparable, V any](n int, each func(func(K, V))) *theine.Cache[K, V] {
	c, _ := theine.NewBuilder[K, V](int64(n)).Build()
	each(func(k K, v V) { c.Set(k, v, 1) })
	return c
}

func ttlcacheFill[K comparable, V any](n int, each func(func(K, V))) *ttlcache.Cache[K, V] {
	c := ttlcache.New[K, V](ttlcache.WithCapacity[K, V](uint64(n)))
	each(func(k K, v V) { c.Set(k, v, ttlcache.NoTTL) })
	return c
}

func syncMapFill[K comparable, V any](_ int, each func(func(K, V))) *sync.Map {
	var m sync.Map
	each(func(k K, v V) { m.Store(k, v) })
	return &m
}

func mapFill[K comparable, V any](n int, each func(func(K, V))) map[K]V {
	m := make(map[K]V) // grown as entries come, as a cache's map would
	each(func(k K, v V) { m[k] = v })
	return m
}

var memoryFillers = []filler{
	{"memo", fillInts(memoFill[int, int]), fillStrs(memoFill[string, []byte])},
	{"memo-tinylfu", fillInts(memoTinyLFUFill[int, int]), fillStrs(memoTinyLFUFill[string, []byte])},
	{"memo-unbounded", fillInts(memoUnboundedFill[int, int]), fillStrs(memoUnboundedFill[string, []byte])},
	{"golang-lru", fillInts(golangLRUFill[int, int]), fillStrs(golangLRUFill[string, []byte])},
	{"golang-lru-expirable", fillInts(expirableFill[int, int]), fillStrs(expirableFill[string, []byte])},
	{"otter", fillInts(otterFill[int, int]), fillStrs(otterFill[string, []byte])},
	{"ristretto", fillInts(ristrettoFill[int, int]), fillStrs(ristrettoFill[string, []byte])},
	{"theine", fillInts(theineFill[int, int]), fillStrs(theineFill[string, []byte])},
	{"ttlcache", fillInts(ttlcacheFill[int, int]), fillStrs(ttlcacheFill[string, []byte])},
	{"sync.Map", fillInts(syncMapFill[int, int]), fillStrs(syncMapFill[string, []byte])},
	{"RWMutex-map", fillInts(mapFill[int, int]), fillStrs(mapFill[string, []byte])},
}
