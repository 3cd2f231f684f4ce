package memo_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
)

// fakeDB is a batch fn that records the keys of each call and when it was
// made, answering k*10 for every key it does not lack.
type fakeDB struct {
	mu      sync.Mutex
	calls   [][]int
	at      []time.Time
	release chan struct{} // if set, each call waits for it (or for its ctx)
	lacks   map[int]bool  // keys missing from the answer
	err     error         // returned by every call
	panic   any           // if set, every call panics with it
}

func (db *fakeDB) load(ctx context.Context, keys []int) (map[int]int, error) {
	db.mu.Lock()
	db.calls = append(db.calls, slices.Sorted(slices.Values(keys)))
	db.at = append(db.at, time.Now())
	db.mu.Unlock()
	if db.release != nil {
		select {
		case <-db.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if db.panic != nil {
		panic(db.panic)
	}
	if db.err != nil {
		return nil, db.err
	}
	vals := make(map[int]int, len(keys))
	for _, k := range keys {
		if !db.lacks[k] {
			vals[k] = k * 10
		}
	}
	vals[-1] = -10 // a key nobody asked for is ignored
	return vals, nil
}

func (db *fakeDB) batches() [][]int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return slices.Clone(db.calls)
}

// getAll starts one Get per key, each on its own goroutine, and returns the
// channel their results arrive on.
func getAll(ctx context.Context, m *memo.Memo[int, int], keys ...int) chan result {
	out := make(chan result, len(keys))
	for _, k := range keys {
		go func() {
			v, err := m.Get(ctx, k)
			out <- result{k, v, err}
		}()
	}
	return out
}

type result struct {
	k, v int
	err  error
}

func TestBatchGroupsConcurrentMissesIntoOneCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		m := memo.MemoizeBatch(db.load)
		start := time.Now()
		res := getAll(context.Background(), m, 5, 3, 9, 1, 7)
		for range 5 {
			r := <-res
			require.NoError(t, r.err)
			assert.Equal(t, r.k*10, r.v)
		}
		assert.Equal(t, [][]int{{1, 3, 5, 7, 9}}, db.batches())
		assert.Equal(t, time.Millisecond, db.at[0].Sub(start), "sent when the default window closes")
		st := m.Stats()
		assert.Equal(t, uint64(1), st.Loads, "Loads counts calls of fn: %v", st)
		assert.Equal(t, uint64(5), st.Misses-st.Shared, "keys loaded")
		assert.Equal(t, 5, st.Len)
		v, err := m.Get(context.Background(), 9)
		require.NoError(t, err)
		assert.Equal(t, 90, v)
		assert.Len(t, db.batches(), 1, "a hit never reaches fn")
	})
}

// A batch is sent wait after the miss that opened it; misses within the
// window join it, later ones open the next batch.
func TestBatchWaitWindowGroupsMissesThatArriveWithinIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		const wait = 10 * time.Millisecond
		m := memo.MemoizeBatch(db.load, memo.WithBatch(100, wait))
		ctx := context.Background()
		start := time.Now()
		first := getAll(ctx, m, 1)
		time.Sleep(wait - time.Microsecond)
		second := getAll(ctx, m, 2)
		for _, r := range []result{<-first, <-second} {
			require.NoError(t, r.err)
		}
		third := getAll(ctx, m, 3)
		require.NoError(t, (<-third).err)
		assert.Equal(t, [][]int{{1, 2}, {3}}, db.batches())
		assert.Equal(t, wait, db.at[0].Sub(start), "the window starts with the first miss")
		assert.Equal(t, 2*wait, db.at[1].Sub(start))
	})
}

func TestBatchSendsAFullBatchWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		const wait = time.Second
		m := memo.MemoizeBatch(db.load, memo.WithBatch(3, wait))
		start := time.Now()
		vs, err := m.GetMany(context.Background(), []int{1, 2, 3, 4, 5, 6, 7})
		require.NoError(t, err)
		assert.Equal(t, []int{10, 20, 30, 40, 50, 60, 70}, vs)
		var sizes []int
		for _, b := range db.batches() {
			assert.LessOrEqual(t, len(b), 3)
			sizes = append(sizes, len(b))
		}
		slices.Sort(sizes)
		assert.Equal(t, []int{1, 3, 3}, sizes)
		for i, b := range db.batches() {
			if len(b) == 3 {
				assert.Equal(t, start, db.at[i], "a full batch is sent at once")
			} else {
				assert.Equal(t, start.Add(wait), db.at[i], "the rest waits for the window")
			}
		}
	})
}

