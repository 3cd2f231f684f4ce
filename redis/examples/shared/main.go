// Command shared runs two worker processes that memoize the same slow
// function through one Redis: each worker has its own memo and its own
// connection, and the output shows which worker called the function for each
// key, and which got the value from Redis or by waiting on the other's lease.
// Then worker A forgets a key, and worker B, which holds it in its local
// store, drops it when A's message arrives: its next Get calls the function
// again instead of serving the old value.
//
// It starts a redis-server on a free port of 127.0.0.1 (install the
// redis-server package), or uses the one at REDIS_ADDR:
//
//	cd redis && go run ./examples/shared
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-memo/memo"
	memoredis "github.com/go-memo/memo/redis"
)

func main() {
	log.SetFlags(0)
	if id := os.Getenv("MEMO_WORKER"); id != "" {
		work(id, os.Getenv("REDIS_ADDR"), os.Getenv("MEMO_PREFIX"))
		return
	}
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		var stop func()
		addr, stop = startRedis()
		defer stop()
	}
	prefix := "example:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	fmt.Printf("two workers, one Redis at %s, keys under %q\n\n", addr, prefix)

	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, id := range []string{"A", "B"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "MEMO_WORKER="+id, "REDIS_ADDR="+addr, "MEMO_PREFIX="+prefix)
			out, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			fmt.Print(string(out))
			if err != nil {
				log.Fatalf("worker %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
}

// work is one worker process: it asks for five currency pairs, all at the
// same moment as the other worker, then once more.
func work(id, addr, prefix string) {
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	tier := memoredis.New[float64](client, prefix, nil, memoredis.WithTTL(time.Minute))
	defer tier.Close()
	var mu sync.Mutex
	var lines []string
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf("worker %s: "+format, append([]any{id}, args...)...))
	}
	rates := memo.Memoize(func(ctx context.Context, pair string) (float64, error) {
		report("calls fn for %s (300ms)", pair)
		time.Sleep(300 * time.Millisecond)
		return float64(len(pair)) / 7, nil
	}, memo.WithTier(tier))

	// Both workers start at the next whole second, so that they miss together.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, pair := range []string{"EUR/USD", "GBP/USD", "USD/JPY", "EUR/CHF", "AUD/NZD"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			before := tier.Stats()
			if _, err := rates.Get(ctx, pair); err != nil {
				report("%s: %v", pair, err)
			}
			after := tier.Stats()
			if after.Hits > before.Hits {
				report("got %s from Redis", pair)
			}
		}()
	}
	wg.Wait()
	_, _ = rates.Get(ctx, "EUR/USD")

	// Both hold EUR/USD locally now. At the next whole second, A forgets it.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	if id == "A" {
		rates.Forget("EUR/USD")
		report("forgets EUR/USD: in its memo, in Redis, and in the other processes' memos")
	} else {
		start := time.Now()
		for tier.Stats().Invalidations == 0 && time.Since(start) < 5*time.Second {
			time.Sleep(time.Millisecond)
		}
		_, held := rates.Peek("EUR/USD")
		report("A's Forget arrived: EUR/USD still held locally: %v", held)
		_, _ = rates.Get(ctx, "EUR/USD")
	}
	mu.Lock()
	fmt.Println(strings.Join(lines, "\n"))
	fmt.Printf("worker %s: %v\n\n", id, rates.Stats())
	mu.Unlock()
}

// startRedis starts a redis-server on a free loopback port.
func startRedis() (addr string, stop func()) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		log.Fatal("redis-server not found: install the redis-server package, or set REDIS_ADDR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
		if i > 200 {
			log.Fatal("redis-server did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}
	return addr, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
}
