package benchmarks

import (
	"container/heap"
	"container/list"
	"context"
	"math"
	"sync/atomic"
)

// HitRatio replays trace through a cache of peer p with the given capacity,
// one Get at a time, and returns the share of Gets that did not load.
func HitRatio(p Peer, capacity int, trace []int) float64 {
	var loads atomic.Int64
	c := p.New(capacity, func(_ context.Context, k int) (int, error) {
		loads.Add(1)
		return k, nil
	})
	defer c.Close()
	w, _ := c.(interface{ Wait() })
	ctx := context.Background()
	for _, k := range trace {
		if _, err := c.Get(ctx, k); err != nil {
			panic(err)
		}
		if w != nil {
			w.Wait() // ristretto applies its writes asynchronously
		}
	}
	return float64(int64(len(trace))-loads.Load()) / float64(len(trace))
}

// ReferenceLRU replays trace through an obviously correct LRU (a map and a
// list) and returns its hit ratio: memo's must be exactly the same.
func ReferenceLRU(capacity int, trace []int) float64 {
	order := list.New()
	pos := map[int]*list.Element{}
	hits := 0
	for _, k := range trace {
		if el, ok := pos[k]; ok {
			hits++
			order.MoveToFront(el)
			continue
		}
		pos[k] = order.PushFront(k)
		if order.Len() > capacity {
			last := order.Back()
			order.Remove(last)
			delete(pos, last.Value.(int))
		}
	}
	return float64(hits) / float64(len(trace))
}

// TracePeers are the bounded caches replayed on the recorded traces, memo's
// two policies first.
var TracePeers = []string{"memo-tinylfu", "memo", "otter", "theine", "ristretto", "golang-lru-arc"}

// FileHitRatios replays tr through peer p at each of tr's sizes and returns
// the hit ratios, in the order of tr.Sizes.
func FileHitRatios(p Peer, tr FileTrace) []float64 {
	out := make([]float64, len(tr.Sizes))
	for i, n := range tr.Sizes {
		out[i] = HitRatio(p, n, tr.Keys)
	}
	return out
}

// OptimalHitRatio returns the hit ratio of Belady's optimal policy on trace
// with the given capacity: on a miss with a full cache it evicts the key
// whose next request is furthest away. No cache that holds at most capacity
// entries can do better; a peer that does holds more.
func OptimalHitRatio(capacity int, trace []int) float64 {
	next := make([]int, len(trace))
	last := map[int]int{}
	for i := len(trace) - 1; i >= 0; i-- {
		if j, ok := last[trace[i]]; ok {
			next[i] = j
		} else {
			next[i] = math.MaxInt
		}
		last[trace[i]] = i
	}
	held := map[int]int{} // key -> position of its next request
	h := &useHeap{}
	hits := 0
	for i, k := range trace {
		if _, ok := held[k]; ok {
			hits++
		} else if len(held) >= capacity {
			for {
				top := heap.Pop(h).(use)
				if n, ok := held[top.key]; ok && n == top.next {
					delete(held, top.key)
					break
				}
			}
		}
		held[k] = next[i]
		heap.Push(h, use{next[i], k})
	}
	return float64(hits) / float64(len(trace))
}

type use struct{ next, key int }

// useHeap is a max-heap of keys by the position of their next request; an
// entry whose key has been requested since is stale and skipped.
type useHeap []use

func (h useHeap) Len() int           { return len(h) }
func (h useHeap) Less(i, j int) bool { return h[i].next > h[j].next }
func (h useHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *useHeap) Push(x any)        { *h = append(*h, x.(use)) }
func (h *useHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
