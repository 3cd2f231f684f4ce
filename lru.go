package memo

import "sync"

// The LRU store: WithCapacity(n) keeps at most n entries and evicts the least
// recently used one.
//
// # The problem
//
// An LRU moves an entry to the front of its list on every hit. Under one
// mutex, every core's hits queue on that lock, and the list pointers of hot
// entries bounce between cores; that is why a plain LRU (golang-lru) gets
// slower, not faster, when a second core joins.
//
// # Why the obvious fixes fail
//
// Logging hits and applying them later keeps hits off the lock, but the log
// must not cost what the lock did. The previous design ordered every hit by
// a ticket from one global counter, so that the log could be replayed in
// exact order. It had three costs: every hit wrote the ticket's cache line,
// which every core writes; a drain waited, with runtime.Gosched under the
// memo's mutex, for tickets taken but not yet written; and a hit whose stripe
// was full waited for room, Gosched again. Whenever a goroutine was
// descheduled between taking its ticket and writing its record, the drain
// and then every hit stalled behind it: that was the slow mode of the
// bimodal parallel hit (28 ns or 45-58 ns per run at 2 cores). Counted on a
// loaded 2-core machine, every 1 000 parallel hits made 175-326 Gosched
// rounds in drains and 373-633 waits for room, at 0.9-2.1 us per hit.
// Lossy striped buffers without an order (otter, theine, Caffeine) are fast,
// but lose the exact order that tests of one goroutine can check.
//
// # The design
//
// Lookups go through the lock-free index; a hit never waits for the memo's
// mutex. It hands its entry to the read buffer (buffer.go). While hits do
// not compete, the buffer applies the use at once, under a TryLock that
// succeeded, or, if the mutex was taken, leaves it in one spill ring that the
// next hit applies first. Once hits compete, it appends uses to striped
// rings that the hit filling half a stripe, or the next write, drains.
// Draining moves each entry to the front of the recency list, if the entry
// is still in it. Every put drains before it inserts or evicts, so an
// eviction sees every use recorded before it.
//
// What is promised:
//
//   - Exact for one goroutine. If the memo's operations happen one after
//     another (one goroutine, or goroutines that hand the memo over with
//     synchronization), every use is applied in the order made, before the
//     next write: the LRU holds exactly the keys a textbook LRU holds after
//     the same sequence. This does not depend on which stack or P the
//     goroutine runs on, nor on fn running on a goroutine of its own.
//   - Approximate under concurrency. Hits made while other goroutines use
//     the memo are applied stripe by stripe, so their relative order may
//     differ from real time; a hit on an entry among the capacity/2 most
//     recently used is not recorded (it stays where it is, at least half the
//     capacity from eviction), nor is a hit whose stripe is
//     full while a drain runs elsewhere (the entry keeps its old position).
//     Once hits stop competing, the first drain (at the latest, the next
//     write) returns to exact order.
//     Len never exceeds the capacity, Stats are exact, and no entry is lost:
//     only the choice of victim is approximate.
//
// The list links live in nodes apart from the entries (see list), so the
// drain's pointer writes never touch the lines that hits read, and a node
// is 16 bytes.
//
// # The price
//
// Alone, a hit costs an uncontended TryLock and Unlock (two atomic
// operations on the mutex's line, which no other core is writing) on top of
// the index lookup. Shared, a hit on a recently used entry costs two loads
// and a compare; another costs one CAS on a stripe line that its goroutine
// mostly owns alone, one on its entry's stamp (a line the hit has just read),
// and a share of a drain per 32 records; a hit waits for nobody in either
// mode. The benchmarks in
// bench_test.go and benchmarks/ measure both against golang-lru and otter.
//
// With a TTL, expired entries are not hunted down: a Get that finds one
// expired loads the key again and replaces it, and one that reaches the back
// of the list is dropped first. Both count as expirations; only live entries
// dropped for room count as evictions.

type lruStore[S comparable, V any] struct {
	// Read by every hit.
	idx  index[S, V]
	uses *readBuffer[S, V]

	// Written by drains and puts, on lines of their own.
	_        [cacheLine]byte
	recency  list[S, V] // front: most recently used
	capacity int
	obs      *observer[S, V]
}

func newLRUStore[S comparable, V any](capacity int, timed bool, obs *observer[S, V], mu *sync.Mutex) *lruStore[S, V] {
	s := &lruStore[S, V]{capacity: capacity, obs: obs}
	s.idx.init(timed)
	s.recency.init()
	s.recency.most = capacity + 2 // the sentinel, and one entry over capacity until put evicts
	s.uses = newReadBuffer(mu, capacity, &obs.ctr.hits, func(e *entry[S, V], _ uint64) {
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
	s.uses.record(e, 0)
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
	s.uses.moved()
	s.obs.ctr.hits.addLocked()
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
	e := s.idx.newEntry(k, v, exp)
	old, ok := s.idx.put(e)
	if !ok {
		return
	}
	if old != nil && s.recency.holds(old) {
		s.recency.swap(old, e) // e takes old's node: one list move, no node freed and taken
		s.recency.moveToFront(e)
	} else {
		s.recency.attach(e)
		s.recency.pushFront(e)
	}
	if old != nil {
		s.obs.drop(old, s.idx.expired(old, now), Replaced)
	}
	s.uses.moved()
	for s.idx.len() > s.capacity {
		victim := s.recency.back()
		s.recency.remove(victim)
		s.idx.delEntry(victim)
		s.obs.drop(victim, s.idx.expired(victim, now), Evicted)
	}
}

func (s *lruStore[S, V]) del(k S, now int64) {
	s.drain() // so that no record keeps the forgotten entry, and its value, alive
	if old := s.idx.del(k); old != nil {
		s.recency.remove(old)
		s.obs.drop(old, s.idx.expired(old, now), Forgotten)
	}
}

func (s *lruStore[S, V]) sweep(int64) {}

func (s *lruStore[S, V]) clear(now int64) {
	s.uses.reset()
	if s.obs.onEvict != nil {
		for e := s.recency.front(); e != nil; e = s.recency.front() {
			s.recency.remove(e)
			s.obs.drop(e, s.idx.expired(e, now), Cleared)
		}
	}
	s.recency.init()
	s.idx.clear()
}

func (s *lruStore[S, V]) len() int { return s.idx.len() }
