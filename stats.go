package memo

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Stats is a snapshot of a memo's counters, in the spirit of Python's
// cache_info(). The counters are exact whenever no call of fn is in flight;
// while calls run, a snapshot may see a Get counted as a miss before the load
// it started is counted.
//
// fn is called by a Get that misses or by a WithRefresh reload, and every
// Get that misses either starts a call or shares one, so Misses = Loads -
// Refreshes + Shared (unless Clear reset the counters while a call was in
// flight). A Get answered by an error cached with WithErrorTTL is a hit.
// GetMany counts each of its keys as one Get. On a MemoizeBatch memo, Loads
// counts calls of the batch fn, each for many keys, so there Misses - Shared
// is the number of keys loaded.
type Stats struct {
	Hits        uint64        // Gets answered from the cache
	Misses      uint64        // Gets not answered from the cache (= Loads started by Gets + Shared)
	Loads       uint64        // calls of fn
	LoadErrors  uint64        // calls of fn that returned an error, panicked or called runtime.Goexit
	Shared      uint64        // Gets that waited on a call of fn started by another Get
	Evictions   uint64        // entries dropped to stay within the capacity
	Expirations uint64        // entries dropped because their TTL passed
	Collected   uint64        // weak entries dropped because the GC reclaimed the value
	Refreshes   uint64        // background reloads started by WithRefresh (also counted in Loads)
	LoadTime    time.Duration // total time spent in fn, over every load (refreshes included)
	Len         int           // entries now
	Capacity    int           // 0 when unbounded

	Tier TierStats // the WithTier tier's own counters; zero without a tier
}

// HitRatio returns Hits / (Hits + Misses), or 0 before the first Get.
func (s Stats) HitRatio() float64 {
	total := s.Hits + s.Misses
	if total == 0 {
		return 0
	}
	return float64(s.Hits) / float64(total)
}

// String formats the snapshot on one line, every counter named, so that a
// failing test that prints it says what the cache did:
//
//	hits=9 misses=1 (90.0% hits) loads=1 load-errors=0 shared=0 evictions=0 expirations=0 collected=0 refreshes=0 load-time=20ms len=1 cap=unbounded
func (s Stats) String() string {
	capacity := "unbounded"
	if s.Capacity > 0 {
		capacity = fmt.Sprint(s.Capacity)
	}
	str := fmt.Sprintf("hits=%d misses=%d (%.1f%% hits) loads=%d load-errors=%d shared=%d evictions=%d expirations=%d collected=%d refreshes=%d load-time=%v len=%d cap=%s",
		s.Hits, s.Misses, 100*s.HitRatio(), s.Loads, s.LoadErrors, s.Shared,
		s.Evictions, s.Expirations, s.Collected, s.Refreshes, s.LoadTime, s.Len, capacity)
	if s.Tier != (TierStats{}) {
		str += fmt.Sprintf(" tier(hits=%d misses=%d errors=%d lease-waits=%d refused=%d clear-failures=%d invalidations=%d resyncs=%d listening=%v)",
			s.Tier.Hits, s.Tier.Misses, s.Tier.Errors, s.Tier.LeaseWaits, s.Tier.Refused, s.Tier.ClearFailures,
			s.Tier.Invalidations, s.Tier.Resyncs, s.Tier.Listening)
	}
	return str
}

// counters holds a memo's statistics. Hits are counted on the lock-free hit
// path, so they go to striped counters (see hitCounter); every other counter
// changes only on paths that hold the memo's mutex and is a plain field
// guarded by it.
type counters struct {
	hits hitCounter

	// Guarded by the memo's mutex.
	misses, loads, loadErrors, shared uint64
	evictions, expirations, collected uint64
	refreshes                         uint64
	loadTime                          time.Duration // added when a call of fn ends, never on a hit
}

func (c *counters) reset() {
	c.hits.reset()
	c.misses, c.loads, c.loadErrors, c.shared = 0, 0, 0, 0
	c.evictions, c.expirations, c.collected = 0, 0, 0
	c.refreshes, c.loadTime = 0, 0
}

// snapshot copies the counters; the caller holds the memo's mutex.
func (c *counters) snapshot() Stats {
	return Stats{
		Hits:        c.hits.sum(),
		Misses:      c.misses,
		Loads:       c.loads,
		LoadErrors:  c.loadErrors,
		Shared:      c.shared,
		Evictions:   c.evictions,
		Expirations: c.expirations,
		Collected:   c.collected,
		Refreshes:   c.refreshes,
		LoadTime:    c.loadTime,
	}
}

// hitCounter is a striped counter. A single atomic counter incremented by
// every core makes the cache line holding it travel between cores on every
// hit, which costs more than the map lookup itself. Each goroutine instead
// adds to the stripe picked by the address of its own stack: the address is
// stable while the goroutine runs and differs between goroutines, so
// goroutines running at the same time mostly write different cache lines,
// and one goroutine keeps writing the same line. Stripes are sized and
// aligned so that no two share a line (or the pair of lines that x86 CPUs
// prefetch together). sum adds them up.
//
// Two goroutines whose stacks hash to the same stripe would write one line
// on every hit, for as long as they run: at 2 cores, one run in 16 of a
// parallel hit benchmark did, at 40-100 ns a hit instead of 8 (forcing every
// goroutine onto one stripe reproduces it every time). So the hash is salted,
// and an add that finds its stripe written by another goroutine between its
// load and its CAS counts a collision; every resaltCollisions collisions on
// a stripe change the salt, which deals every goroutine a new stripe. With
// more goroutines running than stripes hold apart, collisions go on and the
// salt keeps changing, at a cost of a cache miss per goroutine per change.
//
// A hit made while holding the memo's mutex anyway (the read buffer applies
// the use of a hit that is alone under a TryLock) is counted in locked, a
// plain field guarded by the mutex, which saves the hit an atomic operation.
type hitCounter struct {
	stripes []stripe
	mask    uint32
	salt    atomic.Uint64 // mixed into every goroutine's stripe choice (hint)
	locked  uint64        // hits counted by holders of the memo's mutex; guarded by it
}

