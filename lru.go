package memo

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The LRU store: WithCapacity(n) keeps at most n entries and evicts the least
// recently used one, exactly.
//
// # Why not a mutex around a list
//
// An LRU moves an entry to the front of its list on every hit. Under one
// mutex, every core's hits queue on that lock, and the list pointers of hot
// entries bounce between cores; that is why a plain LRU gets slower, not
// faster, when a second core joins. The peers avoid it by giving up exactness:
// otter and theine (after Caffeine) record hits in striped buffers that drop
// records when full and replay them later in no global order, ristretto
// samples. memo's WithCapacity promises the exact LRU order for any sequence
// of operations that happen one after another, so it cannot drop or reorder a
// hit that happened before an eviction.
//
// # The design
//
// Lookups go through the lock-free index; a hit never takes the memo's mutex.
// It records the use in a ring of entry pointers and returns. The ring is a
// multi-producer, single-consumer queue with a global ticket: a hit takes the
// next ticket with one atomic add and writes the entry into the ticket's slot.
// Tickets order the hits totally, consistently with happens-before (a hit
// that returned before another started took a smaller ticket), which is the
// order an exact LRU needs; per-P buffers could not give it without a shared
// clock, because a goroutine can move between Ps between two hits.
//
// The consumer is whoever holds the memo's mutex: a hit that finds the ring a
// quarter full tries to lock it (TryLock, never waiting) and drains, and every
// write (put) drains the whole ring before it inserts or evicts. Draining
// applies the records in ticket order, moving each entry to the front, so the
// list is exact at every eviction. A record whose ticket is taken but whose
// slot is not yet written belongs to a hit still in progress; the drainer
// waits for it (it is a few instructions away) rather than skip it. When the
// ring is full, a hit waits for room, draining itself if it can get the lock:
// records are never dropped.
//
// Consecutive tickets map to slots on different cache lines, so two cores
// recording at once do not write the same line. What remains shared is the
// ticket counter: one atomic add per hit on a line every core writes. That is
// the price of a total order, and it bounds how far hits scale with cores;
// everything else on the hit path is per entry or read-only.
//
// With a TTL, expired entries are not hunted down: a Get that finds one
// expired loads the key again and replaces it, and one that reaches the back
// of the list is dropped first. Both count as expirations; only live entries
// dropped for room count as evictions.

type lruStore[S comparable, V any] struct {
	idx      index[S, V]
	recency  list[S, V] // front: most recently used
	capacity int
	ttl      int64
	obs      *observer[S, V]
	mu       *sync.Mutex // the memo's mutex; hits TryLock it to drain
	ring     useRing[S, V]
}

func newLRUStore[S comparable, V any](capacity int, ttl int64, obs *observer[S, V], mu *sync.Mutex) *lruStore[S, V] {
	s := &lruStore[S, V]{capacity: capacity, ttl: ttl, obs: obs, mu: mu}
	s.idx.init()
	s.recency.init()
	s.ring.init()
	return s
}

func (s *lruStore[S, V]) load(k S, now int64) (V, bool) {
	e := s.idx.get(k)
	if e == nil || e.expired(now) {
		var zero V
		return zero, false
	}
	t := s.ring.take()
	for !s.ring.hasRoom(t) {
		// The ring is full: make room by draining the uses before ours, or
		// let whoever holds the mutex do it.
		if s.mu.TryLock() {
			s.ring.drain(&s.recency, t)
			s.mu.Unlock()
		} else {
			runtime.Gosched()
		}
	}
	if s.ring.write(t, e) >= drainAt && s.mu.TryLock() {
		s.ring.drain(&s.recency, s.ring.tail.Load())
		s.mu.Unlock()
	}
	return e.val, true
}

func (s *lruStore[S, V]) loadLocked(k S, now int64) (V, bool) {
	e := s.idx.get(k)
	if e == nil || e.expired(now) {
		var zero V
		return zero, false
	}
	s.ring.drain(&s.recency, s.ring.tail.Load())
	s.recency.moveToFront(e)
	return e.val, true
}

func (s *lruStore[S, V]) peek(k S, now int64) (V, bool) {
	e := s.idx.get(k)
	if e == nil || e.expired(now) {
		var zero V
		return zero, false
	}
	return e.val, true
}

