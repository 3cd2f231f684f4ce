package memoredis_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
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

// The tier on a real Redis Cluster: three masters without replicas on
// 127.0.0.1, started by the first test that needs them (redis-server with
// --cluster-enabled, joined with redis-cli --cluster create) and stopped by
// TestMain. The servers run with cluster-require-full-coverage no, as a
// cluster that should keep serving when one master is lost must.

var (
	clusterOnce sync.Once
	clus        *cluster
	clusErr     error
)

type cluster struct{ nodes []*server }

// clusterClient returns a new client of the test cluster, closed at the end
// of the test; without the Redis binaries it skips (fails under CI).
func clusterClient(t testing.TB) *redis.ClusterClient {
	t.Helper()
	if srv == nil {
		t.Skip(skipReason)
	}
	clusterOnce.Do(func() { clus, clusErr = startCluster() })
	if clusErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the cluster tests need redis-server and redis-cli under CI:", clusErr)
		}
		t.Skip("no Redis Cluster to test against: ", clusErr)
	}
	c := newClusterClient(clus.addrs())
	t.Cleanup(func() { c.Close() })
	return c
}

// newClusterClient is a client as the README's cluster section shows it.
func newClusterClient(addrs []string) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startCluster() (*cluster, error) {
	cli, err := lookPath("redis-cli")
	if err != nil {
		return nil, err
	}
	cl := &cluster{}
	for range 3 {
		bus, err := freePort()
		if err != nil {
			cl.stop()
			return nil, err
		}
		s, err := startServer("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "1000",
			"--cluster-require-full-coverage", "no")
		if err != nil {
			cl.stop()
			return nil, err
		}
		cl.nodes = append(cl.nodes, s)
	}
	args := append([]string{"--cluster", "create"}, cl.addrs()...)
	out, err := exec.Command(cli, append(args, "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		cl.stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	if err := cl.waitOK(); err != nil {
		cl.stop()
		return nil, err
	}
	return cl, nil
}

func (cl *cluster) addrs() []string {
	var addrs []string
	for _, n := range cl.nodes {
		addrs = append(addrs, n.addr())
	}
	return addrs
}

// waitOK waits until every node sees all 16384 slots served.
func (cl *cluster) waitOK() error {
	for _, n := range cl.nodes {
		c := redis.NewClient(&redis.Options{Addr: n.addr()})
		ok := false
		for deadline := time.Now().Add(20 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			info, _ := c.ClusterInfo(context.Background()).Result()
			ok = strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384")
		}
		c.Close()
		if !ok {
			return fmt.Errorf("the cluster node %s did not report every slot served", n.addr())
		}
	}
	return nil
}

func (cl *cluster) stop() {
	for _, n := range cl.nodes {
		n.stop()
		os.RemoveAll(n.dir)
	}
}

func stopCluster() {
	if clus != nil {
		clus.stop()
	}
}

// keysPerMaster counts the keys matching pattern on each master.
func keysPerMaster(t *testing.T, c *redis.ClusterClient, pattern string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	require.NoError(t, c.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
		keys, err := node.Keys(ctx, pattern).Result() // a test-sized keyspace
		mu.Lock()
		defer mu.Unlock()
		counts[node.Options().Addr] = len(keys)
		return err
	}))
	return counts
}

func total(counts map[string]int) (n int) {
	for _, c := range counts {
		n += c
	}
	return n
}

// The values of a cluster tier are shared between clients, spread over every
// master; Forget deletes one key and Clear every key, on every master.
func TestClusterSharesForgetsAndClearsOnEveryMaster(t *testing.T) {
	a, b := clusterClient(t), clusterClient(t)
	ctx := context.Background()
	ta := memoredis.New[rate](a, prefix(t), nil, memoredis.WithCallTimeout(2*time.Second))
	tb := memoredis.New[rate](b, prefix(t), nil, memoredis.WithCallTimeout(2*time.Second))
	var calls atomic.Int64
	for i := range 300 {
		k := fmt.Sprint("k", i)
		_, err := ta.Fetch(ctx, k, func(context.Context) (rate, error) { calls.Add(1); return rate{k, 1}, nil })
		require.NoError(t, err)
	}
	pattern := prefix(t) + ":*"
	counts := keysPerMaster(t, a, pattern)
	require.Len(t, counts, 3)
	for addr, n := range counts {
		assert.NotZero(t, n, "master %s holds some of the keys", addr)
	}
	assert.Equal(t, 300, total(counts), "one value key per key, and no lease left")
	for i := range 300 {
		k := fmt.Sprint("k", i)
		v, err := tb.Fetch(ctx, k, func(context.Context) (rate, error) { calls.Add(1); return rate{}, nil })
		require.NoError(t, err)
		require.Equal(t, k, v.Pair)
	}
	assert.Equal(t, int64(300), calls.Load(), "the second client's fetches are all hits")
	assert.Equal(t, uint64(300), tb.Stats().Hits)

	ta.Forget("k0")
	assert.Equal(t, 299, total(keysPerMaster(t, a, pattern)))
	ta.Clear()
	assert.Zero(t, total(keysPerMaster(t, a, pattern)), "Clear reaches every master")
	assert.Zero(t, ta.Stats().ClearFailures)
	assert.Zero(t, ta.Stats().Errors+tb.Stats().Errors)
}

