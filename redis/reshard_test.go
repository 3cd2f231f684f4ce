package memoredis_test

import (
	"context"
	"fmt"
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

// slotMove moves one hash slot of the test cluster from one master to
// another by hand, as redis-cli --cluster reshard does: CLUSTER SETSLOT
// IMPORTING on the target and MIGRATING on the source, MIGRATE of the
// slot's keys in batches, then SETSLOT NODE on every master.
type slotMove struct {
	t        *testing.T
	slot     int
	src, dst *redis.Client
	srcID    string
	dstID    string
	done     bool
}

// startSlotMove puts slot in migration from its master to another one. A
// test that fails midway finishes the move at its end, so that later tests
// find every slot stable.
func startSlotMove(t *testing.T, c *redis.ClusterClient, slot int, key string) *slotMove {
	t.Helper()
	ctx := context.Background()
	owner, err := c.MasterForKey(ctx, key)
	require.NoError(t, err)
	m := &slotMove{t: t, slot: slot}
	for _, n := range clus.nodes {
		nc := redis.NewClient(&redis.Options{Addr: n.addr()})
		t.Cleanup(func() { nc.Close() })
		switch {
		case n.addr() == owner.Options().Addr:
			m.src = nc
		case m.dst == nil:
			m.dst = nc
		}
	}
	require.NotNil(t, m.src)
	m.srcID, err = m.src.ClusterMyID(ctx).Result()
	require.NoError(t, err)
	m.dstID, err = m.dst.ClusterMyID(ctx).Result()
	require.NoError(t, err)
	require.NoError(t, m.dst.Do(ctx, "cluster", "setslot", slot, "importing", m.srcID).Err())
	require.NoError(t, m.src.Do(ctx, "cluster", "setslot", slot, "migrating", m.dstID).Err())
	t.Cleanup(func() {
		if !m.done {
			m.finish()
		}
	})
	return m
}

// migrate moves at most n of the slot's keys to the target and reports how
// many it moved.
func (m *slotMove) migrate(n int) int {
	m.t.Helper()
	ctx := context.Background()
	keys, err := m.src.ClusterGetKeysInSlot(ctx, m.slot, n).Result()
	require.NoError(m.t, err)
	if len(keys) == 0 {
		return 0
	}
	host, port, _ := strings.Cut(m.dst.Options().Addr, ":")
	p, err := strconv.Atoi(port)
	require.NoError(m.t, err)
	args := []any{"migrate", host, p, "", 0, 5000, "keys"}
	for _, k := range keys {
		args = append(args, k)
	}
	require.NoError(m.t, m.src.Do(ctx, args...).Err())
	return len(keys)
}

// finish migrates the keys left and gives the slot to the target, on the
// target first, then on the source and the other masters.
func (m *slotMove) finish() {
	m.t.Helper()
	for m.migrate(100) > 0 {
	}
	ctx := context.Background()
	require.NoError(m.t, m.dst.Do(ctx, "cluster", "setslot", m.slot, "node", m.dstID).Err())
	require.NoError(m.t, m.src.Do(ctx, "cluster", "setslot", m.slot, "node", m.dstID).Err())
	for _, n := range clus.nodes {
		if a := n.addr(); a != m.src.Options().Addr && a != m.dst.Options().Addr {
			nc := redis.NewClient(&redis.Options{Addr: a})
			require.NoError(m.t, nc.Do(ctx, "cluster", "setslot", m.slot, "node", m.dstID).Err())
			nc.Close()
		}
	}
	m.done = true
	require.NoError(m.t, clus.waitOK())
}

// exists counts the keys that exist, one EXISTS each: an EXISTS of two keys
// fails (TRYAGAIN) on a slot in migration.
func exists(t *testing.T, c *redis.ClusterClient, keys ...string) (n int64) {
	t.Helper()
	for _, k := range keys {
		m, err := c.Exists(context.Background(), k).Result()
		require.NoError(t, err)
		n += m
	}
	return n
}

// keysInSlot returns n keys of tier whose Redis keys hash to slot, named
// after name.
func keysInSlot[V any](tier *memoredis.Tier[V], slot int, name string, n int) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		if k := fmt.Sprint(name, i); memoredis.Slot(tier.ValueKey(k)) == slot {
			keys = append(keys, k)
		}
	}
	return keys
}

