package memo_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-memo/memo"
)

// A key in steady use is reloaded in the background once it is older than the
// refresh age, and the Get that noticed it returns the old value at once.
func ExampleWithRefresh() {
	var version atomic.Int32
	fetch := func(_ context.Context, name string) (string, error) {
		return fmt.Sprintf("%s v%d", name, version.Add(1)), nil // a slow config service, say
	}
	config := memo.Memoize(fetch, memo.WithTTL(time.Minute), memo.WithRefresh(10*time.Millisecond))

	ctx := context.Background()
	v, _ := config.Get(ctx, "flags")
	fmt.Println(v)
	time.Sleep(20 * time.Millisecond) // older than the refresh age, still live
	v, _ = config.Get(ctx, "flags")   // answered at once; the reload starts
	fmt.Println(v)

	for range 1000 { // this example waits for the reload; callers never have to
		if v, _ := config.Peek("flags"); v == "flags v2" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Println(config.Peek("flags"))
	st := config.Stats()
	fmt.Println("loads:", st.Loads, "refreshes:", st.Refreshes, "misses:", st.Misses)
	// Output:
	// flags v1
	// flags v1
	// flags v2 true
	// loads: 2 refreshes: 1 misses: 1
}

// While an upstream fails, its error is returned from memory for the error
// TTL, instead of every Get calling it again.
func ExampleWithErrorTTL() {
	calls := 0
	fetch := func(_ context.Context, city string) (string, error) {
		calls++
		return "", errors.New("weather service: 503 Service Unavailable")
	}
	weather := memo.Memoize(fetch, memo.WithErrorTTL(5*time.Second))

	ctx := context.Background()
	for range 3 {
		_, err := weather.Get(ctx, "paris")
		fmt.Println(err)
	}
	fmt.Println("calls:", calls, "hits:", weather.Stats().Hits)

	weather.Forget("paris") // drops the cached error too
	_, _ = weather.Get(ctx, "paris")
	fmt.Println("calls:", calls)
	// Output:
	// weather service: 503 Service Unavailable
	// weather service: 503 Service Unavailable
	// weather service: 503 Service Unavailable
	// calls: 1 hits: 2
	// calls: 2
}

// Each token is cached for as long as it says it is valid; one that is
// already expired is returned but not cached.
func ExampleWithTTLFunc() {
	type token struct {
		value     string
		expiresIn time.Duration
	}
	issue := func(_ context.Context, scope string) (token, error) {
		if scope == "revoked" {
			return token{"t-" + scope, 0}, nil
		}
		return token{"t-" + scope, time.Hour}, nil
	}
	tokens := memo.Memoize(issue, memo.WithTTLFunc(func(_ string, t token) time.Duration {
		return t.expiresIn - time.Minute // renew a minute early
	}))

	ctx := context.Background()
	t, _ := tokens.Get(ctx, "read")
	fmt.Println(t.value, tokens.Len())
	t, _ = tokens.Get(ctx, "revoked")
	fmt.Println(t.value, tokens.Len())
	// Output:
	// t-read 1
	// t-revoked 1
}
