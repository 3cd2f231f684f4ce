package memo

import (
	"math"
	"time"
)

// Deadlines: when each entry expires, and how the unbounded store finds the
// expired ones.
//
// With WithTTL every entry lives equally long, so entries expire in the order
// they were stored, and the map store keeps them in a FIFO queue whose front
// is the next to expire (store.go). WithTTLFunc breaks that: a token valid for
// an hour may be stored before one valid for a minute, and a FIFO would keep
// the expired minute-token behind the live hour-token, so an unbounded memo
// would grow on expired data. A timer wheel would need a tick and a bucket
// size that suit every TTL a function may return; a binary min-heap on the
// deadline suits any of them, with the earliest deadline always at the top.
// The heap is a slice of entry pointers, and each entry's node field holds
// its position, so removing a replaced or forgotten entry is O(log n) with
// nothing allocated per entry: 8 bytes per entry, half the FIFO's node. The
// price is O(log n) per put instead of O(1), paid only with WithTTLFunc.
//
// The LRU, TinyLFU and weak stores need no structure for this: they check
// each entry's own deadline when they read it (index.getLive) and drop the
// expired entries they meet, and their size is bounded anyway.

// never is the lifetime of an entry that must not expire but whose age
// WithRefresh must still see: WithTTL's cap, about 146 years, far from
// overflowing when the refresh look-ahead is added to the memo's clock.
const never = int64(maxTTL)

// initExpiry sets up the memo's deadlines from cfg: the clock, the single TTL
// and the refresh look-ahead. ttlFn, when WithTTLFunc is used, is set by the
// constructor, which knows the memo's key and value types.
func (c *core[K, S, V]) initExpiry(cfg config) {
	c.ttl = cfg.ttl
	c.clock = cfg.ttl > 0 || cfg.ttlFunc != nil || cfg.refresh > 0 || cfg.errTTL > 0
	if cfg.refresh > 0 {
		life := int64(cfg.ttl)
		if life == 0 {
			life = never
		}
		c.lead = life - int64(cfg.refresh)
	}
}

// deadline returns the deadline of v stored for s at now, and false if v must
// not be stored (its WithTTLFunc TTL, d, is 0 or less). d is computed by the
// caller, outside the memo's lock.
func (c *core[K, S, V]) deadline(d time.Duration, now int64) (int64, bool) {
	switch {
	case c.ttlFn != nil:
		if d <= 0 {
			return 0, false
		}
		return addSat(now, int64(d)), true
	case c.ttl > 0:
		return addSat(now, int64(c.ttl)), true
	case c.lead > 0:
		return now + never, true
	}
	return 0, true
}

// ttlOf runs WithTTLFunc's function on v, or returns 0 without one.
func (c *core[K, S, V]) ttlOf(s S, v V) time.Duration {
	if c.ttlFn == nil {
		return 0
	}
	return c.ttlFn(s, v)
}

// store puts v for s with the deadline of d (see deadline), or drops s's
// entry if v must not be stored. The caller holds c.mu.
func (c *core[K, S, V]) store(s S, v V, d time.Duration, now int64) {
	if exp, ok := c.deadline(d, now); ok {
		c.st.put(s, v, now, exp)
		return
	}
	c.obs.relabel = Replaced // v took the old entry's place, though it is not kept
	c.st.del(s, now)
	c.obs.relabel = 0
}

// addSat returns a+b, saturated at the largest int64.
func addSat(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// deadlineHeap is a binary min-heap of entries ordered by deadline; each
// entry's node is its position in h plus one (0: not in the heap). Its
// entries are timed: only a map store with WithTTLFunc, whose index is timed,
// keeps one.
type deadlineHeap[S comparable, V any] struct {
	h []*entry[S, V]
}

func (q *deadlineHeap[S, V]) init() { q.h = nil }

// front returns the entry with the earliest deadline, or nil.
func (q *deadlineHeap[S, V]) front() *entry[S, V] {
	if len(q.h) == 0 {
		return nil
	}
	return q.h[0]
}

func (q *deadlineHeap[S, V]) push(e *entry[S, V]) {
	q.h = append(q.h, e)
	q.up(len(q.h) - 1)
}

// remove takes e out of the heap; if e is not in it, it does nothing.
func (q *deadlineHeap[S, V]) remove(e *entry[S, V]) {
	i := int(e.node) - 1
	if i < 0 || i >= len(q.h) || q.h[i] != e {
		return
	}
	last := len(q.h) - 1
	q.swap(i, last)
	q.h[last] = nil
	q.h = q.h[:last]
	e.node = 0
	if i < last {
		q.down(i)
		q.up(i)
	}
	if cap(q.h) > 64 && len(q.h) < cap(q.h)/4 { // let go of a heap that emptied
		q.h = append([]*entry[S, V](nil), q.h...)
	}
}

func (q *deadlineHeap[S, V]) swap(i, j int) {
	q.h[i], q.h[j] = q.h[j], q.h[i]
	q.h[i].node = uint32(i + 1)
	q.h[j].node = uint32(j + 1)
}

func (q *deadlineHeap[S, V]) up(i int) {
	if len(q.h) >= 1<<32-1 {
		panic("memo: more than 2^32-2 entries with a deadline")
	}
	q.h[i].node = uint32(i + 1)
	for i > 0 {
		p := (i - 1) / 2
		if q.h[p].deadline() <= q.h[i].deadline() {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *deadlineHeap[S, V]) down(i int) {
	n := len(q.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && q.h[r].deadline() < q.h[l].deadline() {
			m = r
		}
		if q.h[i].deadline() <= q.h[m].deadline() {
			return
		}
		q.swap(i, m)
		i = m
	}
}
