package benchmarks

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/go-memo/memo"
)

// Workload: many keys at once. 1 000 goroutines each ask for one of 10 000
// cold keys (a fresh cache per op, so every distinct key misses once)
// against a database whose every call costs one round trip (a 1 ms timer),
// whatever the number of keys it is given. Each op reports the calls of fn it
// took (calls/op) and its wall time (ns/op).
//
//   - memo: Memoize of a one-key fn: collapsed misses, one call per distinct key.
//   - memo-batch: MemoizeBatch of a many-key fn, with its defaults (100 keys, 1 ms).
//   - dataloadgen: vikstrous/dataloadgen's mapped loader with the same
//     grouping (WithBatchCapacity(100), WithWait(1 ms)).
//
// With pool=10 each call of fn also holds one of 10 connections, as a
// database/sql pool would, so that calls beyond 10 wait for a connection.
const (
	batchGoroutines = 1000
	batchKeySpace   = 10_000
	batchRoundTrip  = time.Millisecond
)

// roundTripDB answers any number of keys in one round trip and counts its
// calls.
type roundTripDB struct {
	calls atomic.Int64
	pool  chan struct{} // nil: unlimited connections
}

func (d *roundTripDB) trip() {
	d.calls.Add(1)
	if d.pool != nil {
		d.pool <- struct{}{}
		defer func() { <-d.pool }()
	}
	time.Sleep(batchRoundTrip)
}

func (d *roundTripDB) one(_ context.Context, k int) (int, error) {
	d.trip()
	return k, nil
}

func (d *roundTripDB) many(_ context.Context, keys []int) (map[int]int, error) {
	d.trip()
	vals := make(map[int]int, len(keys))
	for _, k := range keys {
		vals[k] = k
	}
	return vals, nil
}

// batchLoaders builds, for one op, a fresh loader of each kind over db.
var batchLoaders = []struct {
	name string
	new  func(db *roundTripDB) func(context.Context, int) (int, error)
}{
	{"memo", func(db *roundTripDB) func(context.Context, int) (int, error) {
		return memo.Memoize(db.one).Get
	}},
	{"memo-batch", func(db *roundTripDB) func(context.Context, int) (int, error) {
		return memo.MemoizeBatch(db.many).Get
	}},
	{"dataloadgen", func(db *roundTripDB) func(context.Context, int) (int, error) {
		return dataloadgen.NewMappedLoader(db.many,
			dataloadgen.WithBatchCapacity(100), dataloadgen.WithWait(time.Millisecond)).Load
	}},
}

func BenchmarkManyKeys(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]int, batchGoroutines)
	for i := range keys {
		keys[i] = rng.IntN(batchKeySpace)
	}
	for _, pool := range []int{0, 10} {
		poolName := "unlimited"
		if pool > 0 {
			poolName = "10"
		}
		for _, l := range batchLoaders {
			b.Run("pool="+poolName+"/peer="+l.name, func(b *testing.B) {
				var calls int64
				for b.Loop() {
					db := &roundTripDB{}
					if pool > 0 {
						db.pool = make(chan struct{}, pool)
					}
					get := l.new(db)
					ctx := context.Background()
					var wg sync.WaitGroup
					for _, k := range keys {
						wg.Go(func() {
							if v, err := get(ctx, k); err != nil || v != k {
								b.Error("wrong value", v, err)
							}
						})
					}
					wg.Wait()
					calls += db.calls.Load()
				}
				b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
			})
		}
	}
}
