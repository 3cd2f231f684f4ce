package memo_test

import (
	"context"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
)

// token is a value that says how long it is valid, like an OAuth token.
type token struct {
	id  string
	ttl time.Duration
}

func tokenTTL(_ string, t token) time.Duration { return t.ttl }

// issuer returns tokens whose lifetime is the key's number of seconds.
func issuer(c *int) func(context.Context, string) (token, error) {
	return func(_ context.Context, k string) (token, error) {
		*c++
		n, _ := strconv.Atoi(k)
		return token{id: k + "#" + strconv.Itoa(*c), ttl: time.Duration(n) * time.Second}, nil
	}
}

func TestTTLFuncGivesEachEntryItsOwnTTL(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []memo.Option
	}{
		{"map", nil},
		{"LRU", []memo.Option{memo.WithCapacity(100)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls int
				m := memo.Memoize(issuer(&calls), append(tc.opts, memo.WithTTLFunc(tokenTTL))...)
				ctx := context.Background()
				for _, k := range []string{"30", "10", "20"} {
					_, err := m.Get(ctx, k)
					require.NoError(t, err)
				}
				alive := func() (keys []string) {
					for _, k := range []string{"10", "20", "30"} {
						if _, ok := m.Peek(k); ok {
							keys = append(keys, k)
						}
					}
					return keys
				}
				time.Sleep(10*time.Second - 1)
				assert.Equal(t, []string{"10", "20", "30"}, alive())
				time.Sleep(1)
				assert.Equal(t, []string{"20", "30"}, alive(), "10 expired at its own TTL")
				time.Sleep(10 * time.Second)
				assert.Equal(t, []string{"30"}, alive())
				_, _ = m.Get(ctx, "10")
				assert.Equal(t, 4, calls, "an expired entry is loaded again")
				time.Sleep(10 * time.Second)
				assert.Empty(t, alive())
			})
		})
	}
}

func TestTTLFuncZeroReturnsTheValueButDoesNotStoreIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls int
		m := memo.Memoize(issuer(&calls), memo.WithTTLFunc(tokenTTL))
		ctx := context.Background()
		for i := range 3 {
			v, err := m.Get(ctx, "0")
			require.NoError(t, err)
			assert.Equal(t, "0#"+strconv.Itoa(i+1), v.id, "returned to the Get")
		}
		assert.Equal(t, 3, calls, "never stored, so every Get calls fn")
		_, ok := m.Peek("0")
		assert.False(t, ok)
		assert.Zero(t, m.Len())

		var evicted []memo.EvictReason
		m = memo.Memoize(issuer(&calls), memo.WithTTLFunc(tokenTTL),
			memo.WithOnEvict(func(_ string, _ token, r memo.EvictReason) { evicted = append(evicted, r) }))
		m.Set("a", token{id: "kept", ttl: time.Minute})
		m.Set("a", token{id: "uncacheable", ttl: -time.Second})
		_, ok = m.Peek("a")
		assert.False(t, ok, "Set of a value whose TTL is <= 0 stores nothing, and drops the older entry")
		assert.Equal(t, []memo.EvictReason{memo.Replaced}, evicted)
	})
}

// The FIFO queue of WithTTL would keep short-lived entries stored after a
// long-lived one until that one expired; with per-entry TTLs they are
// reclaimed at their own deadlines, by the memo's writes and misses alone.
func TestTTLFuncReclaimsExpiredEntriesOfAnUnboundedMemo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := memo.Memoize(func(_ context.Context, k int) (int, error) { return k, nil },
			memo.WithTTLFunc(func(k, _ int) time.Duration {
				if k == 0 {
					return time.Hour
				}
				return time.Second
			}))
		ctx := context.Background()
		_, _ = m.Get(ctx, 0) // the long-lived entry goes first
		for round := range 100 {
			for k := 1; k <= 100; k++ {
				_, _ = m.Get(ctx, round*100+k)
			}
			time.Sleep(time.Second)
		}
		assert.LessOrEqual(t, m.Len(), 101, "only the last round and the long-lived entry may remain")
		_, _ = m.Get(ctx, -1) // a miss reclaims what expired
		assert.Equal(t, 2, m.Len())
		st := m.Stats()
		assert.Equal(t, uint64(100*100), st.Expirations, st.String())
		_, ok := m.Peek(0)
		assert.True(t, ok)
	})
}

