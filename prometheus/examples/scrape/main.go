// Command scrape puts a memo under load and shows what Prometheus scrapes
// from it: the README's sample of the /metrics output comes from here.
//
//	go run ./examples/scrape                 # print one scrape and exit
//	go run ./examples/scrape -addr :8080     # then serve /metrics until interrupted
//
// The memo holds 100 users; 5 000 Gets ask for Zipf-distributed ids among
// 1 000, each load takes 2 ms, and 1 id in 97 fails to load.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/go-memo/memo"
	memoprom "github.com/go-memo/memo/prometheus"
)

func fetchUser(ctx context.Context, id uint64) (string, error) {
	time.Sleep(2 * time.Millisecond) // a database, say
	if id%97 == 96 {
		return "", errors.New("no such user")
	}
	return fmt.Sprint("user-", id), nil
}

func main() {
	addr := flag.String("addr", "", "serve /metrics on this address after the load (empty: print one scrape and exit)")
	flag.Parse()

	users := memo.Memoize(fetchUser, memo.WithCapacity(100))
	ids := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, 1000)
	for range 5000 {
		_, _ = users.Get(context.Background(), ids.Uint64())
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(memoprom.NewCollector("users", users))
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if *addr == "" {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		_, _ = os.Stdout.Write(rec.Body.Bytes())
		return
	}
	http.Handle("/metrics", handler)
	log.Printf("serving http://%s/metrics", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
