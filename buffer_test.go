package memo

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appliedLog is a readBuffer's apply function that remembers what it got.
type appliedLog struct {
	mu   *sync.Mutex
	keys []int
}

func (l *appliedLog) apply(e *entry[int, int], _ uint64) {
	if !l.mu.TryLock() {
		l.keys = append(l.keys, e.key)
		return
	}
	l.mu.Unlock()
	panic("apply called without the mutex held")
}

func newTestBuffer() (*readBuffer[int, int], *appliedLog, *sync.Mutex) {
	mu := &sync.Mutex{}
	l := &appliedLog{mu: mu}
	return newReadBuffer(mu, 0, nil, l.apply), l, mu
}

func entries(n int) []*entry[int, int] {
	es := make([]*entry[int, int], n)
	for i := range es {
		es[i] = &entry[int, int]{key: i}
	}
	return es
}

// pending counts the entries still reachable from b's slots.
func (b *readBuffer[S, V]) pending() int {
	n := 0
	for j := range b.spill.slots {
		if b.spill.slots[j].Load() != nil {
			n++
		}
	}
	for i := range b.stripes {
		for j := range b.stripes[i].slots {
			if b.stripes[i].slots[j].Load() != nil {
				n++
			}
		}
	}
	return n
}

// Promise: with the mutex free, every record is applied at once, in the
// order made, whatever the goroutine's stack (here: records made from
// different call depths, which change stackHint).
func TestReadBufferAppliesAtOnceInOrderWhenAlone(t *testing.T) {
	b, l, _ := newTestBuffer()
	es := entries(1000)
	var want []int
	for i, e := range es {
		recordAtDepth(b, e, i%7*300)
		want = append(want, i)
		require.Equal(t, want, l.keys, "after record %d", i)
	}
	assert.False(t, b.shared.Load())
	assert.Zero(t, b.pending())
}

// recordAtDepth records e from depth nested calls with a frame of 64 bytes
// each, so that the goroutine's stack grows and its stack hint changes.
func recordAtDepth(b *readBuffer[int, int], e *entry[int, int], depth int) {
	var pad [64]byte
	if depth > 0 {
		recordAtDepth(b, e, depth-1)
		pad[depth%64]++
		return
	}
	b.record(e, 0)
	_ = pad
}

// Promise: a record never waits for the mutex. One that finds it taken (a
// write, or the goroutine that ran fn finishing its load) goes to the spill
// ring, and the next record that gets the mutex applies it first: one
// goroutine's order survives.
func TestReadBufferNeverWaitsForTheMutexAndKeepsOrder(t *testing.T) {
	b, l, mu := newTestBuffer()
	es := entries(4)
	mu.Lock()
	for _, e := range es[:3] {
		recordAtDepth(b, e, len(l.keys)*100)
	}
	assert.False(t, b.shared.Load(), "a few records that found the mutex taken are not competition")
	assert.Empty(t, l.keys)
	assert.Equal(t, 3, b.pending())
	mu.Unlock()
	b.record(es[3], 0)
	assert.Equal(t, []int{0, 1, 2, 3}, l.keys)
	assert.Zero(t, b.pending(), "applied records are not reachable from the buffer")
}

// Promise: hits that keep finding the mutex taken switch the buffer to
// stripes; a drain that finds one busy stripe at most switches back.
func TestReadBufferSwitchesToStripesUnderCompetitionAndBack(t *testing.T) {
	b, l, mu := newTestBuffer()
	es := entries(spillShare + 3)
	mu.Lock()
	for _, e := range es {
		b.record(e, 0)
	}
	assert.True(t, b.shared.Load())
	assert.Equal(t, len(es), b.pending())
	b.drain()
	mu.Unlock()
	assert.Len(t, l.keys, len(es))
	assert.Equal(t, l.keys[:spillShare], keysUpTo(spillShare), "the spill ring, the oldest records, first")
	assert.Zero(t, b.pending(), "a drain leaves no entry reachable")
	assert.False(t, b.shared.Load())
}

// Promise: a full stripe drops records, and dropped counts every one; no
// record is lost otherwise.
func TestReadBufferCountsRecordsDroppedWhenAStripeIsFull(t *testing.T) {
	b, l, mu := newTestBuffer()
	es := entries(200)
	mu.Lock()
	for _, e := range es {
		b.record(e, 0)
	}
	kept := b.pending()
	assert.GreaterOrEqual(t, kept, stripeSlots)
	assert.Equal(t, uint64(len(es)-kept), b.dropped())
	b.drain()
	mu.Unlock()
	assert.Len(t, l.keys, kept)
	assert.Zero(t, b.pending())
}

