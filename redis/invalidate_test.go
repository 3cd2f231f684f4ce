package memoredis_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
	memoredis "github.com/go-memo/memo/redis"
)

// The fleet tests run each "process" as a real OS process: the test binary
// re-executed with workerEnv set, which TestMain hands to runWorker. A
// worker memoizes a function that reads its value from a file (the "source
// of truth", which outlives Redis restarts) through a memoredis tier, and
// obeys one command per line on stdin, answering one line on stdout.

const workerEnv = "MEMOREDIS_TEST_WORKER"

// deliveryBound is how long a test waits for an invalidation to reach
// another process. TestInvalidationDeliveryTime measures well under a
// millisecond on loopback; the bound is a generous multiple of it, for a
// loaded CI machine, and a test that needs it fails.
const deliveryBound = time.Second

// backend is a Redis the invalidation tests run against: the test server,
// where the tier uses PUBLISH and SUBSCRIBE, or the 3-master test cluster,
// where it uses SPUBLISH and SSUBSCRIBE (invalidate.go).
type backend struct{ cluster bool }

// eachBackend runs f as one subtest per backend, "server" and "cluster".
func eachBackend(t *testing.T, f func(t *testing.T, be backend)) {
	t.Run("server", func(t *testing.T) { f(t, backend{}) })
	t.Run("cluster", func(t *testing.T) { f(t, backend{cluster: true}) })
}

// client returns a new client of the backend, as another process would have,
// closed at the end of the test; it skips without the Redis binaries.
func (be backend) client(t *testing.T) redis.UniversalClient {
	t.Helper()
	if be.cluster {
		return clusterClient(t)
	}
	return client(t)
}

// env is the environment variable that points a worker process at the
// backend.
func (be backend) env(t *testing.T) string {
	t.Helper()
	be.client(t) // skips without a backend; starts the cluster
	if be.cluster {
		return "MEMOREDIS_CLUSTER=" + strings.Join(clus.addrs(), ",")
	}
	return "REDIS_ADDR=" + srv.addr()
}

// channelNode returns the redis-server that holds the subscriptions of the
// tiers of value type string under pfx: the test server, or the master of
// the channel's slot on the cluster.
func (be backend) channelNode(t *testing.T, pfx string) *server {
	t.Helper()
	c := be.client(t)
	if !be.cluster {
		return srv
	}
	channel := memoredis.New[string](c, pfx, nil, memoredis.WithoutInvalidation()).Channel()
	node, err := c.(*redis.ClusterClient).MasterForKey(context.Background(), channel)
	require.NoError(t, err)
	for _, n := range clus.nodes {
		if n.addr() == node.Options().Addr {
			return n
		}
	}
	t.Fatalf("the channel's master %s is not a node of the test cluster", node.Options().Addr)
	return nil
}

// restart starts node again after a test stopped it, and on the cluster
// waits until every slot is served again, so that later tests find the
// cluster whole.
func (be backend) restart(t *testing.T, node *server) {
	t.Helper()
	require.NoError(t, node.start())
	if be.cluster {
		require.NoError(t, clus.waitOK())
	}
}

// runWorker is a worker process's main: see the commands below.
func runWorker() int {
	var client redis.UniversalClient = redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	if addrs := os.Getenv("MEMOREDIS_CLUSTER"); addrs != "" {
		client = newClusterClient(strings.Split(addrs, ","))
	}
	defer client.Close()
	tier := memoredis.New[string](client, os.Getenv("MEMO_PREFIX"), nil,
		memoredis.WithCallTimeout(200*time.Millisecond), memoredis.WithCooldown(50*time.Millisecond))
	defer tier.Close()
	src := os.Getenv("MEMO_SRC")
	calls := 0 // commands run one at a time: no lock needed
	m := memo.Memoize(func(_ context.Context, k string) (string, error) {
		calls++
		b, err := os.ReadFile(filepath.Join(src, k))
		if err != nil {
			return "none", nil
		}
		return string(b), nil
	}, memo.WithTier(tier))
	ctx := context.Background()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 2 && f[0] == "get":
			v, err := m.Get(ctx, f[1])
			if err != nil {
				v = "error"
			}
			fmt.Println(v, calls)
		case len(f) == 3 && f[0] == "set":
			m.Set(f[1], f[2])
			fmt.Println("ok")
		case len(f) == 2 && f[0] == "forget":
			m.Forget(f[1])
			fmt.Println("ok")
		case len(f) == 1 && f[0] == "clear":
			m.Clear()
			fmt.Println("ok")
		case len(f) == 1 && f[0] == "stats":
			st := m.Stats()
			fmt.Println(st.Tier.Invalidations, st.Tier.Resyncs, st.Tier.Listening, m.Len(), calls)
		default:
			fmt.Println("bad command", f)
		}
	}
	return 0
}

