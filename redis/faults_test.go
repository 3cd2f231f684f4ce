package memoredis_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
	memoredis "github.com/go-memo/memo/redis"
)

// The tier under faults: Redis stalled, fn panicking, fast loads racing
// across processes, Forget racing a load, keys the tier did not write, values
// too large, prefixes that are not UTF-8.

// defaultClient is a client built as a new user builds one, with go-redis's
// defaults (no ContextTimeoutEnabled: the socket ignores context deadlines).
func defaultClient(t *testing.T) *redis.Client {
	t.Helper()
	if srv == nil {
		t.Skip(skipReason)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// stall blocks the test server for d with DEBUG SLEEP and returns once a PING
// goes unanswered; the test's cleanup waits for the sleep to end.
func stall(t *testing.T, d time.Duration) {
	t.Helper()
	c := client(t)
	done := make(chan error, 1)
	go func() { done <- c.Do(context.Background(), "DEBUG", "SLEEP", d.Seconds()).Err() }()
	t.Cleanup(func() { assert.NoError(t, <-done, "DEBUG SLEEP") })
	probe := redis.NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer probe.Close()
	for deadline := time.Now().Add(d / 2); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := probe.Ping(ctx).Err()
		cancel()
		if err != nil {
			return
		}
	}
	t.Fatal("DEBUG SLEEP did not block the server")
}

func instant(calls *atomic.Int64) func(context.Context, string) (rate, error) {
	return func(_ context.Context, k string) (rate, error) {
		calls.Add(1)
		return rate{k, float64(len(k))}, nil
	}
}

// 1. The call timeout holds whatever the client's options: with Redis
// blocked for 2 s, a Get with a default client returns within the timeout
// plus 50 ms, the timed-out call counts as an error, and so do 50 concurrent
// Gets of another tier.
func TestCallTimeoutHoldsWithADefaultClient(t *testing.T) {
	c := defaultClient(t)
	ctx := context.Background()
	require.NoError(t, c.Ping(ctx).Err())
	var calls atomic.Int64
	tier := memoredis.New[rate](c, prefix(t), nil, memoredis.WithCallTimeout(100*time.Millisecond))
	m := memo.Memoize(instant(&calls), memo.WithTier(tier))
	others := memoredis.New[rate](c, prefix(t)+":others", nil, memoredis.WithCallTimeout(100*time.Millisecond))
	stall(t, 2*time.Second)

	// One Get of a memo, and at the same time 50 concurrent Fetches of
	// another tier.
	var wg sync.WaitGroup
	var worst atomic.Int64
	for i := range 50 {
		wg.Go(func() {
			start := time.Now()
			_, err := others.Fetch(ctx, fmt.Sprint("k", i), func(context.Context) (rate, error) { return rate{}, nil })
			assert.NoError(t, err)
			d := int64(time.Since(start))
			for w := worst.Load(); d > w && !worst.CompareAndSwap(w, d); w = worst.Load() {
			}
		})
	}
	start := time.Now()
	v, err := m.Get(ctx, "EUR/USD")
	took := time.Since(start)
	wg.Wait()
	require.NoError(t, err)
	assert.Equal(t, rate{"EUR/USD", 7}, v)
	t.Logf("one Get during a 2 s stall: %v", took)
	assert.Less(t, took, 150*time.Millisecond, "a Get waits at most the call timeout plus 50ms")
	assert.Equal(t, uint64(1), tier.Stats().Errors, "the timed-out call counts as an error")
	t.Logf("worst of 50 concurrent Fetches during the stall: %v", time.Duration(worst.Load()))
	assert.Less(t, time.Duration(worst.Load()), 150*time.Millisecond)
	assert.NotZero(t, others.Stats().Errors, "the cooldown starts")
}

// 2. A panic in fn reaches the caller and leaves no lease in Redis: another
// process loads the key at once.
func TestPanicInFnReleasesTheLease(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	tier := memoredis.New[rate](c, prefix(t), nil)
	m := memo.Memoize(func(context.Context, string) (rate, error) { panic("boom") }, memo.WithTier(tier))
	assert.Panics(t, func() { _, _ = m.Get(ctx, "k") }, "the panic reaches the caller")
	n, err := c.Exists(ctx, tier.LeaseKey(canonical("k"))).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "no lease is left")

	var calls atomic.Int64
	other := newWorker(t, prefix(t), &calls, 0)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = other.memo.Get(wctx, "k")
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second, "another process does not wait for a lease")
	assert.Equal(t, int64(1), calls.Load())
}

