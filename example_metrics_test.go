package memo_test

import (
	"context"
	"encoding/json"
	"expvar"
	"fmt"

	"github.com/go-memo/memo"
)

// One line publishes a memo's counters on expvar, at /debug/vars of any
// program that serves http.DefaultServeMux, with no dependency at all. Stats
// is read at each request of the page, never on the memo's hit path. (The
// Prometheus and OpenTelemetry exporters are the modules
// github.com/go-memo/memo/prometheus and github.com/go-memo/memo/otel.)
func ExampleStats_expvar() {
	users := memo.Memoize(func(ctx context.Context, id int) (string, error) {
		return fmt.Sprint("user-", id), nil
	})
	// Publish panics if the name is taken: call it once, at start-up.
	expvar.Publish("users", expvar.Func(func() any { return users.Stats() }))

	ctx := context.Background()
	for _, id := range []int{1, 1, 1, 2} {
		_, _ = users.Get(ctx, id)
	}

	// What /debug/vars shows under "users" is the Stats as JSON.
	var s memo.Stats
	if err := json.Unmarshal([]byte(expvar.Get("users").String()), &s); err != nil {
		panic(err)
	}
	fmt.Println(s.Hits, s.Misses, s.Loads, s.Len)
	// Output: 2 2 2 2
}
