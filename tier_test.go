package memo_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
)

// listeningTier is a Tier that listens: it calls load on every Fetch, records
// the keys it is given, and lets the test play another process's
// invalidations through the handlers the memo handed it.
type listeningTier[V any] struct {
	mu      sync.Mutex
	fetched []string
	set     map[string]V
	inv     memo.Invalidations
	listens int
}

func (t *listeningTier[V]) Fetch(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error) {
	t.mu.Lock()
	t.fetched = append(t.fetched, key)
	t.mu.Unlock()
	return load(ctx)
}

func (t *listeningTier[V]) Set(key string, v V) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.set == nil {
		t.set = map[string]V{}
	}
	t.set[key] = v
}

func (t *listeningTier[V]) Forget(string)                 {}
func (t *listeningTier[V]) Clear()                        {}
func (t *listeningTier[V]) Stats() memo.TierStats         { return memo.TierStats{Listening: true} }
func (t *listeningTier[V]) Listen(inv memo.Invalidations) { t.inv = inv; t.listens++ }

func canonical[K any](k K) string { return string(memo.CanonicalKey(nil, k)) }

// counting returns fn(k) = len(k) * gen, where gen is what the test sets:
// a value computed after a change of gen is distinguishable from one
// computed before.
func counting(gen *atomic.Int64, calls *atomic.Int64) func(context.Context, string) (int64, error) {
	return func(_ context.Context, k string) (int64, error) {
		calls.Add(1)
		return int64(len(k)) * gen.Load(), nil
	}
}

func TestTierListenerIsHandedTheHandlersOnceAtConstruction(t *testing.T) {
	tier := &listeningTier[int64]{}
	var gen, calls atomic.Int64
	memo.Memoize(counting(&gen, &calls), memo.WithTier(tier))
	assert.Equal(t, 1, tier.listens)
	assert.NotNil(t, tier.inv.Forget)
	assert.NotNil(t, tier.inv.Clear)
}

func TestRemoteForgetDropsTheLocalEntryOfADirectMemo(t *testing.T) {
	tier := &listeningTier[int64]{}
	var gen, calls atomic.Int64
	gen.Store(1)
	m := memo.Memoize(counting(&gen, &calls), memo.WithTier(tier))
	ctx := context.Background()
	v, err := m.Get(ctx, "abc")
	require.NoError(t, err)
	require.Equal(t, int64(3), v)
	_, _ = m.Get(ctx, "other")

	gen.Store(2)
	tier.inv.Forget(canonical("abc"))
	_, ok := m.Peek("abc")
	assert.False(t, ok, "the forgotten key is gone")
	_, ok = m.Peek("other")
	assert.True(t, ok, "other keys stay")
	v, err = m.Get(ctx, "abc")
	require.NoError(t, err)
	assert.Equal(t, int64(6), v, "the next Get calls fn")
	assert.Equal(t, int64(3), calls.Load())

	tier.inv.Forget(canonical("never seen"))
	tier.inv.Forget("not a canonical form")
	assert.Equal(t, 2, m.Len(), "an unknown key drops nothing")
}

func TestRemoteForgetMarksALoadInFlightStale(t *testing.T) {
	tier := &listeningTier[int64]{}
	started, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	m := memo.Memoize(func(_ context.Context, k string) (int64, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-release
			return 1, nil
		}
		return 2, nil
	}, memo.WithTier(tier))
	ctx := context.Background()
	got := make(chan int64)
	go func() {
		v, _ := m.Get(ctx, "k")
		got <- v
	}()
	<-started
	tier.inv.Forget(canonical("k"))
	close(release)
	assert.Equal(t, int64(1), <-got, "the waiters of the stale load still get its result")
	_, ok := m.Peek("k")
	assert.False(t, ok, "the stale load's result is not stored")
	v, err := m.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)
}

func TestRemoteClearDropsEverythingButKeepsTheCounters(t *testing.T) {
	tier := &listeningTier[int64]{}
	var gen, calls atomic.Int64
	m := memo.Memoize(counting(&gen, &calls), memo.WithCapacity(10), memo.WithTier(tier))
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		_, _ = m.Get(ctx, k)
	}
	_, _ = m.Get(ctx, "a")
	tier.inv.Clear()
	assert.Equal(t, 0, m.Len())
	st := m.Stats()
	assert.Equal(t, uint64(1), st.Hits, "the counters are this process's, not reset by another's Clear")
	assert.Equal(t, uint64(3), st.Misses)
}

func TestRemoteForgetDropsTheLocalEntryOfAKeyedMemo(t *testing.T) {
	tier := &listeningTier[int]{}
	var calls atomic.Int64
	m := memo.MemoizeKeyed(func(_ context.Context, k []string) (int, error) {
		calls.Add(1)
		return len(k), nil
	}, memo.CanonicalKey[[]string], memo.WithTier(tier))
	ctx := context.Background()
	_, _ = m.Get(ctx, []string{"a", "b"})
	tier.inv.Forget(canonical([]string{"a", "b"}))
	_, ok := m.Peek([]string{"a", "b"})
	assert.False(t, ok)
	_, _ = m.Get(ctx, []string{"a", "b"})
	assert.Equal(t, int64(2), calls.Load())
}

func TestRemoteForgetDropsTheLocalEntryOfAWeakMemo(t *testing.T) {
	tier := &listeningTier[*[64]byte]{}
	m := memo.MemoizeWeak(func(_ context.Context, k int) (*[64]byte, error) {
		return new([64]byte), nil
	}, memo.WithCapacity(4), memo.WithTier(tier))
	v, _ := m.Get(context.Background(), 7)
	tier.inv.Forget(canonical(7))
	_, ok := m.Peek(7)
	assert.False(t, ok)
	_ = v
}

func TestSetWritesThroughToTheTier(t *testing.T) {
	tier := &listeningTier[int64]{}
	var gen, calls atomic.Int64
	m := memo.Memoize(counting(&gen, &calls), memo.WithTier(tier))
	m.Set("k", 42)
	assert.Equal(t, map[string]int64{canonical("k"): 42}, tier.set)
	// A key that entered by Set is found by a remote Forget.
	tier.inv.Forget(canonical("k"))
	_, ok := m.Peek("k")
	assert.False(t, ok)

	km := memo.MemoizeKeyed(counting(&gen, &calls), memo.CanonicalKey[string], memo.WithTier(tier))
	km.Set("j", 7)
	assert.Equal(t, int64(7), tier.set[canonical("j")])
}
