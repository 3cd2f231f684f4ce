package memo_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
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
		"memo: CanonicalKey: cannot encode key.Filter (key type memo_test.withFunc): func(int) bool has no value to compare (funcs, channels and unsafe.Pointers cannot be keys)",
		func() { enc(withFunc{}) })
	assert.PanicsWithValue(t,
		"memo: CanonicalKey: cannot encode key[k][i] (key type map[string][]chan int): chan int has no value to compare (funcs, channels and unsafe.Pointers cannot be keys)",
		func() { enc(map[string][]chan int{}) })
	assert.PanicsWithValue(t,
		"memo: CanonicalKey: cannot encode key (key type unsafe.Pointer): unsafe.Pointer has no value to compare (funcs, channels and unsafe.Pointers cannot be keys)",
		func() { enc(unsafe.Pointer(nil)) })
	type holder struct{ Opts map[string]any }
	assert.PanicsWithValue(t,
		`memo: CanonicalKey: cannot encode key.Opts["cb"] (key type memo_test.holder): func() has no value to compare (funcs, channels and unsafe.Pointers cannot be keys) (in an interface holding func())`,
		func() { enc(holder{map[string]any{"cb": func() {}}}) })

	type node struct {
		V    int
		Next *node
	}
	n := &node{V: 1}
	n.Next = &node{V: 2, Next: n}
	assert.PanicsWithValue(t,
		"memo: CanonicalKey: cycle at key.Next.Next (key type *memo_test.node): the *memo_test.node there contains itself, so it has no finite form",
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

// panicOf returns what f panicked with, or nil.
func panicOf(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}

// A value that contains itself, through maps, slices, pointers or interfaces,
// panics with a recoverable message naming the shortest path to where it
// meets itself, instead of overflowing the stack (a fatal error).
func TestCanonicalKeyPanicsOnCyclesWithThePath(t *testing.T) {
	selfMap := map[string]any{}
	selfMap["self"] = selfMap
	selfSlice := []any{nil}
	selfSlice[0] = selfSlice
	type holder struct{ Field map[string]any }
	h := holder{Field: map[string]any{}}
	h.Field["self"] = []any{h.Field}
	tail := make([]any, 2) // a slice holding a later sub-slice of itself
	tail[1] = tail[1:]
	head := make([]any, 2) // a slice holding a shorter sub-slice of itself
	head[0] = head[:1]
	var self any
	self = &self
	type node struct {
		V    int
		Next *node
	}
	ring := &node{V: 0}
	last := ring
	for i := 1; i < 500; i++ { // a cycle longer than trackAfter, found past it
		last.Next = &node{V: i}
		last = last.Next
	}
	last.Next = ring
	long := "key" + strings.Repeat(".Next", 16) + "…(468 steps)…" + strings.Repeat(".Next", 16)

	cases := []struct {
		name string
		key  func() []byte
		want string
	}{
		{"map holding itself", func() []byte { return memo.CanonicalKey(nil, selfMap) },
			`cycle at key["self"] (key type map[string]interface {}): the map[string]interface {} there contains itself`},
		{"slice holding itself", func() []byte { return memo.CanonicalKey(nil, selfSlice) },
			`cycle at key[0] (key type []interface {}): the []interface {} there contains itself`},
		{"through a struct, a map and a slice", func() []byte { return memo.CanonicalKey(nil, h) },
			`cycle at key.Field["self"][0] (key type memo_test.holder): the map[string]interface {} there contains itself`},
		{"later sub-slice", func() []byte { return memo.CanonicalKey(nil, tail) },
			`cycle at key[1][0] (key type []interface {}): the []interface {} there contains itself`},
		{"shorter sub-slice", func() []byte { return memo.CanonicalKey(nil, head) },
			`cycle at key[0][0] (key type []interface {}): the []interface {} there contains itself`},
		{"interface holding a pointer to itself", func() []byte { return memo.CanonicalKey(nil, &self) },
			`cycle at key (key type *interface {}): the *interface {} there contains itself`},
		{"a ring of 500 nodes", func() []byte { return memo.CanonicalKey(nil, ring) },
			`cycle at ` + long + ` (key type *memo_test.node): the *memo_test.node there contains itself`},
	}
	for _, c := range cases {
		r := panicOf(func() { c.key() })
		require.IsType(t, "", r, c.name)
		assert.Equal(t, "memo: CanonicalKey: "+c.want+", so it has no finite form", r, c.name)
	}

	// Not cycles: a sub-slice that does not meet itself, a value seen twice.
	notCycle := make([]any, 2)
	notCycle[0], notCycle[1] = notCycle[1:], "x"
	assert.Equal(t, enc([]any{[]any{"x"}, "x"}), enc(notCycle))
	shared := map[string]any{"a": 1}
	assert.Equal(t, enc([]any{map[string]any{"a": 1}, map[string]any{"a": 1}}), enc([]any{shared, shared}))
}

// A struct and a pointer to its first field share an address; they are not
// one value, and a struct holding such a pointer is not a cycle.
func TestCanonicalKeyTellsAStructFromItsFirstField(t *testing.T) {
	type inner struct{ N [3]int }
	type outer struct {
		In   inner
		P    *inner
		Next *outer
	}
	var o *outer
	for i := range 2 * 64 { // past trackAfter, so that identities are tracked
		o = &outer{In: inner{[3]int{i}}, Next: o}
		o.P = &o.In
	}
	assert.NotPanics(t, func() { enc(o) })
}

type chain struct {
	V    int
	Next *chain
}

func chainOf(n int) *chain {
	var head *chain
	for i := range n {
		head = &chain{V: i, Next: head}
	}
	return head
}

// A deep acyclic value is encoded whole, and the same at every call: a
// linked list of 100 000 nodes, and 60 000 nested []any. That it takes time
// linear in the depth is BenchmarkKeyEncodeDeep's to show (nanoseconds per
// node at 1 000, 10 000 and 100 000 nodes): this test used to compare the
// times of 10 000 and 100 000 nodes, and on a loaded machine that ratio
// moved from 10x to over 100x with linear code.
func TestCanonicalKeyEncodesDeepValues(t *testing.T) {
	long := chainOf(100_000)
	b := memo.CanonicalKey(nil, long)
	assert.Len(t, b, 100_000*9+1)
	assert.Equal(t, b, memo.CanonicalKey(nil, long))
	assert.Equal(t, memo.CanonicalKey(nil, chainOf(99_999)), memo.CanonicalKey(nil, long.Next))
	assert.NotEqual(t, memo.CanonicalKey(nil, chainOf(99_999)), b)

	nested := any(nil) // 60 000 nested []any: 120 000 references
	for range 60_000 {
		nested = []any{nested}
	}
	assert.NotPanics(t, func() { enc(nested) })
}

// A value nested deeper than the bound panics, clearly and recoverably,
// rather than overflow the stack.
func TestCanonicalKeyRefusesValuesTooDeepForTheStack(t *testing.T) {
	r := panicOf(func() { enc(chainOf(1 << 17)) })
	assert.Nil(t, r, "131 072 references are allowed")
	r = panicOf(func() { enc(chainOf(1<<17 + 1)) })
	require.IsType(t, "", r)
	assert.Equal(t, "memo: CanonicalKey: too deep at key"+strings.Repeat(".Next", 16)+"…(131040 steps)…"+strings.Repeat(".Next", 16)+
		" (key type *memo_test.chain): nested deeper than 131072 references (pointers, slices, maps, interfaces); CanonicalKey refuses it rather than overflow the stack", r)
}

// A type that cannot be encoded leaves no plan behind: every call panics the
// same way, whichever type was asked first, and other types are unaffected.
func TestCanonicalKeyNeverCachesAFailedPlan(t *testing.T) {
	type bad struct {
		Next *bad
		F    func()
	}
	const why = ": func() has no value to compare (funcs, channels and unsafe.Pointers cannot be keys)"
	const want = "memo: CanonicalKey: cannot encode key.F (key type memo_test.bad)" + why
	const wantPtr = "memo: CanonicalKey: cannot encode key.F (key type *memo_test.bad)" + why
	for range 2 {
		assert.PanicsWithValue(t, want, func() { enc(bad{}) })
		assert.PanicsWithValue(t, wantPtr, func() { enc((*bad)(nil)) }, "a nil *bad is refused too")
		assert.PanicsWithValue(t, wantPtr, func() { enc(&bad{}) })
	}
	type good struct{ Next *good }
	assert.Equal(t, "\x01\x00", enc(&good{}))
}

// Two time.Time keys are equal exactly when their instants and their zones
// (the name and offset in effect, as t.Zone returns them) are equal.
func TestCanonicalKeyEncodesTimesByInstantAndZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	parisAgain, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	now := time.Now() // with a monotonic reading
	winter := time.Date(2026, 1, 15, 12, 0, 0, 5, paris)
	type event struct {
		At   time.Time
		Name string
	}
	same := []struct {
		name string
		a, b any
	}{
		{"with and without the monotonic reading", now, now.Round(0)},
		{"UTC and a fixed zone named UTC at offset 0", now.UTC(), now.In(time.FixedZone("UTC", 0))},
		{"two loads of one location", winter, winter.In(parisAgain)},
		{"a location and a fixed zone of the same name and offset", winter, winter.In(time.FixedZone("CET", 3600))},
		{"the zero Time and UTC's zero", time.Time{}, time.Time{}.UTC()},
		{"in a struct, by a pointer", &event{winter, "x"}, &event{winter.In(parisAgain), "x"}},
	}
	for _, c := range same {
		assert.Equal(t, enc(c.a), enc(c.b), c.name)
	}
	differ := []struct {
		name string
		a, b any
	}{
		{"one nanosecond apart", winter, winter.Add(1)},
		{"one instant, other offsets", winter, winter.UTC()},
		{"one offset, other zone names", now.UTC(), now.In(time.FixedZone("X", 0))},
		{"one wall clock, other instants", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, paris)},
		{"a Time and a type defined from it", winter, localTime(winter)},
	}
	for _, c := range differ {
		assert.NotEqual(t, enc(c.a), enc(c.b), c.name)
	}
	// The form is the instant (Unix seconds, nanoseconds), the offset and the
	// zone name, whatever the host: a golden form.
	assert.Equal(t, "000000006968c8b0"+"00000005"+"0000000000000e10"+"03"+hex.EncodeToString([]byte("CET")),
		hex.EncodeToString(memo.CanonicalKey(nil, winter)))
}

