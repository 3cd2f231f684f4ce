package memo

import (
	"hash/maphash"
	"math/bits"
	"reflect"
	"unsafe"
)

// keyHash hashes a store's keys for its index (index.go), which every hit,
// miss and write of the store hashes once or more.
//
// maphash.Comparable hashes any comparable key as a Go map does, but through
// the map type's hash function, found at every call: about 5 ns for an int
// on this project's machines, a tenth of an LRU hit. Keys whose == compares
// their bits as one machine word (integers of 4 or 8 bytes, pointers,
// channels, and types defined on them, such as `type UserID int64`) are
// hashed instead by two rounds of a 64x64->128-bit multiply folded to 64
// bits (the "mum" step of wyhash, and of Go's own map hash on CPUs without
// AES instructions), keyed by two random words per memo, in about 2.5 ns.
// Every other key (strings, floats, whose +0 == -0, structs, arrays,
// interfaces) goes to maphash.Comparable.
//
// Both seeds are random per store, so an attacker who cannot read them
// cannot choose keys that collide in the index, as with a Go map; and equal
// keys hash equally, the one thing the index needs for correctness: two
// distinct keys that collide share a probe sequence, never an entry.
type keyHash[S comparable] struct {
	seed   maphash.Seed
	word   uintptr // 8 or 4: S is a word of that size, hashed by mixWord; 0: maphash.Comparable
	s1, s2 uint64  // mixWord's keys; s2 is odd
}

func (h *keyHash[S]) init() {
	h.seed = maphash.MakeSeed()
	h.word = wordSize(reflect.TypeFor[S]())
	h.s1 = maphash.Comparable(h.seed, uint64(1))
	h.s2 = maphash.Comparable(h.seed, uint64(2)) | 1
}

// wordSize returns t's size if t's values are equal exactly when their bits
// are, and the size is 4 or 8 bytes; else 0.
func wordSize(t reflect.Type) uintptr {
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Pointer, reflect.UnsafePointer, reflect.Chan:
		if s := t.Size(); s == 8 || s == 4 {
			return s
		}
	}
	return 0
}

func (h *keyHash[S]) sum(k S) uint64 {
	switch h.word {
	case 8:
		return mixWord(*(*uint64)(unsafe.Pointer(&k)), h.s1, h.s2)
	case 4:
		return mixWord(uint64(*(*uint32)(unsafe.Pointer(&k))), h.s1, h.s2)
	}
	return maphash.Comparable(h.seed, k)
}

// mixWord hashes the word k with the keys s1 and s2 (odd): every bit of the
// result, the low ones that pick a slot included, depends on every bit of k.
func mixWord(k, s1, s2 uint64) uint64 {
	hi, lo := bits.Mul64(k^s1, s2)
	hi, lo = bits.Mul64(hi^lo^s1, s2^0xa0761d6478bd642f)
	return hi ^ lo
}
