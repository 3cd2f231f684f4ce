package memo

// This file turns concurrent misses on different keys into one call of a
// function that loads many keys at once: MemoizeBatch.
//
// The problem: a GraphQL resolver asks for the author of each of 200 posts,
// each from its own goroutine. A memo collapses misses on one key, but 200
// different keys still make 200 calls of fn, 200 round trips to a database
// that one WHERE id IN (...) would answer. DataLoader libraries batch such
// calls, but they cache apart from everything else (per request, without TTL
// or capacity) and each reinvents collapsing, contexts and invalidation.
//
// The obvious design gives the memo a second miss path that gathers keys and
// stores the batch's results itself. Every promise of Get would then have to
// be kept twice: collapsed misses, a caller that gives up on its own context
// while others wait, Forget winning over a load in flight, TTL, capacity,
// WithTier, Stats. So the core does not know batches exist. MemoizeBatch
// gives it an ordinary per-key fn, batcher.load, which puts its key into the
// open batch and waits for the batch's answer. Everything per key is the
// core's: a key is in flight once however many Gets want it, its call's
// context is canceled when all of them have given up, and Forget makes the
// core drop the key's result when the batch answers.
//
// A batch opens with its first key and is sent (fn is called with its keys)
// when it holds maxKeys keys or wait has passed since it opened, whichever is
// first. fn gets each key once: after a Forget the core may load a key again
// while its first load still waits in the open batch, and both loads get the
// batch's answer, which is fetched after the Forget.
// A batch's context is canceled once every load in it has given up, that is
// once every caller of every key has; keys whose loads all gave up before the
// batch was sent are left out of it, and a batch left with no key is not sent.
// The answer for a key is fn's value for it, ErrNotFound when fn's map lacks
// the key, fn's error for every key when fn fails, or fn's panic, re-raised by
// every key's load so that the core hands it to every waiter.
//
// The price: each miss parks one goroutine (the core's call of load) on its
// batch, a miss that opens a batch waits up to the window before fn is
// called, and misses (never hits) take one more mutex, the batcher's, after
// the core's. Measured (benchmarks/batch_test.go, 1 000 goroutines missing on
// 956 distinct cold keys at once, 1 ms per call of fn, 2 shared cores): 10.9
// calls of fn where Memoize makes 956, as vikstrous/dataloadgen does (10.1),
// but 27 ms of wall time against its 6 ms with 10 connections: the misses
// queue on the core's mutex (twice per key) and the batcher's, where the
// DataLoader, which keeps no per-key flights, takes one lock per key.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNotFound is the error of Get and GetMany, on a MemoizeBatch memo, for a
// key that fn's map did not hold. Test for it with errors.Is. Like every
// error of a load it is not cached, unless the memo caches errors
// (WithErrorTTL), so the next Get of the key asks fn again.
var ErrNotFound = errors.New("memo: key not in the map returned by the batch function")

// The grouping MemoizeBatch uses without WithBatch. A database round trip in
// one data center takes about 0.5 to 2 ms: a window of 1 ms adds at most
// about one round trip to the miss that opens a batch and gathers the misses
// of a fan-out (a resolver's goroutines start within microseconds of each
// other). 100 keys keep an IN (...) list or a multi-get far below the
// parameter limits of common databases and drivers.
const (
	defaultBatchKeys = 100
	defaultBatchWait = time.Millisecond
)

// batchConfig is what WithBatch sets.
type batchConfig struct {
	maxKeys int
	wait    time.Duration
}

// WithBatch sets how a MemoizeBatch memo groups concurrent misses: a call of
// fn gets at most maxKeys keys, and is made at the latest wait after the miss
// that opened its batch (sooner if maxKeys keys arrive first). The default is
// WithBatch(100, time.Millisecond). maxKeys = 1 disables batching; wait = 0
// sends each batch as soon as the goroutine that sends it runs, grouping only
// the misses that arrive meanwhile.
//
// WithBatch panics if maxKeys < 1 or wait < 0, and the constructor of any
// memo other than MemoizeBatch panics when given it.
func WithBatch(maxKeys int, wait time.Duration) Option {
	if maxKeys < 1 {
		panic(fmt.Sprintf("memo: WithBatch(%d, %v): maxKeys must be >= 1", maxKeys, wait))
	}
	if wait < 0 {
		panic(fmt.Sprintf("memo: WithBatch(%d, %v): wait must be >= 0", maxKeys, wait))
	}
	return func(c *config) { c.batch = &batchConfig{maxKeys, wait} }
}

// rejectBatch panics if cfg holds WithBatch: only MemoizeBatch groups misses.
func rejectBatch(cfg config, constructor string) {
	if cfg.batch != nil {
		panic(fmt.Sprintf("memo: WithBatch given to %s: WithBatch configures MemoizeBatch only", constructor))
	}
}

