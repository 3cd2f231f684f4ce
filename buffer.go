package memo

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The read buffer: how a lock-free hit tells an eviction policy (the LRU, the
// weak store's window, TinyLFU) that it used an entry.
//
// # The problem
//
// A policy orders its entries by use, and that order is a data structure
// guarded by the memo's mutex. A hit that took the mutex to move its entry
// would make every hit of every core queue on one lock, the thing the
// lock-free index exists to avoid.
//
// # Why the obvious designs fail
//
// One shared log of uses, ordered by a global ticket, keeps the order exact,
// but every hit then writes the ticket's cache line, which all cores write:
// at two cores that line alone costs more than the rest of the hit, and a
// drain that must wait for tickets taken but not yet written stalls under
// the mutex (the previous design; see lru.go). Per-core buffers without a
// global order lose the order of one goroutine whose records land in two
// buffers: a goroutine's stripe is picked by its stack address, and that
// moves when the stack grows or shrinks, or simply when the call is made
// from a deeper frame.
//
// # The design
//
// Two modes, chosen by what hits find:
//
//   - Alone. A hit takes the mutex with TryLock (never waiting) and applies
//     its use at once. A hit that finds the mutex taken (by a write, or by
//     the goroutine that ran fn, finishing a load its caller already got)
//     appends its entry to one spill ring, and the next hit that gets the
//     mutex applies the spill ring before its own use. One ring keeps one
//     goroutine's records in the order it made them, whatever stack it runs
//     on. With a single goroutine, or goroutines that hand the memo to each
//     other, this is the exact textbook order. (The one way out: the
//     mutex held by the memo's own work for spillShare hits in a row, as by
//     a loader goroutine that the OS preempts between waking its caller
//     and unlocking.)
//   - Shared. Once the spill ring holds spillShare records, hits are
//     competing, and the buffer switches to striped records, in the spirit
//     of BP-Wrapper and Caffeine's read buffers: a hit appends its entry to
//     the stripe picked by its stack address (hitCounter.hint), a small ring that
//     goroutines running at the same time mostly own alone, with one CAS on
//     the stripe's own line. The hit that fills half a stripe tries to drain
//     (TryLock, never waiting); every write drains before it inserts or
//     evicts. A stripe that is full drops the record, and dropped counts
//     it. A drain that finds one busy stripe at most switches back to the
//     first mode: the competition has ended.
//   - Near the front, shared. Applying a record costs a drain more than the
//     hit that made it (the drainer moves list nodes that the other cores'
//     drains moved last), so at two cores a buffer that applies every record
//     makes hits wait on drains in all but name: hits cost 60-90 ns, about
//     golang-lru's. The buffer therefore keeps a clock, the count of uses
//     applied, published once per drain, and a shared hit that records its
//     entry stamps it with the clock it read (in the entry's state word, so
//     it costs no memory). The record is applied at a later count, so the
//     stamp is never ahead of the entry's real place. A shared hit on an
//     entry stamped within the last near uses (half the policy's capacity)
//     records nothing: the entry is among the near most recently used
//     already, with at least half the policy between it and eviction; the
//     clock counts every entry put in front of the others (uses applied,
//     inserts), so a stamp within near uses means a place within near of
//     the front. The hit stamps, not the drain: a drain on another core
//     writing the entry's line took that line from every core that reads
//     it, and on a full cache at 2 cores that made the parallel hit 2x
//     slower (PERFORMANCE.md, ninth round). Hot keys are recorded about once per near
//     uses instead of on every hit, as memcached bumps an item at most once
//     a minute; the hit then costs the lookup, two loads and a compare.
//   - Postponed, in both modes. A policy may tell the buffer that it needs
//     none of an entry's uses for the next n uses (postpone; TinyLFU does
//     so for a key whose count is at the sketch's ceiling, outside
//     probation): the entry's stamp becomes a deadline, ahead of the clock,
//     and a hit on an entry whose deadline the clock has not reached
//     records nothing, alone too. Alone, the hits of a postponing policy
//     then publish the clock at each use they apply, so that deadlines
//     pass; shared, a deadline passed counts as a use made then, for the
//     rule above. A stamp of 0 (cleared by the policy) never skips. The
//     LRU never postpones: alone, its order stays exact.
//
// The drain applies the spill ring, then each stripe, each in the order its
// records were written, and clears every slot it read, so no applied entry
// stays reachable from the buffer. A record reserved but not yet written
// (its hit was preempted in between) stops the drain of its stripe; the next
// drain takes it. reset, for Clear, discards records the same way, so a late
// write can never be applied to the emptied policy. Alone, a drain reads only
// the spill ring: the stripes are empty but for a straggler, the record of a
// hit that saw the shared mode just before it ended, and such a hit flags
// itself once its record is written, so that the next drain reads the
// stripes too (see drain).
//
// # The price
//
// Alone, a hit costs an uncontended TryLock and Unlock (a postponed one, two
// loads and a compare; the applied uses of a postponing policy, a store of
// the clock); shared, a load of the mode flag, the clock and the entry's
// stamp and, for an entry not used lately, a load of the stripe's head, one
// CAS on the stripe's tail and one on the entry's stamp, plus a drain per
// half stripe. Concurrent hits are applied stripe by stripe, so their order
// across goroutines is approximate; a hit on an entry among the
// near most recent is not recorded, nor is a hit whose stripe is full while
// a drain runs elsewhere (dropped counts those, not the skipped ones, which
// are by design). A TinyLFU then counts a hot key's frequency once per near
// uses rather than on every hit: its count stays high, and only the
// ordering among keys hotter than that is blurred, as with Caffeine's
// lossy buffers under load.
// Memory: a stripe is 640 bytes (64 slots and a header line), 8 stripes per
// P and at least 16, plus the spill ring: 11 KiB per memo at 2 Ps, at most
// 161 KiB.
type readBuffer[S comparable, V any] struct {
	// Read by every hit; clock is written once per drain.
	shared    atomic.Bool   // hits were seen competing: record in stripes
	straggled atomic.Bool   // a record reached a stripe after the switch back to alone
	clock     atomic.Uint32 // uses applied, as of the last drain (or, with postpones, alone hit)
	near      uint32        // shared, a hit on an entry stamped within this many uses is not recorded
	postpones bool          // set before use for a policy that postpones (TinyLFU): stamps may be deadlines
	stripes   []bufStripe[S, V]
	mask      uint32
	mu        *sync.Mutex                    // the memo's mutex, held by whoever drains
	apply     func(e *entry[S, V], h uint64) // h: e's key's index hash, or 0 if the hit did not pass it
	use       func(*entry[S, V])             // apply, counting the use; for drains

	// Written by drains, and by hits that find the mutex taken while alone.
	_          [cacheLine]byte
	uses       uint32          // uses applied by drains; drainer only
	collisions int             // hits that saw another hit spill while they held the mutex; drainer only
	hits       *hitCounter     // the memo's hit counter, whose stripes tell who is hitting
	seen       []uint64        // hits' stripes as of the last shared drain; drainer only
	spill      bufStripe[S, V] // records of hits that found the mutex taken while alone
}

// bufStripe is one ring of records. Hits reserve position tail with a CAS
// and then store their entry in its slot; the drainer, holding the mutex,
// reads positions from head on. Positions are uint32 counters that wrap;
// only their differences matter.
type bufStripe[S comparable, V any] struct {
	tail    atomic.Uint32 // next position to reserve; written by hits
	head    atomic.Uint32 // next position to drain; written by the drainer only
	discard uint32        // positions before it are discarded, not applied; drainer only
	lost    atomic.Uint64 // records dropped because the stripe was full
	_       [cacheLine - 24]byte
	slots   [stripeSlots]atomic.Pointer[entry[S, V]]
}

const (
	cacheLine    = 128 // a cache line, or the pair of lines x86 CPUs fetch together
	stripeSlots  = 64  // records per stripe; the hit that fills half tries to drain
	spillShare   = 16  // records in the spill ring that show hits competing
	collideShare = 4   // hits colliding with hits that show them competing

	// Shared, a hit on an entry that a drain applied within the last
	// capacity/nearShare uses is not recorded (see the price, above).
	nearShare       = 2
	nearMinCapacity = 64
	stampMask       = 1<<31 - 1 // stamps count uses modulo 2^31
	maxPostpone     = 1 << 29   // the furthest deadline, so that none is taken for a past use
)

// newReadBuffer returns an empty buffer in the first (alone) mode; apply is
// called with mu held, once per record drained, with the hash the hit passed
// to record when the hit applies its own use (alone), and 0 for a record
// drained from a ring, whose slots do not keep the hash (a policy that needs
// it computes it again). capacity is the number of entries the policy
// orders, from which the buffer derives near (0: none).
//
// hits is the memo's hit counter (nil in tests of the buffer alone: the
// buffer then counts into one of its own). record counts every hit in it,
// and it tells a shared drain whether several goroutines are still hitting:
// records cannot, since hits on recently used entries write none.
func newReadBuffer[S comparable, V any](mu *sync.Mutex, capacity int, hits *hitCounter, apply func(*entry[S, V], uint64)) *readBuffer[S, V] {
	if hits == nil {
		h := newHitCounter()
		hits = &h
	}
	// Two goroutines running at once share a stripe with probability 1/n.
	n := 16
	for n < 8*runtime.GOMAXPROCS(0) && n < 256 {
		n *= 2
	}
	b := &readBuffer[S, V]{stripes: make([]bufStripe[S, V], n), mask: uint32(n - 1), mu: mu, apply: apply, hits: hits}
	b.seen = make([]uint64, len(hits.stripes))
	if capacity >= nearMinCapacity {
		b.near = uint32(min(capacity/nearShare, stampMask/4))
		// Entries start with stamp 0: near uses behind a clock that starts
		// here, so that their first hit is recorded.
		b.uses = b.near
		b.clock.Store(b.near)
	}
	b.use = func(e *entry[S, V]) {
		b.uses++
		b.apply(e, 0)
	}
	return b
}

// record counts a hit on e and tells the policy that e was used; h is the
// index hash of e's key, which the hit computed to find e (or 0), handed to
// apply when the hit applies its use itself. It never blocks and never waits
// for another goroutine, and allocates nothing.
func (b *readBuffer[S, V]) record(e *entry[S, V], h uint64) {
	if !b.shared.Load() {
		b.recordAlone(e, h)
		return
	}
	b.hits.add()
	if b.skips(e, b.near) {
		return // used lately (among the near most recent uses already), or postponed
	}
	st := &b.stripes[b.hits.hint()&b.mask]
	n, ok := st.add(e)
	if ok {
		b.stamp(e)
		if !b.shared.Load() {
			b.straggled.Store(true) // the mode changed meanwhile: tell the next drain
		}
		if n < stripeSlots/2 {
			return
		}
	}
	if !b.mu.TryLock() {
		if !ok {
			st.lost.Add(1)
		}
		return
	}
	b.drain()
	if !ok {
		if _, ok = st.add(e); ok {
			b.stamp(e)
		} else { // another hit filled it meanwhile
			st.lost.Add(1)
		}
	}
	b.mu.Unlock()
}

// stamp marks e as used at the current clock, for a shared hit whose record
// is in a stripe: hits on e skip it until near more uses are applied. The
// hit stamps, not the drain, so that the entry's line is written by the core
// that just read it rather than by the drainer's, whose write would take the
// line from every core hitting the entry. The stamp is at or before the use
// the drain will apply (the clock never runs ahead of the uses applied), so
// e is at least as near the front as its stamp says. A policy too small to
// skip (near 0) never reads a use stamp, so its hits write none.
func (b *readBuffer[S, V]) stamp(e *entry[S, V]) {
	if b.near != 0 {
		e.setStamp(b.clock.Load())
	}
}

// recordAlone is record in the first mode. A hit that finds the mutex taken
// (by a write, by the goroutine that ran fn finishing a load, or by another
// goroutine's hit) appends e to the spill ring, which the next hit that gets
// the mutex drains before it applies its own use: one ring, so one
// goroutine's records stay in the order it made them. Hits are competing,
// and the buffer switches to the stripes, once the spill ring holds
// spillShare records, or once collideShare hits have seen another hit's
// record reach the spill ring while they held the mutex: the holder drains
// the ring at every hit, so under steady competition it rarely fills, and
// a write or a loader holding the mutex is not a hit, so one goroutine
// alone never collides.
//
// A hit that gets the mutex counts itself under it (addLocked): one atomic
// operation fewer than the striped counter's.
func (b *readBuffer[S, V]) recordAlone(e *entry[S, V], h uint64) {
	if b.postpones && b.skips(e, 0) { // postponed: the policy needs this use of e later, if at all
		b.hits.add()
		return
	}
	if b.mu.TryLock() {
		b.hits.addLocked()
		t := b.spill.tail.Load()
		if t != b.spill.head.Load() || b.straggled.Load() {
			b.drain()
			t = b.spill.tail.Load()
		}
		b.uses++
		b.apply(e, h)
		if b.postpones { // deadlines pass only as the clock moves
			b.clock.Store(b.uses & stampMask)
		}
		if b.spill.tail.Load() != t { // a hit found the mutex taken by this one
			if b.collisions++; b.collisions >= collideShare {
				b.collisions = 0
				b.shared.Store(true)
			}
		}
		b.mu.Unlock()
		return
	}
	b.hits.add()
	n, ok := b.spill.add(e)
	if !ok {
		b.spill.lost.Add(1)
	}
	if !ok || n >= spillShare {
		b.shared.Store(true)
	}
}

// skips reports whether a hit on e need not be recorded: e's stamp is a use
// within the last back uses or, for a policy that postpones, a deadline that
// the clock has not reached, and not 0. (A use stamp is a clock a hit read,
// so it is never ahead of the clock; only a deadline is.)
func (b *readBuffer[S, V]) skips(e *entry[S, V], back uint32) bool {
	s := e.stamp()
	if !b.postpones {
		return (b.clock.Load()-s)&stampMask < back
	}
	return s != 0 && (s+back-b.clock.Load())&stampMask-1 < back+maxPostpone
}

// postpone, for a buffer made with postpones set, tells it that the policy
// needs none of e's uses until n more uses have been applied: until then,
// hits on e record nothing, in either mode. n <= 0 makes every hit on e
// recorded again, alone or shared: it clears e's stamp if that stamp would
// make a hit skip, and otherwise leaves the entry's line unwritten. The
// caller holds the mutex (it is the policy, in apply or a write). Hits that
// record nothing are still counted in Stats; a policy that postpones finds
// them in the hit counter (see wtinylfu.count).
func (b *readBuffer[S, V]) postpone(e *entry[S, V], n int) {
	if n <= 0 {
		if b.skips(e, b.near) { // else no hit skips e already: leave its line alone
			e.setStamp(0)
		}
		return
	}
	e.setStamp((b.uses + uint32(min(n, maxPostpone))) & stampMask)
}

// add appends e to the stripe. It reports how many records the stripe then
// holds, or false, storing nothing, if the stripe is full. A failed CAS
// means another hit reserved the position first, so it retries: each retry
// follows another hit's progress, never waits for one.
func (st *bufStripe[S, V]) add(e *entry[S, V]) (int, bool) {
	for {
		t := st.tail.Load()
		n := t - st.head.Load()
		if int32(n) < 0 {
			continue // t is stale: a drain already passed it
		}
		if n >= stripeSlots {
			return 0, false
		}
		if st.tail.CompareAndSwap(t, t+1) {
			st.slots[t%stripeSlots].Store(e)
			return int(n + 1), true
		}
	}
}

// drain applies every record written so far, stripe by stripe, each in the
// order written, and clears the slots it read. The caller holds the mutex.
//
// Alone, the stripes are empty but for stragglers, records of hits that saw
// the shared mode just before it ended; such a hit flags itself (straggled)
// once its record is written, so the drain reads the stripes only then.
func (b *readBuffer[S, V]) drain() {
	b.spill.drain(b.use) // the oldest records, from before the switch to stripes
	if !b.shared.Load() && !b.straggled.Load() {
		b.clock.Store(b.uses & stampMask)
		return
	}
	b.straggled.Store(false) // before reading: a straggler flagging later is read next time
	busy, hitters := b.drainStripes(), b.hitters()
	if busy <= 1 && hitters <= 1 && b.shared.Load() {
		// The competition has ended. A hit that wrote its record before
		// seeing this store is read by the second pass; one that sees it
		// flags itself as a straggler.
		b.shared.Store(false)
		b.drainStripes()
	}
	b.clock.Store(b.uses & stampMask)
}

// moved counts a use that the store applied itself, under the mutex: an
// entry it inserted, or moved to the front outside the buffer. The clock
// counts every entry put in front of the others, so that an entry stamped
// within near uses is within near places of the front.
func (b *readBuffer[S, V]) moved() { b.uses++ }

// hitters returns how many of the hit counter's stripes moved since the last
// call: about how many goroutines hit the memo meanwhile.
func (b *readBuffer[S, V]) hitters() int {
	n := 0
	for i, s := range b.seen {
		if c := b.hits.stripes[i].n.Load(); c != s {
			b.seen[i] = c
			n++
		}
	}
	return n
}

// drainStripes drains every stripe and reports how many had records.
func (b *readBuffer[S, V]) drainStripes() int {
	busy := 0
	for i := range b.stripes {
		if b.stripes[i].drain(b.use) {
			busy++
		}
	}
	return busy
}

// reset discards every record without applying it, for Clear. The caller
// holds the mutex. A record reserved before reset and written after it is
// discarded by the drain that reads it.
func (b *readBuffer[S, V]) reset() {
	b.spill.discardAll(b.use)
	for i := range b.stripes {
		b.stripes[i].discardAll(b.use)
	}
	b.shared.Store(false) // nothing is left to apply before the next record
	b.straggled.Store(false)
	// A record reserved before this reset and written after it is read by
	// the next drain: its hit saw the shared mode, so it flags itself.
}

// discardAll drains the stripe without applying any record written so far,
// nor any reserved so far and written later.
func (st *bufStripe[S, V]) discardAll(apply func(*entry[S, V])) {
	st.discard = st.tail.Load()
	st.drain(apply)
}

// drain applies the stripe's written records and reports whether it had any.
func (st *bufStripe[S, V]) drain(apply func(*entry[S, V])) bool {
	h, t := st.head.Load(), st.tail.Load()
	if h == t {
		return false
	}
	for ; h != t; h++ {
		slot := &st.slots[h%stripeSlots]
		e := slot.Load()
		if e == nil {
			break // reserved, not written yet: the next drain takes it
		}
		slot.Store(nil)
		if int32(h-st.discard) >= 0 {
			apply(e)
		}
	}
	st.head.Store(h)
	if int32(h-st.discard) > 0 {
		st.discard = h // keeps the watermark within reach of the wrapping positions
	}
	return true
}

// dropped returns the number of records dropped because a stripe was full.
func (b *readBuffer[S, V]) dropped() uint64 {
	n := b.spill.lost.Load()
	for i := range b.stripes {
		n += b.stripes[i].lost.Load()
	}
	return n
}
