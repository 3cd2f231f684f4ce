package memo

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nopListener is a listening Tier that calls load and keeps the handlers.
type nopListener struct{ inv Invalidations }

func (t *nopListener) Fetch(ctx context.Context, _ string, load func(context.Context) (int, error)) (int, error) {
	return load(ctx)
}
func (t *nopListener) Set(string, int)          {}
func (t *nopListener) Forget(string)            {}
func (t *nopListener) Clear()                   {}
func (t *nopListener) Stats() TierStats         { return TierStats{} }
func (t *nopListener) Listen(inv Invalidations) { t.inv = inv }

func TestTierKeysStayBoundedByTheStore(t *testing.T) {
	tier := &nopListener{}
	m := Memoize(func(_ context.Context, k int) (int, error) { return k, nil }, WithCapacity(100), WithTier(tier))
	d := m.e.(*direct[int, int])
	ctx := context.Background()
	for i := range 20_000 {
		_, err := m.Get(ctx, i)
		require.NoError(t, err)
		d.keys.mu.Lock()
		n := len(d.keys.m)
		d.keys.mu.Unlock()
		require.LessOrEqual(t, n, max(2*100, minTierKeysLimit), "the reverse map is pruned of keys the LRU evicted")
	}
	// The keys still stored are still found after the prunes.
	for i := 20_000 - 100; i < 20_000; i++ {
		tier.inv.Forget(canonicalString(i))
	}
	assert.Equal(t, 0, m.Len(), "every live key was still in the reverse map")
}

func TestTierKeysAreNotKeptWithoutAListeningTier(t *testing.T) {
	m := Memoize(func(_ context.Context, k string) (int, error) { return len(k), nil })
	for i := range 100 {
		_, _ = m.Get(context.Background(), strconv.Itoa(i))
	}
	assert.Nil(t, m.e.(*direct[string, int]).keys.m)
}