// Promise: in shared mode, the hit that fills half a stripe drains the whole
// buffer when the mutex is free.
func TestReadBufferDrainsWhenHalfAStripeFills(t *testing.T) {
	b, l, _ := newTestBuffer()
	b.shared.Store(true)
	es := entries(stripeSlots / 2)
	for _, e := range es[:len(es)-1] {
		b.record(e, 0)
	}
	require.Empty(t, l.keys)
	b.record(es[len(es)-1], 0)
	assert.Len(t, l.keys, len(es))
	assert.Zero(t, b.pending())
	assert.Zero(t, b.dropped())
}

// Promise: reset discards records without applying them, leaves nothing
// reachable, and a record reserved before reset but written after it is
// discarded too, never applied to the emptied policy.
func TestReadBufferResetDiscardsEvenLateRecords(t *testing.T) {
	b, l, mu := newTestBuffer()
	es := entries(5)
	mu.Lock()
	for _, e := range es[:4] {
		b.record(e, 0)
	}
	st := &b.stripes[0]
	late := st.tail.Add(1) - 1 // a hit preempted between its CAS and its store
	b.reset()
	assert.Empty(t, l.keys)
	assert.Zero(t, b.pending())
	assert.False(t, b.shared.Load(), "after reset nothing is pending: back to applying at once")
	st.slots[late%stripeSlots].Store(es[4])
	b.straggled.Store(true) // as record does once it sees the mode changed
	b.drain()
	mu.Unlock()
	assert.Empty(t, l.keys, "the late record belongs to before the reset")
	assert.Zero(t, b.pending())
	b.record(es[0], 0)
	assert.Equal(t, []int{0}, l.keys, "records after the reset are applied")
}

// Promise: under concurrent records and drains, every record is applied
// exactly once or counted as dropped.
func TestReadBufferAccountsForEveryRecordUnderConcurrency(t *testing.T) {
	mu := &sync.Mutex{}
	applied := 0
	b := newReadBuffer(mu, 0, nil, func(*entry[int, int], uint64) { applied++ })
	es := entries(64)
	const workers, each = 8, 20_000
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				b.record(es[(i+w)%len(es)], 0)
			}
		}()
	}
	drained := make(chan struct{})
	go func() { // a writer that drains as puts do
		defer close(drained)
		for !stop.Load() {
			mu.Lock()
			b.drain()
			mu.Unlock()
		}
	}()
	wg.Wait()
	stop.Store(true)
	<-drained
	mu.Lock()
	b.drain()
	mu.Unlock()
	assert.Equal(t, uint64(workers*each), uint64(applied)+b.dropped(), "applied %d, dropped %d", applied, b.dropped())
	assert.Zero(t, b.pending())
}

func keysUpTo(n int) []int {
	ks := make([]int, n)
	for i := range ks {
		ks[i] = i
	}
	return ks
}

// Promise: shared, a hit on an entry recorded (by a shared hit) fewer than
// near uses ago, counted on the clock that hit saw, is not recorded (it is
// among the most recent already), while a hit on one recorded longer ago, or
// never, is. Alone, every hit is applied.
func TestReadBufferSkipsHitsOnRecentlyUsedEntriesOnlyWhenShared(t *testing.T) {
	mu := &sync.Mutex{}
	l := &appliedLog{mu: mu}
	const capacity = 2 * stripeSlots // near = one stripe
	b := newReadBuffer(mu, capacity, nil, l.apply)
	require.Equal(t, uint32(capacity/nearShare), b.near)
	es := entries(int(b.near) + 2)
	b.shared.Store(true)
	b.record(es[0], 0)
	mu.Lock()
	b.drain()
	mu.Unlock()
	require.Equal(t, []int{0}, l.keys, "never applied before: recorded")

	b.shared.Store(true)
	b.record(es[0], 0)
	assert.Zero(t, b.pending(), "applied one use ago: not recorded")

	// The record was stamped with the clock before its own use was applied,
	// so near-2 other uses later, es[0] is near-1 uses behind that clock:
	// still among the near most recent.
	mu.Lock()
	for _, e := range es[1 : b.near-1] {
		b.stripes[0].add(e)
	}
	b.drain()
	mu.Unlock()
	b.shared.Store(true)
	b.record(es[0], 0)
	assert.Zero(t, b.pending(), "near uses ago at most: not recorded")

	// One more: es[0] is now near uses behind.
	mu.Lock()
	b.stripes[0].add(es[b.near-1])
	b.drain()
	mu.Unlock()
	b.shared.Store(true)
	b.record(es[0], 0)
	assert.Equal(t, 1, b.pending(), "more than near uses ago: recorded")

	// Alone, nothing is skipped: one goroutine's order stays exact.
	mu.Lock()
	b.drain()
	mu.Unlock()
	b.shared.Store(false)
	l.keys = nil
	b.record(es[0], 0)
	b.record(es[0], 0)
	assert.Equal(t, []int{0, 0}, l.keys)
}

