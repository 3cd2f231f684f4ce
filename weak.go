package memo

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"
)

// MemoizeWeak returns a memo of fn that never keeps a value alive by itself,
// like Python's weakref.WeakValueDictionary: while any part of the program
// holds the *T that Get returned, Get returns that same pointer without
// calling fn; once nothing holds it, the garbage collector reclaims it, its
// entry disappears on its own (Stats.Collected counts it) and the next Get
// calls fn again. It suits large values (decoded images, parsed documents)
// that should be shared while in use and not kept once unused.
//
// With WithCapacity(n), the n most recently used values are also held
// strongly, so that a hot value survives a collection even when no caller
// holds it at that moment; the rest are held weakly. Stats.Capacity reports n,
// and Len counts all entries. Leaving that window is not an eviction: the
// value stays cached for as long as something else holds it.
//
// Edge cases:
//   - A nil *T returned by fn (with a nil error) is returned but not cached.
//   - T must not be of size zero: the runtime gives all zero-size values one
//     address and never reclaims them one by one, so MemoizeWeak panics.
//   - Small values without pointers (16 bytes or less) may be batched by the
//     allocator with other small values and then reclaimed only when all of
//     them are, so they can stay cached longer than their users.
//   - Nothing reachable from fn, from the key or from the memo's other values
//     may hold a value, or it is never reclaimed: a value is collected only
//     when the memo's weak reference is the last one. A value may refer to the
//     memo itself.
//   - Entries of values already reclaimed but not yet cleaned up count in Len
//     until the runtime runs their cleanup, shortly after a collection.
//
// Everything else (collapsed misses, contexts, errors, panics, TTL, Peek,
// Set, Forget, Clear, WithOnEvict) behaves as with Memoize. An entry whose
// value the collector reclaimed is reported to WithOnEvict with a nil value
// and the reason Collected.
func MemoizeWeak[K comparable, T any](fn func(context.Context, K) (*T, error), opts ...Option) *Memo[K, *T] {
	if fn == nil {
		panic("memo: MemoizeWeak called with a nil fn")
	}
	if unsafe.Sizeof(*new(T)) == 0 {
		panic(fmt.Sprintf("memo: MemoizeWeak of the zero-size type %v: the garbage collector cannot reclaim zero-size values one by one, so they would never leave the memo",
			reflect.TypeFor[T]()))
	}
	cfg := newConfig(opts)
	if cfg.refresh > 0 {
		panic("memo: WithRefresh cannot be used with MemoizeWeak: a weak entry lives as long as its callers hold the value, and a reload would split them between two values")
	}
	rejectBatch(cfg, "MemoizeWeak")
	d := &direct[K, *T]{}
	fn, d.tl = linkTier(cfg, fn, canonicalString[K], d.remember)
	d.init(fn, cfg, onEvictFor[K, *T](cfg))
	d.ttlFn = ttlFuncFor[K, *T](cfg)
	d.st = newWeakStore[K, T](cfg, &d.obs, &d.mu)
	d.listen()
	return &Memo[K, *T]{e: d}
}

// wref is what a weak entry holds instead of its value.
type wref[T any] struct {
	ptr     weak.Pointer[T]
	cleanup runtime.Cleanup // removes the entry once the value is reclaimed
	pinned  atomic.Bool     // the value is in the window; written under the memo's mutex
}

// weakStore keeps weak pointers to the values. A cleanup attached to each
// value removes its entry when the collector reclaims the value; the cleanup
// identifies the entry by pointer and deletes it only if the index still maps
// its key to that very entry, so the cleanup of an old value never removes a
// newer entry stored for the same key. Entries that leave for any other reason
// stop their cleanup, so each reclaimed entry is counted once.
//
// With a capacity, the most recently used entries are pinned: a window list
// of them, in use order as in the LRU, with a strong pointer to each value.
// Only pinned entries have a node, so the window's memory is bounded by the
// capacity. A hit on a pinned entry records its use in the read buffer
// (buffer.go), as the LRU does, never waiting; the value is safe from the
// collector while pinned, and a dropped record only leaves it where it was in
// the window. A hit on an entry that is not pinned pins it at once, under the
// mutex: a buffered use would reach the window too late to save a value its
// caller drops at once. Clear unpins every entry one by one, so that no old
// entry, which a hit may still find and record, keeps a node index into the
// new window.
type weakStore[S comparable, T any] struct {
	idx index[S, wref[T]]
	mu  *sync.Mutex
	obs *observer[S, *T]

	capacity int
	uses     *readBuffer[S, wref[T]] // nil without a capacity
	window   list[S, wref[T]]        // the pinned entries, most recently used first
	pins     []*T                    // pins[e.node]: the value pinned by e
	pinned   int
}

func newWeakStore[S comparable, T any](cfg config, obs *observer[S, *T], mu *sync.Mutex) *weakStore[S, T] {
	s := &weakStore[S, T]{mu: mu, obs: obs, capacity: cfg.capacity}
	s.idx.init(cfg.deadlines())
	s.window.init()
	if s.capacity > 0 {
		s.uses = newReadBuffer(mu, s.capacity, &obs.ctr.hits, func(e *entry[S, wref[T]], _ uint64) { s.use(e) })
	}
	return s
}

func (s *weakStore[S, T]) lookup(k S, now int64) (*entry[S, wref[T]], *T) {
	e := s.idx.getLive(k, now)
	if e == nil {
		return nil, nil
	}
	return e, e.val.ptr.Value()
}

