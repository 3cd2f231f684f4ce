package memo

import (
	clist "container/list"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The models are the real cache scaled down: a sample of 1 key in 2^k and
// capacity/2^k entries each, at least simMinModel entries, at most
// simMaxModel, and none for a cache below simMinCapacity.
func TestWindowSimsAreScaleModels(t *testing.T) {
	assert.Nil(t, newWindowSims(simMinCapacity-1, 4000))
	for _, tc := range []struct {
		capacity int
		shift    uint
	}{{256, 2}, {500, 2}, {1000, 3}, {5000, 6}, {10_000, 6}, {100_000, 7}, {1 << 20, 10}} {
		s := newWindowSims(tc.capacity, 50_000)
		require.NotNil(t, s)
		assert.Equal(t, tc.shift, s.shift, "capacity %d", tc.capacity)
		size := tc.capacity >> s.shift
		assert.GreaterOrEqual(t, size, simMinModel)
		assert.LessOrEqual(t, size, simMaxModel)
		for i, m := range s.models {
			assert.Equal(t, size, m.pol.capacity)
			assert.Equal(t, max(1, int(simFractions[i]*float64(size)+0.5)), m.pol.maxWindow, "model %d's window", i)
			assert.Nil(t, m.pol.ghosts, "a model's window never moves: no ghosts")
		}
	}
	// The sample: 1 hash in 2^shift, by its top bits.
	s := newWindowSims(1000, 20_000)
	n := 0
	for i := range uint64(1 << 16) {
		if s.sampled(rehash(i)) {
			n++
		}
	}
	assert.InDelta(t, 1<<16>>3, n, 400, "1 key in 8 sampled")
}

// The decisions at the end of a sample: a move only on a lead beyond the
// noise, none while the real cache falls behind its model, and the previous
// move undone then.
func TestWindowSimsMoveOnlyOnAClearLeadTheRealCacheConfirms(t *testing.T) {
	const capacity = 1000
	s := newWindowSims(capacity, 20_000)
	window := 100 // 10 %: model 1
	near := nearest(window, capacity)
	require.Equal(t, 0.1, simFractions[near])
	last := len(simFractions) - 1
	both, nearOnly, lastOnly := 1<<near|1<<last, 1<<near, 1<<last
	sample := func(real int, by map[int]int) {
		s.by = [1 << len(simFractions)]int{}
		for in, n := range by {
			s.by[in] = n
		}
		s.real = real
	}

	// Model 100 % hits 1 120 times to the nearest model's 1 000, a lead of
	// 12 %. Whether that is noise depends on how often the two disagree.
	sample(1000, map[int]int{both: 200, nearOnly: 800, lastOnly: 920})
	_, move := s.decide(window, capacity)
	assert.False(t, move, "a lead of 120 on 1 720 requests where the models disagree is noise (3 sd = 124)")

	sample(1000, map[int]int{both: 950, nearOnly: 50, lastOnly: 170})
	require.Equal(t, 1000, s.hits(near))
	require.Equal(t, 1120, s.hits(last))
	w, move := s.decide(window, capacity)
	require.True(t, move, "the same lead where they disagree on 220 requests (3 sd = 44) is clear")
	assert.Equal(t, capacity, w, "moved to the best model's window, 100 %")
	s.from = -1

	// A lead well beyond the noise but of 3 % only is within what a scale
	// model can get wrong: no move.
	sample(10_000, map[int]int{both: 9_900, nearOnly: 100, lastOnly: 400})
	_, move = s.decide(window, capacity)
	assert.False(t, move, "a lead of 300 in 10 000 (13 sd) is below simMinLead")

	sample(1000, map[int]int{both: 950, nearOnly: 50, lastOnly: 170})
	_, move = s.decide(window, capacity)
	require.True(t, move)

	// The real cache then falls far behind the model nearest its new window:
	// the models are not seeing what it sees. The move is undone.
	sample(30, map[int]int{lastOnly: 2500})
	w, move = s.decide(capacity, capacity)
	require.True(t, move)
	assert.Equal(t, window, w, "the move was undone")

	// Distrusted with no move to undo: nothing moves, even on a lead.
	sample(30, map[int]int{1<<0 | nearOnly: 2500, 1 << 0: 500})
	_, move = s.decide(window, capacity)
	assert.False(t, move, "no move while the real cache is far behind its model")
}

// A move is on probation: if the real cache falls behind its model within
// the sample after it, it is undone at the next probe, not at the sample's
// end.
func TestWindowSimsUndoAMoveEarly(t *testing.T) {
	const capacity = 1000
	s := newWindowSims(capacity, 20_000)
	s.from = 50 // the previous sample moved the window from 50 to 1 000
	last := len(simFractions) - 1
	s.by[1<<last], s.real = 400, 0
	s.n = s.probe - 2
	var h uint64 // a sampled hash: top bits 0
	_, move := s.request(h, false, capacity, capacity)
	require.False(t, move, "nothing decided between probes")
	w, move := s.request(h, false, capacity, capacity)
	require.True(t, move, "undone at the probe")
	assert.Equal(t, 50, w)
	assert.Equal(t, -1, s.from)
	assert.Less(t, s.n, s.sample, "within the sample")
}

// Clear empties the models with the cache.
func TestWindowSimsClearWithTheCache(t *testing.T) {
	s := newPolicySim(1000)
	require.NotNil(t, s.p.sims)
	for i := range 50_000 {
		s.get(i % 3000)
	}
	s.p.reset()
	for i := range s.p.sims.models {
		m := &s.p.sims.models[i]
		assert.Empty(t, m.idx)
		assert.Zero(t, m.pol.size())
		assert.Equal(t, max(1, int(simFractions[i]*float64(m.pol.capacity)+0.5)), m.pol.maxWindow, "model %d keeps its window", i)
	}
	assert.Zero(t, s.p.sims.n)
	assert.Equal(t, -1, s.p.sims.from)
}

// What the models are for: on a hot set that keeps moving, the window must
// reach an LRU's hit ratio within a few samples, not after half a million
// requests. Measured over requests 100 000 to 300 000 of the moving hot set
// of TestTinyLFUFollowsAMovingHotSetAsWellAsAnLRU, with the models TinyLFU
// is within two points of an exact LRU (the climber alone: 6 points
// behind); on a loop a little longer than the cache, where the models hold
// every sampled key and an LRU hits nothing, the window stays small.
func TestWindowSimsFollowAMovingHotSetQuickly(t *testing.T) {
	const capacity, hot, slide, every = 2000, 10_000, 1_000, 5_000
	const from, to = 100_000, 300_000
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.0001, 1, hot-1)
	s := newPolicySim(capacity)
	ref := newLRUHits(capacity)
	hits := 0
	for i := range to {
		if i == from {
			ref.hits, hits = 0, 0
		}
		k := int(z.Uint64()) + i/every*slide
		if s.get(k) {
			hits++
		}
		ref.get(k)
	}
	got, lru := float64(hits)/(to-from), float64(ref.hits)/(to-from)
	t.Logf("TinyLFU %.4f, LRU %.4f", got, lru)
	assert.Greater(t, got, lru-0.02, "TinyLFU %.4f, LRU %.4f over the same requests", got, lru)

	s = newPolicySim(capacity)
	for i := range 400_000 {
		s.get(i % (capacity * 11 / 10))
	}
	t.Logf("loop window %d", s.p.maxWindow)
	assert.Less(t, s.p.maxWindow, capacity/4, "the window stays small on a loop")
}

