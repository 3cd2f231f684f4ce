package memo

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
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
// Lookups go through the lock-free index; a hit never waits for the memo's
// mutex. It logs the use and returns. Each use takes a ticket from one global
// counter (one atomic add): tickets order the uses totally and consistently
// with happens-before (a hit that returned before another started holds the
// smaller ticket), which is the order an exact LRU needs. Per-P buffers alone
// could not give it: a goroutine can move to another P between two hits.
//
// The (ticket, entry) records themselves are written to stripes, one picked
// by the address of the goroutine's stack (see stackHint), so that each core
// writes cache lines of its own; an earlier version wrote every record into
// one shared ring, and the ring's lines bouncing between cores cost more than
// the rest of the hit.
//
// Whoever holds the memo's mutex applies the log: a hit that fills half of a
// stripe tries to lock it (TryLock, never waiting) and drains, and every put
// drains before it inserts or evicts. Draining collects the records of every
// stripe, puts them back in ticket order, and moves each entry to the front
// of the recency list, so the list is exact at every eviction. Only the last
// use of an entry within a batch moves it, which with skewed traffic skips
// most moves. A ticket taken but not yet written belongs to a hit that is
// about to write it; the drain waits for it rather than apply a later use
// first. A hit whose stripe is full waits for room, collecting the stripes
// itself if it can lock the mutex: records are never dropped.
//
// The list links live in nodes apart from the entries (see list), so the
// drain's pointer writes never touch the lines that hits read.
//
// What remains shared is the ticket counter, one atomic add per hit on a line
// every core writes, and the drain, which is one goroutine's work at a time.
// That is the price of an exact order: an LRU hit costs about twice a hit on
// the unbounded store, and it scales less with cores than otter's or
// theine's lossy buffers. The benchmarks in bench_test.go and in benchmarks/
// measure both.
//
// With a TTL, expired entries are not hunted down: a Get that finds one
// expired loads the key again and replaces it, and one that reaches the back
// of the list is dropped first. Both count as expirations; only live entries
// dropped for room count as evictions.

type lruStore[S comparable, V any] struct {
	// Read by every hit.
	idx  index[S, V]
	mu   *sync.Mutex // the memo's mutex; hits TryLock it to drain
	uses *useLog[S, V]

	// Written by drains and puts, on lines of their own.
	_        [cacheLine]byte
	recency  list[S, V] // front: most recently used
	capacity int
	ttl      int64
	obs      *observer[S, V]
}

func newLRUStore[S comparable, V any](capacity int, ttl int64, obs *observer[S, V], mu *sync.Mutex) *lruStore[S, V] {
	s := &lruStore[S, V]{capacity: capacity, ttl: ttl, obs: obs, mu: mu}
	s.idx.init()
	s.recency.init()
	s.uses = newUseLog(mu, func(e *entry[S, V]) {
		if s.recency.holds(e) { // not evicted, forgotten or replaced since
			s.recency.moveToFront(e)
		}
	})
	return s
}

func (s *lruStore[S, V]) load(k S, now int64) (V, bool) {
	e := s.idx.getLive(k, now)
	if e == nil {
		var zero V
		return zero, false
	}
	s.uses.record(e)
	return e.val, true
}

// drain applies every use recorded so far. The caller holds the memo's mutex.
func (s *lruStore[S, V]) drain() { s.uses.drain() }

func (s *lruStore[S, V]) loadLocked(k S, now int64) (V, bool) {
	e := s.idx.getLive(k, now)
	if e == nil {
		var zero V
		return zero, false
	}
	s.drain()
	s.recency.moveToFront(e)
	return e.val, true
}

func (s *lruStore[S, V]) peek(k S, now int64) (V, bool) {
	if e := s.idx.getLive(k, now); e != nil {
		return e.val, true
	}
	var zero V
	return zero, false
}

