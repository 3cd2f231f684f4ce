package memo

import "sync/atomic"

// index is the hash table under every store: lookups take no lock and make no
// allocation, while writes are serialized by the memo's mutex, which every
// write already holds. One writer at a time is what makes it small: an
// open-addressing table of atomic pointers to immutable-keyed entries, with
// linear probing and tombstones.
//
// Readers load the current table, then probe slots with atomic loads; an
// entry's fields are written before the entry is published by an atomic
// store, so a reader that sees the pointer sees them too. The writer never
// moves an entry within a table: it inserts into a free slot, replaces a slot
// in place, or turns it into a tombstone. When live entries and tombstones
// fill 3/4 of the slots it builds a new table from the live entries and
// publishes it with one atomic store. A reader still probing the old table
// sees a state that was current when it loaded the table, so every lookup
// observes some moment within its own duration (it is linearizable); a lookup
// that misses a key inserted meanwhile goes to the miss path, which looks
// again under the mutex.
//
// A key that is not equal to itself (a NaN float) could never be found again;
// put refuses it rather than filling the table with unreachable entries.
type index[S comparable, P any] struct {
	tab   atomic.Pointer[table[S, P]]
	kh    keyHash[S]
	timed bool            // entries carry deadlines (timedEntry); set by init
	_     [cacheLine]byte // keeps the writer's counters off the readers' line
	live  int             // entries, excluding tombstones; guarded by the writer's mutex
	used  int             // live entries plus tombstones
}

type table[S comparable, P any] struct {
	slots []atomic.Pointer[entry[S, P]]
	mask  uint64
	tomb  *entry[S, P] // marks a deleted slot; probes continue past it
}

const minSlots = 8

// init empties the index; timed says whether its entries carry deadlines
// (the memo may set some), which newEntry and expired follow.
func (x *index[S, P]) init(timed bool) {
	x.timed = timed
	x.kh.init()
	x.tab.Store(newTable[S, P](minSlots))
	x.live, x.used = 0, 0
}

func newTable[S comparable, P any](n int) *table[S, P] {
	return &table[S, P]{
		slots: make([]atomic.Pointer[entry[S, P]], n),
		mask:  uint64(n - 1),
		tomb:  new(entry[S, P]),
	}
}

func (x *index[S, P]) hash(k S) uint64 { return x.kh.sum(k) }

// newEntry returns an entry of k and v, unpublished, with the deadline exp
// (0: never) if the index's entries are timed. An untimed index has no room
// for a deadline; a memo that may set one makes its store's index timed, so
// exp is then 0.
func (x *index[S, P]) newEntry(k S, v P, exp int64) *entry[S, P] {
	if x.timed {
		t := &timedEntry[S, P]{entry: entry[S, P]{key: k, val: v}, exp: exp}
		return &t.entry
	}
	if exp != 0 {
		panic("memo: internal error: a deadline for a store made without deadlines")
	}
	return &entry[S, P]{key: k, val: v}
}

// expired reports whether e, an entry of this index, has a deadline at or
// before now.
func (x *index[S, P]) expired(e *entry[S, P], now int64) bool {
	if !x.timed {
		return false
	}
	exp := e.deadline()
	return exp != 0 && now >= exp
}

// get returns k's entry, or nil. It is the hit path: no lock, no allocation.
func (x *index[S, P]) get(k S) *entry[S, P] { return x.find(k, x.hash(k)) }

// find returns the entry of k, whose hash is h, or nil.
func (x *index[S, P]) find(k S, h uint64) *entry[S, P] {
	t := x.tab.Load()
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := t.slots[i].Load()
		if e == nil {
			return nil
		}
		if e != t.tomb && e.key == k {
			return e
		}
	}
}

// getLive returns k's entry if it has not expired at now, or nil.
func (x *index[S, P]) getLive(k S, now int64) *entry[S, P] {
	e, _ := x.getLiveHash(k, now)
	return e
}

// getLiveHash is getLive that also returns k's hash, for a store whose
// policy hashes the key again (TinyLFU's sketch).
func (x *index[S, P]) getLiveHash(k S, now int64) (*entry[S, P], uint64) {
	h := x.hash(k)
	if e := x.find(k, h); e != nil && !x.expired(e, now) {
		return e, h
	}
	return nil, h
}

// put links e, whose key is set, replacing the entry for the same key, which
// it returns. It reports false, storing nothing, for a key not equal to
// itself. Writer only.
func (x *index[S, P]) put(e *entry[S, P]) (old *entry[S, P], ok bool) {
	if e.key != e.key {
		return nil, false
	}
	t := x.tab.Load()
	free := -1 // first tombstone on the probe path, reusable if the key is absent
	for i := x.hash(e.key) & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i].Load()
		if s == nil {
			if free < 0 {
				free = int(i)
				x.used++
			}
			break
		}
		if s == t.tomb {
			if free < 0 {
				free = int(i)
			}
			continue
		}
		if s.key == e.key {
			t.slots[i].Store(e)
			return s, true
		}
	}
	t.slots[free].Store(e)
	x.live++
	if x.used*4 > len(t.slots)*3 {
		x.rehash()
	}
	return nil, true
}

// del unlinks k's entry and returns it, or nil. Writer only.
func (x *index[S, P]) del(k S) *entry[S, P] {
	h := x.hash(k)
	t := x.tab.Load()
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i].Load()
		if s == nil {
			return nil
		}
		if s != t.tomb && s.key == k {
			t.slots[i].Store(t.tomb)
			x.live--
			x.shrink()
			return s
		}
	}
}

// delEntry unlinks e if it is still the entry for its key. Writer only.
func (x *index[S, P]) delEntry(e *entry[S, P]) bool {
	t := x.tab.Load()
	for i := x.hash(e.key) & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i].Load()
		switch {
		case s == nil:
			return false
		case s == e:
			t.slots[i].Store(t.tomb)
			x.live--
			x.shrink()
			return true
		}
	}
}

// shrink rehashes into a smaller table once fewer than 1/16 of the slots are
// live: after a rehash at least 3/16 are, so shrinking is amortized O(1).
func (x *index[S, P]) shrink() {
	if n := len(x.tab.Load().slots); n > minSlots && x.live*16 < n {
		x.rehash()
	}
}

// rehash moves the live entries to a new table with room to grow, dropping
// the tombstones; it shrinks the table when most entries were deleted.
func (x *index[S, P]) rehash() {
	n := minSlots
	for n*3 < x.live*8 { // load factor at most 3/8 after a rehash
		n *= 2
	}
	old := x.tab.Load()
	t := newTable[S, P](n)
	for i := range old.slots {
		e := old.slots[i].Load()
		if e == nil || e == old.tomb {
			continue
		}
		j := x.hash(e.key) & t.mask
		for t.slots[j].Load() != nil {
			j = (j + 1) & t.mask
		}
		t.slots[j].Store(e)
	}
	x.used = x.live
	x.tab.Store(t)
}

// clear drops every entry. Writer only.
func (x *index[S, P]) clear() {
	x.tab.Store(newTable[S, P](minSlots))
	x.live, x.used = 0, 0
}

// each calls f for every live entry. Writer only.
func (x *index[S, P]) each(f func(*entry[S, P])) {
	t := x.tab.Load()
	for i := range t.slots {
		if e := t.slots[i].Load(); e != nil && e != t.tomb {
			f(e)
		}
	}
}

// len counts the live entries. Writer only.
func (x *index[S, P]) len() int { return x.live }