// lruHits counts the hits of an exact LRU of capacity entries.
type lruHits struct {
	capacity, hits int
	order          *clist.List
	at             map[int]*clist.Element
}

func newLRUHits(capacity int) *lruHits {
	return &lruHits{capacity: capacity, order: clist.New(), at: map[int]*clist.Element{}}
}

func (l *lruHits) get(k int) {
	if e, ok := l.at[k]; ok {
		l.hits++
		l.order.MoveToFront(e)
		return
	}
	l.at[k] = l.order.PushFront(k)
	if l.order.Len() > l.capacity {
		delete(l.at, l.order.Remove(l.order.Back()).(int))
	}
}

// The models' price in time: the policy alone (no index, no buffer, no
// mutex), driven serially by the mixed workload's keys (Zipf over 100 000
// keys through 10 000 entries: a sampled request in 64 runs six model
// requests), with its models and without.
func BenchmarkPolicyModels(b *testing.B) {
	const capacity, keys = 10_000, 100_000
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.01, 1, keys-1)
	trace := make([]int, 1<<16)
	for i := range trace {
		trace[i] = int(z.Uint64())
	}
	for _, models := range []bool{false, true} {
		b.Run(fmt.Sprintf("models=%v", models), func(b *testing.B) {
			s := newPolicySim(capacity)
			s.p.evict = func(e *entry[int, int]) { delete(s.held, e.key) }
			if !models {
				s.p.sims = nil
			}
			for _, k := range trace {
				s.get(k)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.get(trace[i&(len(trace)-1)])
				i++
			}
		})
	}
}