func TestBatchOfOneKeyCallsFnPerMiss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		m := memo.MemoizeBatch(db.load, memo.WithBatch(1, time.Hour))
		start := time.Now()
		_, err := m.GetMany(context.Background(), []int{1, 2})
		require.NoError(t, err)
		assert.ElementsMatch(t, [][]int{{1}, {2}}, db.batches())
		assert.Equal(t, start, time.Now(), "no window with one key per batch")
	})
}

func TestBatchLoadsAKeyOnceForConcurrentGetsAndDuplicates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		m := memo.MemoizeBatch(db.load)
		ctx := context.Background()
		res := getAll(ctx, m, 4, 4, 4, 2)
		vs, err := m.GetMany(ctx, []int{2, 4, 2, 6})
		require.NoError(t, err)
		assert.Equal(t, []int{20, 40, 20, 60}, vs)
		for range 4 {
			require.NoError(t, (<-res).err)
		}
		assert.Equal(t, [][]int{{2, 4, 6}}, db.batches())
		st := m.Stats()
		assert.Equal(t, uint64(8), st.Misses, st.String())
		assert.Equal(t, uint64(5), st.Shared, st.String())
		assert.Equal(t, uint64(1), st.Loads, st.String())
	})
}

func TestBatchKeyMissingFromTheMapGetsErrNotFoundAndIsNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{lacks: map[int]bool{2: true}}
		m := memo.MemoizeBatch(db.load)
		ctx := context.Background()
		res := getAll(ctx, m, 1, 2, 3)
		for range 3 {
			r := <-res
			if r.k == 2 {
				assert.ErrorIs(t, r.err, memo.ErrNotFound)
			} else {
				assert.NoError(t, r.err, "a partial answer still answers the other keys")
				assert.Equal(t, r.k*10, r.v)
			}
		}
		assert.Equal(t, 2, m.Len())
		_, ok := m.Peek(-1)
		assert.False(t, ok, "a key nobody asked for is not stored")
		_, err := m.GetMany(ctx, []int{1, 2})
		assert.ErrorIs(t, err, memo.ErrNotFound)
		assert.Equal(t, [][]int{{1, 2, 3}, {2}}, db.batches(), "the missing key is asked again")
		st := m.Stats()
		assert.Equal(t, uint64(0), st.LoadErrors, "fn itself did not fail: %v", st)
	})
}

func TestBatchErrorReachesEveryKeyOfItsBatchAndIsNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("database down")
		db := &fakeDB{err: boom}
		m := memo.MemoizeBatch(db.load)
		ctx := context.Background()
		res := getAll(ctx, m, 1, 2, 3)
		for range 3 {
			assert.ErrorIs(t, (<-res).err, boom)
		}
		assert.Equal(t, 0, m.Len())
		db.err = nil
		vs, err := m.GetMany(ctx, []int{1, 2, 3})
		require.NoError(t, err)
		assert.Equal(t, []int{10, 20, 30}, vs)
		st := m.Stats()
		assert.Equal(t, uint64(2), st.Loads, st.String())
		assert.Equal(t, uint64(1), st.LoadErrors, st.String())
	})
}

func TestBatchPanicReachesEveryWaiterOfEveryKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type oops struct{ msg string }
		db := &fakeDB{panic: oops{"broken query"}}
		m := memo.MemoizeBatch(db.load)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		recovered := make(chan any, 4)
		for _, k := range []int{1, 1, 2, 3} {
			go func() {
				defer func() { recovered <- recover() }()
				_, _ = m.Get(ctx, k)
			}()
		}
		for range 4 {
			assert.Equal(t, oops{"broken query"}, <-recovered)
		}
		synctest.Wait() // no goroutine left blocked
		assert.Equal(t, 0, m.Len())
		assert.Len(t, db.batches(), 1)
		assert.Equal(t, uint64(1), m.Stats().LoadErrors)
	})
}

