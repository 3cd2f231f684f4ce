package memo_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/go-memo/memo"
)

// Wrap a slow function; the second Get for a key is answered from memory.
func Example() {
	fetch := func(ctx context.Context, city string) (string, error) {
		fmt.Println("fetching", city) // a network call, say
		return strings.ToUpper(city), nil
	}
	weather := memo.Memoize(fetch)

	ctx := context.Background()
	v, _ := weather.Get(ctx, "paris")
	fmt.Println(v)
	v, _ = weather.Get(ctx, "paris")
	fmt.Println(v)
	st := weather.Stats()
	st.LoadTime = 0 // the time spent in fn, which varies from run to run
	fmt.Println(st)
	// Output:
	// fetching paris
	// PARIS
	// PARIS
	// hits=1 misses=1 (50.0% hits) loads=1 load-errors=0 shared=0 evictions=0 expirations=0 collected=0 refreshes=0 load-time=0s len=1 cap=unbounded
}

// A recursive function calls its own memo, so each subproblem is computed
// once: fib(90) takes 91 calls instead of about 10^19.
func ExampleMemoize_recursive() {
	calls := 0
	var fib *memo.Memo[int, uint64]
	fib = memo.Memoize(func(ctx context.Context, n int) (uint64, error) {
		calls++
		if n < 2 {
			return uint64(n), nil
		}
		a, _ := fib.Get(ctx, n-1)
		b, _ := fib.Get(ctx, n-2)
		return a + b, nil
	})
	v, _ := fib.Get(context.Background(), 90)
	fmt.Println(v, "in", calls, "calls")
	// Output: 2880067194370816120 in 91 calls
}

// Func gives a function with the original signature, to pass wherever the
// slow one was used.
func ExampleMemo_Func() {
	slowSquare := func(ctx context.Context, n int) (int, error) { return n * n, nil }
	var square func(context.Context, int) (int, error) = memo.Memoize(slowSquare).Func()
	v, _ := square(context.Background(), 12)
	fmt.Println(v)
	// Output: 144
}

// Errors are returned, not cached: the next Get calls fn again.
func ExampleMemo_Get_errors() {
	attempts := 0
	m := memo.Memoize(func(ctx context.Context, id int) (string, error) {
		attempts++
		if attempts == 1 {
			return "", errors.New("timeout")
		}
		return fmt.Sprint("user-", id), nil
	})
	ctx := context.Background()
	_, err := m.Get(ctx, 7)
	fmt.Println(err)
	v, err := m.Get(ctx, 7)
	fmt.Println(v, err)
	// Output:
	// timeout
	// user-7 <nil>
}

// Stats, like Python's cache_info(), says exactly how often the cache helped;
// Clear, like cache_clear(), drops the entries and resets the counters.
func ExampleMemo_Stats() {
	m := memo.Memoize(func(ctx context.Context, n int) (int, error) { return n * 2, nil })
	ctx := context.Background()
	for _, n := range []int{1, 2, 1, 1, 3} {
		_, _ = m.Get(ctx, n)
	}
	st := m.Stats()
	fmt.Printf("hits=%d misses=%d ratio=%.2f len=%d\n", st.Hits, st.Misses, st.HitRatio(), st.Len)
	m.Clear()
	fmt.Println(m.Stats().Hits, m.Len())
	// Output:
	// hits=2 misses=3 ratio=0.40 len=3
	// 0 0
}

// Set primes the cache; Forget drops one entry so the next Get loads it again.
func ExampleMemo_Forget() {
	m := memo.Memoize(func(ctx context.Context, k string) (string, error) { return "loaded " + k, nil })
	ctx := context.Background()
	m.Set("a", "primed a")
	v, _ := m.Get(ctx, "a")
	fmt.Println(v)
	m.Forget("a")
	v, _ = m.Get(ctx, "a")
	fmt.Println(v)
	// Output:
	// primed a
	// loaded a
}

