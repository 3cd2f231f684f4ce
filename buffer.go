package memo

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// A stand-in read buffer, to be replaced by the shared one of the
// lru-buffers branch, with the same contract: record is lossy and never
// blocks, drain and reset run under the memo's mutex and leave no entry
// reachable.
//
// Hits write records into stripes picked by the goroutine's stack address
// (stackHint), so cores write lines of their own. A stripe is a ring of
// pointers; a hit that finds its stripe full, or loses the race for a slot,
// drops its record. The hit that fills half a stripe tries the mutex
// (TryLock, never waiting) and drains.
type readBuffer[S comparable, V any] struct {
	stripes []readStripe[S, V]
	mask    uint32
	mu      *sync.Mutex
	apply   func(*entry[S, V])
}

const readStripeLen = 16

type readStripe[S comparable, V any] struct {
	head  atomic.Uint32 // next slot to drain; written by the drainer
	tail  atomic.Uint32 // next slot to fill
	drops atomic.Uint64
	slots [readStripeLen]atomic.Pointer[entry[S, V]]
	_     [cacheLine]byte
}

func newReadBuffer[S comparable, V any](mu *sync.Mutex, apply func(*entry[S, V])) *readBuffer[S, V] {
	n := 4
	for n < 4*runtime.GOMAXPROCS(0) && n < 64 {
		n *= 2
	}
	return &readBuffer[S, V]{stripes: make([]readStripe[S, V], n), mask: uint32(n - 1), mu: mu, apply: apply}
}

// record logs a hit on e, or drops it if e's stripe is full.
func (b *readBuffer[S, V]) record(e *entry[S, V]) {
	st := &b.stripes[stackHint()&b.mask]
	t := st.tail.Load()
	if t-st.head.Load() >= readStripeLen || !st.tail.CompareAndSwap(t, t+1) {
		st.drops.Add(1)
		return
	}
	st.slots[t%readStripeLen].Store(e)
	if (t+1)%(readStripeLen/2) == 0 && b.mu.TryLock() {
		b.drain()
		b.mu.Unlock()
	}
}

// drain applies every record written so far. The caller holds b.mu.
func (b *readBuffer[S, V]) drain() { b.each(b.apply) }

// reset discards every record. The caller holds b.mu.
func (b *readBuffer[S, V]) reset() { b.each(nil) }

func (b *readBuffer[S, V]) each(f func(*entry[S, V])) {
	for i := range b.stripes {
		st := &b.stripes[i]
		h, t := st.head.Load(), st.tail.Load()
		for ; h != t; h++ {
			e := st.slots[h%readStripeLen].Swap(nil)
			if e == nil {
				break // claimed but not written yet: next time
			}
			if f != nil {
				f(e)
			}
		}
		st.head.Store(h)
	}
}

// dropped counts the records dropped so far.
func (b *readBuffer[S, V]) dropped() uint64 {
	var n uint64
	for i := range b.stripes {
		n += b.stripes[i].drops.Load()
	}
	return n
}