// A caller that gives up returns at once; the batch goes on for the other
// keys' callers, and what it fetched is stored as any completed call is.
func TestBatchCallerGivingUpLeavesTheOthersWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{release: make(chan struct{})}
		m := memo.MemoizeBatch(db.load)
		quitter, quit := context.WithCancel(context.Background())
		gaveUp := getAll(quitter, m, 1)
		stays := getAll(context.Background(), m, 2)
		time.Sleep(time.Millisecond) // the window: the batch is sent
		synctest.Wait()
		require.Equal(t, [][]int{{1, 2}}, db.batches())
		quit()
		assert.ErrorIs(t, (<-gaveUp).err, context.Canceled)
		close(db.release)
		r := <-stays
		require.NoError(t, r.err, "the batch's context was not canceled: a caller still waited")
		assert.Equal(t, 20, r.v)
		synctest.Wait()
		v, ok := m.Peek(1)
		assert.True(t, ok, "the value fetched for the caller who gave up is stored")
		assert.Equal(t, 10, v)
	})
}

func TestBatchContextIsCanceledWhenEveryCallerOfEveryKeyGaveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{release: make(chan struct{})}
		m := memo.MemoizeBatch(db.load)
		ctx1, cancel1 := context.WithCancel(context.Background())
		ctx2, cancel2 := context.WithCancel(context.Background())
		r1 := getAll(ctx1, m, 1)
		r2 := getAll(ctx2, m, 2, 2)
		time.Sleep(time.Millisecond)
		synctest.Wait()
		require.Len(t, db.batches(), 1)
		cancel1()
		assert.ErrorIs(t, (<-r1).err, context.Canceled)
		cancel2()
		assert.ErrorIs(t, (<-r2).err, context.Canceled)
		assert.ErrorIs(t, (<-r2).err, context.Canceled)
		synctest.Wait() // fn saw its context canceled and returned: nothing blocked
		assert.Equal(t, 0, m.Len())
		st := m.Stats()
		assert.Equal(t, uint64(1), st.LoadErrors, "fn returned ctx.Err(): %v", st)
	})
}

func TestBatchLeavesOutKeysWhoseCallersGaveUpBeforeItWasSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		m := memo.MemoizeBatch(db.load, memo.WithBatch(10, time.Second))
		quitter, quit := context.WithCancel(context.Background())
		gaveUp := getAll(quitter, m, 1)
		stays := getAll(context.Background(), m, 2)
		synctest.Wait()
		quit()
		assert.ErrorIs(t, (<-gaveUp).err, context.Canceled)
		require.NoError(t, (<-stays).err)
		assert.Equal(t, [][]int{{2}}, db.batches())

		// A batch whose every caller gave up is never sent.
		quitter, quit = context.WithCancel(context.Background())
		gaveUp = getAll(quitter, m, 3, 4)
		synctest.Wait()
		quit()
		assert.ErrorIs(t, (<-gaveUp).err, context.Canceled)
		assert.ErrorIs(t, (<-gaveUp).err, context.Canceled)
		time.Sleep(2 * time.Second)
		assert.Len(t, db.batches(), 1)
		assert.Equal(t, uint64(1), m.Stats().Loads)
	})
}

func TestBatchForgetDuringABatchKeepsItsResultOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{release: make(chan struct{})}
		m := memo.MemoizeBatch(db.load)
		res := getAll(context.Background(), m, 1, 2)
		time.Sleep(time.Millisecond)
		synctest.Wait()
		m.Forget(1)
		close(db.release)
		for range 2 {
			r := <-res
			require.NoError(t, r.err, "waiters still get the batch's answer")
			assert.Equal(t, r.k*10, r.v)
		}
		_, ok := m.Peek(1)
		assert.False(t, ok, "Forget wins over the batch in flight")
		_, ok = m.Peek(2)
		assert.True(t, ok)
		_, err := m.Get(context.Background(), 1)
		require.NoError(t, err)
		assert.Equal(t, [][]int{{1, 2}, {1}}, db.batches())
	})
}