// proc is a worker process, driven by the test.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// startProc starts a worker on the backend under prefix, reading its values
// from the files of src, and waits until it listens.
func startProc(t *testing.T, be backend, name, prefix, src string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"=1", be.env(t), "MEMO_PREFIX="+prefix, "MEMO_SRC="+src)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &proc{t: t, name: name, cmd: cmd, in: in, lines: make(chan string, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT) // in case a test left it stopped
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	p.await(func(s stats) bool { return s.listening }, "listens")
	return p
}

// do sends one command and returns the fields of the answer.
func (p *proc) do(format string, args ...any) []string {
	p.t.Helper()
	_, err := fmt.Fprintf(p.in, format+"\n", args...)
	require.NoError(p.t, err)
	select {
	case line, ok := <-p.lines:
		require.True(p.t, ok, "worker %s exited", p.name)
		return strings.Fields(line)
	case <-time.After(10 * time.Second):
		p.t.Fatalf("worker %s did not answer %q", p.name, fmt.Sprintf(format, args...))
		return nil
	}
}

// get returns the worker's value for k and its count of fn calls.
func (p *proc) get(k string) (string, int) {
	p.t.Helper()
	f := p.do("get %s", k)
	require.Len(p.t, f, 2)
	n, err := strconv.Atoi(f[1])
	require.NoError(p.t, err)
	return f[0], n
}

type stats struct {
	invalidations, resyncs uint64
	listening              bool
	len, calls             int
}

func (p *proc) stats() stats {
	p.t.Helper()
	f := p.do("stats")
	require.Len(p.t, f, 5)
	var s stats
	var err [4]error
	s.invalidations, err[0] = strconv.ParseUint(f[0], 10, 64)
	s.resyncs, err[1] = strconv.ParseUint(f[1], 10, 64)
	s.listening = f[2] == "true"
	s.len, err[2] = strconv.Atoi(f[3])
	s.calls, err[3] = strconv.Atoi(f[4])
	for _, e := range err {
		require.NoError(p.t, e)
	}
	return s
}