// Forget during a load in flight is never undone on a cluster either.
func TestClusterForgetDuringALoadIsNeverUndone(t *testing.T) {
	c := clusterClient(t)
	ctx := context.Background()
	tier := memoredis.New[rate](c, prefix(t), nil, memoredis.WithCallTimeout(2*time.Second))
	other := memoredis.New[rate](clusterClient(t), prefix(t), nil, memoredis.WithCallTimeout(2*time.Second))
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := tier.Fetch(ctx, "k", func(context.Context) (rate, error) {
			close(started)
			<-release
			return rate{"k", 1}, nil
		})
		done <- err
	}()
	<-started
	other.Forget("k")
	close(release)
	require.NoError(t, <-done)
	n, err := c.Exists(ctx, tier.ValueKey("k")).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the forgotten key's value is not written back")
}

// fn runs once per key across 4 OS processes on a cluster too.
func TestClusterCallsFnOncePerKeyAcrossProcesses(t *testing.T) {
	clusterClient(t)
	assert.Equal(t, childKeys, runFleet(t, "MEMOREDIS_CLUSTER="+strings.Join(clus.addrs(), ",")),
		"fn runs once per key across 4 processes")
}

// A master killed mid-run: every Get still succeeds, the keys of the other
// masters are still served from Redis, only the dead master's keys go to fn,
// and a Clear that cannot reach it says so. The master is restarted at the
// end, empty.
func TestClusterMasterKilledMidRun(t *testing.T) {
	c := clusterClient(t)
	ctx := context.Background()
	tier := memoredis.New[rate](c, prefix(t), nil, memoredis.WithCallTimeout(200*time.Millisecond))
	master := map[string]string{} // key → its master's address
	for i := range 300 {
		k := fmt.Sprint("k", i)
		_, err := tier.Fetch(ctx, k, func(context.Context) (rate, error) { return rate{k, 1}, nil })
		require.NoError(t, err)
		node, err := c.MasterForKey(ctx, tier.ValueKey(k))
		require.NoError(t, err)
		master[k] = node.Options().Addr
	}
	victim := clus.nodes[0]
	onVictim := 0
	for _, addr := range master {
		if addr == victim.addr() {
			onVictim++
		}
	}
	require.NotZero(t, onVictim)
	victim.stop()
	t.Cleanup(func() {
		require.NoError(t, victim.start())
		require.NoError(t, clus.waitOK())
	})

	hits0 := tier.Stats().Hits
	var calls atomic.Int64
	start := time.Now()
	for i := range 300 {
		k := fmt.Sprint("k", i)
		v, err := tier.Fetch(ctx, k, func(context.Context) (rate, error) { calls.Add(1); return rate{k, 2}, nil })
		require.NoError(t, err, "a Get never fails because a master does")
		require.Equal(t, k, v.Pair)
	}
	t.Logf("300 Fetches with one master of 3 dead: %v, %d calls of fn, %d tier hits, %+v",
		time.Since(start), calls.Load(), tier.Stats().Hits-hits0, tier.Stats())
	assert.Equal(t, int64(onVictim), calls.Load(), "only the dead master's keys go to fn")
	assert.Equal(t, uint64(300-onVictim), tier.Stats().Hits-hits0, "the other masters' keys are still served")

	tier.Clear()
	assert.Equal(t, uint64(1), tier.Stats().ClearFailures, "a Clear that could not reach a master is counted")
	var left int
	for i := range 300 {
		k := fmt.Sprint("k", i)
		if master[k] == victim.addr() {
			continue
		}
		n, err := c.Exists(ctx, tier.ValueKey(k)).Result()
		require.NoError(t, err)
		left += int(n)
	}
	assert.Zero(t, left, "the live masters are cleared all the same")

	// The failed Clear cooled down the dead master only: a new key of a
	// live master is written.
	var live string
	for i := 0; live == ""; i++ {
		k := fmt.Sprint("after-clear-", i)
		node, err := c.MasterForKey(ctx, tier.ValueKey(k))
		require.NoError(t, err)
		if node.Options().Addr != victim.addr() {
			live = k
		}
	}
	_, err := tier.Fetch(ctx, live, func(context.Context) (rate, error) { return rate{live, 1}, nil })
	require.NoError(t, err)
	n, err := c.Exists(ctx, tier.ValueKey(live)).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "a key of a live master is still written after the failed Clear")
}

// On a cluster the invalidations go over a sharded channel: the subscriptions
// are SSUBSCRIBEs on the master of the channel's slot, and none is a plain
// SUBSCRIBE, whose PUBLISH would cross the whole cluster bus.
func TestClusterInvalidationsUseAShardedChannel(t *testing.T) {
	be := backend{cluster: true}
	pfx := prefix(t)
	a, b := newTier[string](t, be, pfx), newTier[string](t, be, pfx)
	fn := func(_ context.Context, k string) (string, error) { return k, nil }
	memo.Memoize(fn, memo.WithTier(a))
	memo.Memoize(fn, memo.WithTier(b))
	require.True(t, a.Stats().Listening && b.Stats().Listening)
	node := redis.NewClient(&redis.Options{Addr: be.channelNode(t, pfx).addr()})
	defer node.Close()
	ctx := context.Background()
	sharded, err := node.PubSubShardNumSub(ctx, a.Channel()).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(2), sharded[a.Channel()], "both tiers SSUBSCRIBEd on the channel's master")
	plain, err := node.PubSubNumSub(ctx, a.Channel()).Result()
	require.NoError(t, err)
	assert.Zero(t, plain[a.Channel()])
}
