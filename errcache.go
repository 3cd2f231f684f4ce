package memo

import "time"

// WithErrorTTL: fn's errors, cached briefly, so that a failing upstream is
// not called by every Get while it fails.
//
// Storing an error as an entry of the value store would make every entry
// bigger (an error field beside the value) and put failures on the lock-free
// hit path, where Peek, the LRU order and Len would all have to tell them
// from values. Errors are rare and short-lived, so they live apart: a map
// from key to error, guarded by the memo's mutex and consulted on the miss
// path only, after the value store missed. A Get answered from it takes the
// mutex, as a miss does, and calls nothing. Every cached error lives for the
// same d, so they expire in the order they were cached: a FIFO of (key,
// deadline), swept on every look-up and insertion, reclaims them with no
// goroutine, and the map never holds more than the errors of the last d.

type errCache[S comparable] struct {
	ttl   int64
	errs  map[S]cachedErr
	queue []queuedErr[S] // queue[head:]: cached errors, oldest first
	head  int
}

type cachedErr struct {
	err error
	exp int64
}

type queuedErr[S comparable] struct {
	key S
	exp int64
}

// newErrCache returns a cache keeping errors for d, or nil when d is 0: the
// methods of a nil cache find nothing and keep nothing.
func newErrCache[S comparable](d time.Duration) *errCache[S] {
	if d <= 0 {
		return nil
	}
	return &errCache[S]{ttl: int64(d), errs: make(map[S]cachedErr)}
}

// get returns the error cached for s, if it is younger than the TTL.
func (x *errCache[S]) get(s S, now int64) (error, bool) {
	if x == nil {
		return nil, false
	}
	x.sweep(now)
	ce, ok := x.errs[s]
	return ce.err, ok
}

func (x *errCache[S]) put(s S, err error, now int64) {
	if s != s { // a NaN key could never be found, nor deleted
		return
	}
	x.sweep(now)
	exp := addSat(now, x.ttl)
	x.errs[s] = cachedErr{err, exp}
	x.queue = append(x.queue, queuedErr[S]{s, exp})
}

// sweep drops the errors whose TTL ended at or before now.
func (x *errCache[S]) sweep(now int64) {
	for x.head < len(x.queue) && x.queue[x.head].exp <= now {
		q := x.queue[x.head]
		if ce, ok := x.errs[q.key]; ok && ce.exp == q.exp { // not dropped or cached again since
			delete(x.errs, q.key)
		}
		x.queue[x.head] = queuedErr[S]{}
		x.head++
	}
	if x.head > 32 && x.head*2 > len(x.queue) {
		x.queue = x.queue[:copy(x.queue, x.queue[x.head:])]
		x.head = 0
	}
}

// drop forgets the error cached for s, for Forget and Set.
func (x *errCache[S]) drop(s S) {
	if x != nil {
		delete(x.errs, s)
	}
}

func (x *errCache[S]) clear() {
	if x != nil {
		x.errs = make(map[S]cachedErr)
		x.queue, x.head = nil, 0
	}
}

// cacheErr caches the error of cl, which failed, unless it must not be: a
// panic or Goexit, a call every caller gave up on (its error may be fn's
// context's), a stale call, or a refresh (the old value stands in for it).
// The caller holds c.mu.
func (c *core[K, S, V]) cacheErr(cl *call[K, V], s S, now int64) {
	if c.errs == nil || cl.err == nil || cl.panicked || cl.goexit || cl.canceled || cl.stale || cl.refresh {
		return
	}
	c.errs.put(s, cl.err, now)
}