// await polls the worker's stats until ok holds, for at most 10s, and returns
// how long it took.
func (p *proc) await(ok func(stats) bool, what string) time.Duration {
	p.t.Helper()
	start := time.Now()
	for deadline := start.Add(10 * time.Second); time.Now().Before(deadline); {
		if ok(p.stats()) {
			return time.Since(start)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	p.t.Fatalf("worker %s never %s", p.name, what)
	return 0
}

// awaitInvalidations waits until the worker applied n invalidations, within
// deliveryBound.
func (p *proc) awaitInvalidations(n uint64) {
	p.t.Helper()
	took := p.await(func(s stats) bool { return s.invalidations >= n }, fmt.Sprintf("applied %d invalidations", n))
	require.Less(p.t, took, deliveryBound, "worker %s got invalidation %d after %v", p.name, n, took)
	require.Equal(p.t, n, p.stats().invalidations)
}

func writeSource(t *testing.T, dir, k, v string) {
	require.NoError(t, os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600))
}

// Forget, Set and Clear in one process reach the local stores of the two
// others: their next Get returns the new value, never the old one.
func TestFleetSeesForgetSetAndClear(t *testing.T) { eachBackend(t, testFleetSeesForgetSetAndClear) }

func testFleetSeesForgetSetAndClear(t *testing.T, be backend) {
	src := t.TempDir()
	writeSource(t, src, "k", "v1")
	a, b, c := startProc(t, be, "A", prefix(t), src), startProc(t, be, "B", prefix(t), src), startProc(t, be, "C", prefix(t), src)
	for _, p := range []*proc{a, b, c} {
		v, _ := p.get("k")
		require.Equal(t, "v1", v)
	}
	_, calls := b.get("k")
	require.Zero(t, calls, "B was answered by Redis, then by its local store")

	// Forget: the others' next Get calls fn (or finds the value a peer
	// loaded after the Forget), never the old value.
	writeSource(t, src, "k", "v2")
	a.do("forget k")
	b.awaitInvalidations(1)
	c.awaitInvalidations(1)
	for _, p := range []*proc{b, c} {
		v, _ := p.get("k")
		assert.Equal(t, "v2", v, "worker %s after A's Forget", p.name)
	}

	// Set: the others drop k and read the value A wrote through to Redis
	// (the source still says v2).
	a.do("set k v3")
	b.awaitInvalidations(2)
	c.awaitInvalidations(2)
	callsBefore := b.stats().calls
	for _, p := range []*proc{a, b, c} {
		v, _ := p.get("k")
		assert.Equal(t, "v3", v, "worker %s after A's Set", p.name)
	}
	assert.Equal(t, callsBefore, b.stats().calls, "B read A's value from Redis, without calling fn")
	assert.Zero(t, a.stats().invalidations, "A ignores its own messages")

	// Clear from another process drops everything.
	writeSource(t, src, "k", "v4")
	c.do("clear")
	a.awaitInvalidations(1)
	b.awaitInvalidations(3)
	for _, p := range []*proc{a, b, c} {
		v, _ := p.get("k")
		assert.Equal(t, "v4", v, "worker %s after C's Clear", p.name)
	}
}

// Redis restarted between a Set and a Get (on the cluster: the master of the
// channel's slot, which holds the subscriptions): the Set's message is lost,
// the subscribers stop listening, and once the node is back they subscribe
// again and drop their local stores, so the Get does not serve the old value.
func TestRedisRestartDropsTheLocalStore(t *testing.T) {
	eachBackend(t, testRedisRestartDropsTheLocalStore)
}

func testRedisRestartDropsTheLocalStore(t *testing.T, be backend) {
	src := t.TempDir()
	writeSource(t, src, "k", "v1")
	a, b := startProc(t, be, "A", prefix(t), src), startProc(t, be, "B", prefix(t), src)
	for _, p := range []*proc{a, b} {
		v, _ := p.get("k")
		require.Equal(t, "v1", v)
	}
	node := be.channelNode(t, prefix(t))
	node.stop()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			be.restart(t, node)
		}
	})
	b.await(func(s stats) bool { return !s.listening }, "noticed that its subscription is gone")
	writeSource(t, src, "k", "v2")
	a.do("set k v2") // the channel's node is down: the message fails (and the write-through, on one server)
	be.restart(t, node)
	restarted = true
	b.await(func(s stats) bool { return s.resyncs == 1 && s.listening }, "resynced after the restart")
	assert.Equal(t, 0, b.stats().len, "the local store was dropped")
	v, _ := b.get("k")
	assert.Equal(t, "v2", v, "B does not serve the value it held before the outage")
}

// A subscriber whose connection is killed resubscribes and drops its local
// store; one whose process is paused gets the messages sent meanwhile when
// it resumes.
func TestSubscriberKilledAndResumed(t *testing.T) { eachBackend(t, testSubscriberKilledAndResumed) }

func testSubscriberKilledAndResumed(t *testing.T, be backend) {
	src := t.TempDir()
	writeSource(t, src, "k", "v1")
	a, b := startProc(t, be, "A", prefix(t), src), startProc(t, be, "B", prefix(t), src)
	for _, p := range []*proc{a, b} {
		v, _ := p.get("k")
		require.Equal(t, "v1", v)
	}

	// Killed: the channel's node closes every pub/sub connection.
	c := redis.NewClient(&redis.Options{Addr: be.channelNode(t, prefix(t)).addr()})
	defer c.Close()
	require.NoError(t, c.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err())
	b.await(func(s stats) bool { return s.resyncs == 1 && s.listening }, "resubscribed")
	assert.Equal(t, 0, b.stats().len, "the local store was dropped: messages may have been lost")
	v, _ := b.get("k")
	assert.Equal(t, "v1", v)

	// Paused: the message waits in Redis's output buffer.
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGSTOP))
	writeSource(t, src, "k", "v2")
	a.do("forget k")
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGCONT))
	b.awaitInvalidations(1)
	v, _ = b.get("k")
	assert.Equal(t, "v2", v)
	assert.Equal(t, uint64(1), b.stats().resyncs, "nothing was lost: no second resync")
}

// Two prefixes do not disturb each other: a Forget under one reaches no
// process of the other. The barrier: a later Forget under the other prefix,
// which Redis delivers after the first if it delivers the first at all.
func TestTwoPrefixesDoNotDisturbEachOther(t *testing.T) {
	eachBackend(t, testTwoPrefixesDoNotDisturbEachOther)
}