func TestTTLFuncWorksWithKeyedMemoize2AndWeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		keyed := memo.MemoizeKeyed(func(_ context.Context, k []int) (int, error) { return len(k), nil },
			memo.CanonicalKey[[]int], memo.WithTTLFunc(func(k []int, v int) time.Duration { return time.Duration(v) * time.Second }))
		_, _ = keyed.Get(ctx, []int{1, 2})
		_, _ = keyed.Get(ctx, []int{})
		two := memo.Memoize2(func(_ context.Context, a, b int) (int, error) { return a + b, nil },
			memo.WithTTLFunc(func(k memo.Key2[int, int], v int) time.Duration { return time.Duration(k.A) * time.Second }))
		_, _ = two.Get(ctx, 2, 0)
		type blob struct{ ttl time.Duration }
		held := map[int]*blob{}
		weak := memo.MemoizeWeak(func(_ context.Context, k int) (*blob, error) {
			b := &blob{time.Duration(k) * time.Second}
			held[k] = b
			return b, nil
		}, memo.WithTTLFunc(func(_ int, b *blob) time.Duration { return b.ttl }))
		_, _ = weak.Get(ctx, 2)

		_, ok := keyed.Peek([]int{})
		assert.False(t, ok, "a TTL of 0 is not stored")
		time.Sleep(2*time.Second - 1)
		_, ok = keyed.Peek([]int{1, 2})
		assert.True(t, ok)
		_, ok = two.Peek(2, 0)
		assert.True(t, ok)
		_, ok = weak.Peek(2)
		assert.True(t, ok)
		time.Sleep(1)
		_, ok = keyed.Peek([]int{1, 2})
		assert.False(t, ok)
		_, ok = two.Peek(2, 0)
		assert.False(t, ok)
		_, ok = weak.Peek(2)
		assert.False(t, ok, "a weak entry expires at its own TTL too")
		assert.Len(t, held, 1)
	})
}

func TestTTLFuncPanicIsAPanicOfFn(t *testing.T) {
	m := memo.Memoize(func(_ context.Context, k int) (int, error) { return k, nil },
		memo.WithTTLFunc(func(k, _ int) time.Duration {
			if k == 1 {
				panic("bad ttl")
			}
			return time.Minute
		}))
	assert.PanicsWithValue(t, "bad ttl", func() { _, _ = m.Get(context.Background(), 1) })
	assert.Zero(t, m.Len())
	v, err := m.Get(context.Background(), 2)
	require.NoError(t, err, "the memo is still usable: its lock was not held by the panic")
	assert.Equal(t, 2, v)
	assert.Equal(t, uint64(1), m.Stats().LoadErrors)
}

func TestTTLFuncMeaninglessCombinationsPanic(t *testing.T) {
	fn := func(context.Context, int) (int, error) { return 0, nil }
	ttl := memo.WithTTLFunc(func(int, int) time.Duration { return time.Second })
	assert.PanicsWithValue(t, "memo: WithTTL(1m0s) and WithTTLFunc cannot be combined: WithTTL sets one TTL for every entry, WithTTLFunc one per entry", func() {
		memo.Memoize(fn, memo.WithTTL(time.Minute), ttl)
	})
	assert.PanicsWithValue(t, "memo: WithTTLFunc was given a func(string, int) time.Duration, but this memo needs a func(int, int) time.Duration", func() {
		memo.Memoize(fn, memo.WithTTLFunc(func(string, int) time.Duration { return time.Second }))
	})
	assert.PanicsWithValue(t, "memo: WithTTLFunc(nil)", func() { memo.WithTTLFunc[int, int](nil) })
}
