// Package benchmarks measures memo side by side with the Go caches users
// compare it with, on the same machine in the same run. It is a module of its
// own, so that the core module never depends on the peers.
//
// Every peer is set up as its README recommends for the capacity at hand, and
// reads through its own loader where it has one (get-then-set where it has
// not). See README.md for the results and for how to reproduce them.
package benchmarks

import (
	"context"
	"sync"
	"time"

	"github.com/Yiling-J/theine-go"
	"github.com/dgraph-io/ristretto/v2"
	arc "github.com/hashicorp/golang-lru/arc/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/jellydator/ttlcache/v3"
	"github.com/maypok86/otter/v2"

	"github.com/go-memo/memo"
)

// Each adapter below calls its cache's methods directly, even where two
// adapters read alike (golang-lru and its expirable variant): a shared helper
// calling through function values would add an indirect call to some peers'
// operations and not to others'.

// Loader is the function every cache memoizes: int keys to int values.
type Loader func(context.Context, int) (int, error)

// Cache is what a benchmark needs of a cache.
type Cache interface {
	// Get returns k's value, loading it on a miss through the cache's own
	// loader, or by get-then-set for caches without one.
	Get(ctx context.Context, k int) (int, error)
	// Set stores v for k.
	Set(k, v int)
	// Close releases background goroutines, for the peers that start some.
	Close()
}

// Sized is implemented by the caches that can say how many entries they
// hold now (those a Get could hit), for the test that watches whether a
// cache stays within its capacity while it replays a trace.
type Sized interface{ Len() int }

// Peer names a cache and how to build one of a given capacity.
type Peer struct {
	Name    string
	Bounded bool // holds at most capacity entries (else unbounded: a floor)
	Exact   bool // evicts in exact LRU order
	New     func(capacity int, load Loader) Cache
}

// Peers are the caches compared, memo first.
var Peers = []Peer{
	{"memo", true, true, newMemo},
	{"memo-tinylfu", true, false, newMemoTinyLFU},
	{"memo-unbounded", false, false, newMemoUnbounded},
	{"golang-lru", true, true, newGolangLRU},
	{"golang-lru-expirable", true, true, newExpirableLRU},
	{"golang-lru-arc", true, false, newGolangARC},
	{"otter", true, false, newOtter},
	{"ristretto", true, false, newRistretto},
	{"theine", true, false, newTheine},
	{"ttlcache", true, true, newTTLCache},
	{"sync.Map", false, false, newSyncMap},
	{"RWMutex-map", false, false, newRWMutexMap},
}

// PeerByName returns the peer called name.
func PeerByName(name string) Peer {
	for _, p := range Peers {
		if p.Name == name {
			return p
		}
	}
	panic("no peer " + name)
}

type memoCache struct{ m *memo.Memo[int, int] }

func newMemo(capacity int, load Loader) Cache {
	return memoCache{memo.Memoize(load, memo.WithCapacity(capacity))}
}

func newMemoTinyLFU(capacity int, load Loader) Cache {
	return memoCache{memo.Memoize(load, memo.WithCapacity(capacity), memo.WithPolicy(memo.TinyLFU))}
}

func newMemoUnbounded(_ int, load Loader) Cache { return memoCache{memo.Memoize(load)} }

func (c memoCache) Get(ctx context.Context, k int) (int, error) { return c.m.Get(ctx, k) }
func (c memoCache) Set(k, v int)                                { c.m.Set(k, v) }
func (c memoCache) Close()                                      {}
func (c memoCache) Len() int                                    { return c.m.Len() }

type golangLRU struct {
	c    *lru.Cache[int, int]
	load Loader
}

func newGolangLRU(capacity int, load Loader) Cache {
	c, err := lru.New[int, int](capacity)
	if err != nil {
		panic(err)
	}
	return golangLRU{c, load}
}

func (c golangLRU) Get(ctx context.Context, k int) (int, error) {
	if v, ok := c.c.Get(k); ok {
		return v, nil
	}
	v, err := c.load(ctx, k)
	if err == nil {
		c.c.Add(k, v)
	}
	return v, err
}
func (c golangLRU) Set(k, v int) { c.c.Add(k, v) }
func (c golangLRU) Close()       {}

type golangARC struct {
	c    *arc.ARCCache[int, int]
	load Loader
}

func newGolangARC(capacity int, load Loader) Cache {
	c, err := arc.NewARC[int, int](capacity)
	if err != nil {
		panic(err)
	}
	return golangARC{c, load}
}

func (c golangARC) Get(ctx context.Context, k int) (int, error) {
	if v, ok := c.c.Get(k); ok {
		return v, nil
	}
	v, err := c.load(ctx, k)
	if err == nil {
		c.c.Add(k, v)
	}
	return v, err
}
func (c golangARC) Set(k, v int) { c.c.Add(k, v) }
func (c golangARC) Close()       {}
func (c golangARC) Len() int     { return c.c.Len() }

type expirableLRU struct {
	c    *expirable.LRU[int, int]
	load Loader
}

func newExpirableLRU(capacity int, load Loader) Cache {
	return expirableLRU{expirable.NewLRU[int, int](capacity, nil, time.Hour), load}
}