func (s *lruStore[S, V]) put(k S, v V, now int64) {
	e := &entry[S, V]{key: k, val: v}
	if s.ttl > 0 {
		e.exp = now + s.ttl
	}
	// Uses recorded before this put must be applied before e goes in front
	// of them, and before any eviction decision.
	s.ring.drain(&s.recency, s.ring.tail.Load())
	old, ok := s.idx.put(e)
	if !ok {
		return
	}
	if old != nil {
		s.recency.remove(old)
		s.obs.drop(old, now, Replaced)
	}
	s.recency.pushFront(e)
	for s.idx.len() > s.capacity {
		victim := s.recency.back()
		s.recency.remove(victim)
		s.idx.delEntry(victim)
		s.obs.drop(victim, now, Evicted)
	}
}

func (s *lruStore[S, V]) del(k S, now int64) {
	if old := s.idx.del(k); old != nil {
		s.recency.remove(old)
		s.obs.drop(old, now, Forgotten)
	}
}

func (s *lruStore[S, V]) sweep(int64) {}

func (s *lruStore[S, V]) clear(now int64) {
	s.ring.drain(&s.recency, s.ring.tail.Load())
	for e := s.recency.front(); e != nil; e = s.recency.front() {
		s.recency.remove(e)
		s.obs.drop(e, now, Cleared)
	}
	s.idx.clear()
}

func (s *lruStore[S, V]) len() int { return s.idx.len() }

// useRing is the queue of recorded uses described at the top of this file.
type useRing[S comparable, V any] struct {
	_     [cacheLine]byte
	tail  atomic.Uint64 // next ticket
	_     [cacheLine - 8]byte
	head  atomic.Uint64 // next ticket to apply; written only under the memo's mutex
	_     [cacheLine - 8]byte
	slots []atomic.Pointer[entry[S, V]]
	shift uint // log2 of the number of cache lines in slots
}

const (
	cacheLine    = 128 // a cache line, or the pair that x86 prefetches together
	slotsPerLine = 8   // 64-byte lines of 8-byte pointers
	ringSlots    = 1024
	drainAt      = ringSlots / 4 // pending uses that make a hit try to drain
)

func (r *useRing[S, V]) init() {
	r.slots = make([]atomic.Pointer[entry[S, V]], ringSlots)
	for n := ringSlots / slotsPerLine; n > 1; n >>= 1 {
		r.shift++
	}
}

// slot spreads consecutive tickets over different cache lines: ticket t goes
// to line t mod lines, at position (t / lines) mod 8 within it.
func (r *useRing[S, V]) slot(t uint64) uint64 {
	lines := uint64(1) << r.shift
	return (t&(lines-1))*slotsPerLine | (t>>r.shift)&(slotsPerLine-1)
}

// take returns the next ticket.
func (r *useRing[S, V]) take() uint64 { return r.tail.Add(1) - 1 }

// hasRoom reports whether ticket t's slot has been drained of the use
// recorded ringSlots tickets earlier.
func (r *useRing[S, V]) hasRoom(t uint64) bool { return t-r.head.Load() < ringSlots }

// write records e under ticket t and returns how many uses are pending.
func (r *useRing[S, V]) write(t uint64, e *entry[S, V]) uint64 {
	r.slots[r.slot(t)].Store(e)
	return t - r.head.Load()
}

// drain applies the uses with tickets before end, in ticket order, to l. The
// caller holds the memo's mutex.
func (r *useRing[S, V]) drain(l *list[S, V], end uint64) {
	h := r.head.Load()
	for ; h < end; h++ {
		p := &r.slots[r.slot(h)]
		e := p.Load()
		if e == nil {
			// Ticket h is taken but its hit has not written the slot yet:
			// it is a few instructions away, or waiting for room, which
			// publishing our progress gives it.
			r.head.Store(h)
			for e == nil {
				runtime.Gosched()
				e = p.Load()
			}
		}
		p.Store(nil)
		if e.prev != nil { // still in the list: not evicted, forgotten or replaced
			l.moveToFront(e)
		}
		if h&(slotsPerLine-1) == 0 {
			r.head.Store(h + 1) // let hits waiting for room go on
		}
	}
	r.head.Store(h)
}
