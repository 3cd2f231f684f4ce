// Command rates is the exchange-rate lookup that memo was written for: a
// service that answers slowly, queried through a memo so that repeated
// questions are answered from memory, concurrent ones share one request,
// rates are never served once older than a TTL, and a rate in steady use is
// refreshed in the background before it expires, so no caller waits for it.
//
// It starts a small rate service on 127.0.0.1 (each answer takes about 200ms,
// like a real upstream), so it needs no network:
//
//	go run ./examples/rates
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-memo/memo"
)

const upstreamDelay = 200 * time.Millisecond

func main() {
	base, requests := startRateService()

	// The function to memoize: one HTTP request per currency pair.
	fetchRate := func(ctx context.Context, pair string) (float64, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/rate?pair="+pair, nil)
		if err != nil {
			return 0, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("rate service: %s", resp.Status)
		}
		var body struct{ Rate float64 }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return 0, err
		}
		return body.Rate, nil
	}

	// Rates change, so they may be served from memory for one second only;
	// one older than 600ms is reloaded in the background by the Get that
	// notices it, while that Get and the next ones get the current rate at
	// once. Failures are remembered for 200ms, so a failing service is not
	// asked again by every caller.
	const ttl, refresh = time.Second, 600 * time.Millisecond
	rates := memo.Memoize(fetchRate, memo.WithTTL(ttl), memo.WithRefresh(refresh), memo.WithErrorTTL(200*time.Millisecond))
	ctx := context.Background()

	timed := func(what, pair string) {
		start := time.Now()
		r, err := rates.Get(ctx, pair)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-34s %s = %.4f in %v\n", what, pair, r, time.Since(start).Round(time.Microsecond))
	}

	fmt.Println("== the first query goes to the service; the same query again is answered from memory")
	timed("first query (service):", "EUR/USD")
	timed("same query (memory):", "EUR/USD")

	fmt.Println("\n== 100 goroutines ask for a pair nobody has asked for yet: one request serves them all")
	before := requests.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := rates.Get(ctx, "GBP/JPY"); err != nil {
				log.Print(err)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("100 callers answered in %v with %d request(s) to the service\n",
		time.Since(start).Round(time.Millisecond), requests.Load()-before)

	fmt.Println("\n== a caller that cannot wait gives up on its own deadline; the one that can still gets the rate")
	before = requests.Load()
	patient := make(chan string)
	go func() {
		start := time.Now()
		r, err := rates.Get(ctx, "USD/CHF")
		patient <- fmt.Sprintf("patient caller: USD/CHF = %.4f, err = %v, after %v", r, err, time.Since(start).Round(time.Millisecond))
	}()
	time.Sleep(10 * time.Millisecond) // let the patient caller start the request
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	start = time.Now()
	_, err := rates.Get(short, "USD/CHF")
	cancel()
	fmt.Printf("caller with a 50ms deadline: %v, after %v\n", err, time.Since(start).Round(time.Millisecond))
	fmt.Println(<-patient)
	fmt.Printf("requests to the service: %d\n", requests.Load()-before)

	fmt.Printf("\n== rates older than the TTL (%v) are never served: after it, the service is asked again\n", ttl)
	time.Sleep(ttl + 100*time.Millisecond)
	timed("after the TTL (service):", "EUR/USD")
	timed("again (memory):", "EUR/USD")

	fmt.Printf("\n== a rate in steady use (a Get every 100ms for 3s) is refreshed every %v in the background: no caller waits\n", refresh)
	before = requests.Load()
	var slowest time.Duration
	for range 30 {
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		if _, err := rates.Get(ctx, "EUR/USD"); err != nil {
			log.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
	}
	fmt.Printf("30 Gets over 3s, 3 TTLs: slowest answered in %v; %d background request(s) to the service\n",
		slowest.Round(time.Microsecond), requests.Load()-before)

	fmt.Println("\n== an unknown pair fails; the failure is remembered for 200ms")
	before = requests.Load()
	for range 3 {
		_, err := rates.Get(ctx, "EUR/XXX")
		fmt.Println("EUR/XXX:", err)
	}
	fmt.Printf("requests to the service: %d\n", requests.Load()-before)

	fmt.Println("\n== what the cache did (load-time: the time spent waiting for the service, refreshes included)")
	fmt.Println(rates.Stats())
	fmt.Println("requests the service answered:", requests.Load())
}

// startRateService serves GET /rate?pair=AAA/BBB on a free loopback port,
// with a delay like a real upstream's, and counts the requests it answers.
func startRateService() (baseURL string, requests *atomic.Int64) {
	requests = new(atomic.Int64)
	base := map[string]float64{"EUR": 1.08, "USD": 1, "GBP": 1.27, "JPY": 0.0067, "CHF": 1.13}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rate", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		var from, to string
		if _, err := fmt.Sscanf(r.URL.Query().Get("pair"), "%3s/%3s", &from, &to); err != nil || base[from] == 0 || base[to] == 0 {
			http.Error(w, "unknown pair", http.StatusNotFound)
			return
		}
		select {
		case <-time.After(upstreamDelay):
		case <-r.Context().Done():
			return
		}
		// A little drift, so that a refreshed rate differs from the old one.
		drift := 1 + float64(time.Now().UnixNano()%1000)/1e6
		_ = json.NewEncoder(w).Encode(struct{ Rate float64 }{base[from] / base[to] * drift})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Fatal(http.Serve(ln, mux)) }()
	return "http://" + ln.Addr().String(), requests
}
