package memoprom_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/go-memo/memo"
	memoprom "github.com/go-memo/memo/prometheus"
)

// Register a Collector per memo, then serve the registry on /metrics.
func ExampleNewCollector() {
	users := memo.Memoize(func(ctx context.Context, id int) (string, error) {
		return fmt.Sprint("user-", id), nil
	}, memo.WithCapacity(1000))
	ctx := context.Background()
	for _, id := range []int{1, 1, 1, 2} {
		_, _ = users.Get(ctx, id)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(memoprom.NewCollector("users", users))
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) // http.Handle("/metrics", handler)

	// Scrape it, and print a few of the series.
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	lines := bufio.NewScanner(rec.Body)
	for lines.Scan() {
		for _, name := range []string{"memo_hits_total", "memo_misses_total", "memo_entries", "memo_capacity"} {
			if strings.HasPrefix(lines.Text(), name+"{") {
				fmt.Println(lines.Text())
			}
		}
	}
	// Output:
	// memo_capacity{memo="users"} 1000
	// memo_entries{memo="users"} 2
	// memo_hits_total{memo="users"} 2
	// memo_misses_total{memo="users"} 2
}

// A second memo of a name already registered is refused at Register, not at
// scrape time.
func ExampleNewCollector_duplicateName() {
	a := memo.Memoize(func(ctx context.Context, id int) (int, error) { return id, nil })
	b := memo.Memoize(func(ctx context.Context, id int) (int, error) { return -id, nil })
	reg := prometheus.NewRegistry()
	fmt.Println(reg.Register(memoprom.NewCollector("users", a)))
	fmt.Println(reg.Register(memoprom.NewCollector("users", b)))
	fmt.Println(reg.Register(memoprom.NewCollector("accounts", b)))
	// Output:
	// <nil>
	// duplicate metrics collector registration attempted
	// <nil>
}