// MemoizeBatch returns a memo of fn, a function that loads many keys at once
// (one SQL query with WHERE id IN (...), one multi-get) and returns their
// values in a map. Misses that happen close together, from Gets and GetManys
// of any goroutines, are grouped into one call of fn: a batch is sent when it
// holds maxKeys distinct keys or wait after its first miss, whichever comes
// first (WithBatch; by default 100 keys and 1 ms). Hits never wait.
//
// Each key keeps every promise of Memoize: a key is loaded once however many
// Gets miss on it at the same time; each caller returns as soon as its own
// ctx is done; a value is stored (with the memo's TTL and capacity) unless
// Forget, Set or Clear ran while it loaded. For each key of a batch, the
// memo stores fn's value, or returns an error to that key's callers and
// stores nothing: ErrNotFound when fn's map does not hold the key, and fn's
// error, unchanged, for every key of the batch when fn returns one (the map
// is then ignored). A panic of fn panics in every Get waiting on a key of its
// batch, with the original value. Keys in fn's map that were not asked for
// are ignored. fn must not modify keys or the map after it returns.
//
// fn's context carries the values of the context of the first Get of the
// batch; it is canceled when every caller of every key in the batch has given
// up. Keys whose callers all gave up before the batch was sent are not
// passed to fn.
//
// Stats: Loads counts calls of fn (each for up to maxKeys keys), LoadErrors
// the calls that returned an error, panicked or called runtime.Goexit, and
// LoadTime the time spent in fn. Misses and Shared count per key as for any
// memo, so Misses - Shared is the number of keys loaded, and (Misses -
// Shared) / Loads the keys per call of fn.
//
// MemoizeBatch panics if fn is nil or an option is invalid.
func MemoizeBatch[K comparable, V any](fn func(ctx context.Context, keys []K) (map[K]V, error), opts ...Option) *Memo[K, V] {
	if fn == nil {
		panic("memo: MemoizeBatch called with a nil fn")
	}
	bc := batchConfig{defaultBatchKeys, defaultBatchWait}
	if c := newConfig(opts).batch; c != nil {
		bc = *c
	}
	b := &batcher[K, V]{fn: fn, maxKeys: bc.maxKeys, wait: bc.wait}
	noBatch := func(c *config) { c.batch = nil } // read above; Memoize refuses it
	m := Memoize(b.load, append(opts[:len(opts):len(opts)], noBatch)...)
	m.e = &batched[K, V]{direct: m.e.(*direct[K, V]), b: b}
	return m
}

// batched is the engine of a MemoizeBatch memo: the direct engine, with the
// batcher's counters in Stats and a GetMany that keeps the batcher fed.
type batched[K comparable, V any] struct {
	*direct[K, V]
	b *batcher[K, V]
}

// getMany lets one GetMany hand up to GOMAXPROCS batches' worth of keys to
// the batcher at once, where other memos run GOMAXPROCS loads.
func (e *batched[K, V]) getMany(ctx context.Context, keys []K) ([]V, error) {
	return e.getManyLimit(ctx, keys, e.b.maxKeys*manyLimit())
}

func (e *batched[K, V]) stats() Stats {
	s := e.direct.stats()
	e.b.mu.Lock()
	s.Loads, s.LoadErrors, s.LoadTime = e.b.calls, e.b.errors, e.b.time
	e.b.mu.Unlock()
	return s
}

func (e *batched[K, V]) clear() {
	e.direct.clear()
	e.b.mu.Lock()
	e.b.calls, e.b.errors, e.b.time = 0, 0, 0
	e.b.mu.Unlock()
}

// batcher groups the loads of a MemoizeBatch memo into calls of fn.
type batcher[K comparable, V any] struct {
	fn      func(context.Context, []K) (map[K]V, error)
	maxKeys int
	wait    time.Duration

	mu     sync.Mutex
	open   *batch[K, V] // the batch gathering keys, if any
	calls  uint64       // calls of fn
	errors uint64       // calls of fn that failed
	time   time.Duration
}

// batch is one call of fn, gathering keys until it is sent. The fields above
// the result are guarded by the batcher's mutex; the result is written by
// the goroutine that calls fn before done is closed.
type batch[K comparable, V any] struct {
	keys    []K    // one per load: a key loaded again after Forget may be here twice
	want    []bool // per load: still waiting
	live    int    // loads still waiting
	readers int    // loads that will read the result (those that left after the batch was sent too)
	sent    bool   // fn has been called, or never will be
	timer   *time.Timer
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}

	// The result.
	vals     map[K]V
	err      error
	panicked bool
	pval     any
	goexit   bool
}

