// Package memo memoizes Go functions: it wraps an expensive function so that
// repeated calls with the same arguments are answered from memory,
// concurrent calls for the same missing key run the function once, and
// exact counters say how often the cache helped.
//
//	fetch := func(ctx context.Context, pair string) (float64, error) { ... }
//	rates := memo.Memoize(fetch, memo.WithTTL(time.Minute))
//	r, err := rates.Get(ctx, "EUR/USD") // calls fetch
//	r, err = rates.Get(ctx, "EUR/USD")  // answered from memory
//	fmt.Println(rates.Stats())          // hits=1 misses=1 ...
//
// It is Python's functools.lru_cache for Go, and then some:
//
//   - Memoize keeps every value in an unbounded map; WithCapacity turns it
//     into an exact LRU (lru_cache(maxsize=n)).
//   - WithTTL makes results expire, for functions whose answers change.
//   - Concurrent misses on one key share one call of the function
//     (singleflight), and each caller honours its own context.
//   - Stats reports hits, misses, loads, errors, evictions and more
//     (cache_info); Clear drops everything (cache_clear).
//
// Errors and panics are never cached. Every method is safe for concurrent
// use, and a cache hit neither locks nor allocates.
package memo