// After Forget, a key may be loaded again while its first load still waits
// in the open batch: the batch asks fn for it once and answers both.
func TestBatchForgetBeforeTheBatchIsSentAsksForTheKeyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		m := memo.MemoizeBatch(db.load)
		first := getAll(context.Background(), m, 1)
		synctest.Wait()
		m.Forget(1)
		second := getAll(context.Background(), m, 1)
		require.NoError(t, (<-first).err)
		require.NoError(t, (<-second).err)
		assert.Equal(t, [][]int{{1}}, db.batches())
		v, ok := m.Peek(1)
		assert.True(t, ok, "the second load, started after Forget, is stored")
		assert.Equal(t, 10, v)
	})
}

func TestBatchGroupsGetManyMissesWithOtherGets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		m := memo.MemoizeBatch(db.load)
		ctx := context.Background()
		m.Set(2, 2)
		other := getAll(ctx, m, 4)
		vs, err := m.GetMany(ctx, []int{3, 2, 1})
		require.NoError(t, err)
		assert.Equal(t, []int{30, 2, 10}, vs, "hits come from memory")
		require.NoError(t, (<-other).err)
		assert.Equal(t, [][]int{{1, 3, 4}}, db.batches())
	})
}

func TestBatchKeepsTTLAndCapacity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		m := memo.MemoizeBatch(db.load, memo.WithTTL(time.Minute), memo.WithCapacity(2))
		ctx := context.Background()
		_, err := m.GetMany(ctx, []int{1, 2, 3})
		require.NoError(t, err)
		assert.Equal(t, 2, m.Len())
		assert.Equal(t, uint64(1), m.Stats().Evictions)
		time.Sleep(time.Minute)
		_, ok := m.Peek(3)
		assert.False(t, ok, "expired")
		_, err = m.Get(ctx, 3)
		require.NoError(t, err)
		assert.Len(t, db.batches(), 2)
	})
}

func TestBatchClearResetsTheCallsOfFn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{err: errors.New("no")}
		m := memo.MemoizeBatch(db.load)
		_, err := m.Get(context.Background(), 1)
		require.Error(t, err)
		m.Clear()
		st := m.Stats()
		assert.Zero(t, st.Loads, st.String())
		assert.Zero(t, st.LoadErrors, st.String())
		assert.Zero(t, st.Misses, st.String())
	})
}

func TestWithBatchPanicsOnBadInputAndOnOtherMemos(t *testing.T) {
	fn := func(_ context.Context, k int) (int, error) { return k, nil }
	batchFn := func(_ context.Context, keys []int) (map[int]int, error) { return nil, nil }
	assert.PanicsWithValue(t, "memo: WithBatch(0, 1ms): maxKeys must be >= 1", func() { memo.WithBatch(0, time.Millisecond) })
	assert.PanicsWithValue(t, "memo: WithBatch(10, -1s): wait must be >= 0", func() { memo.WithBatch(10, -time.Second) })
	assert.PanicsWithValue(t, "memo: WithBatch given to Memoize: WithBatch configures MemoizeBatch only",
		func() { memo.Memoize(fn, memo.WithBatch(10, time.Millisecond)) })
	assert.PanicsWithValue(t, "memo: WithBatch given to MemoizeKeyed: WithBatch configures MemoizeBatch only",
		func() { memo.MemoizeKeyed(fn, memo.CanonicalKey[int], memo.WithBatch(10, time.Millisecond)) })
	assert.PanicsWithValue(t, "memo: WithBatch given to MemoizeWeak: WithBatch configures MemoizeBatch only",
		func() {
			memo.MemoizeWeak(func(context.Context, int) (*int, error) { return new(int), nil }, memo.WithBatch(10, time.Millisecond))
		})
	assert.PanicsWithValue(t, "memo: MemoizeBatch called with a nil fn", func() { memo.MemoizeBatch[int, int](nil) })
	assert.NotPanics(t, func() { memo.MemoizeBatch(batchFn, memo.WithBatch(1, 0)) })
}

func TestBatchGoexitInFnGivesEveryKeyErrGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memo.MemoizeBatch(func(context.Context, []int) (map[int]int, error) {
			runtime.Goexit()
			panic("unreachable")
		})
		res := getAll(context.Background(), m, 1, 2)
		for range 2 {
			assert.ErrorIs(t, (<-res).err, memo.ErrGoexit)
		}
		synctest.Wait() // nobody left blocked
		assert.Equal(t, 0, m.Len())
		assert.Equal(t, uint64(1), m.Stats().LoadErrors)
	})
}