type localTime time.Time

// The form of a time in time.Local is the same in a process that had not
// loaded Local before and in one that had, and it is the form of the same
// time in the location the host's TZ names: a key shared by processes means
// the same in each.
func TestCanonicalKeyEncodesLocalTimeTheSameInAnyProcess(t *testing.T) {
	if zone := os.Getenv("MEMO_TEST_LOCAL_KEY"); zone != "" {
		// The child: nothing has used time.Local yet.
		fmt.Print(hex.EncodeToString(memo.CanonicalKey(nil, time.Unix(1_780_000_000, 0))))
		return
	}
	for _, zone := range []string{"Europe/Paris", "America/New_York"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCanonicalKeyEncodesLocalTimeTheSameInAnyProcess$")
		cmd.Env = append(os.Environ(), "MEMO_TEST_LOCAL_KEY=1", "TZ="+zone)
		out, err := cmd.Output()
		require.NoError(t, err)
		loc, err := time.LoadLocation(zone)
		require.NoError(t, err)
		want := hex.EncodeToString(memo.CanonicalKey(nil, time.Unix(1_780_000_000, 0).In(loc)))
		assert.Equal(t, want, strings.TrimSuffix(string(out), "PASS\n"), zone)
	}
}

// A *time.Location is encoded by its name and rules, not by the cache it
// fills as it is used, nor by its address.
func TestCanonicalKeyEncodesLocationsByNameAndRules(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	_ = time.Date(1990, 1, 1, 0, 0, 0, 0, paris).String() // moves its cache
	parisAgain, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	assert.Equal(t, enc(paris), enc(parisAgain))
	var paris2000 *time.Location // loaded in 2000, its cache set for then
	synctest.Test(t, func(t *testing.T) {
		paris2000, err = time.LoadLocation("Europe/Paris")
		require.NoError(t, err)
	})
	assert.Equal(t, enc(paris), enc(paris2000), "loaded at other times")
	assert.NotEqual(t, enc(paris), enc(berlin), "other names")
	assert.NotEqual(t, enc(time.FixedZone("X", 3600)), enc(time.FixedZone("X", 7200)), "one name, other offsets")
	assert.Equal(t, enc(time.FixedZone("X", 3600)), enc(time.FixedZone("X", 3600)))
}

