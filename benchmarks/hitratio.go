package benchmarks

import (
	"container/list"
	"context"
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
