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
//     the stripe picked by its stack address (stackHint), a small ring that
//     goroutines running at the same time mostly own alone, with one CAS on
//     the stripe's own line. The hit that fills half a stripe tries to drain
//     (TryLock, never waiting); every write drains before it inserts or
//     evicts. A stripe that is full drops the record, and dropped counts
//     it. A drain that finds one busy stripe at most switches back to the
//     first mode: the competition has ended.
//
// The drain applies the spill ring, then each stripe, each in the order its
// records were written, and clears every slot it read, so no applied entry
// stays reachable from the buffer. A record reserved but not yet written
// (its hit was preempted in between) stops the drain of its stripe; the next
// drain takes it. reset, for Clear, discards records the same way, so a late
// write can never be applied to the emptied policy.
//
// # The price
//
// Alone, a hit costs an uncontended TryLock and Unlock; shared, a load of
// the mode flag, a load of the stripe's head and one CAS on the stripe's
// tail, plus a drain per half stripe. Concurrent hits are applied stripe by
// stripe, so their order across goroutines is approximate, and a hit whose
// stripe is full while a drain runs elsewhere is not recorded at all.
// Memory: a stripe is 640 bytes (64 slots and a header line), 8 stripes per
// P and at least 16, plus the spill ring: 11 KiB per memo at 2 Ps, at most
// 161 KiB.
type readBuffer[S comparable, V any] struct {
	shared  atomic.Bool // hits were seen competing: record in stripes
	stripes []bufStripe[S, V]
	mask    uint32
	mu      *sync.Mutex // the memo's mutex, held by whoever drains
	apply   func(*entry[S, V])
	_       [cacheLine]byte
	spill   bufStripe[S, V] // records of hits that found the mutex taken while alone
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
	cacheLine   = 128 // a cache line, or the pair of lines x86 CPUs fetch together
	stripeSlots = 64  // records per stripe; the hit that fills half tries to drain
	spillShare  = 16  // records in the spill ring that show hits competing
)

// newReadBuffer returns an empty buffer in the first (alone) mode; apply is
// called with mu held, once per record drained.
func newReadBuffer[S comparable, V any](mu *sync.Mutex, apply func(*entry[S, V])) *readBuffer[S, V] {
	// Two goroutines running at once share a stripe with probability 1/n.
	n := 16
	for n < 8*runtime.GOMAXPROCS(0) && n < 256 {
		n *= 2
	}
	return &readBuffer[S, V]{stripes: make([]bufStripe[S, V], n), mask: uint32(n - 1), mu: mu, apply: apply}
}

// record tells the policy that e was used. It never blocks and never waits
// for another goroutine, and allocates nothing.
func (b *readBuffer[S, V]) record(e *entry[S, V]) {
	if !b.shared.Load() {
		b.recordAlone(e)
		return
	}
	st := &b.stripes[stackHint()&b.mask]
	n, ok := st.add(e)
	if ok && n < stripeSlots/2 {
		return
	}
	if !b.mu.TryLock() {
		if !ok {
			st.lost.Add(1)
		}
		return
	}
	b.drain()
	if !ok {
		if _, ok = st.add(e); !ok { // another hit filled it meanwhile
			st.lost.Add(1)
		}
	}
	b.mu.Unlock()
}

// recordAlone is record in the first mode. A hit that finds the mutex taken
// (by a write, by the goroutine that ran fn finishing a load, or by another
// goroutine's hit) appends e to the spill ring, which the next hit that gets
// the mutex drains before it applies its own use: one ring, so one
// goroutine's records stay in the order it made them. Once the spill ring
// holds spillShare records, hits are competing: switch to the stripes.
func (b *readBuffer[S, V]) recordAlone(e *entry[S, V]) {
	if b.mu.TryLock() {
		if b.spill.tail.Load() != b.spill.head.Load() {
			b.spill.drain(b.apply)
		}
		b.apply(e)
		b.mu.Unlock()
		return
	}
	n, ok := b.spill.add(e)
	if !ok {
		b.spill.lost.Add(1)
	}
	if !ok || n >= spillShare {
		b.shared.Store(true)
	}
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
func (b *readBuffer[S, V]) drain() {
	busy := 0
	b.spill.drain(b.apply) // the oldest records, from before the switch to stripes
	for i := range b.stripes {
		if b.stripes[i].drain(b.apply) {
			busy++
		}
	}
	if busy <= 1 && b.shared.Load() {
		b.shared.Store(false)
	}
}

// reset discards every record without applying it, for Clear. The caller
// holds the mutex. A record reserved before reset and written after it is
// discarded by the drain that reads it.
func (b *readBuffer[S, V]) reset() {
	b.spill.discardAll(b.apply)
	for i := range b.stripes {
		b.stripes[i].discardAll(b.apply)
	}
	b.shared.Store(false) // nothing is left to apply before the next record
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
