package memo

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The index must agree with a Go map through any sequence of puts, deletes
// and clears, across rehashes that grow and shrink it.
func TestIndexAgreesWithAMap(t *testing.T) {
	var x index[int, int]
	x.init(false)
	ref := map[int]int{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		k := r.IntN(3000)
		switch op := r.IntN(10); {
		case op < 5:
			old, ok := x.put(&entry[int, int]{key: k, val: i})
			require.True(t, ok)
			_, had := ref[k]
			require.Equal(t, had, old != nil, "put(%d) replaced", k)
			ref[k] = i
		case op < 9:
			old := x.del(k)
			_, had := ref[k]
			require.Equal(t, had, old != nil, "del(%d)", k)
			delete(ref, k)
		case i%5000 == 0:
			x.clear()
			clear(ref)
		}
		if i%997 == 0 {
			require.Equal(t, len(ref), x.len())
			for k := range 3000 {
				e := x.get(k)
				v, ok := ref[k]
				require.Equal(t, ok, e != nil, "get(%d)", k)
				if ok {
					require.Equal(t, v, e.val)
				}
			}
		}
	}
}

func TestIndexShrinksAfterDeletes(t *testing.T) {
	var x index[int, int]
	x.init(false)
	for k := range 100_000 {
		x.put(&entry[int, int]{key: k})
	}
	for k := range 100_000 {
		x.del(k)
	}
	x.put(&entry[int, int]{key: 1}) // tombstones count as used: a put rehashes
	for k := range 100 {
		x.put(&entry[int, int]{key: k})
		x.del(k)
	}
	assert.LessOrEqual(t, len(x.tab.Load().slots), 1024)
}

func TestIndexDelEntryKeepsANewerEntry(t *testing.T) {
	var x index[string, int]
	x.init(false)
	a := &entry[string, int]{key: "k", val: 1}
	b := &entry[string, int]{key: "k", val: 2}
	x.put(a)
	x.put(b)
	assert.False(t, x.delEntry(a))
	assert.Equal(t, b, x.get("k"))
	assert.True(t, x.delEntry(b))
	assert.Nil(t, x.get("k"))
}

func TestIndexRefusesKeysNotEqualToThemselves(t *testing.T) {
	var x index[float64, int]
	x.init(false)
	_, ok := x.put(&entry[float64, int]{key: math.NaN()})
	assert.False(t, ok)
	assert.Equal(t, 0, x.len())
	_, ok = x.put(&entry[float64, int]{key: math.Inf(1)})
	assert.True(t, ok)
}

// Readers run while one writer inserts, replaces and deletes (the memo's
// mutex is what makes it one). Under -race this checks the publication; the
// assertions check that a reader never sees another key's entry and that a
// key the writer never deletes is never missed.
func TestIndexReadersDuringWrites(t *testing.T) {
	var x index[int, int]
	x.init(false)
	const stable = 100
	for k := range stable {
		x.put(&entry[int, int]{key: k, val: k})
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(rand.Uint64(), 0))
			for !stop.Load() {
				k := r.IntN(5000)
				e := x.get(k)
				if k < stable && !assert.NotNil(t, e, "stable key %d missed", k) {
					return
				}
				if e != nil && !assert.Equal(t, k, e.key) {
					return
				}
				if e != nil && k < stable && !assert.Equal(t, k, e.val) {
					return
				}
			}
		}()
	}
	for i := range 100_000 {
		k := stable + i%4900
		if i%3 == 0 {
			x.del(k)
		} else {
			x.put(&entry[int, int]{key: k, val: i})
		}
	}
	stop.Store(true)
	wg.Wait()
}

// Under steady churn (a put and a delete per step at a fixed number of
// entries, as an LRU evicting for every new key), tombstones must not grow
// the table: each rehash they cause builds a table the size its live entries
// call for (at most 3/8 full: 32 768 slots for 10 000 entries), and every
// entry stays reachable.
func TestIndexChurnKeepsItsSize(t *testing.T) {
	var x index[int, int]
	x.init(false)
	const live = 10_000
	for k := range live {
		x.put(&entry[int, int]{key: k})
	}
	k := live
	churn := func(n int) {
		for ; n > 0; n-- {
			x.put(&entry[int, int]{key: k})
			require.NotNil(t, x.del(k-live))
			k++
		}
	}
	for range 50 {
		churn(live)
		assert.LessOrEqual(t, len(x.tab.Load().slots), 32_768)
	}
	assert.Equal(t, live, x.len())
	for i := k - live; i < k; i++ {
		require.NotNil(t, x.get(i))
	}
}

// Every table a reader can see keeps an empty slot, or a probe for a missing
// key would never end. Small tables fill and grow most often: readers look up
// missing keys while the writer empties and refills the index, again and
// again, through its first rehashes.
func TestIndexProbesEndWhileTablesGrow(t *testing.T) {
	var x index[int, int]
	x.init(false)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if e := x.get(-1 - i%64); e != nil {
					assert.Fail(t, "found a key never put", "%d", e.key)
					return
				}
			}
		})
	}
	for range 20_000 {
		x.clear()
		for k := range 40 {
			x.put(&entry[int, int]{key: k})
		}
	}
	stop.Store(true)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a watchdog, not a wait: the readers stop at once unless one probes forever
		t.Fatal("a reader is still probing a table with no empty slot")
	}
}