// With a TTL, a value is never returned once it is older than the TTL: the
// next Get loads a fresh one.
func ExampleWithTTL() {
	version := 0
	m := memo.Memoize(func(ctx context.Context, k string) (int, error) {
		version++
		return version, nil
	}, memo.WithTTL(20*time.Millisecond))
	ctx := context.Background()
	v, _ := m.Get(ctx, "config")
	fmt.Println(v)
	v, _ = m.Get(ctx, "config")
	fmt.Println(v)
	time.Sleep(30 * time.Millisecond)
	v, _ = m.Get(ctx, "config")
	fmt.Println(v, m.Stats().Expirations)
	// Output:
	// 1
	// 1
	// 2 1
}

// Python's lru_cache cannot take a list or a dict; MemoizeKeyed with
// CanonicalKey takes any key: here a struct of a slice and a map, whose map
// order does not matter.
func ExampleMemoizeKeyed() {
	type Query struct {
		Terms   []string
		Filters map[string]string
	}
	runs := 0
	search := memo.MemoizeKeyed(func(ctx context.Context, q Query) (string, error) {
		runs++
		return fmt.Sprintf("%d results for %v", 10*len(q.Terms), q.Terms), nil
	}, memo.CanonicalKey)

	ctx := context.Background()
	a, _ := search.Get(ctx, Query{[]string{"go", "cache"}, map[string]string{"lang": "en", "year": "2026"}})
	b, _ := search.Get(ctx, Query{[]string{"go", "cache"}, map[string]string{"year": "2026", "lang": "en"}})
	fmt.Println(a)
	fmt.Println(b)
	fmt.Println("searches run:", runs)
	// Output:
	// 20 results for [go cache]
	// 20 results for [go cache]
	// searches run: 1
}

// CanonicalKey's form tells apart what a naive string key would merge, and
// merges what only differs in map order.
func ExampleCanonicalKey() {
	same := func(a, b any) bool {
		return string(memo.CanonicalKey(nil, a)) == string(memo.CanonicalKey(nil, b))
	}
	fmt.Println(same([]string{"a,b"}, []string{"a", "b"}))                            // a separator inside a string
	fmt.Println(same(any(1), any(1.0)))                                               // int and float64
	fmt.Println(same(map[string]int{"x": 1, "y": 2}, map[string]int{"y": 2, "x": 1})) // map order
	fmt.Println(same([]int(nil), []int{}))                                            // nil and empty
	// Output:
	// false
	// false
	// true
	// true
}

// A function of two comparable arguments needs no key struct.
func ExampleMemoize2() {
	calls := 0
	rate := memo.Memoize2(func(ctx context.Context, from, to string) (float64, error) {
		calls++
		return map[string]float64{"EUR": 1.08, "USD": 1}[from] / map[string]float64{"EUR": 1.08, "USD": 1}[to], nil
	})
	ctx := context.Background()
	r, _ := rate.Get(ctx, "EUR", "USD")
	r, _ = rate.Get(ctx, "EUR", "USD")
	fmt.Printf("%.2f after %d call\n", r, calls)
	// Output: 1.08 after 1 call
}

// WithCapacity makes an exact LRU: the least recently used entry leaves
// first, and WithOnEvict hears why.
func ExampleWithCapacity() {
	m := memo.Memoize(func(ctx context.Context, k string) (string, error) { return strings.ToUpper(k), nil },
		memo.WithCapacity(2),
		memo.WithOnEvict(func(k, v string, r memo.EvictReason) { fmt.Println(k, "left:", r) }))
	ctx := context.Background()
	_, _ = m.Get(ctx, "a")
	_, _ = m.Get(ctx, "b")
	_, _ = m.Get(ctx, "a") // a is now the most recently used
	_, _ = m.Get(ctx, "c") // evicts b
	m.Forget("a")
	fmt.Println(m.Stats().Evictions, m.Len())
	// Output:
	// b left: evicted
	// a left: forgotten
	// 1 1
}

// MemoizeWeak shares a value while someone holds it, and lets the garbage
// collector take it once nobody does.
func ExampleMemoizeWeak() {
	type Document struct{ Text [1 << 16]byte }
	loads := 0
	docs := memo.MemoizeWeak(func(ctx context.Context, name string) (*Document, error) {
		loads++
		return new(Document), nil
	})
	ctx := context.Background()
	a, _ := docs.Get(ctx, "report.pdf")
	b, _ := docs.Get(ctx, "report.pdf")
	fmt.Println(a == b, loads)
	runtime.KeepAlive(a)
	// Output: true 1
}
