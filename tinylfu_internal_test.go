package memo

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// policySim drives the policy alone, as a cache of int keys: it reports
// whether each request hit.
type policySim struct {
	p       wtinylfu[int, int]
	held    map[int]*entry[int, int]
	evicted []int
}

func newPolicySim(capacity int) *policySim {
	s := &policySim{held: map[int]*entry[int, int]{}}
	s.p.init(capacity, func(k int) uint64 { return uint64(k) * 0x9e3779b97f4a7c15 }, func(e *entry[int, int]) {
		delete(s.held, e.key)
		s.evicted = append(s.evicted, e.key)
	})
	return s
}

func (s *policySim) get(k int) bool {
	if e, ok := s.held[k]; ok {
		s.p.access(e, s.p.hash(k))
		return true
	}
	e := &entry[int, int]{key: k}
	s.held[k] = e
	s.p.add(e)
	return false
}

// The policy never holds more than its capacity, and its regions account for
// every entry it holds.
func TestPolicyStaysWithinCapacity(t *testing.T) {
	for _, capacity := range []int{1, 2, 3, 10, 100} {
		s := newPolicySim(capacity)
		for i := range 20_000 {
			s.get((i * 7919) % (3 * capacity))
			require.LessOrEqual(t, s.p.size(), capacity)
			require.Equal(t, len(s.held), s.p.size())
			require.LessOrEqual(t, s.p.nProtected, max(s.p.maxProtected, 0))
		}
	}
}

// Admission: a candidate seen once does not replace a victim seen often;
// the candidate is the one evicted.
func TestPolicyRefusesAOneHitWonderForAFrequentKey(t *testing.T) {
	s := newPolicySim(10)
	for k := range 10 {
		for range 5 {
			s.get(k)
		}
	}
	require.Len(t, s.held, 10)
	var main []int // the frequent keys past the window
	for k, e := range s.held {
		if !s.p.window.holds(e) {
			main = append(main, k)
		}
	}
	require.NotEmpty(t, main)
	for k := 100; k < 200; k++ {
		s.get(k) // each seen once: refused when it leaves the window
	}
	for _, k := range main {
		assert.Contains(t, s.held, k, "frequent key %d kept", k)
	}
	assert.Len(t, s.evicted, 100, "every newcomer but the window's was refused, or pushed out one frequent key of the window")
}

// The climber grows the window on a recency trace (every key asked for
// twice, the second time up to half the capacity later, as in the Corda
// trace: only a window that large catches it) and shrinks it on a frequency
// trace (a loop a little longer than the cache, where only a stable main
// region hits).
func TestClimberMovesTheWindowWithTheWorkload(t *testing.T) {
	const capacity = 1000
	s := newPolicySim(capacity)
	start := s.p.maxWindow
	r := rand.New(rand.NewPCG(1, 2))
	due := map[int][]int{} // request number -> keys asked for again then
	for i := range 300_000 {
		s.get(i)
		for _, k := range due[i] {
			s.get(k)
		}
		delete(due, i)
		at := i + 1 + r.IntN(capacity/2)
		due[at] = append(due[at], i)
	}
	assert.Greater(t, s.p.maxWindow, capacity/4, "the window grew on a recency trace (from %d)", start)

	s = newPolicySim(capacity)
	s.p.setWindow(capacity / 2)
	for i := range 500_000 {
		s.get(i % (capacity * 3 / 2))
	}
	assert.Less(t, s.p.maxWindow, capacity/10, "the window shrank on a loop")
}

// The sketch counts up to 15, estimates at least the true count of a key
// (collisions only add), and halves every count as it ages.
func TestSketchCountsSaturatesAndAges(t *testing.T) {
	var s sketch
	s.init(1000)
	h := func(k int) uint64 { return uint64(k) * 0x9e3779b97f4a7c15 }
	for k := range 100 {
		for range k % 20 {
			s.increment(h(k))
		}
	}
	for k := range 100 {
		assert.GreaterOrEqual(t, s.estimate(h(k)), min(k%20, 15), "key %d", k)
	}
	assert.Equal(t, 15, s.estimate(h(19)), "saturates at 15")
	before := s.estimate(h(10))
	s.age()
	assert.Equal(t, before/2, s.estimate(h(10)))
	s.reset()
	assert.Zero(t, s.estimate(h(19)))
}