// Promise: a shared hit that records its entry stamps it with the clock it
// read, and the drain that applies the record leaves the entry untouched
// (for a policy that does not postpone): a drain on another core writing the
// entry's line would take that line from every core that hits the entry,
// which made the parallel hit on a full cache 2x slower.
func TestReadBufferSharedHitStampsAndTheDrainDoesNotWriteTheEntry(t *testing.T) {
	mu := &sync.Mutex{}
	l := &appliedLog{mu: mu}
	b := newReadBuffer(mu, 4*stripeSlots, nil, l.apply)
	es := entries(3)
	es[1].startReload() // the reload bit survives the stamp
	b.shared.Store(true)
	clock := b.clock.Load()
	b.record(es[1], 0)
	assert.Equal(t, clock, es[1].stamp(), "stamped by the hit, with the clock it read")
	assert.Equal(t, uint32(1), es[1].state.Load()&1)
	before := es[1].state.Load()

	mu.Lock()
	b.drain()
	mu.Unlock()
	require.Equal(t, []int{1}, l.keys)
	assert.Equal(t, before, es[1].state.Load(), "the drain wrote the entry's state")
	assert.Equal(t, clock+1, b.clock.Load(), "the use is counted")
}

// Promise: a buffer for a small policy (below nearMinCapacity) skips nothing,
// and its shared hits write no stamp into the entry, which nothing would read.
func TestReadBufferSmallPolicyRecordsEveryHit(t *testing.T) {
	mu := &sync.Mutex{}
	b := newReadBuffer(mu, nearMinCapacity-1, nil, (&appliedLog{mu: mu}).apply)
	assert.Zero(t, b.near)
	e := entries(1)[0]
	b.shared.Store(true)
	b.record(e, 0)
	mu.Lock()
	b.drain() // the clock moves off 0, so that a stamp would show
	mu.Unlock()
	require.NotZero(t, b.clock.Load())
	b.shared.Store(true)
	b.record(e, 0)
	b.record(e, 0)
	assert.Equal(t, 2, b.pending(), "both shared hits recorded")
	assert.Zero(t, e.state.Load(), "a stamp was written")
}

// Promise: a record written by a hit that saw the shared mode just before it
// ended (a straggler) is applied by the next drain, not left in a stripe
// where it would keep its entry reachable.
func TestReadBufferAppliesAStragglerAfterTheSwitchBack(t *testing.T) {
	b, l, mu := newTestBuffer()
	es := entries(2)
	b.shared.Store(true)
	st := &b.stripes[0]
	late := st.tail.Add(1) - 1 // a hit that saw shared and reserved, not yet written
	mu.Lock()
	b.drain() // one busy stripe at most: back to alone
	mu.Unlock()
	require.False(t, b.shared.Load())
	st.slots[late%stripeSlots].Store(es[1])
	b.straggled.Store(true) // as record does once it sees the mode changed
	b.record(es[0], 0)      // alone: applied at once, after the straggler
	assert.Equal(t, []int{1, 0}, l.keys)
	assert.Zero(t, b.pending())
	assert.False(t, b.straggled.Load())

	// Through record itself: shared when it loads the mode, alone once its
	// record is written.
	b2, l2, mu2 := newTestBuffer()
	b2.shared.Store(true)
	b2.record(es[0], 0) // shared: into a stripe
	mu2.Lock()
	b2.shared.Store(false) // the switch, as a drain elsewhere makes it, after the hit's add
	b2.straggled.Store(true)
	b2.drain()
	mu2.Unlock()
	assert.Equal(t, []int{0}, l2.keys)
	assert.Zero(t, b2.pending())
}

