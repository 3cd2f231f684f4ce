package memo

import (
	"context"
	"runtime"
	"testing"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type wblob struct {
	key  int
	data [64]byte
}

func weakStoreOf(m *Memo[int, *wblob]) *weakStore[int, wblob] {
	return m.e.(*direct[int, *wblob]).st.(*weakStore[int, wblob])
}

// deadPointer returns a weak pointer whose value the collector has reclaimed.
func deadPointer(t *testing.T) weak.Pointer[wblob] {
	p := weak.Make(&wblob{})
	for range 100 {
		if p.Value() == nil {
			return p
		}
		runtime.GC()
	}
	t.Fatal("the value was never reclaimed")
	return p
}

// Promise 4: between the collection of a value and its cleanup, the entry is
// still in the index but its weak pointer is nil. A Get then is a miss that
// loads again; the dead entry is counted as collected, once.
func TestWeakGetBetweenCollectionAndCleanupLoadsAgain(t *testing.T) {
	calls := 0
	m := MemoizeWeak(func(_ context.Context, k int) (*wblob, error) {
		calls++
		return &wblob{key: k}, nil
	})
	s := weakStoreOf(m)
	dead := &entry[int, wref[wblob]]{key: 1, val: wref[wblob]{ptr: deadPointer(t)}}
	m.e.(*direct[int, *wblob]).mu.Lock()
	_, ok := s.idx.put(dead) // as if the cleanup had not run yet
	m.e.(*direct[int, *wblob]).mu.Unlock()
	require.True(t, ok)
	require.Equal(t, 1, m.Len())

	_, found := m.Peek(1)
	assert.False(t, found, "a dead entry is never returned")
	v, err := m.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, 1, v.key)
	assert.Equal(t, 1, calls)
	st := m.Stats()
	st.LoadTime = 0 // LoadTime is the real time spent in fn here (no synctest clock)
	assert.Equal(t, Stats{Misses: 1, Loads: 1, Collected: 1, Len: 1}, st, st.String())

	s.collected(dead) // the late cleanup of the dead entry
	st = m.Stats()
	st.LoadTime = 0 // LoadTime is the real time spent in fn here (no synctest clock)
	assert.Equal(t, Stats{Misses: 1, Loads: 1, Collected: 1, Len: 1}, st, "the late cleanup changes nothing: %v", st)
	got, found := m.Peek(1)
	assert.True(t, found)
	assert.Same(t, v, got)
	runtime.KeepAlive(v)
}

// Promise 3, deterministically: a cleanup that runs after a newer entry was
// stored for its key leaves the newer entry alone.
func TestWeakCleanupOfAnOldEntryKeepsTheNewOne(t *testing.T) {
	m := MemoizeWeak(func(_ context.Context, k int) (*wblob, error) { return &wblob{key: k}, nil })
	s := weakStoreOf(m)
	a, _ := m.Get(context.Background(), 1)
	old := s.idx.get(1)
	m.Forget(1)
	b, _ := m.Get(context.Background(), 1)
	s.collected(old)
	got, ok := m.Peek(1)
	assert.True(t, ok)
	assert.Same(t, b, got)
	assert.Zero(t, m.Stats().Collected)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
}

// Promise (issue 17.3): after Clear, no old entry keeps a node index or a pin,
// and a use of an old entry recorded late (a hit that found it before the
// Clear) leaves the new window alone.
func TestWeakClearLeavesNoStaleNodeIndexes(t *testing.T) {
	m := MemoizeWeak(func(_ context.Context, k int) (*wblob, error) { return &wblob{key: k}, nil }, WithCapacity(4))
	ctx := context.Background()
	held := make([]*wblob, 6)
	for k := range held {
		held[k], _ = m.Get(ctx, k)
	}
	s := weakStoreOf(m)
	var old []*entry[int, wref[wblob]]
	s.mu.Lock()
	s.idx.each(func(e *entry[int, wref[wblob]]) { old = append(old, e) })
	s.mu.Unlock()
	require.Len(t, old, 6)
	m.Clear()
	for k := range 2 {
		held[k], _ = m.Get(ctx, 10+k) // a new window of two
	}
	s.mu.Lock()
	for _, e := range old {
		assert.Zero(t, e.node, "old entry %d keeps a node index", e.key)
		assert.False(t, e.val.pinned.Load())
		s.use(e)
	}
	assert.Equal(t, 2, s.pinned)
	assert.Equal(t, 10+1, s.window.front().key, "old uses moved nothing")
	s.mu.Unlock()
	runtime.KeepAlive(held)
}
