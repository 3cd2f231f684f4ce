package memo

import "context"

// WithRefresh: reload an entry in the background once it is older than the
// refresh age, so that a key in steady use never makes a caller wait for fn.
//
// The obvious design keeps each entry's load time and compares it with the
// clock on every hit: 8 more bytes in every entry of every memo, and a second
// comparison on the hit path. Neither is needed. With one TTL for all
// entries, an entry's age is exp - ttl, so an entry is due for refresh at
// now >= exp - (ttl - refresh): a hit that reads the store with its clock
// moved lead = ttl - refresh ahead sees exactly the due entries as expired,
// and every other hit costs what it costs with WithTTL alone (one addition).
// Without WithTTL, entries get the deadline never (about 146 years), which
// gives them an age too.
//
// A hit that the look-ahead turned into a miss looks again with the real
// clock (serveDue): if the entry is live it is served, counted as a hit, and
// the first such hit to set the entry's reload bit (in an atomic word in
// the padding of entry, so it costs no memory) starts the reload; the others
// see the flag and return. The hits on a key while its reload runs are the
// only ones that read the store twice; none takes the lock or allocates. The
// goroutine and the context of the reload are allocated by the one hit that
// starts it.
//
// The reload is an ordinary call in flight (flight.go) that nobody waits for:
// a Get that misses the key (its entry expired meanwhile) joins it, Forget,
// Set and Clear make it stale like any call, and finish stores its value with
// a fresh deadline. Its context is the triggering Get's without cancellation
// (context.WithoutCancel): a Get that joins and then gives up does not cancel
// it either. A failed reload stores nothing and leaves the flag set, so the
// old value is served, and the upstream not called again, until it expires.

// indexed is implemented by the stores whose entries WithRefresh can mark.
type indexed[S comparable, V any] interface {
	index() *index[S, V]
}

func (s *mapStore[S, V]) index() *index[S, V]     { return &s.idx }
func (s *lruStore[S, V]) index() *index[S, V]     { return &s.idx }
func (s *tinyLFUStore[S, V]) index() *index[S, V] { return &s.idx }

// linkRefresh gives the memo the index of its store, where WithRefresh marks
// the entries it reloads. Constructors call it once the store is made.
func (c *core[K, S, V]) linkRefresh() {
	if c.lead == 0 {
		return
	}
	x, ok := c.st.(indexed[S, V])
	if !ok {
		panic("memo: WithRefresh is not supported by this memo's store")
	}
	c.rfIdx = x.index()
}

// serveDue answers a Get whose look-ahead load missed: if s has a live entry,
// it returns its value as a hit and, if the entry is due, starts its reload.
// It reports false if s has no live entry (or the memo has no WithRefresh).
func (c *core[K, S, V]) serveDue(ctx context.Context, k K, s S, now int64) (V, bool) {
	v, e, ok := c.due(s, now) // counts the hit
	if !ok {
		return v, false
	}
	if e != nil {
		c.refresh(ctx, k, s, e)
	}
	return v, true
}

// due looks s up with the real clock. It returns the live value and, when
// this caller is the first to see the entry due, the entry to reload.
func (c *core[K, S, V]) due(s S, now int64) (v V, e *entry[S, V], ok bool) {
	if c.lead == 0 {
		return v, nil, false
	}
	if v, ok = c.st.load(s, now); !ok { // also records the LRU's use and counts the hit
		return v, nil, false
	}
	e = c.rfIdx.get(s)
	if e == nil || c.rfIdx.expired(e, now) || !c.rfIdx.expired(e, now+c.lead) ||
		!e.startReload() {
		return v, nil, true
	}
	return v, e, true
}

// refresh starts the reload of s, whose entry e this caller found due.
func (c *core[K, S, V]) refresh(ctx context.Context, k K, s S, e *entry[S, V]) {
	if ctx.Err() != nil {
		e.cancelReload() // a Get that already gave up calls no fn; the next may
		return
	}
	c.mu.Lock()
	if c.calls[s] != nil || c.rfIdx.get(s) != e {
		c.mu.Unlock() // a load of s is in flight already, or e was replaced
		return
	}
	cl := &call[K, V]{key: k, refresh: true, done: make(chan struct{})}
	c.calls[s] = cl
	c.ctr.loads++
	c.ctr.refreshes++
	c.mu.Unlock()
	go c.run(context.WithoutCancel(ctx), cl, s, false)
}