// Promise: hits that keep colliding with other hits switch the buffer to
// stripes even though the holder drains the spill ring every time (so it
// never fills); a write or loader holding the mutex is no collision.
func TestReadBufferSwitchesWhenHitsCollideWithHits(t *testing.T) {
	mu := &sync.Mutex{}
	l := &appliedLog{mu: mu}
	var b *readBuffer[int, int]
	other := &entry[int, int]{key: -1}
	b = newReadBuffer(mu, 0, nil, func(e *entry[int, int], h uint64) {
		l.apply(e, h)
		if e != other {
			b.spill.add(other) // another goroutine's hit, finding the mutex taken by this one
		}
	})
	es := entries(collideShare)
	for i, e := range es {
		require.False(t, b.shared.Load(), "after %d collisions", i)
		b.record(e, 0)
	}
	assert.True(t, b.shared.Load())

	// The mutex held by a write while one goroutine hits: spills, but no
	// collision, however often.
	b2, _, mu2 := newTestBuffer()
	for _, e := range entries(10 * collideShare) {
		mu2.Lock() // a write
		b2.record(e, 0)
		mu2.Unlock()
		b2.record(e, 0) // the next hit applies the spill ring first
	}
	assert.False(t, b2.shared.Load())
}

// Promise: shared, a drain goes back to the first mode only when the memo's
// hit counter shows one goroutine hitting since the last drain, whatever the
// stripes hold (hits on recently used entries write no record).
func TestReadBufferStaysSharedWhileSeveralGoroutinesHit(t *testing.T) {
	mu := &sync.Mutex{}
	hits := newHitCounter()
	b := newReadBuffer(mu, 0, &hits, (&appliedLog{mu: mu}).apply)
	b.shared.Store(true)
	hits.stripes[0].n.Add(5)
	hits.stripes[1].n.Add(7)
	mu.Lock()
	b.drain()
	mu.Unlock()
	assert.True(t, b.shared.Load(), "two stripes of hits moved: several goroutines")
	hits.stripes[1].n.Add(3)
	mu.Lock()
	b.drain()
	mu.Unlock()
	assert.False(t, b.shared.Load(), "one stripe moved: one goroutine left")
}

// Two goroutines whose stacks hash to one stripe of the hit counter write
// one line on every hit. Every resaltCollisions collisions on a stripe change
// the salt, and the count stays exact meanwhile.
func TestHitCounterCollisionsChangeTheSalt(t *testing.T) {
	h := newHitCounter()
	st := &h.stripes[0]
	salt := h.salt.Load()
	for range resaltCollisions - 1 {
		h.collided(st)
	}
	assert.Equal(t, salt, h.salt.Load(), "too few collisions to resalt")
	h.collided(st)
	assert.NotEqual(t, salt, h.salt.Load(), "resalted")

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100_000 {
				h.add()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, uint64(400_000), h.sum())
}

// A new salt deals stacks new stripes: of the pairs of nearby stacks that
// share one of 16 stripes under a salt, about one in 16 still does under the
// next (the first multiply alone would keep many pairs together: the salt is
// mixed in after it).
func TestANewSaltSeparatesStacksThatCollided(t *testing.T) {
	const mask = 15
	salts := make([]uint64, 4)
	for i := range salts {
		salts[i] = uint64(i) * 0x9e3779b97f4a7c15 // wraps, as hitCounter.collided's adds do
	}
	for i := 1; i < len(salts); i++ {
		collided, still := 0, 0
		for p := uint64(1 << 20); p < 1<<20+2000; p++ { // stacks 2 KiB apart, as goroutines' stacks are
			for d := uint64(1); d <= 64; d++ {
				if mixHint(p, salts[i-1])&mask != mixHint(p+d, salts[i-1])&mask {
					continue
				}
				collided++
				if mixHint(p, salts[i])&mask == mixHint(p+d, salts[i])&mask {
					still++
				}
			}
		}
		require.Greater(t, collided, 1000)
		assert.Less(t, float64(still)/float64(collided), 0.1, "pairs still together after resalt %d", i)
	}
}