func (s *lruStore[S, V]) put(k S, v V, now, exp int64) {
	// Uses recorded before this put must be applied before e goes in front
	// of them, and before any eviction decision.
	s.drain()
	e := s.recency.newEntry(k, v, exp)
	old, ok := s.idx.put(e)
	if !ok {
		s.recency.discard(e)
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
	s.drain()
	if s.obs.onEvict != nil {
		for e := s.recency.front(); e != nil; e = s.recency.front() {
			s.recency.remove(e)
			s.obs.drop(e, now, Cleared)
		}
	}
	s.recency.init()
	s.idx.clear()
}

func (s *lruStore[S, V]) len() int { return s.idx.len() }

// useLog records the uses of entries, as described at the top of this file:
// a global ticket orders them, and each goroutine writes its records into the
// stripe that its stack address picks (see stackHint), so cores write lines
// of their own.
type useLog[S comparable, V any] struct {
	stripes []useStripe[S, V]
	mask    uint32
	mu      *sync.Mutex        // the memo's mutex, held by whoever drains
	apply   func(*entry[S, V]) // applies one use (moves the entry to the front)
	_       [cacheLine]byte
	tail    atomic.Uint64 // the next ticket
	_       [cacheLine - 8]byte

	// Owned by the drainer, which holds the memo's mutex.
	next   uint64         // every use with a ticket below next is applied
	window []*entry[S, V] // window[t-next]: the entry used with ticket t, collected but not applied
	seen   entrySet[S, V] // entries already met in the batch being applied
}

type useStripe[S comparable, V any] struct {
	reserved atomic.Uint64 // positions handed out to writers
	consumed atomic.Uint64 // positions the drainer has collected; written only by it
	recs     [stripeRecs]useRecord[S, V]
	_        [cacheLine]byte
}

// useRecord is one use, at one position of a stripe. The writer fills t and
// e, then publishes them by storing the position plus one in pos; the drainer
// reads them only once it sees its own position there.
type useRecord[S comparable, V any] struct {
	pos atomic.Uint64
	t   uint64
	e   *entry[S, V]
}

const (
	cacheLine  = 128 // a cache line, or the pair of lines x86 CPUs fetch together
	stripeRecs = 128 // records per stripe (3 KiB); a writer that fills half of one tries to drain
)

func newUseLog[S comparable, V any](mu *sync.Mutex, apply func(*entry[S, V])) *useLog[S, V] {
	n := 8
	for n < 4*runtime.GOMAXPROCS(0) && n < 256 {
		n *= 2
	}
	return &useLog[S, V]{stripes: make([]useStripe[S, V], n), mask: uint32(n - 1), mu: mu, apply: apply}
}

// record logs a use of e. The hit that fills half of a stripe then tries to
// drain, so that the log stays short without every hit writing the mutex's
// cache line.
func (l *useLog[S, V]) record(e *entry[S, V]) {
	st := &l.stripes[stackHint()&l.mask]
	i := st.reserved.Add(1) - 1
	t := l.tail.Add(1) - 1
	for i-st.consumed.Load() >= stripeRecs {
		// The stripe is full. Collecting frees it; a drain in progress does
		// that too, even while it waits for this very ticket. Only collect
		// here, never drain: a drain would wait for this ticket, which is
		// not written yet.
		if l.mu.TryLock() {
			l.collect()
			l.applyReady()
			l.mu.Unlock()
		} else {
			runtime.Gosched()
		}
	}
	r := &st.recs[i%stripeRecs]
	r.t, r.e = t, e
	r.pos.Store(i + 1)
	if (i+1)%(stripeRecs/2) == 0 {
		l.tryDrain()
	}
}

func (l *useLog[S, V]) tryDrain() {
	if l.mu.TryLock() {
		l.drain()
		l.mu.Unlock()
	}
}

// drain applies, in ticket order, every use whose ticket was taken before it
// started. A ticket taken but not
// yet written belongs to a hit that is about to write it, or that waits for
// room in its stripe, which drain's own collecting makes; drain waits for it
// rather than apply a later use first. The caller holds l.mu and has no
// ticket outstanding.
func (l *useLog[S, V]) drain() {
	end := l.tail.Load()
	for {
		l.collect()
		l.applyReady()
		if l.next >= end {
			return
		}
		runtime.Gosched()
	}
}

// applyReady applies the uses collected so far up to the first ticket not
// yet collected.
//
// Only the last use of an entry in a batch decides where it ends up, so the
// earlier ones are skipped: with skewed traffic, most records of a batch are
// repeats of a few hot entries.
func (l *useLog[S, V]) applyReady() {
	n := 0
	for n < len(l.window) && l.window[n] != nil {
		n++
	}
	if n == 0 {
		return
	}
	l.seen.reset(n)
	for i := n - 1; i >= 0; i-- {
		if !l.seen.add(l.window[i]) {
			l.window[i] = nil // a later use in this batch moves it
		}
	}
	for i, e := range l.window[:n] {
		if e != nil {
			l.apply(e)
		}
		l.window[i] = nil
	}
	l.next += uint64(n)
	l.window = l.window[:copy(l.window, l.window[n:])]
}

// entrySet is a set of entry pointers for one batch, an open-addressing table
// whose slots carry the batch number, so that starting a batch clears nothing.
type entrySet[S comparable, V any] struct {
	slots []setSlot[S, V]
	batch uint32
}

type setSlot[S comparable, V any] struct {
	e     *entry[S, V]
	batch uint32
}

func (s *entrySet[S, V]) reset(n int) {
	if len(s.slots) < 2*n {
		size := 64
		for size < 2*n {
			size *= 2
		}
		s.slots = make([]setSlot[S, V], size)
	}
	s.batch++
}

// add inserts e and reports whether it was absent.
func (s *entrySet[S, V]) add(e *entry[S, V]) bool {
	mask := uint64(len(s.slots) - 1)
	h := uint64(uintptr(unsafe.Pointer(e))) * 0x9e3779b97f4a7c15
	for i := h >> 40 & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.batch != s.batch {
			sl.e, sl.batch = e, s.batch
			return true
		}
		if sl.e == e {
			return false
		}
	}
}

// collect moves the written records of every stripe into the window.
func (l *useLog[S, V]) collect() {
	for i := range l.stripes {
		st := &l.stripes[i]
		c, end := st.consumed.Load(), st.reserved.Load()
		for ; c < end; c++ {
			r := &st.recs[c%stripeRecs]
			if r.pos.Load() != c+1 {
				break // reserved but not written yet: collected next time
			}
			at := int(r.t - l.next)
			for at >= len(l.window) {
				l.window = append(l.window, nil)
			}
			l.window[at] = r.e
		}
		st.consumed.Store(c)
	}
}