func (s *weakStore[S, T]) load(k S, now int64) (*T, bool) {
	e, v := s.lookup(k, now)
	if v == nil {
		return nil, false
	}
	switch {
	case s.uses == nil:
		s.obs.ctr.hits.add()
	case e.val.pinned.Load():
		s.uses.record(e, 0) // counts the hit
	default:
		s.mu.Lock()
		s.uses.drain()
		s.use(e)
		s.obs.ctr.hits.addLocked()
		s.mu.Unlock()
	}
	return v, true
}

func (s *weakStore[S, T]) loadLocked(k S, now int64) (*T, bool) {
	e, v := s.lookup(k, now)
	if v == nil {
		return nil, false
	}
	if s.uses != nil {
		s.uses.drain()
		s.pin(e, v)
	}
	s.obs.ctr.hits.addLocked()
	return v, true
}

func (s *weakStore[S, T]) peek(k S, now int64) (*T, bool) {
	_, v := s.lookup(k, now)
	return v, v != nil
}

// use applies a use of e: it pins e's value at the front of the window, if e
// is still stored and its value still alive. e may be an entry that left
// since its use was recorded, even one from before a Clear: the window's
// own check (holds) and the index decide, never e's node index alone.
func (s *weakStore[S, T]) use(e *entry[S, wref[T]]) {
	if s.window.holds(e) { // pinned, hence still stored and alive
		s.window.moveToFront(e)
		return
	}
	if s.idx.get(e.key) != e {
		return // replaced, forgotten or collected since
	}
	if v := e.val.ptr.Value(); v != nil {
		s.pin(e, v)
	}
}

// pin puts e, whose value is v, at the front of the window, and unpins the
// least recently used entry if the window is over capacity.
func (s *weakStore[S, T]) pin(e *entry[S, wref[T]], v *T) {
	s.uses.moved() // counted twice when the buffer applies it: the clock may only run ahead
	if s.window.holds(e) {
		s.window.moveToFront(e)
		return
	}
	s.window.attach(e)
	for len(s.pins) < len(s.window.nodes) {
		s.pins = append(s.pins, nil)
	}
	s.pins[e.node] = v
	e.val.pinned.Store(true)
	s.window.pushFront(e)
	s.pinned++
	if s.pinned > s.capacity {
		s.unpin(s.window.back())
	}
}

// unpin takes e out of the window, if it is there.
func (s *weakStore[S, T]) unpin(e *entry[S, wref[T]]) {
	if s.window.holds(e) {
		s.pins[e.node] = nil
		e.val.pinned.Store(false)
		s.window.remove(e)
		s.pinned--
	}
}

func (s *weakStore[S, T]) put(k S, v *T, now, exp int64) {
	if v == nil {
		return
	}
	e := s.idx.newEntry(k, wref[T]{}, exp)
	e.val.ptr = weak.Make(v)
	e.val.cleanup = runtime.AddCleanup(v, s.collected, e)
	if s.uses != nil {
		s.uses.drain()
	}
	old, ok := s.idx.put(e)
	if !ok {
		e.val.cleanup.Stop()
		return
	}
	if old != nil {
		s.remove(old, now, Replaced)
	}
	if s.capacity > 0 {
		s.pin(e, v)
	}
}

// remove forgets old, which left the index for reason r.
func (s *weakStore[S, T]) remove(old *entry[S, wref[T]], now int64, r EvictReason) {
	old.val.cleanup.Stop()
	s.unpin(old)
	v := old.val.ptr.Value()
	switch {
	case v == nil && r != Cleared && r != Forgotten:
		r = Collected
	case r == Replaced && s.idx.expired(old, now):
		r = Expired
	}
	s.obs.dropped(old.key, v, r)
}

// collected is the cleanup of a value: it runs on a runtime goroutine after
// the collector reclaimed the value of e. e was not pinned: a pinned value is
// reachable.
func (s *weakStore[S, T]) collected(e *entry[S, wref[T]]) {
	s.mu.Lock()
	if s.idx.delEntry(e) {
		s.obs.dropped(e.key, nil, Collected)
	}
	s.obs.unlock(s.mu)
}

func (s *weakStore[S, T]) del(k S, now int64) {
	if old := s.idx.del(k); old != nil {
		s.remove(old, now, Forgotten)
	}
}

// sweep does nothing: expired entries are replaced when their key is loaded
// again, and removed when their value is reclaimed, which keeps the store
// bounded by the values the program holds.
func (s *weakStore[S, T]) sweep(int64) {}

func (s *weakStore[S, T]) clear(now int64) {
	if s.uses != nil {
		s.uses.reset()
		// Unpinning each entry, rather than dropping the window wholesale,
		// leaves no entry with a node index into the new window: a hit that
		// still finds an old entry must not move a node it does not own.
		for e := s.window.front(); e != nil; e = s.window.front() {
			s.unpin(e)
		}
	}
	s.idx.each(func(e *entry[S, wref[T]]) {
		e.val.cleanup.Stop()
		if s.obs.onEvict != nil {
			s.obs.dropped(e.key, e.val.ptr.Value(), Cleared)
		}
	})
	s.idx.clear()
	s.window.init()
	s.pins = nil
	s.pinned = 0
}

func (s *weakStore[S, T]) len() int { return s.idx.len() }
