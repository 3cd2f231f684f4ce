package memo

import (
	"math/bits"
	"sync/atomic"
)

// index is the hash table under every store: lookups take no lock and make no
// allocation, while writes are serialized by the memo's mutex, which every
// write already holds. One writer at a time is what makes it small.
//
// # The problem
//
// A table of pointers to entries must compare keys, and a key lives in its
// entry: every occupied slot a probe passes costs a load of another cache
// line. With plain linear probing over pointers, a lookup that misses, and a
// put, which must prove its key absent before inserting, pass several such
// slots; on a full LRU under churn (a put and an eviction per miss) those
// dereferences were a third of the put's time and half the index's share of
// the mixed workload's profile.
//
// # The design
//
// Slots come in groups of seven, and each group is one 64-byte line: a
// control word, then the seven pointers. Byte j of the control word says
// what slot j holds: 0 for empty, 1 for deleted, or 0x80 with the top seven
// bits of the key's hash for an entry (the idea of Swiss tables, with a
// group the size of a cache line and no SIMD). A probe loads the control
// word, finds the slots whose tag matches in a few word operations, and
// dereferences only those: one entry in 128 that does not hold the key
// passes the tag. A group with an empty slot ends the probe, since an insert
// fills the first free slot of its probe sequence. Groups are probed in
// triangular order (the i-th next group is i further), which visits every
// group of a table of 2^n groups.
//
// Readers load the current table, then each group's control word, then the
// matching slots, all with atomic loads. The writer publishes an entry by
// storing its pointer before the control byte that names it, so a reader
// that sees the tag sees the pointer; it deletes by storing the control byte
// first and clearing the pointer after, so a reader that saw the old tag
// loads either the entry (which was current when the reader's probe began)
// or nil, which it skips. A slot reused by another key fails the key
// comparison. The writer never moves an entry within a table. A deleted
// slot becomes empty at once when its group has an empty slot anyway (no
// probe goes past that group), so deleted markers pile up only in full
// groups. Before entries and deleted markers would fill more than 7/8 of the
// slots, the writer builds a new table from the live entries, at most 7/16
// full, and publishes it with one atomic store: every table a reader can see
// has an empty slot, so every probe ends. A reader still probing the old table sees a
// state that was current when it loaded the table, so every lookup observes
// some moment within its own duration (it is linearizable); a lookup that
// misses a key inserted meanwhile goes to the miss path, which looks again
// under the mutex.
//
// A key that is not equal to itself (a NaN float) could never be found again;
// put refuses it rather than filling the table with unreachable entries.
//
// # The price
//
// A slot costs 64/7 bytes instead of 8, and a hit a few word operations on
// the control word before it loads its slot, in the same line; a probe
// rarely dereferences an entry that does not hold its key.
type index[S comparable, P any] struct {
	tab  atomic.Pointer[table[S, P]]
	kh   keyHash[S]
	_    [cacheLine]byte // keeps the writer's counters off the readers' line
	live int             // entries; guarded by the writer's mutex
	used int             // entries plus deleted markers
}

type table[S comparable, P any] struct {
	groups []group[S, P]
	mask   uint64 // len(groups)-1, a power of two minus one
}

// group is seven slots and their control bytes, in one 64-byte line.
type group[S comparable, P any] struct {
	ctrl  atomic.Uint64 // byte j (j < 7) describes slots[j]; byte 7 is always 0 and never read
	slots [groupSlots]atomic.Pointer[entry[S, P]]
}

const (
	groupSlots = 7
	ctrlEmpty  = 0x00
	ctrlDel    = 0x01
	ctrlFull   = 0x80 // | the top 7 bits of the key's hash

	ctrlLows  = 0x0001010101010101 // the low bit of each of the 7 control bytes
	ctrlHighs = 0x0080808080808080 // the top bit of each
	ctrlSevns = 0x007f7f7f7f7f7f7f // the low 7 bits of each
)

// tag returns the control byte of an entry whose key hashes to h.
func tag(h uint64) uint64 { return ctrlFull | h>>57 }

// matches returns the top bit of every control byte of c that may equal tg
// (an entry's tag). A byte just above a matching one may be reported falsely;
// one that matches is never missed.
func matches(c, tg uint64) uint64 {
	x := c ^ (ctrlLows * tg)
	return (x - ctrlLows) &^ x & ctrlHighs
}

// empties returns the top bit of every control byte of c that is empty,
// exactly.
func empties(c uint64) uint64 {
	return ^((c&ctrlSevns + ctrlSevns) | c) & ctrlHighs
}

// frees returns the top bit of every slot of c that holds no entry.
func frees(c uint64) uint64 { return ^c & ctrlHighs }

// slotOf returns the slot number of the lowest bit set in m, a mask of top
// bits of control bytes.
func slotOf(m uint64) int { return bits.TrailingZeros64(m) >> 3 }

// withByte returns c with control byte j set to b.
func withByte(c uint64, j int, b uint64) uint64 {
	sh := uint(j) * 8
	return c&^(0xff<<sh) | b<<sh
}

func (x *index[S, P]) init() {
	x.kh.init()
	x.tab.Store(newTable[S, P](1))
	x.live, x.used = 0, 0
}

func newTable[S comparable, P any](groups int) *table[S, P] {
	return &table[S, P]{groups: make([]group[S, P], groups), mask: uint64(groups - 1)}
}

func (x *index[S, P]) hash(k S) uint64 { return x.kh.sum(k) }

// get returns k's entry, or nil. It is the hit path: no lock, no allocation.
func (x *index[S, P]) get(k S) *entry[S, P] { return x.find(k, x.hash(k)) }