func (c expirableLRU) Get(ctx context.Context, k int) (int, error) {
	if v, ok := c.c.Get(k); ok {
		return v, nil
	}
	v, err := c.load(ctx, k)
	if err == nil {
		c.c.Add(k, v)
	}
	return v, err
}
func (c expirableLRU) Set(k, v int) { c.c.Add(k, v) }
func (c expirableLRU) Close()       {}

type otterCache struct {
	c    *otter.Cache[int, int]
	load otter.Loader[int, int]
}

func newOtter(capacity int, load Loader) Cache {
	return otterCache{otter.Must(&otter.Options[int, int]{MaximumSize: capacity}), otter.LoaderFunc[int, int](load)}
}

func (c otterCache) Get(ctx context.Context, k int) (int, error) { return c.c.Get(ctx, k, c.load) }
func (c otterCache) Set(k, v int)                                { c.c.Set(k, v) }
func (c otterCache) Close()                                      {}
func (c otterCache) Len() int                                    { return c.c.EstimatedSize() }

type ristrettoCache struct {
	c    *ristretto.Cache[int, int]
	load Loader
}

func newRistretto(capacity int, load Loader) Cache {
	// As its README recommends: 10 counters per item, 64 keys per Get
	// buffer; a cost of 1 per item, with IgnoreInternalCost so that MaxCost
	// counts items as the other caches' capacities do.
	c, err := ristretto.NewCache(&ristretto.Config[int, int]{
		NumCounters:        int64(10 * capacity),
		MaxCost:            int64(capacity),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		panic(err)
	}
	return ristrettoCache{c, load}
}

func (c ristrettoCache) Get(ctx context.Context, k int) (int, error) {
	if v, ok := c.c.Get(k); ok {
		return v, nil
	}
	v, err := c.load(ctx, k)
	if err == nil {
		c.c.Set(k, v, 1)
	}
	return v, err
}
func (c ristrettoCache) Set(k, v int) { c.c.Set(k, v, 1) }
func (c ristrettoCache) Close()       { c.c.Close() }

// Wait blocks until the writes buffered so far are applied.
func (c ristrettoCache) Wait() { c.c.Wait() }

type theineCache struct {
	c *theine.LoadingCache[int, int]
}

func newTheine(capacity int, load Loader) Cache {
	c, err := theine.NewBuilder[int, int](int64(capacity)).Loading(func(ctx context.Context, k int) (theine.Loaded[int], error) {
		v, err := load(ctx, k)
		return theine.Loaded[int]{Value: v, Cost: 1}, err
	}).Build()
	if err != nil {
		panic(err)
	}
	return theineCache{c}
}

func (c theineCache) Get(ctx context.Context, k int) (int, error) { return c.c.Get(ctx, k) }
func (c theineCache) Set(k, v int)                                { c.c.Set(k, v, 1) }
func (c theineCache) Close()                                      { c.c.Close() }
func (c theineCache) Len() int                                    { return c.c.Len() }

type ttlCache struct{ c *ttlcache.Cache[int, int] }

func newTTLCache(capacity int, load Loader) Cache {
	loader := ttlcache.NewSuppressedLoader[int, int](ttlcache.LoaderFunc[int, int](
		func(c *ttlcache.Cache[int, int], k int) *ttlcache.Item[int, int] {
			v, err := load(context.Background(), k)
			if err != nil {
				return nil
			}
			return c.Set(k, v, ttlcache.NoTTL)
		}), nil)
	return ttlCache{ttlcache.New[int, int](
		ttlcache.WithCapacity[int, int](uint64(capacity)),
		ttlcache.WithLoader[int, int](loader),
	)}
}

func (c ttlCache) Get(_ context.Context, k int) (int, error) {
	if it := c.c.Get(k); it != nil {
		return it.Value(), nil
	}
	return 0, context.Canceled // the loader failed
}
func (c ttlCache) Set(k, v int) { c.c.Set(k, v, ttlcache.NoTTL) }
func (c ttlCache) Close()       {}

type syncMap struct {
	m    *sync.Map
	load Loader
}

func newSyncMap(_ int, load Loader) Cache { return syncMap{new(sync.Map), load} }

func (c syncMap) Get(ctx context.Context, k int) (int, error) {
	if v, ok := c.m.Load(k); ok {
		return v.(int), nil
	}
	v, err := c.load(ctx, k)
	if err == nil {
		c.m.Store(k, v)
	}
	return v, err
}
func (c syncMap) Set(k, v int) { c.m.Store(k, v) }
func (c syncMap) Close()       {}

type rwMutexMap struct {
	mu   *sync.RWMutex
	m    map[int]int
	load Loader
}

func newRWMutexMap(_ int, load Loader) Cache {
	return rwMutexMap{new(sync.RWMutex), map[int]int{}, load}
}

func (c rwMutexMap) Get(ctx context.Context, k int) (int, error) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := c.load(ctx, k)
	if err == nil {
		c.Set(k, v)
	}
	return v, err
}

func (c rwMutexMap) Set(k, v int) {
	c.mu.Lock()
	c.m[k] = v
	c.mu.Unlock()
}
func (c rwMutexMap) Close() {}
