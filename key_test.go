package memo_test

import (
	"context"
	"encoding/hex"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
)

func enc[K any](k K) string { return string(memo.CanonicalKey(nil, k)) }

// Promise 1: values with different contents never share a form.
func TestCanonicalKeyIsInjective(t *testing.T) {
	one, zero := 1, 0
	type pair struct{ A, B string }
	cases := []struct {
		name string
		a, b string
	}{
		{"separator inside a string", enc([]string{"a,b"}), enc([]string{"a", "b"})},
		{"split point", enc([]string{"ab", "c"}), enc([]string{"a", "bc"})},
		{"struct split point", enc(pair{"ab", "c"}), enc(pair{"a", "bc"})},
		{"nested empties by position", enc([][]string{{}, {"a"}}), enc([][]string{{"a"}, {}})},
		{"nested empty vs empty string", enc([][]string{{}}), enc([][]string{{""}})},
		{"nil pointer vs pointer to zero", enc((*int)(nil)), enc(&zero)},
		{"pointers to different values", enc(&one), enc(&zero)},
		{"nil interface vs interface holding nil pointer", enc([]any{nil}), enc([]any{(*int)(nil)})},
		{"map entries", enc(map[string]string{"a": "b"}), enc(map[string]string{"ab": ""})},
		{"bytes", enc([]byte{1, 2}), enc([]byte{1, 2, 0})},
		{"bool", enc(true), enc(false)},
		{"negative", enc(-1), enc(1)},
	}
	for _, c := range cases {
		assert.NotEqual(t, c.a, c.b, c.name)
	}
}

// Promise 2: through interfaces, the dynamic type is part of the key.
func TestCanonicalKeyIsTypeTaggedThroughInterfaces(t *testing.T) {
	type myInt int
	forms := map[string]string{}
	for name, v := range map[string]any{
		"int": int(1), "int64": int64(1), "float64": float64(1), "myInt": myInt(1),
		"string": "1", "uint8": uint8(1), "bool": true,
	} {
		f := enc([]any{v})
		if other, dup := forms[f]; dup {
			t.Errorf("%s and %s share a form", name, other)
		}
		forms[f] = name
	}
	assert.Equal(t, enc([]any{int64(1)}), enc([]any{int64(1)}))
}

// Promise 3: the same map encodes the same whatever order it was filled in,
// and a value's form never changes (the golden form would catch an address,
// a seed or a platform-dependent width sneaking in).
func TestCanonicalKeyIsDeterministicAndMapOrderFree(t *testing.T) {
	a, b := map[string]int{}, map[string]int{}
	keys := strings.Fields("q w e r t y u i o p a s d f g h j k l z x c v b n m")
	for i, k := range keys {
		a[k] = i
	}
	for i := len(keys) - 1; i >= 0; i-- {
		b[keys[i]] = i
	}
	for range 20 {
		require.Equal(t, enc(a), enc(b))
	}
	type query struct {
		Terms []string
		Page  int
		Opts  map[string]any
	}
	q := query{Terms: []string{"go", "memo"}, Page: 2, Opts: map[string]any{"exact": true, "lang": "en"}}
	assert.Equal(t,
		"0202676f046d656d6f000000000000000202046c616e670106737472696e6702656e0565786163740104626f6f6c01",
		hex.EncodeToString(memo.CanonicalKey(nil, q)))
}

// Promise 4: deep equality under the documented rules.
func TestCanonicalKeyIsDeep(t *testing.T) {
	type inner struct {
		hidden string // unexported fields count
		N      [2]int16
	}
	type outer struct {
		In  *inner
		Any any
		M   map[int][]string
		_   int // blank: ignored, as == does
	}
	x := outer{In: &inner{"h", [2]int16{1, 2}}, Any: []int{3}, M: map[int][]string{1: {"a"}}}
	y := outer{In: &inner{"h", [2]int16{1, 2}}, Any: []int{3}, M: map[int][]string{1: {"a"}}}
	assert.Equal(t, enc(x), enc(y), "pointers are followed: different addresses, same key")
	y.In.hidden = "other"
	assert.NotEqual(t, enc(x), enc(y), "unexported fields count")

	assert.Equal(t, enc([]int(nil)), enc([]int{}), "a nil slice is an empty slice")
	assert.Equal(t, enc(map[string]int(nil)), enc(map[string]int{}), "a nil map is an empty map")
	assert.Equal(t, enc(math.Copysign(0, -1)), enc(0.0), "-0 is +0")
	assert.Equal(t, enc(math.NaN()), enc(math.Float64frombits(0x7ff8000000000abc)), "every NaN is one key")
	assert.NotEqual(t, enc(math.NaN()), enc(math.Inf(1)))
	assert.Equal(t, enc(float32(math.Copysign(0, -1))), enc(float32(0)))
	assert.Equal(t, enc(complex(math.NaN(), 0)), enc(complex(math.NaN(), 0)))
}