// math/big's numbers are encoded by their value: not by their words (whose
// width depends on the platform), the capacity of their slices, a Rat's
// unset denominator or the accuracy a Float's last operation left.
func TestCanonicalKeyEncodesBigNumbersByValue(t *testing.T) {
	n := func(s string) *big.Int { x, _ := new(big.Int).SetString(s, 0); return x }
	grown := new(big.Int).Lsh(big.NewInt(1), 200) // a long magnitude, then a short value
	grown.Sub(grown, grown).Add(grown, big.NewInt(7))
	assert.Equal(t, enc(big.NewInt(7)), enc(grown))
	assert.Equal(t, "02"+"01"+"07", hex.EncodeToString(memo.CanonicalKey(nil, *big.NewInt(7))), "sign, length, magnitude")
	assert.NotEqual(t, enc(big.NewInt(7)), enc(big.NewInt(-7)))
	assert.NotEqual(t, enc(big.NewInt(0)), enc(big.NewInt(1)))
	assert.NotEqual(t, enc(n("0x100")), enc(n("0x1")), "length-prefixed")

	var zero big.Rat
	assert.Equal(t, enc(&zero), enc(big.NewRat(0, 5)), "a zero Rat is 0/1")
	assert.Equal(t, enc(big.NewRat(1, 2)), enc(big.NewRat(3, 6)))
	assert.NotEqual(t, enc(big.NewRat(1, 2)), enc(big.NewRat(2, 1)))

	third := new(big.Float).SetPrec(53).Quo(big.NewFloat(1), big.NewFloat(3)) // Below
	exact := new(big.Float).SetPrec(53)
	exact.SetMantExp(third, 0)
	require.NotEqual(t, third.Acc(), exact.Acc())
	assert.Equal(t, enc(third), enc(exact), "accuracy is not value")
	assert.Equal(t, enc(big.NewFloat(0)), enc(new(big.Float).SetPrec(53).Neg(big.NewFloat(0))), "-0 is +0")
	assert.NotEqual(t, enc(big.NewFloat(1)), enc(new(big.Float).SetPrec(10).SetFloat64(1)), "precision counts")
	assert.NotEqual(t, enc(big.NewFloat(1)), enc(big.NewFloat(2)))
}