// load is the per-key fn the core calls: it puts k into the open batch and
// waits for the batch's answer. ctx is canceled by the core once every caller
// of k has given up; then the load leaves the batch. If fn has been called
// already, the load still waits for its answer, so that a value fetched for
// k is stored as the core stores any call that completes; otherwise k is left
// out of the batch and the load returns at once.
func (b *batcher[K, V]) load(ctx context.Context, k K) (V, error) {
	var zero V
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	bt, i := b.enqueue(ctx, k)
	select {
	case <-bt.done:
		return bt.result(k)
	case <-ctx.Done():
	}
	if b.leave(bt, i) {
		<-bt.done // canceled by leave if k was the last key wanted
		return bt.result(k)
	}
	return zero, ctx.Err()
}

// enqueue adds k to the open batch, opening one if there is none, and sends
// the batch if k fills it. It returns the batch and k's index in it.
func (b *batcher[K, V]) enqueue(ctx context.Context, k K) (*batch[K, V], int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bt := b.open
	if bt == nil {
		bt = b.start(ctx)
	}
	i := len(bt.keys)
	bt.keys = append(bt.keys, k)
	bt.want = append(bt.want, true)
	bt.live++
	bt.readers++
	if len(bt.keys) == b.maxKeys {
		b.open = nil
		if bt.timer != nil {
			bt.timer.Stop() // if it fired already, send finds the batch sent
		}
		go b.send(bt)
	}
	return bt, i
}

// start opens a batch whose fn context has ctx's values. The caller holds
// b.mu.
func (b *batcher[K, V]) start(ctx context.Context) *batch[K, V] {
	bt := &batch[K, V]{done: make(chan struct{})}
	bt.ctx, bt.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if b.maxKeys > 1 {
		bt.timer = time.AfterFunc(b.wait, func() { b.send(bt) })
		b.open = bt
	}
	return bt
}

// leave takes a load that gave up out of bt, canceling bt's context (or
// dropping bt, if not sent yet) when it was the last load waiting. It
// reports whether fn has been called with the load's key already.
func (b *batcher[K, V]) leave(bt *batch[K, V], i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	sent := bt.sent
	bt.want[i] = false
	bt.live--
	if !sent {
		bt.readers--
	}
	if bt.live > 0 {
		return sent
	}
	if !sent { // nobody wants any key of it: never send it
		bt.sent = true
		if b.open == bt {
			b.open = nil
		}
		if bt.timer != nil {
			bt.timer.Stop()
		}
	}
	bt.cancel()
	return sent
}

// take marks bt sent and returns the distinct keys still wanted, or false if
// bt was sent (or dropped) already. Duplicates are removed here, once per
// batch on the goroutine that calls fn, rather than by every load.
func (b *batcher[K, V]) take(bt *batch[K, V]) ([]K, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bt.sent {
		return nil, false
	}
	bt.sent = true
	if b.open == bt {
		b.open = nil
	}
	keys := make([]K, 0, bt.live)
	seen := make(map[K]struct{}, bt.live)
	for i, k := range bt.keys {
		if _, dup := seen[k]; bt.want[i] && !dup {
			seen[k] = struct{}{}
			keys = append(keys, k)
		}
	}
	b.calls++
	return keys, true
}

// send calls fn with bt's keys and publishes the answer. It tells a panic
// from runtime.Goexit as the core's run does.
func (b *batcher[K, V]) send(bt *batch[K, V]) {
	keys, ok := b.take(bt)
	if !ok {
		return
	}
	start := time.Now()
	returned, recovered := false, false
	defer func() {
		if !returned && !recovered {
			bt.goexit = true
		}
		if !b.finish(bt, time.Since(start)) && bt.panicked {
			// No load is left to hand the panic to: crash, as the core does,
			// rather than hide a bug.
			panic(bt.pval)
		}
	}()
	func() {
		defer func() {
			if !returned {
				if r := recover(); r != nil {
					bt.panicked, bt.pval, recovered = true, r, true
				}
			}
		}()
		bt.vals, bt.err = b.fn(bt.ctx, keys)
		returned = true
	}()
}

// finish counts bt's call of fn and wakes its loads. It reports whether any
// load will read the result.
func (b *batcher[K, V]) finish(bt *batch[K, V], d time.Duration) bool {
	b.mu.Lock()
	b.time += d
	if bt.panicked || bt.goexit || bt.err != nil {
		b.errors++
	}
	waiting := bt.readers > 0
	b.mu.Unlock()
	close(bt.done)
	bt.cancel()
	return waiting
}

// result is bt's answer for k, to one of k's loads, once bt.done is closed.
func (bt *batch[K, V]) result(k K) (V, error) {
	var zero V
	switch {
	case bt.panicked:
		panic(bt.pval)
	case bt.goexit:
		return zero, ErrGoexit
	case bt.err != nil:
		return zero, bt.err
	}
	v, ok := bt.vals[k]
	if !ok {
		return zero, ErrNotFound
	}
	return v, nil
}