func testTwoPrefixesDoNotDisturbEachOther(t *testing.T, be backend) {
	src := t.TempDir()
	writeSource(t, src, "k", "v1")
	a := startProc(t, be, "A", prefix(t)+":one", src)
	b := startProc(t, be, "B", prefix(t)+":one", src)
	d := startProc(t, be, "D", prefix(t)+":two", src)
	e := startProc(t, be, "E", prefix(t)+":two", src)
	for _, p := range []*proc{a, b, d} {
		v, _ := p.get("k")
		require.Equal(t, "v1", v)
	}
	writeSource(t, src, "k", "v2")
	a.do("forget k")
	b.awaitInvalidations(1)
	e.do("forget marker")
	d.awaitInvalidations(1) // the marker, and only it
	assert.Equal(t, 1, d.stats().len, "D kept k")
	v, _ := d.get("k")
	assert.Equal(t, "v1", v, "D's k is its own prefix's")
}

// Two memos that share a prefix but hold different value types use different
// channels: neither drops the other's entries.
func TestSamePrefixOtherValueTypeIsNotDisturbed(t *testing.T) {
	eachBackend(t, testSamePrefixOtherValueTypeIsNotDisturbed)
}

func testSamePrefixOtherValueTypeIsNotDisturbed(t *testing.T, be backend) {
	pfx := prefix(t)
	ctx := context.Background()
	strA := memo.Memoize(func(_ context.Context, k string) (string, error) { return k, nil },
		memo.WithTier(newTier[string](t, be, pfx)))
	intTier := newTier[int](t, be, pfx)
	intB := memo.Memoize(func(_ context.Context, k string) (int, error) { return len(k), nil }, memo.WithTier(intTier))
	intC := memo.Memoize(func(_ context.Context, k string) (int, error) { return len(k), nil },
		memo.WithTier(newTier[int](t, be, pfx)))
	_, _ = strA.Get(ctx, "k")
	_, _ = intB.Get(ctx, "k")
	strA.Forget("k")
	intC.Forget("marker") // delivered to B after A's message, if that were delivered
	awaitCond(t, func() bool { return intTier.Stats().Invalidations == 1 })
	_, ok := intB.Peek("k")
	assert.True(t, ok, "the int memo kept k")
}

// A Tier ignores its own messages: a Set is not undone by its own echo.
func TestOwnMessagesAreIgnored(t *testing.T) { eachBackend(t, testOwnMessagesAreIgnored) }

func testOwnMessagesAreIgnored(t *testing.T, be backend) {
	pfx := prefix(t)
	fn := func(_ context.Context, k string) (string, error) { return "loaded", nil }
	aTier := newTier[string](t, be, pfx)
	a := memo.Memoize(fn, memo.WithTier(aTier))
	b := memo.Memoize(fn, memo.WithTier(newTier[string](t, be, pfx)))
	a.Set("k", "set")
	b.Forget("marker") // A gets it after its own Set's message
	awaitCond(t, func() bool { return aTier.Stats().Invalidations == 1 })
	v, ok := a.Peek("k")
	assert.True(t, ok)
	assert.Equal(t, "set", v)
}

// A tier whose subscription cannot be set up works as without invalidation,
// and says so.
func TestUnreachableSubscriptionWorksAsBefore(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer c.Close()
	tier := memoredis.New[string](c, prefix(t), nil, memoredis.WithCallTimeout(50*time.Millisecond))
	defer tier.Close()
	m := memo.Memoize(func(_ context.Context, k string) (string, error) { return k + "!", nil }, memo.WithTier(tier))
	v, err := m.Get(context.Background(), "k")
	require.NoError(t, err)
	assert.Equal(t, "k!", v)
	st := m.Stats().Tier
	assert.False(t, st.Listening, "the stats say invalidations do not arrive")
	assert.Zero(t, st.Resyncs)
	v, _ = m.Get(context.Background(), "k")
	assert.Equal(t, "k!", v)
	assert.Equal(t, uint64(1), m.Stats().Hits, "the local store serves as usual")
}

// WithoutInvalidation neither subscribes nor publishes.
func TestWithoutInvalidation(t *testing.T) { eachBackend(t, testWithoutInvalidation) }

