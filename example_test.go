package memo_test

import (
	"context"
	"errors"
	"fmt"
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
	fmt.Println(weather.Stats())
	// Output:
	// fetching paris
	// PARIS
	// PARIS
	// hits=1 misses=1 (50.0% hits) loads=1 load-errors=0 shared=0 evictions=0 expirations=0 collected=0 len=1 cap=unbounded
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