// The slot that holds the tier's invalidation channel and some of its keys
// moves to another master while Gets run. See the README's cluster section
// for what a migrating slot costs.
func TestClusterSlotMovesWhileGetsRun(t *testing.T) {
	be := backend{cluster: true}
	c := clusterClient(t)
	ctx := context.Background()
	pfx := prefix(t)
	// A generous call timeout: this test is about redirects, not timeouts.
	tier := memoredis.New[rate](c, pfx, nil, memoredis.WithCallTimeout(2*time.Second))
	slot := memoredis.Slot(tier.Channel())
	moved := keysInSlot(tier, slot, "moved-", 10)
	var others []string
	for i := 0; len(others) < 10; i++ {
		if k := fmt.Sprint("other-", i); memoredis.Slot(tier.ValueKey(k)) != slot {
			others = append(others, k)
		}
	}
	spare := keysInSlot(tier, slot, "spare-", 6) // forgotten, slow and cold keys of the slot
	forgotten, slow, cold := spare[0], spare[1], spare[2:]

	var calls atomic.Int64
	fn := func(k string) func(context.Context) (rate, error) {
		return func(context.Context) (rate, error) { calls.Add(1); return rate{k, 1}, nil }
	}
	for _, k := range append(append([]string{forgotten}, moved...), others...) {
		_, err := tier.Fetch(ctx, k, fn(k))
		require.NoError(t, err)
	}
	require.Equal(t, int64(21), calls.Load())

	// Two memos of other processes, subscribed on the slot's master.
	mA := memo.Memoize(func(_ context.Context, k string) (rate, error) { return rate{k, 1}, nil },
		memo.WithTier(newTier[rate](t, be, pfx)))
	mB := memo.Memoize(func(_ context.Context, k string) (rate, error) { return rate{k, 1}, nil },
		memo.WithTier(newTier[rate](t, be, pfx)))
	require.True(t, mB.Stats().Tier.Listening)

	// Another tier's keys in the same slot, for a Clear during the move.
	other := memoredis.New[rate](clusterClient(t), pfx+":other", nil, memoredis.WithCallTimeout(2*time.Second))
	otherKeys := keysInSlot(other, slot, "k", 4)
	for _, k := range otherKeys {
		_, err := other.Fetch(ctx, k, fn(k))
		require.NoError(t, err)
	}

	// A load whose lease was taken before the move and finishes during it.
	slowStarted, slowRelease, slowDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := tier.Fetch(ctx, slow, func(context.Context) (rate, error) {
			close(slowStarted)
			<-slowRelease
			return rate{slow, 1}, nil
		})
		slowDone <- err
	}()
	<-slowStarted

	// Gets of the warm keys, all along.
	calls.Store(0)
	hits0 := tier.Stats().Hits
	stop := make(chan struct{})
	var gets, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := moved[i%len(moved)]
			if i%2 == 1 {
				k = others[i%len(others)]
			}
			if v, err := tier.Fetch(ctx, k, fn(k)); err != nil || v.Pair != k {
				failed.Add(1)
			}
			gets.Add(1)
		}
	})

	move := startSlotMove(t, c, slot, tier.Channel())
	require.Positive(t, move.migrate(len(moved)/2))
	// The slot's keys are split between the two masters now.
	close(slowRelease)
	require.NoError(t, <-slowDone)
	n, err := c.Exists(ctx, tier.LeaseKey(slow)).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the slow load's lease is released though its value could not be written")

	tier.Forget(forgotten)
	assert.Zero(t, exists(t, c, tier.ValueKey(forgotten), tier.LeaseKey(forgotten)), "Forget deletes during the move")

	for _, k := range cold {
		v, err := tier.Fetch(ctx, k, fn(k))
		require.NoError(t, err)
		require.Equal(t, k, v.Pair)
	}
	assert.Zero(t, exists(t, c, tier.ValueKey(cold[0]), tier.LeaseKey(cold[0])), "a cold key of the moving slot is loaded without a lease and not written (the doc's price)")
	coldCalls := calls.Load()
	assert.Equal(t, int64(len(cold)), coldCalls, "one call of fn per cold key")

	other.Clear()
	assert.Zero(t, other.Stats().ClearFailures, "Clear reaches keys on both sides of the move")
	assert.Zero(t, total(keysPerMaster(t, c, pfx+":other:*")))

	move.finish()
	awaitGets := gets.Load() + 100 // Gets keep going after the move too
	awaitWithin(t, 10*time.Second, func() bool { return gets.Load() >= awaitGets })
	close(stop)
	wg.Wait()
	t.Logf("%d Gets during and after the move: %d failed; tier %+v", gets.Load(), failed.Load(), tier.Stats())
	assert.Zero(t, failed.Load(), "every Get succeeds")
	assert.Equal(t, coldCalls, calls.Load(), "the warm keys were all served from Redis, before, during and after")
	assert.Equal(t, uint64(gets.Load()), tier.Stats().Hits-hits0)
	assert.Equal(t, uint64(1+len(cold)), tier.Stats().Errors,
		"the TRYAGAIN replies are counted: the slow load's finish, each cold key's acquire")

	// After the move: the moved keys live on the new master and still hit.
	for _, k := range moved {
		n, err := move.dst.Exists(ctx, tier.ValueKey(k)).Result()
		require.NoError(t, err)
		require.Equal(t, int64(1), n, "%s moved to the new master", k)
	}
	for _, k := range append(moved, others...) {
		_, err := tier.Fetch(ctx, k, fn(k))
		require.NoError(t, err)
	}
	assert.Equal(t, coldCalls, calls.Load(), "the moved keys still hit")
	_, err = tier.Fetch(ctx, forgotten, fn(forgotten))
	require.NoError(t, err)
	assert.Equal(t, coldCalls+1, calls.Load(), "the forgotten key is loaded again, once")
	n, err = c.Exists(ctx, tier.ValueKey(forgotten)).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "and written, on the new master")

	// The subscribers were unsubscribed when the channel's slot left its
	// master: they subscribed again at the new one and resynced.
	awaitWithin(t, 5*time.Second, func() bool { st := mB.Stats().Tier; return st.Listening && st.Resyncs >= 1 })
	_, err = mB.Get(ctx, moved[0])
	require.NoError(t, err)
	sub, err := move.dst.PubSubShardNumSub(ctx, tier.Channel()).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(2), sub[tier.Channel()], "both memos subscribed at the slot's new master")
	inv := mB.Stats().Tier.Invalidations
	mA.Forget(moved[0])
	awaitCond(t, func() bool { return mB.Stats().Tier.Invalidations == inv+1 })
	_, ok := mB.Peek(moved[0])
	assert.False(t, ok, "an invalidation on the moved channel reaches the other process")

	tier.Forget(moved[1])
	n, err = c.Exists(ctx, tier.ValueKey(moved[1])).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "Forget works after the move")
	tier.Clear()
	assert.Zero(t, tier.Stats().ClearFailures)
	assert.Zero(t, total(keysPerMaster(t, c, pfx+":*")), "Clear works after the move")
}