func testWithoutInvalidation(t *testing.T, be backend) {
	pfx := prefix(t)
	fn := func(_ context.Context, k string) (string, error) { return k, nil }
	off := memoredis.New[string](be.client(t), pfx, nil, memoredis.WithoutInvalidation())
	a := memo.Memoize(fn, memo.WithTier(off))
	bTier := newTier[string](t, be, pfx)
	b := memo.Memoize(fn, memo.WithTier(bTier))
	_, _ = b.Get(context.Background(), "k")
	a.Forget("k")
	memo.Memoize(fn, memo.WithTier(newTier[string](t, be, pfx))).Forget("marker")
	awaitCond(t, func() bool { return bTier.Stats().Invalidations == 1 })
	_, ok := b.Peek("k")
	assert.True(t, ok, "A published nothing")
	assert.False(t, off.Stats().Listening)
}

// TestInvalidationDeliveryTime measures how long after a Forget another
// process's memo drops the key, over 1 000 invalidations on loopback (two
// clients, two connections, as two processes have):
//
//	cd redis && go test -run TestInvalidationDeliveryTime -v .
//
// "from call" starts the clock when Forget is called (its DEL and PUBLISH
// round trips included); "after return" when it returns, which is the bound
// the package documents (0 when the message arrived first).
func TestInvalidationDeliveryTime(t *testing.T) { eachBackend(t, testInvalidationDeliveryTime) }

func testInvalidationDeliveryTime(t *testing.T, be backend) {
	const n = 1000
	pfx := prefix(t)
	fn := func(_ context.Context, k string) (int, error) { return len(k), nil }
	a := memo.Memoize(fn, memo.WithTier(newTier[int](t, be, pfx)))
	dropped := make(chan time.Time, 1)
	b := memo.Memoize(fn, memo.WithTier(newTier[int](t, be, pfx)), memo.WithOnEvict(func(_ string, _ int, r memo.EvictReason) {
		if r == memo.Forgotten {
			dropped <- time.Now()
		}
	}))
	ctx := context.Background()
	fromCall, afterReturn := make([]time.Duration, n), make([]time.Duration, n)
	for i := range n {
		_, err := b.Get(ctx, "k")
		require.NoError(t, err)
		start := time.Now()
		a.Forget("k")
		returned := time.Now()
		select {
		case at := <-dropped:
			fromCall[i], afterReturn[i] = at.Sub(start), max(0, at.Sub(returned))
		case <-time.After(5 * time.Second):
			t.Fatalf("invalidation %d never arrived", i)
		}
	}
	slices.Sort(fromCall)
	slices.Sort(afterReturn)
	t.Logf("delivery of %d invalidations: from call median %v p99 %v; after return median %v p99 %v",
		n, fromCall[n/2], fromCall[n*99/100], afterReturn[n/2], afterReturn[n*99/100])
	assert.Less(t, afterReturn[n*99/100], deliveryBound)
}

func newTier[V any](t *testing.T, be backend, pfx string) *memoredis.Tier[V] {
	tier := memoredis.New[V](be.client(t), pfx, nil)
	t.Cleanup(func() { tier.Close() })
	return tier
}

// awaitCond polls ok for at most deliveryBound.
func awaitCond(t *testing.T, ok func() bool) {
	t.Helper()
	awaitWithin(t, deliveryBound, ok)
}

// A subscription that goes silent (here: Redis paused, its sockets open; on
// the cluster, the channel's master) is found by the PING probe and no
// longer counts as listening; once Redis answers again, the tier
// resubscribes and drops the local store.
func TestSilentSubscriptionIsProbed(t *testing.T) { eachBackend(t, testSilentSubscriptionIsProbed) }

func testSilentSubscriptionIsProbed(t *testing.T, be backend) {
	pfx := prefix(t)
	tier := newTier[string](t, be, pfx)
	m := memo.Memoize(func(_ context.Context, k string) (string, error) { return k, nil }, memo.WithTier(tier))
	_, err := m.Get(context.Background(), "k")
	require.NoError(t, err)
	require.True(t, tier.Stats().Listening)

	node := be.channelNode(t, pfx)
	require.NoError(t, node.cmd.Process.Signal(syscall.SIGSTOP))
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			require.NoError(t, node.cmd.Process.Signal(syscall.SIGCONT))
			if be.cluster {
				require.NoError(t, clus.waitOK()) // the other masters may have marked it failed
			}
		}
	}
	defer resume()
	awaitWithin(t, 5*time.Second, func() bool { return !tier.Stats().Listening })
	resume()
	awaitWithin(t, 5*time.Second, func() bool { st := tier.Stats(); return st.Listening && st.Resyncs == 1 })
	assert.Equal(t, 0, m.Len(), "the local store was dropped on resubscribing")
}

// awaitWithin polls ok for at most d.
func awaitWithin(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "condition not met within %v", d)
	}
}