// find returns the entry of k, whose hash is h, or nil.
func (x *index[S, P]) find(k S, h uint64) *entry[S, P] {
	t := x.tab.Load()
	tg := tag(h)
	for g, step := h&t.mask, uint64(1); ; g, step = (g+step)&t.mask, step+1 {
		grp := &t.groups[g]
		c := grp.ctrl.Load()
		for m := matches(c, tg); m != 0; m &= m - 1 {
			if e := grp.slots[slotOf(m)].Load(); e != nil && e.key == k {
				return e
			}
		}
		if empties(c) != 0 {
			return nil
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
	if e := x.find(k, h); e != nil && !e.expired(now) {
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
	h := x.hash(e.key)
	t := x.tab.Load()
	tg := tag(h)
	var free *group[S, P] // the first group on the probe path with a free slot
	for g, step := h&t.mask, uint64(1); ; g, step = (g+step)&t.mask, step+1 {
		grp := &t.groups[g]
		c := grp.ctrl.Load()
		for m := matches(c, tg); m != 0; m &= m - 1 {
			slot := &grp.slots[slotOf(m)]
			if s := slot.Load(); s != nil && s.key == e.key {
				slot.Store(e)
				return s, true
			}
		}
		if free == nil && frees(c) != 0 {
			free = grp
		}
		if empties(c) != 0 {
			break
		}
	}
	c := free.ctrl.Load()
	j := slotOf(frees(c))
	if c>>(j*8)&0xff == ctrlEmpty {
		if (x.used+1)*8 > len(t.groups)*groupSlots*7 {
			// Growing first keeps an empty slot in every table a reader
			// can see: a reader probing a table with none, published even
			// for a moment, would probe it forever once it is replaced.
			x.rehash()
			return x.put(e)
		}
		x.used++
	}
	free.slots[j].Store(e) // the pointer first: a reader that sees the tag sees it
	free.ctrl.Store(withByte(c, j, tg))
	x.live++
	return nil, true
}

// del unlinks k's entry and returns it, or nil. Writer only.
func (x *index[S, P]) del(k S) *entry[S, P] {
	h := x.hash(k)
	t := x.tab.Load()
	tg := tag(h)
	for g, step := h&t.mask, uint64(1); ; g, step = (g+step)&t.mask, step+1 {
		grp := &t.groups[g]
		c := grp.ctrl.Load()
		for m := matches(c, tg); m != 0; m &= m - 1 {
			j := slotOf(m)
			if s := grp.slots[j].Load(); s != nil && s.key == k {
				x.unlink(grp, j)
				return s
			}
		}
		if empties(c) != 0 {
			return nil
		}
	}
}

// delEntry unlinks e if it is still the entry for its key. Writer only.
func (x *index[S, P]) delEntry(e *entry[S, P]) bool {
	h := x.hash(e.key)
	t := x.tab.Load()
	tg := tag(h)
	for g, step := h&t.mask, uint64(1); ; g, step = (g+step)&t.mask, step+1 {
		grp := &t.groups[g]
		c := grp.ctrl.Load()
		for m := matches(c, tg); m != 0; m &= m - 1 {
			j := slotOf(m)
			if grp.slots[j].Load() == e {
				x.unlink(grp, j)
				return true
			}
		}
		if empties(c) != 0 {
			return false
		}
	}
}

// unlink empties slot j of grp: a deleted marker, unless the group has an
// empty slot already, which ends every probe that reaches it anyway.
func (x *index[S, P]) unlink(grp *group[S, P], j int) {
	c := grp.ctrl.Load()
	b := uint64(ctrlDel)
	if empties(c) != 0 {
		b = ctrlEmpty
		x.used--
	}
	grp.ctrl.Store(withByte(c, j, b)) // the tag first: see the top of this file
	grp.slots[j].Store(nil)
	x.live--
	x.shrink()
}

// shrink rehashes into a smaller table once fewer than 1/16 of the slots are
// live: after a rehash at least 7/32 are, so shrinking is amortized O(1).
func (x *index[S, P]) shrink() {
	if n := len(x.tab.Load().groups); n > 1 && x.live*16 < n*groupSlots {
		x.rehash()
	}
}

// rehash moves the live entries to a new table at most 7/16 full, dropping
// the deleted markers; it shrinks the table when most entries were deleted.
func (x *index[S, P]) rehash() {
	n := 1
	for n*groupSlots*7 < x.live*16 {
		n *= 2
	}
	old := x.tab.Load()
	t := newTable[S, P](n)
	for i := range old.groups {
		og := &old.groups[i]
		for m := old.groups[i].ctrl.Load() & ctrlHighs; m != 0; m &= m - 1 {
			e := og.slots[slotOf(m)].Load()
			h := x.hash(e.key)
			for g, step := h&t.mask, uint64(1); ; g, step = (g+step)&t.mask, step+1 {
				grp := &t.groups[g]
				c := grp.ctrl.Load()
				if f := empties(c); f != 0 {
					j := slotOf(f)
					grp.slots[j].Store(e)
					grp.ctrl.Store(withByte(c, j, tag(h)))
					break
				}
			}
		}
	}
	x.used = x.live
	x.tab.Store(t)
}

// clear drops every entry. Writer only.
func (x *index[S, P]) clear() {
	x.tab.Store(newTable[S, P](1))
	x.live, x.used = 0, 0
}

// each calls f for every live entry. Writer only.
func (x *index[S, P]) each(f func(*entry[S, P])) {
	t := x.tab.Load()
	for i := range t.groups {
		grp := &t.groups[i]
		for m := grp.ctrl.Load() & ctrlHighs; m != 0; m &= m - 1 {
			f(grp.slots[slotOf(m)].Load())
		}
	}
}

// len counts the live entries. Writer only.
func (x *index[S, P]) len() int { return x.live }