// 2. runtime.Goexit in fn (t.FailNow in a loader) leaves no lease either.
func TestGoexitInFnReleasesTheLease(t *testing.T) {
	c := client(t)
	tier := memoredis.New[rate](c, prefix(t), nil)
	m := memo.Memoize(func(context.Context, string) (rate, error) { runtime.Goexit(); return rate{}, nil }, memo.WithTier(tier))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = m.Get(context.Background(), "k")
	}()
	<-done
	n, err := c.Exists(context.Background(), tier.LeaseKey(canonical("k"))).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "no lease is left")
}

// The child processes of TestFleetCallsFnOncePerKeyAcrossProcesses: TestMain
// runs child instead of the tests when childEnv is set.
const childEnv = "MEMOREDIS_TEST_CHILD"

const childGoroutines, childKeys = 20, 40

// child is one process of the fleet: it says "ready", waits for a line on
// stdin, gets childKeys cold keys from childGoroutines goroutines with an
// instant fn, and prints how many times fn ran.
func child() int {
	var c redis.UniversalClient = redis.NewClient(&redis.Options{Addr: os.Getenv("MEMOREDIS_ADDR")})
	if addrs := os.Getenv("MEMOREDIS_CLUSTER"); addrs != "" {
		c = newClusterClient(strings.Split(addrs, ","))
	}
	defer c.Close()
	var calls atomic.Int64
	// A generous call timeout: this test is about dedupe, and a loaded
	// machine must not turn it into a test of timeouts.
	tier := memoredis.New[rate](c, os.Getenv("MEMOREDIS_PREFIX"), nil, memoredis.WithCallTimeout(5*time.Second))
	m := memo.Memoize(instant(&calls), memo.WithTier(tier))
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var wg sync.WaitGroup
	var failed atomic.Bool
	for g := range childGoroutines {
		wg.Go(func() {
			for i := range childKeys {
				k := fmt.Sprint("key-", (i+g)%childKeys)
				if v, err := m.Get(context.Background(), k); err != nil || v.Pair != k {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		fmt.Fprintln(os.Stderr, "a Get failed or returned another key's value")
		return 1
	}
	fmt.Println("calls", calls.Load())
	return 0
}

// 3. fn runs once per key across the fleet even when it is instant: 4 OS
// processes × 20 goroutines × 40 cold keys make exactly 40 calls.
func TestFleetCallsFnOncePerKeyAcrossProcesses(t *testing.T) {
	if srv == nil {
		t.Skip(skipReason)
	}
	assert.Equal(t, childKeys, runFleet(t, "MEMOREDIS_ADDR="+srv.addr()), "fn runs once per key across 4 processes")
}

// runFleet runs 4 child processes with env against one prefix, starts their
// Gets at once, and returns their calls of fn in all.
func runFleet(t *testing.T, env string) int {
	type proc struct {
		cmd   *exec.Cmd
		stdin interface{ Write([]byte) (int, error) }
		out   *bufio.Scanner
	}
	procs := make([]proc, 4)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", env, "MEMOREDIS_PREFIX="+prefix(t))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		procs[i] = proc{cmd, stdin, bufio.NewScanner(stdout)}
	}
	for _, p := range procs {
		require.True(t, p.out.Scan())
		require.Equal(t, "ready", p.out.Text())
	}
	for _, p := range procs {
		_, err := p.stdin.Write([]byte("go\n"))
		require.NoError(t, err)
	}
	var total int
	for _, p := range procs {
		require.True(t, p.out.Scan(), "the child reports its calls")
		n, err := strconv.Atoi(strings.TrimPrefix(p.out.Text(), "calls "))
		require.NoError(t, err, p.out.Text())
		total += n
		require.NoError(t, p.cmd.Wait())
	}
	return total
}

// 4. Forget during a load in flight is never undone by it, whether the
// Forget runs in the loading process or in another one: the load answers its
// callers but writes nothing, and the next Get anywhere calls fn.
func TestForgetDuringALoadIsNeverUndone(t *testing.T) {
	for _, where := range []string{"same-process", "other-process"} {
		t.Run(where, func(t *testing.T) {
			c := client(t)
			ctx := context.Background()
			started, release := make(chan struct{}), make(chan struct{})
			tier := memoredis.New[rate](c, prefix(t), nil)
			a := memo.Memoize(func(_ context.Context, k string) (rate, error) {
				close(started)
				<-release
				return rate{k, 1}, nil
			}, memo.WithTier(tier))
			var bCalls atomic.Int64
			b := newWorker(t, prefix(t), &bCalls, 0)
			got := make(chan error, 1)
			go func() {
				_, err := a.Get(ctx, "k")
				got <- err
			}()
			<-started
			if where == "same-process" {
				a.Forget("k")
			} else {
				b.memo.Forget("k")
			}
			close(release)
			require.NoError(t, <-got, "the load still answers its caller")
			n, err := c.Exists(ctx, tier.ValueKey(canonical("k"))).Result()
			require.NoError(t, err)
			assert.Zero(t, n, "the forgotten key's value is not written back")
			_, err = b.memo.Get(ctx, "k")
			require.NoError(t, err)
			assert.Equal(t, int64(1), bCalls.Load(), "the next Get calls fn")
		})
	}
}

// getWithin runs Get in a goroutine and fails the test if it does not return
// within limit (so that a hang fails instead of blocking the suite).
func getWithin(t *testing.T, m *memo.Memo[string, rate], key string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := m.Get(context.Background(), key)
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("Get(%q) did not return within %v", key, limit)
		return 0
	}
}

// 5. A lease key that the tier did not write never hangs a Get: one without
// expiry is taken over at once, and one with a long expiry is waited for at
// most the lease time.
func TestForeignLeaseNeverHangsAGet(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	var calls atomic.Int64
	w := newWorker(t, prefix(t), &calls, 0, memoredis.WithLease(300*time.Millisecond))
	require.NoError(t, c.Set(ctx, w.tier.LeaseKey(canonical("forever")), "a plain SET", 0).Err())
	require.NoError(t, c.Set(ctx, w.tier.LeaseKey(canonical("an-hour")), "a long lease", time.Hour).Err())
	took := getWithin(t, w.memo, "forever", 5*time.Second)
	t.Logf("Get under a lease without expiry: %v", took)
	assert.Less(t, took, 200*time.Millisecond, "a lease without expiry is not the tier's: taken over at once")
	took = getWithin(t, w.memo, "an-hour", 5*time.Second)
	t.Logf("Get under a one-hour lease: %v", took)
	assert.Less(t, took, time.Second, "a wait lasts at most the lease time")
	assert.Equal(t, int64(2), calls.Load())
}

// 5. A value key of another Redis type is that key's problem: it is
// overwritten by the load, and the other keys keep being served from Redis.
func TestWrongTypeValueIsThatKeysProblem(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	var calls atomic.Int64
	tier := memoredis.New[rate](c, prefix(t), nil)
	good := []string{"a", "b", "c", "d"}
	for _, k := range good {
		_, err := tier.Fetch(ctx, k, func(context.Context) (rate, error) { return rate{k, 1}, nil })
		require.NoError(t, err)
	}
	require.NoError(t, c.RPush(ctx, tier.ValueKey("bad"), "a", "list").Err())
	hits0 := tier.Stats().Hits
	for range 100 {
		for _, k := range append(good, "bad") {
			v, err := tier.Fetch(ctx, k, func(context.Context) (rate, error) { calls.Add(1); return rate{k, 1}, nil })
			require.NoError(t, err)
			require.Equal(t, k, v.Pair)
		}
	}
	t.Logf("500 Fetches, 100 of a list-typed key: %d calls of fn, %d tier hits", calls.Load(), tier.Stats().Hits-hits0)
	assert.Equal(t, int64(1), calls.Load(), "the bad key is loaded once, then served")
	assert.Equal(t, uint64(499), tier.Stats().Hits-hits0, "the other keys are never cooled down")
	typ, err := c.Type(ctx, tier.ValueKey("bad")).Result()
	require.NoError(t, err)
	assert.Equal(t, "string", typ, "the list was overwritten")
}

// 7. Clear deletes the tier's keys when the prefix is not valid UTF-8 and
// holds glob characters.
func TestClearWithANonUTF8Prefix(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	pfx := prefix(t) + "\xff\xfe*[x]?"
	tier := memoredis.New[rate](c, pfx, nil)
	neighbour := memoredis.New[rate](c, prefix(t)+"\xff\xfeZxZ", nil) // what an unescaped glob would match
	for i := range 10 {
		k := fmt.Sprint("k", i)
		_, _ = tier.Fetch(ctx, k, func(context.Context) (rate, error) { return rate{k, 1}, nil })
		_, _ = neighbour.Fetch(ctx, k, func(context.Context) (rate, error) { return rate{k, 1}, nil })
	}
	tier.Clear()
	for i := range 10 {
		n, err := c.Exists(ctx, tier.ValueKey(fmt.Sprint("k", i)), neighbour.ValueKey(fmt.Sprint("k", i))).Result()
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "only the tier's own key is gone")
	}
}

// 6. A value over the maximum size is refused both ways and counted: one
// planted in Redis is neither decoded nor served (fn is called and its value
// replaces it), and one that fn returns is returned but not written.
func TestOversizedValueIsRefusedAndCounted(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	tier := memoredis.New[rate](c, prefix(t), nil, memoredis.WithMaxValueSize(1024))
	big := rate{strings.Repeat("x", 4096), 1}
	planted, err := memoredis.JSON[rate]{}.Marshal(big)
	require.NoError(t, err)
	require.NoError(t, c.Set(ctx, tier.ValueKey("planted"), planted, 0).Err())

	var calls atomic.Int64
	v, err := tier.Fetch(ctx, "planted", func(context.Context) (rate, error) { calls.Add(1); return rate{"small", 1}, nil })
	require.NoError(t, err)
	assert.Equal(t, rate{"small", 1}, v, "the oversized value is not served")
	assert.Equal(t, int64(1), calls.Load())
	assert.Equal(t, uint64(1), tier.Stats().Refused)
	raw, err := c.Get(ctx, tier.ValueKey("planted")).Result()
	require.NoError(t, err)
	assert.JSONEq(t, `{"Pair":"small","Value":1}`, raw, "and the load replaced it")

	v, err = tier.Fetch(ctx, "grows", func(context.Context) (rate, error) { return big, nil })
	require.NoError(t, err)
	assert.Equal(t, big, v, "an oversized value from fn still answers its caller")
	assert.Equal(t, uint64(2), tier.Stats().Refused)
	n, err := c.Exists(ctx, tier.ValueKey("grows")).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "but is not written")
	assert.Zero(t, tier.Stats().Errors, "a refusal is not a Redis error")
}

