package memo

import (
	"context"
	"errors"
	"time"
)

// ErrGoexit is returned to the callers waiting on a call of fn that ended
// with runtime.Goexit (t.FailNow in a test's loader, for example) instead of
// returning. The goroutine that ran fn goes on exiting; nothing is stored.
var ErrGoexit = errors.New("memo: fn called runtime.Goexit instead of returning")

// This file collapses concurrent misses on one key into one call of fn.
//
// golang.org/x/sync/singleflight is the model for the semantics (one call per
// key in flight, every waiter gets its result, panics and Goexit never leave
// a waiter blocked), but it is not used: its keys are strings, and turning
// every memo key into a string would cost an encoding and an allocation per
// miss and, done carelessly, could make two keys share a call. It also has no
// notion of a caller giving up on its own context while others keep waiting,
// of canceling fn once every caller has given up, or of a result that must
// not be stored because Forget ran meanwhile. So calls are kept in a map keyed
// by the memo's own key type, guarded by the memo's mutex, which also guards
// every write to the store: a call's result is stored and the call removed
// from the map in one critical section, so a Get that misses and then takes
// the mutex either finds the call or finds its result.

// call is one call of fn in flight. key and cancel are set before the call is
// published; the result fields are written by the goroutine running fn before
// done is closed (waiters read them after it is), and the bookkeeping fields
// are guarded by the memo's mutex.
type call[K, V any] struct {
	key    K
	cancel context.CancelFunc // cancels fn's context; nil when fn runs inline

	// The result.
	val      V
	err      error
	panicked bool
	pval     any           // the value fn panicked with
	goexit   bool          // fn called runtime.Goexit
	took     time.Duration // time spent in fn, for Stats.LoadTime
	ttl      time.Duration // WithTTLFunc's TTL for val

	// Bookkeeping.
	waiters  int           // callers still waiting for the result
	done     chan struct{} // made by the first caller that must wait; closed when fn is done
	finished bool          // fn is done and the result is set
	stale    bool          // Forget, Clear, Set or a newer call ran: do not store the result
	canceled bool          // every caller gave up and fn's context was canceled
	refresh  bool          // a WithRefresh reload: nobody started it, Gets that miss may join it
}

// result returns what the call produced to one of its waiters.
func (cl *call[K, V]) result() (V, error) {
	switch {
	case cl.panicked:
		panic(cl.pval)
	case cl.goexit:
		var zero V
		return zero, ErrGoexit
	}
	return cl.val, cl.err
}

// miss is the slow path of Get: key s was not found without the lock.
func (c *core[K, S, V]) miss(ctx context.Context, k K, s S) (V, error) {
	// Everything that calls into ctx happens before the lock: a ctx method
	// that panics (a nil ctx) must not leave the memo locked.
	if ctx == nil {
		panic("memo: Get called with a nil context.Context (use context.Background())")
	}
	gaveUp := ctx.Err() != nil
	inline := ctx.Done() == nil
	c.mu.Lock()
	now := c.now()
	c.st.sweep(now)
	// A call may have stored s between the lock-free look and here.
	if v, ok := c.st.loadLocked(s, now); ok { // counts the hit
		c.unlock()
		return v, nil
	}
	if err, ok := c.errs.get(s, now); ok { // WithErrorTTL
		c.ctr.hits.addLocked()
		c.unlock()
		var zero V
		return zero, err
	}
	if gaveUp {
		// The caller has already given up: starting fn would be work (an
		// RPC, a charge) that nobody asked for, and joining a call would
		// return at once anyway. Not a miss: nothing was loaded or shared.
		c.unlock()
		var zero V
		return zero, ctx.Err()
	}
	c.ctr.misses++
	if cl := c.calls[s]; cl != nil {
		if cl.waiters > 0 || cl.refresh {
			cl.waiters++
			c.ctr.shared++
			if cl.done == nil { // fn runs inline on the goroutine that started it
				cl.done = make(chan struct{})
			}
			c.unlock()
			return c.wait(ctx, cl)
		}
		// Every caller gave up on cl and its context is canceled: it cannot
		// answer a caller that still wants the value. Leave it to finish on
		// its own, but its result must not overwrite the newer call's.
		cl.stale = true
	}
	cl := c.newCall(k, inline)
	if s == s {
		c.calls[s] = cl
	} // else a key not equal to itself (NaN): it could never be found again, to share or to remove
	c.ctr.loads++
	if inline {
		// This caller can never give up, so fn runs on its goroutine, as in
		// singleflight.Do: no goroutine to start, and a panic or Goexit of fn
		// happens where the caller can see it.
		c.unlock()
		c.run(ctx, cl, s, true) // returns only if fn returned
		v, err := cl.val, cl.err
		c.recycle(cl)
		return v, err
	}
	// fn runs on its own goroutine so that this caller can return as soon as
	// its context is done. fn's context keeps ctx's values but not its
	// cancellation, which belongs to all the waiters together (see wait).
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cl.cancel = cancel
	cl.done = make(chan struct{})
	c.unlock()
	go c.run(fctx, cl, s, false)
	return c.wait(ctx, cl)
}