// The table has two words per entry of capacity, whatever the capacity (not
// a power of two), and keys' counters spread over all of it: a block picked
// from part of the table would crowd the keys into fewer counters.
func TestSketchSpreadsKeysOverTheWholeTable(t *testing.T) {
	for _, capacity := range []int{1, 50, 1000, 5001} {
		var s sketch
		s.init(capacity)
		assert.Len(t, s.table, 8*max(sketchMinBlocks, (2*capacity+7)/8), "capacity %d", capacity)
		for k := range 64 * len(s.table) {
			s.increment(uint64(k) * 0x9e3779b97f4a7c15)
		}
		for b := 0; b < len(s.table); b += 8 {
			used := false
			for _, w := range s.table[b : b+8] {
				used = used || w != 0
			}
			require.True(t, used, "capacity %d: block %d never used", capacity, b/8)
		}
	}
}

// Peek is not a use: it records nothing for the policy.
func TestTinyLFUPeekIsNotAUse(t *testing.T) {
	var mu sync.Mutex
	var ctr counters
	ctr.hits = newHitCounter()
	obs := &observer[int, int]{ctr: &ctr}
	s := newTinyLFUStore(10, false, obs, &mu)
	mu.Lock()
	s.put(1, 1, 0, 0)
	mu.Unlock()
	h := s.idx.hash(1)
	before := s.pol.sketch.estimate(h)
	for range 100 {
		_, ok := s.peek(1, 0)
		require.True(t, ok)
	}
	mu.Lock()
	s.reads.drain()
	mu.Unlock()
	assert.Equal(t, before, s.pol.sketch.estimate(h), "Peek left the frequency alone")
	for range 3 {
		s.load(1, 0)
	}
	mu.Lock()
	s.reads.drain()
	mu.Unlock()
	// Each Get counts once, under the hash the index found the key with
	// (which the hit hands to the policy rather than hashing the key again).
	assert.Equal(t, before+3, s.pol.sketch.estimate(h), "Get counts")
}

// On a loop a little longer than the cache (the LIRS "loop" shape), the best
// any policy of n entries can do is to keep n-1 keys of the loop and let the
// rest pass through. A candidate that beats the main region's victim by a
// single count (the count of the request that just brought it in) would
// evict the key asked for next, and the next, as an LRU does: the policy
// must admit only on a clear lead.
func TestPolicyKeepsMostOfALoopLongerThanTheCache(t *testing.T) {
	const capacity, loop = 1000, 1011
	s := newPolicySim(capacity)
	s.p.setWindow(1)
	hits, requests := 0, 0
	for i := range 300 * loop {
		hit := s.get(i % loop)
		if i >= 100*loop { // after the warm-up
			requests++
			if hit {
				hits++
			}
		}
	}
	optimum := float64(capacity-1) / loop // n-1 held, one slot passing through
	assert.Greater(t, float64(hits)/float64(requests), optimum-0.01,
		"hit ratio on the loop, against the optimum %.4f", optimum)
}

// newTestTinyLFUStore returns a TinyLFU store of the given capacity with its
// mutex and counters, as a memo builds it, and a put of k for k that holds
// the mutex, as a memo's writes do.
func newTestTinyLFUStore(capacity int) (*tinyLFUStore[int, int], *sync.Mutex, *counters, func(k int)) {
	var mu sync.Mutex
	ctr := &counters{hits: newHitCounter()}
	s := newTinyLFUStore(capacity, false, &observer[int, int]{ctr: ctr}, &mu)
	put := func(k int) {
		mu.Lock()
		s.put(k, k, 0, 0)
		mu.Unlock()
	}
	return s, &mu, ctr, put
}

