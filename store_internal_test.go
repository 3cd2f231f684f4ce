package memo

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An entry has no room for a deadline unless its memo may set one: the
// int→int entry of a memo without a TTL is 24 bytes, not 32.
func TestEntriesHaveNoDeadlineFieldOfTheirOwn(t *testing.T) {
	assert.Equal(t, uintptr(24), unsafe.Sizeof(entry[int, int]{}), "key, value, node and state")
	assert.Equal(t, uintptr(32), unsafe.Sizeof(timedEntry[int, int]{}), "and the deadline")
	assert.Equal(t, uintptr(48), unsafe.Sizeof(entry[string, []byte]{}), "below Go's 64-byte size class")
}

// Every store makes its entries timed exactly when the memo may give them a
// deadline, and reads deadlines only from those. Under -race, the checkptr
// instrumentation turns a deadline read from an untimed entry (a conversion
// to a timedEntry that runs past the entry's allocation) into a crash, so the
// operations below, which pass every place that asks whether an entry
// expired (hits, replacements, evictions, Forget, Clear), check that too.
func TestStoresMakeEntriesTimedOnlyWhenTheMemoMaySetDeadlines(t *testing.T) {
	options := []struct {
		name  string
		opts  []Option
		timed bool
	}{
		{"no deadlines", nil, false},
		{"WithErrorTTL", []Option{WithErrorTTL(time.Minute)}, false},
		{"WithTTL", []Option{WithTTL(time.Minute)}, true},
		{"WithTTLFunc", []Option{WithTTLFunc(func(int, int) time.Duration { return time.Minute })}, true},
		{"WithRefresh", []Option{WithTTL(time.Minute), WithRefresh(30 * time.Second)}, true},
	}
	stores := []struct {
		name string
		opts []Option
	}{
		{"map", nil},
		{"LRU", []Option{WithCapacity(8)}},
		{"TinyLFU", []Option{WithCapacity(8), WithPolicy(TinyLFU)}},
	}
	ctx := context.Background()
	for _, st := range stores {
		for _, o := range options {
			t.Run(st.name+"/"+o.name, func(t *testing.T) {
				evicted := 0
				opts := append(append([]Option{WithOnEvict(func(int, int, EvictReason) { evicted++ })}, st.opts...), o.opts...)
				m := Memoize(func(_ context.Context, k int) (int, error) { return 2 * k, nil }, opts...)
				var idx *index[int, int]
				switch s := m.e.(*direct[int, int]).st.(type) {
				case *mapStore[int, int]:
					idx = &s.idx
				case *lruStore[int, int]:
					idx = &s.idx
				case *tinyLFUStore[int, int]:
					idx = &s.idx
				default:
					t.Fatalf("unexpected store %T", s)
				}
				assert.Equal(t, o.timed, idx.timed)

				for round := range 3 {
					for k := range 40 { // misses, then evictions in the bounded stores
						v, err := m.Get(ctx, k%(10+round*10))
						require.NoError(t, err)
						require.Equal(t, 2*(k%(10+round*10)), v)
					}
					m.Set(3, 7) // replaces 3, or stores it again
					v, ok := m.Peek(3)
					require.True(t, ok)
					require.Equal(t, 7, v)
					m.Forget(3)
					_, ok = m.Peek(3)
					require.False(t, ok)
				}
				m.Clear()
				assert.Zero(t, m.Len())
				assert.Positive(t, evicted, "entries were reported leaving")
			})
		}
	}
}

// The weak store follows the same rule (WithRefresh is refused there).
func TestWeakStoreMakesEntriesTimedOnlyWhenTheMemoMaySetDeadlines(t *testing.T) {
	type blob struct{ b [64]byte }
	for _, o := range []struct {
		name  string
		opts  []Option
		timed bool
	}{
		{"no deadlines", []Option{WithCapacity(4)}, false},
		{"WithErrorTTL", []Option{WithCapacity(4), WithErrorTTL(time.Minute)}, false},
		{"WithTTL", []Option{WithCapacity(4), WithTTL(time.Minute)}, true},
		{"WithTTLFunc", []Option{WithTTLFunc(func(int, *blob) time.Duration { return time.Minute })}, true},
	} {
		t.Run(o.name, func(t *testing.T) {
			held := map[int]*blob{}
			m := MemoizeWeak(func(_ context.Context, k int) (*blob, error) {
				b := &blob{}
				b.b[0] = byte(k)
				held[k] = b // kept, so that no value is collected during the test
				return b, nil
			}, o.opts...)
			s := m.e.(*direct[int, *blob]).st.(*weakStore[int, blob])
			assert.Equal(t, o.timed, s.idx.timed)
			ctx := context.Background()
			for k := range 20 {
				v, err := m.Get(ctx, k%10)
				require.NoError(t, err)
				require.Equal(t, byte(k%10), v.b[0])
			}
			m.Set(3, held[4]) // a replacement
			m.Forget(5)
			m.Clear()
			assert.Zero(t, m.Len())
		})
	}
}
