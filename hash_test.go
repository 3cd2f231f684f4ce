package memo

import (
	"math"
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type userID int64
type shortID uint32
type label string

// Only keys whose == compares one 4- or 8-byte word take the fast hash:
// a float's +0 == -0 with different bits, and a string's == reads memory
// the word does not hold.
func TestWordSizeTakesOnlyBitwiseWords(t *testing.T) {
	ptr := uintptr(unsafe.Sizeof(uintptr(0)))
	for _, c := range []struct {
		t    reflect.Type
		want uintptr
	}{
		{reflect.TypeFor[int](), ptr},
		{reflect.TypeFor[int64](), 8},
		{reflect.TypeFor[uint32](), 4},
		{reflect.TypeFor[userID](), 8},
		{reflect.TypeFor[shortID](), 4},
		{reflect.TypeFor[*int](), ptr},
		{reflect.TypeFor[chan int](), ptr},
		{reflect.TypeFor[unsafe.Pointer](), ptr},
		{reflect.TypeFor[int8](), 0},
		{reflect.TypeFor[uint16](), 0},
		{reflect.TypeFor[bool](), 0},
		{reflect.TypeFor[float64](), 0},
		{reflect.TypeFor[float32](), 0},
		{reflect.TypeFor[string](), 0},
		{reflect.TypeFor[label](), 0},
		{reflect.TypeFor[[2]int32](), 0},
		{reflect.TypeFor[struct{ a int64 }](), 0},
		{reflect.TypeFor[any](), 0},
	} {
		assert.Equal(t, c.want, wordSize(c.t), "%v", c.t)
	}
}

// Equal keys hash equally, whichever hash their type takes, and float keys
// that are == with different bits (+0 and -0) share an entry.
func TestKeyHashOfEqualKeys(t *testing.T) {
	var h8 keyHash[userID]
	h8.init()
	require.EqualValues(t, 8, h8.word)
	assert.Equal(t, h8.sum(42), h8.sum(userID(42)))
	assert.NotEqual(t, h8.sum(42), h8.sum(43))

	var h4 keyHash[int32]
	h4.init()
	require.EqualValues(t, 4, h4.word)
	assert.Equal(t, h4.sum(-7), h4.sum(int32(-7)))

	var hf keyHash[float64]
	hf.init()
	negZero := math.Copysign(0, -1)
	assert.Equal(t, hf.sum(0), hf.sum(negZero), "+0 == -0 must share a hash")

	var x index[float64, string]
	x.init(false)
	_, ok := x.put(&entry[float64, string]{key: 0, val: "zero"})
	require.True(t, ok)
	e := x.get(negZero)
	require.NotNil(t, e)
	assert.Equal(t, "zero", e.val)
}

// The index takes a slot from a hash's low bits: sequential keys, and keys
// that differ only in their high bits, must spread over the slots as random
// hashes would. A hash that left the word as it is, or multiplied it
// without folding the high half back in, would pile the high-bit keys into
// one slot.
func TestMixWordSpreadsLowBits(t *testing.T) {
	var h keyHash[uint64]
	h.init()
	const buckets, n = 1024, 64 * 1024
	for name, key := range map[string]func(i uint64) uint64{
		"sequential": func(i uint64) uint64 { return i },
		"high bits":  func(i uint64) uint64 { return i << 48 },
		"strided":    func(i uint64) uint64 { return i * 4096 },
	} {
		var count [buckets]int
		for i := range uint64(n) {
			count[h.sum(key(i))%buckets]++
		}
		// Expected 64 per bucket, standard deviation 8: a chi-square over
		// 1023 degrees of freedom stays below 1250 but for one time in
		// 10^8.
		chi := 0.0
		for _, c := range count {
			d := float64(c - n/buckets)
			chi += d * d / (n / buckets)
		}
		assert.Less(t, chi, 1250.0, name)
	}
}

// Two stores with the same key type hash differently: the keys are random
// per store, as a Go map's seed is.
func TestKeyHashSeedsDiffer(t *testing.T) {
	var a, b keyHash[int]
	a.init()
	b.init()
	same := 0
	for i := range 64 {
		if a.sum(i) == b.sum(i) {
			same++
		}
	}
	assert.Less(t, same, 2)
	assert.Equal(t, uint64(1), a.s2&1, "the multiplier is odd")
}
