package memo

// A store holds a memo's entries. There are three: the unbounded map store
// (this file), the LRU (lru.go) and the weak store (weak.go).
//
// load and peek run without the memo's mutex and must not block or allocate;
// they report only live entries (not expired, not collected). Every other
// method runs with the memo's mutex held, which serializes all writes, and
// reports the entries it drops to the memo's observer.
type store[S comparable, V any] interface {
	// load returns key's live value and records the use (for the LRU).
	load(key S, now int64) (V, bool)
	// loadLocked is load for a caller that holds the memo's mutex.
	loadLocked(key S, now int64) (V, bool)
	// peek returns key's live value without recording a use.
	peek(key S, now int64) (V, bool)
	// put stores v for key, replacing any entry, and makes room if needed.
	put(key S, v V, now int64)
	// del drops key's entry, if any.
	del(key S, now int64)
	// sweep drops entries whose deadline is at or before now, where the
	// store can find them cheaply.
	sweep(now int64)
	// clear drops every entry.
	clear(now int64)
	// len counts the entries, including expired ones not yet dropped.
	len() int
}

// entry is one cached value: V for strong stores, a weak pointer for the weak
// store. key, hash, val and exp are written before the entry is published in
// the index and never change afterwards, so the lock-free hit path reads them
// without synchronization. The links belong to whichever list the store keeps
// (the TTL queue of the map store, the recency list of the LRU) and are
// guarded by the memo's mutex.
type entry[S comparable, V any] struct {
	key        S
	hash       uint64
	val        V
	exp        int64 // deadline on the memo's clock; 0 means never
	prev, next *entry[S, V]
}

func (e *entry[S, V]) expired(now int64) bool { return e.exp != 0 && now >= e.exp }

// list is an intrusive doubly linked list of entries with a sentinel, so that
// linking costs no allocation and unlinking is O(1).
type list[S comparable, V any] struct {
	root entry[S, V]
}

func (l *list[S, V]) init() { l.root.prev, l.root.next = &l.root, &l.root }

// front returns the first entry, or nil.
func (l *list[S, V]) front() *entry[S, V] {
	if l.root.next == &l.root {
		return nil
	}
	return l.root.next
}

// back returns the last entry, or nil.
func (l *list[S, V]) back() *entry[S, V] {
	if l.root.prev == &l.root {
		return nil
	}
	return l.root.prev
}

func (l *list[S, V]) pushFront(e *entry[S, V]) { l.insertAfter(e, &l.root) }
func (l *list[S, V]) pushBack(e *entry[S, V])  { l.insertAfter(e, l.root.prev) }

func (l *list[S, V]) insertAfter(e, at *entry[S, V]) {
	e.prev, e.next = at, at.next
	at.next.prev = e
	at.next = e
}

func (l *list[S, V]) moveToFront(e *entry[S, V]) {
	if l.root.next == e {
		return
	}
	l.remove(e)
	l.pushFront(e)
}

// remove unlinks e; removing an entry that is not linked does nothing.
func (l *list[S, V]) remove(e *entry[S, V]) {
	if e.prev == nil {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// mapStore is the unbounded store. Without a TTL it is the index alone. With
// one, every entry shares the same lifetime, so entries expire in the order
// they were stored: a FIFO queue of entries, oldest first, lets sweep drop
// every expired entry by looking only at the front, in O(1) per entry dropped.
type mapStore[S comparable, V any] struct {
	idx   index[S, V]
	ttl   int64      // nanoseconds; 0 means no TTL
	queue list[S, V] // when ttl > 0: entries in the order stored
	obs   *observer[S, V]
}

func newMapStore[S comparable, V any](ttl int64, obs *observer[S, V]) *mapStore[S, V] {
	s := &mapStore[S, V]{ttl: ttl, obs: obs}
	s.idx.init()
	s.queue.init()
	return s
}

func (s *mapStore[S, V]) load(k S, now int64) (V, bool) {
	e := s.idx.get(k)
	if e == nil || e.expired(now) {
		var zero V
		return zero, false
	}
	return e.val, true
}

func (s *mapStore[S, V]) loadLocked(k S, now int64) (V, bool) { return s.load(k, now) }
func (s *mapStore[S, V]) peek(k S, now int64) (V, bool)       { return s.load(k, now) }

func (s *mapStore[S, V]) put(k S, v V, now int64) {
	e := &entry[S, V]{key: k, val: v}
	if s.ttl > 0 {
		e.exp = now + s.ttl
	}
	old, ok := s.idx.put(e)
	if !ok {
		return
	}
	if old != nil {
		s.queue.remove(old)
		s.obs.drop(old, now, Replaced)
	}
	if s.ttl > 0 {
		s.queue.pushBack(e)
	}
	s.sweep(now)
}

func (s *mapStore[S, V]) del(k S, now int64) {
	if old := s.idx.del(k); old != nil {
		s.queue.remove(old)
		s.obs.drop(old, now, Forgotten)
	}
}

func (s *mapStore[S, V]) sweep(now int64) {
	for e := s.queue.front(); e != nil && e.expired(now); e = s.queue.front() {
		s.queue.remove(e)
		s.idx.delEntry(e)
		s.obs.drop(e, now, Expired)
	}
}

func (s *mapStore[S, V]) clear(now int64) {
	if s.obs.onEvict != nil {
		s.idx.each(func(e *entry[S, V]) { s.obs.drop(e, now, Cleared) })
	}
	s.idx.clear()
	s.queue.init()
}

func (s *mapStore[S, V]) len() int { return s.idx.len() }