// 7. With the JSON codec, the key fingerprint follows what JSON writes: a
// version of a type that adds only an unexported or a `json:"-"` field
// shares the older version's values, one that renames a JSON field does not.
func TestJSONFingerprintFollowsWhatJSONWrites(t *testing.T) {
	c := client(t)
	pfx := prefix(t)
	assert.Equal(t, 1, fetchItemV1(t, c, pfx), "the first version loads")
	assert.Equal(t, 0, fetchItemV2(t, c, pfx), "an unexported field more encodes alike: shared")
	assert.Equal(t, 1, fetchItemV3(t, c, pfx), "a renamed JSON field is another shape: not shared")
}

// The three versions of one type, item, each declared in its own function,
// as three releases of a program would have it.

func fetchItemV1(t *testing.T, c *redis.Client, pfx string) (calls int) {
	type item struct{ Name string }
	_, err := memoredis.New[item](c, pfx, nil).Fetch(context.Background(), "k",
		func(context.Context) (item, error) { calls++; return item{"a"}, nil })
	require.NoError(t, err)
	return calls
}

func fetchItemV2(t *testing.T, c *redis.Client, pfx string) (calls int) {
	type item struct {
		Name  string
		cache int
		Debug string `json:"-"`
	}
	v, err := memoredis.New[item](c, pfx, nil).Fetch(context.Background(), "k",
		func(context.Context) (item, error) { calls++; return item{"b", 1, "x"}, nil })
	require.NoError(t, err)
	if calls == 0 {
		assert.Equal(t, item{Name: "a"}, v)
	}
	return calls
}