type stripe struct {
	n          atomic.Uint64
	collisions atomic.Uint32 // adds that found another goroutine's add in between
	_          [stripeSize - 12]byte
}

const (
	stripeSize       = 128
	resaltCollisions = 64
)

func newHitCounter() hitCounter {
	// Two goroutines share a stripe with probability 1/n; 8 per P keeps that
	// rare at a cost of 1 KiB per P (up to 16 KiB).
	n := 8
	for n < 8*runtime.GOMAXPROCS(0) && n < 128 {
		n *= 2
	}
	// One spare stripe on each side keeps neighbouring allocations off the
	// first and last stripe's lines.
	s := make([]stripe, n+2)
	return hitCounter{stripes: s[1 : n+1 : n+1], mask: uint32(n - 1)}
}

// hint returns the calling goroutine's stripe choice, before masking: the
// counter's, and the read buffer's, which stripes its records the same way.
func (h *hitCounter) hint() uint32 { return stackHint(h.salt.Load()) }

func (h *hitCounter) add() {
	st := &h.stripes[h.hint()&h.mask]
	n := st.n.Load()
	if st.n.CompareAndSwap(n, n+1) {
		return
	}
	st.n.Add(1) // another goroutine added in between: it shares this stripe
	h.collided(st)
}

// collided counts a collision on st, and changes the salt at every
// resaltCollisions-th.
func (h *hitCounter) collided(st *stripe) {
	if st.collisions.Add(1)%resaltCollisions == 0 {
		h.salt.Add(0x9e3779b97f4a7c15) // a new word, not a new low bit: see mixHint
	}
}

// addLocked counts a hit; the caller holds the memo's mutex.
func (h *hitCounter) addLocked() { h.locked++ }

// sum adds up the hits; the caller holds the memo's mutex.
func (h *hitCounter) sum() uint64 {
	t := h.locked
	for i := range h.stripes {
		t += h.stripes[i].n.Load()
	}
	return t
}

// reset zeroes the counter; the caller holds the memo's mutex.
func (h *hitCounter) reset() {
	h.locked = 0
	for i := range h.stripes {
		h.stripes[i].n.Store(0)
	}
}

// stackHint hashes the address of a variable on the calling goroutine's
// stack, with salt. The low 11 bits depend on call depth rather than on the
// goroutine (stacks are at least 2 KiB), so they are dropped; the rest are
// mixed so that stacks that differ only in high bits land on different
// stripes, and mixed again with the salt, so that two stacks that collide
// under one salt most likely do not under the next. A stack that grows or
// shrinks moves, which only moves the goroutine to another stripe: the hint
// affects speed, never correctness.
func stackHint(salt uint64) uint32 {
	var b byte
	return mixHint(uint64(uintptr(unsafe.Pointer(&b)))>>11, salt)
}

// mixHint mixes p, a stack address without its low bits, with salt.
func mixHint(p, salt uint64) uint32 {
	return uint32(((p * 0x9e3779b97f4a7c15) ^ salt) * 0xbf58476d1ce4e5b9 >> 40)
}

// observer counts the entries a store drops and, when the memo has a
// WithOnEvict callback, queues them for it; the memo calls the callback once
// its mutex is released (core.unlock). Stores call it with the mutex held.
type observer[S comparable, V any] struct {
	ctr     *counters
	onEvict func(S, V, EvictReason)
	pending []eviction[S, V]
	relabel EvictReason // when set, entries dropped as Forgotten are reported with it (core.store)
}

type eviction[S comparable, V any] struct {
	key    S
	val    V
	reason EvictReason
}

func (o *observer[S, V]) dropped(k S, v V, r EvictReason) {
	if r == Forgotten && o.relabel != 0 {
		r = o.relabel
	}
	switch r {
	case Evicted:
		o.ctr.evictions++
	case Expired:
		o.ctr.expirations++
	case Collected:
		o.ctr.collected++
	}
	if o.onEvict != nil {
		o.pending = append(o.pending, eviction[S, V]{k, v, r})
	}
}

// unlock releases mu, which the caller holds, then hands the entries dropped
// meanwhile to the WithOnEvict callback, outside the lock.
func (o *observer[S, V]) unlock(mu *sync.Mutex) {
	p := o.pending
	if len(p) == 0 {
		mu.Unlock()
		return
	}
	o.pending = nil
	mu.Unlock()
	for _, ev := range p {
		o.onEvict(ev.key, ev.val, ev.reason)
	}
}

// drop reports a strong entry leaving. One whose TTL had already passed
// (expired, as its store's index tells) left because of its TTL, whatever
// removed it (an eviction, a replacement, Forget or Clear): it is reported as
// Expired and counted in Expirations.
func (o *observer[S, V]) drop(e *entry[S, V], expired bool, r EvictReason) {
	if expired {
		r = Expired
	}
	o.dropped(e.key, e.val, r)
}
