package memo

import (
	"sync/atomic"
	"unsafe"
)

// A store holds a memo's entries. There are three: the unbounded map store
// (this file), the LRU (lru.go) and the weak store (weak.go).
//
// load and peek run without the memo's mutex and must not block or allocate;
// they report only live entries (not expired, not collected). Every other
// method runs with the memo's mutex held, which serializes all writes, and
// reports the entries it drops to the memo's observer.
type store[S comparable, V any] interface {
	// load returns key's live value, records the use (for the LRU) and
	// counts the hit in the memo's counters.
	load(key S, now int64) (V, bool)
	// loadLocked is load for a caller that holds the memo's mutex.
	loadLocked(key S, now int64) (V, bool)
	// peek returns key's live value without recording a use.
	peek(key S, now int64) (V, bool)
	// put stores v for key with the deadline exp (0: never), replacing any
	// entry, and makes room if needed.
	put(key S, v V, now, exp int64)
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
// store. key and val (and a timed entry's deadline) are written before the
// entry is published in the index and never change afterwards, so the
// lock-free hit path reads them without synchronization. state, after node,
// fills what would otherwise be padding, so it costs no memory: bit 0 is set
// by the hit that starts a WithRefresh reload (refresh.go), the other bits
// hold the read buffer's use stamp (buffer.go).
// An entry holds no links: the lists that order entries (the
// TTL queue, the recency list) keep theirs in nodes of their own, so that
// reordering them, which drains do all the time, never writes the cache
// lines that hits read.
//
// Most memos set no deadline, so an entry has no field for one: a memo that
// may set deadlines (WithTTL, WithTTLFunc, WithRefresh) makes every entry a
// timedEntry instead, whose deadline follows the entry in the same
// allocation. An int→int entry is then 24 bytes instead of 32, and a
// string→[]byte one 48 instead of 56 (which the allocator rounds up to 64):
// 8 to 16 bytes less per entry. Whether a store's entries are timed is fixed
// when the store is made and kept in its index (index.timed), which makes the
// entries (index.newEntry) and reads their deadlines (index.expired), so an
// entry is read as timed only by the index that made it timed. Under -race,
// a deadline read from an untimed entry would not pass unnoticed: checkptr
// stops a conversion to a timedEntry that runs past the entry's allocation.
type entry[S comparable, V any] struct {
	key  S
	val  V
	node uint32 // this entry's node in its store's list, 0 for none; guarded by the memo's mutex

	state atomic.Uint32 // bit 0: a reload was started; bits 1-31: use stamp
}

// timedEntry is an entry with a deadline, for stores whose memo may set
// deadlines. entry comes first, so a *entry made by newEntry as a timedEntry
// points to the start of its timedEntry.
type timedEntry[S comparable, V any] struct {
	entry[S, V]
	exp int64 // deadline on the memo's clock; 0 means never
}

// deadline returns e's deadline. e must have been made as a timedEntry: only
// an index whose entries are timed, and the structures of its store, call it.
func (e *entry[S, V]) deadline() int64 {
	return (*timedEntry[S, V])(unsafe.Pointer(e)).exp
}

// startReload sets the reload bit and reports whether this call set it.
func (e *entry[S, V]) startReload() bool {
	return e.state.Load()&1 == 0 && e.state.Or(1)&1 == 0
}

// cancelReload clears the reload bit, for a reload that never started.
func (e *entry[S, V]) cancelReload() { e.state.And(^uint32(1)) }

// stamp returns the use stamp (buffer.go).
func (e *entry[S, V]) stamp() uint32 { return e.state.Load() >> 1 }

// setStamp stores the use stamp, keeping the reload bit.
func (e *entry[S, V]) setStamp(u uint32) {
	for {
		old := e.state.Load()
		if e.state.CompareAndSwap(old, old&1|u<<1) {
			return
		}
	}
}

// list is a doubly linked list of entries whose nodes live in one slice and
// link to each other by index. Nodes are recycled through a free list, so
// linking allocates nothing once the slice has grown, and a node is 16 bytes.
// nodes[0] is the sentinel: its next is the front, its prev the back.
type list[S comparable, V any] struct {
	nodes []node[S, V]
	free  uint32 // first free node, chained through next; 0 for none
	most  int    // the most nodes the list can need, sentinel included; 0: no bound
}

type node[S comparable, V any] struct {
	prev, next uint32
	e          *entry[S, V] // nil while the node is free
}

// init empties the list, letting go of its nodes.
func (l *list[S, V]) init() {
	l.nodes = make([]node[S, V], 1, 8)
	l.free = 0
}

// attach gives e a node, not linked yet.
func (l *list[S, V]) attach(e *entry[S, V]) {
	i := l.free
	if i != 0 {
		l.free = l.nodes[i].next
	} else {
		if len(l.nodes) == 1<<32-1 {
			panic("memo: more than 2^32-2 entries in one list")
		}
		if len(l.nodes) == cap(l.nodes) {
			l.grow()
		}
		i = uint32(len(l.nodes))
		l.nodes = l.nodes[:i+1]
	}
	e.node = i
	l.nodes[i] = node[S, V]{e: e}
}

// grow makes room for more nodes, as append would, but never for more than
// l.most: a bounded store's list stops growing at its capacity instead of
// holding up to a quarter more nodes than it can ever use.
func (l *list[S, V]) grow() {
	c := cap(l.nodes)
	n := 2 * c
	if c >= 256 {
		n = c + (c+3*256)/4
	}
	if l.most > c && n > l.most {
		n = l.most
	}
	n = min(n, 1<<32-1)
	nodes := make([]node[S, V], len(l.nodes), n)
	copy(nodes, l.nodes)
	l.nodes = nodes
}

// holds reports whether e is in the list. An entry dropped from it, or made
// for a list that was emptied since, is not.
func (l *list[S, V]) holds(e *entry[S, V]) bool {
	return e.node != 0 && int(e.node) < len(l.nodes) && l.nodes[e.node].e == e
}

// swap puts e in old's place in the list; old, which must be in the list,
// leaves it.
func (l *list[S, V]) swap(old, e *entry[S, V]) {
	l.nodes[old.node].e = e
	e.node, old.node = old.node, 0
}

// front returns the first entry, or nil.
func (l *list[S, V]) front() *entry[S, V] { return l.nodes[l.nodes[0].next].e }

// back returns the last entry, or nil.
func (l *list[S, V]) back() *entry[S, V] { return l.nodes[l.nodes[0].prev].e }

func (l *list[S, V]) pushFront(e *entry[S, V]) { l.link(e.node, 0) }
func (l *list[S, V]) pushBack(e *entry[S, V])  { l.link(e.node, l.nodes[0].prev) }

// link puts node i right after node at.
func (l *list[S, V]) link(i, at uint32) {
	next := l.nodes[at].next
	l.nodes[i].prev, l.nodes[i].next = at, next
	l.nodes[next].prev = i
	l.nodes[at].next = i
}

func (l *list[S, V]) unlink(i uint32) {
	n := &l.nodes[i]
	l.nodes[n.prev].next = n.next
	l.nodes[n.next].prev = n.prev
}

func (l *list[S, V]) moveToFront(e *entry[S, V]) {
	if l.nodes[0].next != e.node {
		l.unlink(e.node)
		l.link(e.node, 0)
	}
}

// remove takes e out of the list and frees its node; if e is not in the
// list, it does nothing.
func (l *list[S, V]) remove(e *entry[S, V]) {
	if l.holds(e) {
		l.unlink(e.node)
		l.discard(e)
	}
}

// discard frees the node of an entry that is not linked.
func (l *list[S, V]) discard(e *entry[S, V]) {
	l.nodes[e.node] = node[S, V]{next: l.free}
	l.free = e.node
	e.node = 0
}

// mapStore is the unbounded store. Without a TTL it is the index alone. With
// WithTTL, every entry shares the same lifetime, so entries expire in the
// order they were stored: a FIFO queue of entries, oldest first, lets sweep
// drop every expired entry by looking only at the front, in O(1) per entry
// dropped. With WithTTLFunc, deadlines vary, and a min-heap on them takes the
// queue's place (expiry.go).
type mapStore[S comparable, V any] struct {
	idx   index[S, V]
	fifo  bool               // WithTTL: entries are in queue
	queue list[S, V]         // when fifo: entries in the order stored
	heap  bool               // WithTTLFunc: entries are in dead
	dead  deadlineHeap[S, V] // when heap: entries by deadline
	obs   *observer[S, V]
}

// newMapStore returns a map store whose entries share one TTL (ttl > 0), have
// one each (perEntry), or never expire.
func newMapStore[S comparable, V any](ttl int64, perEntry, timed bool, obs *observer[S, V]) *mapStore[S, V] {
	s := &mapStore[S, V]{fifo: ttl > 0 && !perEntry, heap: perEntry, obs: obs}
	s.idx.init(timed)
	s.queue.init()
	return s
}

func (s *mapStore[S, V]) peek(k S, now int64) (V, bool) {
	if e := s.idx.getLive(k, now); e != nil {
		return e.val, true
	}
	var zero V
	return zero, false
}

func (s *mapStore[S, V]) load(k S, now int64) (V, bool) {
	v, ok := s.peek(k, now)
	if ok {
		s.obs.ctr.hits.add()
	}
	return v, ok
}

func (s *mapStore[S, V]) loadLocked(k S, now int64) (V, bool) {
	v, ok := s.peek(k, now)
	if ok {
		s.obs.ctr.hits.addLocked()
	}
	return v, ok
}

func (s *mapStore[S, V]) put(k S, v V, now, exp int64) {
	e := s.idx.newEntry(k, v, exp)
	if s.fifo {
		s.queue.attach(e)
	}
	old, ok := s.idx.put(e)
	if !ok {
		if s.fifo {
			s.queue.discard(e)
		}
		return
	}
	if old != nil {
		s.unqueue(old)
		s.obs.drop(old, s.idx.expired(old, now), Replaced)
	}
	switch {
	case s.fifo:
		s.queue.pushBack(e)
	case s.heap:
		s.dead.push(e)
	}
	s.sweep(now)
}

// unqueue takes e out of the expiry order.
func (s *mapStore[S, V]) unqueue(e *entry[S, V]) {
	switch {
	case s.fifo:
		s.queue.remove(e)
	case s.heap:
		s.dead.remove(e)
	}
}

// next returns the entry that expires first, or nil.
func (s *mapStore[S, V]) next() *entry[S, V] {
	switch {
	case s.fifo:
		return s.queue.front()
	case s.heap:
		return s.dead.front()
	}
	return nil
}

func (s *mapStore[S, V]) del(k S, now int64) {
	if old := s.idx.del(k); old != nil {
		s.unqueue(old)
		s.obs.drop(old, s.idx.expired(old, now), Forgotten)
	}
}

func (s *mapStore[S, V]) sweep(now int64) {
	for e := s.next(); e != nil && s.idx.expired(e, now); e = s.next() {
		s.unqueue(e)
		s.idx.delEntry(e)
		s.obs.drop(e, true, Expired)
	}
}

func (s *mapStore[S, V]) clear(now int64) {
	if s.obs.onEvict != nil {
		s.idx.each(func(e *entry[S, V]) { s.obs.drop(e, s.idx.expired(e, now), Cleared) })
	}
	s.idx.clear()
	s.queue.init()
	s.dead.init()
}

func (s *mapStore[S, V]) len() int { return s.idx.len() }