func fetchItemV3(t *testing.T, c *redis.Client, pfx string) (calls int) {
	type item struct {
		Name string `json:"name"`
	}
	_, err := memoredis.New[item](c, pfx, nil).Fetch(context.Background(), "k",
		func(context.Context) (item, error) { calls++; return item{"c"}, nil })
	require.NoError(t, err)
	return calls
}

// 7. A value type that the JSON codec cannot encode fails in New, naming the
// culprit, instead of failing on every miss; another codec may take it.
func TestNewRefusesAValueTypeJSONCannotEncode(t *testing.T) {
	c := client(t)
	type job struct {
		ID   int
		Done chan struct{}
	}
	assert.PanicsWithValue(t,
		"memoredis: New: the default JSON codec cannot encode memoredis_test.job: memoredis_test.job.Done is a chan; pass a Codec that can (memoredis.Funcs)",
		func() { memoredis.New[job](c, prefix(t), nil) })
	assert.Panics(t, func() { memoredis.New[map[[2]int]string](c, prefix(t), nil) }, "map keys JSON cannot write")
	assert.Panics(t, func() { memoredis.New[[]complex128](c, prefix(t), nil) })
	assert.NotPanics(t, func() { memoredis.New[map[int]*time.Time](c, prefix(t), nil) })
	assert.NotPanics(t, func() {
		memoredis.New[job](c, prefix(t), memoredis.Funcs[job]{
			MarshalFunc:   func(j job) ([]byte, error) { return []byte(strconv.Itoa(j.ID)), nil },
			UnmarshalFunc: func(b []byte, j *job) (err error) { j.ID, err = strconv.Atoi(string(b)); return err },
		})
	})
}

// New refuses what would corrupt keys or make no sense, naming the option.
func TestNewRefusesBadOptionsAndPrefixes(t *testing.T) {
	c := client(t)
	assert.PanicsWithValue(t,
		`memoredis: New: prefix "a{}b" holds an empty hash tag {}: a key's value and lease would land in different Redis Cluster slots`,
		func() { memoredis.New[int](c, "a{}b", nil) })
	for name, opt := range map[string]memoredis.Option{
		"WithMaxValueSize(0)": memoredis.WithMaxValueSize(0),
		"WithTTL(500µs)":      memoredis.WithTTL(500 * time.Microsecond),
		"WithLease(0)":        memoredis.WithLease(0),
		"WithCallTimeout(0)":  memoredis.WithCallTimeout(0),
		"WithPoll(10ms, 1ms)": memoredis.WithPoll(10*time.Millisecond, time.Millisecond),
		"WithCooldown(-1s)":   memoredis.WithCooldown(-time.Second),
	} {
		assert.Panics(t, func() { memoredis.New[int](c, "p", nil, opt) }, name)
	}
	assert.NotPanics(t, func() { memoredis.New[int](c, "{rates}", nil) }, "a prefix with its own hash tag")
}