// Promise 5: funcs, channels, unsafe.Pointers and cycles are refused with a
// message that names the type and the path to the culprit.
func TestCanonicalKeyRejectsWhatHasNoValue(t *testing.T) {
	type withFunc struct {
		Name   string
		Filter func(int) bool
	}
	assert.PanicsWithValue(t,
		"memo: CanonicalKey: cannot encode memo_test.withFunc.Filter: func(int) bool has no value to compare (funcs, channels and unsafe.Pointers cannot be keys)",
		func() { enc(withFunc{}) })
	assert.PanicsWithValue(t,
		"memo: CanonicalKey: cannot encode map[string][]chan int[value][i]: chan int has no value to compare (funcs, channels and unsafe.Pointers cannot be keys)",
		func() { enc(map[string][]chan int{}) })
	assert.PanicsWithValue(t,
		"memo: CanonicalKey: cannot encode unsafe.Pointer: unsafe.Pointer has no value to compare (funcs, channels and unsafe.Pointers cannot be keys)",
		func() { enc(unsafe.Pointer(nil)) })
	type holder struct{ Opts map[string]any }
	assert.PanicsWithValue(t,
		"memo: CanonicalKey: cannot encode memo_test.holder.Opts[cb]: an interface holding func(): cannot encode func(): func() has no value to compare (funcs, channels and unsafe.Pointers cannot be keys)",
		func() { enc(holder{map[string]any{"cb": func() {}}}) })

	type node struct {
		V    int
		Next *node
	}
	n := &node{V: 1}
	n.Next = &node{V: 2, Next: n}
	assert.PanicsWithValue(t,
		"memo: CanonicalKey: cannot encode *memo_test.node*.Next*.Next: a pointer cycle: this pointer leads back to a value that contains it",
		func() { enc(n) })
	shared := &node{V: 3}
	assert.NotPanics(t, func() { enc([]*node{shared, shared}) }, "a pointer seen twice is not a cycle")
}