// wait blocks until cl is done or ctx is, whichever comes first. The caller
// has counted itself in cl.waiters, and cl.done is set.
func (c *core[K, S, V]) wait(ctx context.Context, cl *call[K, V]) (V, error) {
	select {
	case <-cl.done:
		return cl.result()
	case <-ctx.Done():
	}
	c.mu.Lock()
	cl.waiters--
	if cl.waiters == 0 && !cl.finished && cl.cancel != nil {
		// The last caller gave up: fn's work is wanted by nobody now. If fn
		// still completes, its value is stored (unless stale), but the next
		// Get starts a new call rather than waiting on this one.
		cl.cancel()
		cl.canceled = true
	}
	c.mu.Unlock()
	var zero V
	return zero, ctx.Err()
}

// run calls fn for cl and publishes the outcome. It tells a panic from
// runtime.Goexit the way singleflight does: a deferred function that sees
// neither a normal return nor a recovered panic is running because of Goexit.
// inline is true when run is on the goroutine of the caller that started the
// call. Other waiters re-panic with the original value in result.
//
// fn's start is read here, after the miss has unlocked: a now read under the
// lock would save a clock read with a TTL, but LoadTime would then count the
// WithOnEvict callbacks that unlock runs.
func (c *core[K, S, V]) run(ctx context.Context, cl *call[K, V], s S, inline bool) {
	returned, recovered := false, false
	start := time.Since(c.epoch) // a monotonic read only: time.Now reads the wall clock too
	defer func() {
		end := time.Since(c.epoch)
		cl.took = end - start
		if !returned && !recovered {
			cl.goexit = true
		}
		waiting := c.finish(cl, s, end)
		if cl.panicked && (inline || !waiting) {
			// Inline, the caller that started the call panics here, with
			// fn's frames still on the stack for the traceback. Otherwise
			// nobody is left to hand the panic to: swallowing it would hide
			// a bug, so it crashes the program like any unrecovered panic.
			panic(cl.pval)
		}
	}()
	func() {
		defer func() {
			if !returned {
				if r := recover(); r != nil {
					cl.panicked, cl.pval, recovered = true, r, true
				}
			}
		}()
		cl.val, cl.err = c.fn(ctx, cl.key)
		if cl.err == nil {
			cl.ttl = c.ttlOf(s, cl.val) // a panic here is fn's: it stores nothing
		}
		returned = true
	}()
}

// finish stores cl's result if it is a value and still wanted, removes cl from
// the calls in flight and wakes its waiters. end is when fn returned, on the
// memo's clock: a TTL counts from there. It reports whether any caller was
// still waiting.
func (c *core[K, S, V]) finish(cl *call[K, V], s S, end time.Duration) bool {
	c.mu.Lock()
	if c.calls[s] == cl {
		delete(c.calls, s)
	}
	var now int64
	if c.clock {
		now = int64(end)
	}
	c.ctr.loadTime += cl.took
	ok := !cl.panicked && !cl.goexit && cl.err == nil
	if !ok {
		c.ctr.loadErrors++
		c.cacheErr(cl, s, now)
	} else if !cl.stale {
		c.store(s, cl.val, cl.ttl, now)
	}
	cl.finished = true
	if cl.done != nil {
		close(cl.done)
	}
	waiting := cl.waiters > 0
	c.unlock()
	if cl.cancel != nil {
		cl.cancel()
	}
	return waiting
}

// invalidate marks the call in flight for s, if any, so that its result is
// not stored, and detaches it so that the next Get starts a new call. Its
// waiters still get its result. The caller holds c.mu.
func (c *core[K, S, V]) invalidate(s S) {
	if cl := c.calls[s]; cl != nil {
		cl.stale = true
		delete(c.calls, s)
	}
	c.errs.drop(s)
}

// newCall returns a call of fn for k with one waiter: a recycled one for an
// inline call, when there is one.
func (c *core[K, S, V]) newCall(k K, inline bool) *call[K, V] {
	if inline {
		if cl, _ := c.spare.Get().(*call[K, V]); cl != nil {
			cl.key, cl.waiters = k, 1
			return cl
		}
	}
	return &call[K, V]{key: k, waiters: 1}
}

// recycle keeps cl for a later inline call, if it ran inline and no other
// caller joined it: then nothing else holds it, since only a joiner makes
// cl.done and finish has taken cl out of the calls in flight.
func (c *core[K, S, V]) recycle(cl *call[K, V]) {
	if cl.done != nil {
		return
	}
	*cl = call[K, V]{}
	c.spare.Put(cl)
}