// Postponement, alone (one goroutine): a key whose counters are at their
// ceiling is postponed, and its hits then record nothing (no use applied, no
// sketch increment) while every one of them is still counted in Stats; an
// entry moved to probation is never postponed, so its next hit is recorded
// and promotes it; the postponement ends after half the segment's share of
// uses.
func TestTinyLFUPostponesHitsOnSaturatedKeysOnly(t *testing.T) {
	s, mu, ctr, put := newTestTinyLFUStore(500)
	hits := uint64(0)
	get := func(k int) {
		_, ok := s.load(k, 0)
		require.True(t, ok)
		hits++
	}
	put(1)
	e := s.idx.get(1)
	require.True(t, s.pol.window.holds(e))
	h := s.idx.hash(1)
	n := 0
	for ; !s.reads.skips(e, 0); n++ {
		require.Less(t, n, 20, "postponed once the count is at its ceiling")
		get(1)
	}
	// The put counted 1, 14 hits took the count to 15, and the 15th hit,
	// finding it there, postponed the entry: every hit below the ceiling
	// was applied.
	assert.Equal(t, 15, n)
	assert.Equal(t, 15, s.pol.sketch.estimate(h))
	uses := s.reads.uses
	for range 10 {
		get(1)
	}
	assert.Equal(t, uses, s.reads.uses, "postponed hits apply no use")
	assert.Equal(t, 15, s.pol.sketch.estimate(h))
	mu.Lock()
	assert.Equal(t, hits, ctr.hits.sum(), "every hit counted once")
	mu.Unlock()

	// Five newer keys push key 1 out of the window (1% of 500) onto
	// probation: not postponed there, its next hit is applied and promotes it.
	for k := 2; k <= 6; k++ {
		put(k)
	}
	require.True(t, s.pol.probation.holds(e))
	assert.False(t, s.reads.skips(e, 0), "never postponed on probation")
	uses = s.reads.uses
	get(1)
	assert.Equal(t, uses+1, s.reads.uses, "a probation hit is applied")
	assert.True(t, s.pol.protected.holds(e), "and promotes")

	// Protected and saturated: postponed for half the protected share.
	require.True(t, s.reads.skips(e, 0))
	uses = s.reads.uses
	get(1)
	assert.Equal(t, uses, s.reads.uses)
	// Each new key goes in front of the others: a use on the clock. A put
	// publishes the clock when it drains, before its own use: one more.
	for k := range s.pol.maxProtected/postponeShare + 1 {
		put(100 + k)
	}
	assert.False(t, s.reads.skips(e, 0), "the deadline passed")
	uses = s.reads.uses
	get(1)
	assert.Equal(t, uses+1, s.reads.uses, "recorded again once the deadline passed")
	mu.Lock()
	assert.Equal(t, hits, ctr.hits.sum(), "every hit counted once")
	mu.Unlock()
}

// The climber sees every hit, postponed ones included: it reads them from
// the hit counter at least once every climberSync requests it sees.
func TestTinyLFUClimberCountsPostponedHits(t *testing.T) {
	s, _, _, put := newTestTinyLFUStore(100)
	for k := range 100 {
		put(k)
	}
	e := s.idx.get(0)
	for n := 0; !s.reads.skips(e, 0); n++ {
		require.Less(t, n, 20)
		s.load(0, 0)
	}
	requests, hits := s.pol.climber.requests, s.pol.climber.hits
	for range 200 {
		s.load(0, 0)
	}
	require.Equal(t, hits, s.pol.climber.hits, "postponed: the policy saw none")
	for k := 1000; k < 1000+climberSync; k++ {
		put(k) // misses, each a request for the climber
	}
	assert.Equal(t, hits+200, s.pol.climber.hits, "the climber got every hit")
	assert.Equal(t, requests+200+climberSync, s.pol.climber.requests)
}

// The LRU never postpones: alone, every hit is applied, for its exact order.
func TestLRUNeverPostpones(t *testing.T) {
	var mu sync.Mutex
	ctr := &counters{hits: newHitCounter()}
	s := newLRUStore(100, false, &observer[int, int]{ctr: ctr}, &mu)
	mu.Lock()
	s.put(1, 1, 0, 0)
	mu.Unlock()
	uses := s.uses.uses
	for range 100 {
		s.load(1, 0)
	}
	assert.Equal(t, uses+100, s.uses.uses, "every hit applied")
	assert.False(t, s.uses.postpones)
}

// A bounded store's lists never hold more nodes than the capacity needs (the
// sentinel, and one entry over capacity until a put evicts): growing as
// append does would leave up to a quarter of them unused for good.
func TestBoundedListsStopGrowingAtTheCapacity(t *testing.T) {
	const capacity = 1000
	var mu sync.Mutex
	ctr := &counters{hits: newHitCounter()}
	s := newLRUStore(capacity, false, &observer[int, int]{ctr: ctr}, &mu)
	mu.Lock()
	for k := range 5 * capacity {
		s.put(k, k, 0, 0)
	}
	mu.Unlock()
	assert.Equal(t, capacity, s.len())
	assert.Equal(t, capacity+2, cap(s.recency.nodes))

	ts, _, _, put := newTestTinyLFUStore(capacity)
	for k := range 5 * capacity {
		put(k % (2 * capacity))
	}
	assert.Equal(t, capacity, ts.len())
	for _, l := range []*list[int, int]{&ts.pol.window, &ts.pol.probation, &ts.pol.protected} {
		assert.LessOrEqual(t, cap(l.nodes), capacity+2)
	}
}