// Python's "unhashable type" problem, solved: a key with slices and maps.
func TestMemoizeKeyedAcceptsUncomparableKeys(t *testing.T) {
	type query struct {
		Terms   []string
		Filters map[string]string
	}
	var calls atomic.Int32
	m := memo.MemoizeKeyed(func(_ context.Context, q query) (int, error) {
		calls.Add(1)
		return len(q.Terms), nil
	}, memo.CanonicalKey)
	ctx := context.Background()
	a := query{Terms: []string{"x", "y"}, Filters: map[string]string{"lang": "go", "year": "2026"}}
	b := query{Terms: []string{"x", "y"}, Filters: map[string]string{"year": "2026", "lang": "go"}}
	v, err := m.Get(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	v, _ = m.Get(ctx, b)
	assert.Equal(t, 2, v)
	assert.Equal(t, int32(1), calls.Load(), "equal keys share an entry, whatever their map order")
	_, _ = m.Get(ctx, query{Terms: []string{"x"}})
	assert.Equal(t, int32(2), calls.Load())

	_, ok := m.Peek(b)
	assert.True(t, ok)
	m.Forget(b)
	_, ok = m.Peek(a)
	assert.False(t, ok)
	m.Set(a, 42)
	v, _ = m.Get(ctx, b)
	assert.Equal(t, 42, v)
	st := m.Stats()
	st.LoadTime = 0 // LoadTime is the real time spent in fn here (no synctest clock)
	assert.Equal(t, memo.Stats{Hits: 2, Misses: 2, Loads: 2, Len: 2}, st, st.String())
}

// A custom KeyFunc may be coarser than equality: here only the user ID
// matters.
func TestMemoizeKeyedWithACoarserKeyFunc(t *testing.T) {
	type request struct {
		UserID  int
		TraceID string
	}
	var calls atomic.Int32
	m := memo.MemoizeKeyed(func(_ context.Context, r request) (string, error) {
		calls.Add(1)
		return "profile", nil
	}, func(dst []byte, r request) []byte { return append(dst, byte(r.UserID>>8), byte(r.UserID)) })
	_, _ = m.Get(context.Background(), request{7, "a"})
	_, _ = m.Get(context.Background(), request{7, "b"})
	assert.Equal(t, int32(1), calls.Load())
}

func TestMemoizeKeyedReportsTheOriginalKeyOnEvict(t *testing.T) {
	var evicted [][]string
	m := memo.MemoizeKeyed(func(_ context.Context, k []string) (int, error) { return len(k), nil },
		memo.CanonicalKey, memo.WithCapacity(1),
		memo.WithOnEvict(func(k []string, v int, r memo.EvictReason) { evicted = append(evicted, k) }))
	_, _ = m.Get(context.Background(), []string{"a"})
	_, _ = m.Get(context.Background(), []string{"b", "c"})
	assert.Equal(t, [][]string{{"a"}}, evicted)
}

func TestMemoizeKeyedPanicsOnNilArguments(t *testing.T) {
	fn := func(context.Context, []int) (int, error) { return 0, nil }
	assert.PanicsWithValue(t, "memo: MemoizeKeyed called with a nil KeyFunc", func() { memo.MemoizeKeyed(fn, nil) })
	assert.PanicsWithValue(t, "memo: MemoizeKeyed called with a nil fn", func() {
		memo.MemoizeKeyed[[]int, int](nil, memo.CanonicalKey)
	})
}

func TestMemoize2And3TakeTheArgumentsInOrder(t *testing.T) {
	var calls atomic.Int32
	rate := memo.Memoize2(func(_ context.Context, from, to string) (string, error) {
		calls.Add(1)
		return from + "/" + to, nil
	})
	ctx := context.Background()
	v, _ := rate.Get(ctx, "EUR", "USD")
	assert.Equal(t, "EUR/USD", v)
	v, _ = rate.Get(ctx, "USD", "EUR")
	assert.Equal(t, "USD/EUR", v, "argument order matters")
	_, _ = rate.Get(ctx, "EUR", "USD")
	assert.Equal(t, int32(2), calls.Load())
	assert.Equal(t, uint64(1), rate.Stats().Hits)
	rate.Set("A", "B", "set")
	v, ok := rate.Peek("A", "B")
	assert.True(t, ok)
	assert.Equal(t, "set", v)
	rate.Forget("A", "B")
	assert.Equal(t, 2, rate.Len())
	f := rate.Func()
	v, _ = f(ctx, "EUR", "USD")
	assert.Equal(t, "EUR/USD", v)

	vol := memo.Memoize3(func(_ context.Context, x, y, z int) (int, error) { return x * y * z, nil })
	v3, _ := vol.Get(ctx, 2, 3, 4)
	assert.Equal(t, 24, v3)
	_, _ = vol.Get(ctx, 2, 3, 4)
	st := vol.Stats()
	st.LoadTime = 0 // LoadTime is the real time spent in fn here (no synctest clock)
	assert.Equal(t, memo.Stats{Hits: 1, Misses: 1, Loads: 1, Len: 1}, st)
	vol.Clear()
	assert.Equal(t, 0, vol.Len())
}

type flatKey struct {
	Tenant string
	Region string
	Page   int
	Limit  int
	Tags   []string
}

func appendFlatKey(dst []byte, k flatKey) []byte {
	dst = append(dst, k.Tenant...)
	dst = append(dst, 0)
	dst = append(dst, k.Region...)
	dst = append(dst, 0, byte(k.Page), byte(k.Limit))
	for _, t := range k.Tags {
		dst = append(dst, t...)
		dst = append(dst, 0)
	}
	return dst
}

// A keyed hit allocates nothing with an appending KeyFunc, and at most 2
// times with CanonicalKey on a flat struct.
func TestKeyedHitAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	k := flatKey{"acme", "eu-west-1", 3, 50, []string{"new", "sale"}}
	custom := memo.MemoizeKeyed(func(context.Context, flatKey) (int, error) { return 1, nil }, appendFlatKey)
	canonical := memo.MemoizeKeyed(func(context.Context, flatKey) (int, error) { return 1, nil }, memo.CanonicalKey)
	_, _ = custom.Get(ctx, k)
	_, _ = canonical.Get(ctx, k)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = custom.Get(ctx, k) }))
	assert.LessOrEqual(t, testing.AllocsPerRun(1000, func() { _, _ = canonical.Get(ctx, k) }), 2.0)
	assert.Equal(t, uint64(2002), custom.Stats().Hits+canonical.Stats().Hits)
}
