package memo

// CanonicalKey: any Go value as a byte string, equal exactly when the values
// are equal.
//
// # The problem
//
// Keys that are not comparable (slices, maps, structs holding them) need a
// form that two equal values share and two different values never do, the
// same in every process. fmt's %#v and encoding/json are slow, lossy (json
// drops unexported fields) and ambiguous (%#v writes pointers as addresses).
//
// # Why the obvious walk fails
//
// A reflect.Value walk per call costs an allocation per level. A recursive
// walk dies on a value that contains itself (a map holding itself, a slice
// holding a sub-slice of itself): Go's stack overflow is fatal, not a panic
// that net/http could recover. Remembering every pointer on the path and
// searching it costs the depth at every level: a linked list of 100 000
// nodes took 19 s here. And some types' fields are not their value: a
// time.Time carries a monotonic reading and a *Location whose fields are
// filled lazily, so the same instant encoded differently before and after
// time.Local was first used.
//
// # The design
//
// Each type's encoding is compiled once, by reflection, into a tree of
// encoders (one small function per reflect.Kind), and cached. Encoding then
// walks the value through unsafe pointers, without reflection except through
// maps and interfaces. Only plans that compiled are cached.
//
// The walk counts the references it follows (pointers, slices, maps,
// interfaces). Up to trackAfter of them nothing else is paid, as with
// encoding/json's ptrLevel; beyond, each reference's identity (address, length
// for a slice, type) goes into a set for as long as it is on the path, so a
// cycle is found in time linear in the size of the value. A value nested
// deeper than maxDepth (131 072) references is refused with a panic rather
// than risk the stack: a level costs about 320 bytes of stack, so the bound
// is about 40 MiB, far below Go's 1 GiB limit, and a linked list of 100 000
// nodes encodes (0.4 to 0.6 s on a loaded 2-core machine, against 19 s
// when the whole path was searched at every pointer). When a cycle is found,
// the value is walked again, tracking from the root, so that the message
// names the shortest path to the point where the value meets itself.
//
// Types whose fields are not their value (time.Time, time.Location and
// math/big's Int, Rat and Float) have a form of their own, written by hand;
// see CanonicalKey.
//
// # The price
//
// Handing the encoders a pointer to the key would move every key to the heap
// (an indirect call's arguments escape); the key and the walk's state are
// copied instead into a box taken from a sync.Pool per type, so a key without
// maps or interfaces is encoded with no allocation (two before). Following a
// reference costs a counter; past trackAfter, a map insertion and deletion.
// Each map allocates to sort its entries, each interface to copy its value.
// Shared sub-values are encoded once per reference to them, like
// encoding/json.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// A KeyFunc appends the canonical form of key to dst and returns the
// extended slice, like strconv.AppendInt. MemoizeKeyed stores entries under
// that form: two keys share an entry exactly when their forms are equal, so a
// KeyFunc must be deterministic, and injective over the keys that must not
// share a result. A KeyFunc may be coarser than equality on purpose, keeping
// only the fields that affect the result.
//
// Appending into a buffer the memo reuses lets a hit make no allocation; a
// KeyFunc should append to dst rather than build a string.
type KeyFunc[K any] func(dst []byte, key K) []byte

// CanonicalKey is the KeyFunc for any type: it appends a binary encoding of
// key that is
//
//   - deep: structs (exported and unexported fields), arrays, slices, maps,
//     pointers (by the value they point to, not their address), interfaces
//     and named types are encoded by their contents;
//   - injective: strings, slices and maps are length-prefixed and pointers
//     and interfaces tagged, so different values never share a form
//     (["a,b"] and ["a", "b"] differ, as do ("ab", "c") and ("a", "bc"), a
//     nil pointer and a pointer to a zero value);
//   - type-tagged through interfaces: an any holding int(1), one holding
//     int64(1) and one holding float64(1) are three keys, as with Python's
//     lru_cache(typed=True);
//   - order-insensitive for maps: map entries are sorted by their encoded
//     keys, so a map built in any order encodes the same;
//   - deterministic across runs and processes: no addresses, no random seeds
//     (integers are written big-endian at their full width, int as 64 bits),
//     so a form can key a store shared between processes.
//
// Two values have the same form exactly when they are equal under these
// rules: pointers are followed, a nil slice or map equals an empty one, +0 and
// -0 are equal, every NaN equals every NaN (so that f(NaN) can be memoized),
// and blank (_) struct fields are ignored, as == does.
//
// Some types' fields are not their value; they are encoded by their value:
//
//   - time.Time (and types defined from it): the instant and the zone in
//     effect at that instant, its name and offset, as t.Zone returns them.
//     The monotonic clock reading and the *Location pointer are not part of
//     it, so t and t.Round(0) are one key, as are t in time.Local and in the
//     location Local was loaded from, and t.UTC() and
//     t.In(time.FixedZone("UTC", 0)). Different offsets or zone names
//     (UTC and a zone "X" at offset 0) are different keys. Two locations
//     that agree at this instant but not at others (America/Phoenix and
//     America/Denver in winter, both MST) give one key: a function whose
//     result depends on the location's rules at other instants needs a
//     KeyFunc, or the location in its key.
//   - time.Location: its name and its rules (zones and transitions), without
//     the cache it fills as it is used; time.Local is loaded first, so it
//     encodes as the host's zone under the name "Local".
//   - big.Int: its sign and magnitude (not its words, whose width depends
//     on the platform); big.Rat: its numerator and denominator, a zero Rat
//     being 0/1; big.Float: its precision, rounding mode and exact value
//     (-0 being +0), not the accuracy of the operation that produced it.
//
// Other types with unexported fields are encoded by those fields; a type
// whose fields hold caches, locks or other state that is not its value needs
// a KeyFunc of its own (its MarshalBinary is not used: encoding.BinaryMarshaler
// promises a round trip, not equal forms for equal values).
//
// CanonicalKey panics with a message naming the type and the path to the
// offending part when key holds a func, a channel or an unsafe.Pointer (they
// have no value to compare), a cycle (a value that contains itself, through
// pointers, slices, maps or interfaces: "memo: CanonicalKey: cycle at
// key.Next.Next ..."), or references nested deeper than 131 072 levels (a
// linked list of 100 000 nodes is fine).
// These panics leave nothing behind: a later call panics the same way, and
// other types are unaffected. Cycles are found in time linear in the size of
// the value; a sub-value referenced twice is encoded twice.
func CanonicalKey[K any](dst []byte, key K) []byte {
	t := reflect.TypeFor[K]()
	p := planFor(t)
	bx, _ := p.boxes.Get().(*keyBox[K])
	if bx == nil {
		bx = new(keyBox[K])
	}
	bx.key, bx.st = key, encState{trackAfter: trackAfter}
	dst = p.enc(dst, unsafe.Pointer(&bx.key), &bx.st)
	if bx.st.err != nil {
		p.fail(unsafe.Pointer(&bx.key), t, bx.st.err) // the box is dropped
	}
	*bx = keyBox[K]{}
	p.boxes.Put(bx)
	return dst
}

// keyBox holds a key and the walk's state while it is encoded: handing the
// encoders pointers to the caller's copy would move it to the heap, one
// allocation per call; boxes are pooled per plan instead.
type keyBox[K any] struct {
	key K
	st  encState
}

const (
	// trackAfter is how many references a walk follows before it tracks
	// them to find cycles.
	trackAfter = 64
	// maxDepth is how many nested references a key may hold: a level takes
	// about 320 bytes of stack (two encoders' frames), 40 MiB in all.
	maxDepth = 1 << 17
)

// fail panics with the path to what made the key at k, of type t, fail to
// encode. A cycle is found only beyond trackAfter references, after going
// round it several times; walking again, tracking from the root, finds the
// shortest path to it.
func (p *plan) fail(k unsafe.Pointer, t reflect.Type, err *encError) {
	if err.cycle {
		st := &encState{}
		p.enc(nil, k, st)
		if st.err != nil {
			err = st.err
		}
	}
	panic("memo: CanonicalKey: " + err.message(t))
}

// encoder appends the form of the value at p.
type encoder func(b []byte, p unsafe.Pointer, st *encState) []byte

// plan is the cached encoding of one type.
type plan struct {
	enc   encoder
	id    string    // the type's identity, written before interface contents
	boxes sync.Pool // *keyBox[K] for the type K of this plan
}

var plans sync.Map // reflect.Type → *plan, only plans that compiled

// planFor returns t's plan, compiling it on first use; it panics if t
// cannot be encoded, caching nothing, so every call panics alike.
func planFor(t reflect.Type) *plan {
	p, err := planOf(t)
	if err != nil {
		panic("memo: CanonicalKey: " + err.message(t))
	}
	return p
}

// planOf returns t's plan, or why t cannot be encoded.
func planOf(t reflect.Type) (*plan, *typeError) {
	if p, ok := plans.Load(t); ok {
		return p.(*plan), nil
	}
	c := compiler{local: map[reflect.Type]*plan{}}
	p, err := c.compile(t, "")
	if err != nil {
		return nil, err // the plans compiled on the way may use p: drop them all
	}
	for t, q := range c.local {
		plans.LoadOrStore(t, q)
	}
	actual, _ := plans.LoadOrStore(t, p)
	return actual.(*plan), nil
}

// compiler builds the plans of one type and of the types it holds; local
// ties the knot of recursive types, and holds the plans until all compiled.
type compiler struct {
	local map[reflect.Type]*plan
}

func (c *compiler) compile(t reflect.Type, path string) (*plan, *typeError) {
	if p, ok := plans.Load(t); ok {
		return p.(*plan), nil
	}
	if p, ok := c.local[t]; ok {
		return p, nil // a recursive type: p.enc is set before any value is encoded
	}
	p := &plan{id: typeID(t)}
	c.local[t] = p
	enc, err := c.encoder(t, path)
	p.enc = enc
	return p, err
}

// encoder picks the encoder of t's kind; path leads to t from the root
// type, for messages.
func (c *compiler) encoder(t reflect.Type, path string) (encoder, *typeError) {
	if enc, ok := c.valueForm(t, path); ok {
		return enc, nil
	}
	if enc := scalarEncoders[t.Kind()]; enc != nil {
		return enc, nil
	}
	switch t.Kind() {
	case reflect.Slice:
		return c.sliceEncoder(t, path)
	case reflect.Array:
		return c.arrayEncoder(t, path)
	case reflect.Struct:
		return c.structEncoder(t, path, nil)
	case reflect.Pointer:
		return c.pointerEncoder(t, path)
	case reflect.Map:
		return c.mapEncoder(t, path)
	case reflect.Interface:
		return interfaceEncoder(t), nil
	}
	// Func, Chan, UnsafePointer: no value to compare.
	return nil, &typeError{path, fmt.Sprintf("%v has no value to compare (funcs, channels and unsafe.Pointers cannot be keys)", t)}
}

// scalarEncoders holds the encoders of the kinds that hold no other value.
var scalarEncoders = [...]encoder{
	reflect.Bool:          encBool,
	reflect.Int8:          encByte,
	reflect.Uint8:         encByte,
	reflect.Int16:         encUint16,
	reflect.Uint16:        encUint16,
	reflect.Int32:         encUint32,
	reflect.Uint32:        encUint32,
	reflect.Int64:         encUint64,
	reflect.Uint64:        encUint64,
	reflect.Int:           encInt,
	reflect.Uint:          encUint,
	reflect.Uintptr:       encUint,
	reflect.Float32:       encFloat32,
	reflect.Float64:       encFloat64,
	reflect.Complex64:     encComplex64,
	reflect.Complex128:    encComplex128,
	reflect.String:        encString,
	reflect.UnsafePointer: nil,
}

func encBool(b []byte, p unsafe.Pointer, _ *encState) []byte {
	if *(*bool)(p) {
		return append(b, 1)
	}
	return append(b, 0)
}

func encByte(b []byte, p unsafe.Pointer, _ *encState) []byte { return append(b, *(*byte)(p)) }

func encUint16(b []byte, p unsafe.Pointer, _ *encState) []byte {
	return binary.BigEndian.AppendUint16(b, *(*uint16)(p))
}

func encUint32(b []byte, p unsafe.Pointer, _ *encState) []byte {
	return binary.BigEndian.AppendUint32(b, *(*uint32)(p))
}

func encUint64(b []byte, p unsafe.Pointer, _ *encState) []byte {
	return binary.BigEndian.AppendUint64(b, *(*uint64)(p))
}

func encInt(b []byte, p unsafe.Pointer, _ *encState) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(int64(*(*int)(p))))
}

func encUint(b []byte, p unsafe.Pointer, _ *encState) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(*(*uintptr)(p)))
}

func encFloat32(b []byte, p unsafe.Pointer, _ *encState) []byte {
	return binary.BigEndian.AppendUint32(b, canonicalFloat32(*(*float32)(p)))
}

func encFloat64(b []byte, p unsafe.Pointer, _ *encState) []byte {
	return binary.BigEndian.AppendUint64(b, canonicalFloat64(*(*float64)(p)))
}

func encComplex64(b []byte, p unsafe.Pointer, _ *encState) []byte {
	c := *(*complex64)(p)
	b = binary.BigEndian.AppendUint32(b, canonicalFloat32(real(c)))
	return binary.BigEndian.AppendUint32(b, canonicalFloat32(imag(c)))
}

func encComplex128(b []byte, p unsafe.Pointer, _ *encState) []byte {
	c := *(*complex128)(p)
	b = binary.BigEndian.AppendUint64(b, canonicalFloat64(real(c)))
	return binary.BigEndian.AppendUint64(b, canonicalFloat64(imag(c)))
}

func encString(b []byte, p unsafe.Pointer, _ *encState) []byte {
	return appendString(b, *(*string)(p))
}

func encBytes(b []byte, p unsafe.Pointer, _ *encState) []byte {
	s := *(*[]byte)(p)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func canonicalFloat64(f float64) uint64 {
	switch {
	case f != f:
		return 0x7ff8000000000001 // every NaN is one key
	case f == 0:
		return 0 // +0 and -0 are one key
	}
	return math.Float64bits(f)
}

func canonicalFloat32(f float32) uint32 {
	switch {
	case f != f:
		return 0x7fc00001
	case f == 0:
		return 0
	}
	return math.Float32bits(f)
}

type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// sliceEncoder writes the length, then each element. A slice is on the path
// as its array, its length and its element type: a slice holding a shorter
// or later sub-slice of itself is not a cycle until that sub-slice meets
// itself.
func (c *compiler) sliceEncoder(t reflect.Type, path string) (encoder, *typeError) {
	et := t.Elem()
	if et.Kind() == reflect.Uint8 {
		return encBytes, nil
	}
	ep, err := c.compile(et, path+"[i]")
	if err != nil {
		return nil, err
	}
	size := et.Size()
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		h := (*sliceHeader)(p)
		b = binary.AppendUvarint(b, uint64(h.len))
		if h.len == 0 || !st.enter(h.data, h.len, t) {
			return b
		}
		for i := range h.len {
			b = ep.enc(b, unsafe.Add(h.data, uintptr(i)*size), st)
			if st.err != nil {
				st.err.push("[" + strconv.Itoa(i) + "]")
				return b
			}
		}
		st.leave(h.data, h.len, t)
		return b
	}, nil
}

func (c *compiler) arrayEncoder(t reflect.Type, path string) (encoder, *typeError) {
	n, size := t.Len(), t.Elem().Size()
	ep, err := c.compile(t.Elem(), path+"[i]")
	if err != nil {
		return nil, err
	}
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		for i := range n {
			b = ep.enc(b, unsafe.Add(p, uintptr(i)*size), st)
			if st.err != nil {
				st.err.push("[" + strconv.Itoa(i) + "]")
				return b
			}
		}
		return b
	}, nil
}

// structEncoder writes the fields in order, except blank ones (ignored by
// ==), zero-size ones (they hold nothing) and those skip names.
func (c *compiler) structEncoder(t reflect.Type, path string, skip func(string) bool) (encoder, *typeError) {
	type field struct {
		off  uintptr
		name string
		p    *plan
	}
	var fields []field
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" || f.Type.Size() == 0 && f.Type.Kind() != reflect.Interface || skip != nil && skip(f.Name) {
			continue
		}
		fp, err := c.compile(f.Type, path+"."+f.Name)
		if err != nil {
			return nil, err
		}
		fields = append(fields, field{f.Offset, "." + f.Name, fp})
	}
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		for _, f := range fields {
			b = f.p.enc(b, unsafe.Add(p, f.off), st)
			if st.err != nil {
				st.err.push(f.name)
				return b
			}
		}
		return b
	}, nil
}

// pointerEncoder writes 0 for nil, else 1 and the value pointed to.
func (c *compiler) pointerEncoder(t reflect.Type, path string) (encoder, *typeError) {
	ep, err := c.compile(t.Elem(), path)
	if err != nil {
		return nil, err
	}
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		q := *(*unsafe.Pointer)(p)
		if q == nil {
			return append(b, 0)
		}
		if !st.enter(q, 0, t) {
			return b
		}
		b = ep.enc(append(b, 1), q, st)
		if st.err == nil {
			st.leave(q, 0, t)
		}
		return b
	}, nil
}

// mapEncoder writes the length, then the entries sorted by their encoded
// key (and value, for keys that encode alike, such as NaNs).
func (c *compiler) mapEncoder(t reflect.Type, path string) (encoder, *typeError) {
	kp, err := c.compile(t.Key(), path+"[key]")
	if err != nil {
		return nil, err
	}
	vp, err := c.compile(t.Elem(), path+"[k]")
	if err != nil {
		return nil, err
	}
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		m := reflect.NewAt(t, p).Elem()
		n := m.Len()
		b = binary.AppendUvarint(b, uint64(n))
		id := m.UnsafePointer()
		if n == 0 || !st.enter(id, 0, t) {
			return b
		}
		entries, ok := encodeEntries(m, kp, vp, st)
		if !ok {
			return b
		}
		st.leave(id, 0, t)
		for _, e := range entries {
			b = append(append(b, e.k...), e.v...)
		}
		return b
	}, nil
}

type mapEntry struct{ k, v []byte }

// encodeEntries encodes each entry of m on its own and sorts them.
func encodeEntries(m reflect.Value, kp, vp *plan, st *encState) ([]mapEntry, bool) {
	entries := make([]mapEntry, 0, m.Len())
	var scratch []byte
	key, val := reflect.New(m.Type().Key()).Elem(), reflect.New(m.Type().Elem()).Elem()
	for it := m.MapRange(); it.Next(); {
		key.SetIterKey(it)
		val.SetIterValue(it)
		start := len(scratch)
		scratch = kp.enc(scratch, key.Addr().UnsafePointer(), st)
		mid := len(scratch)
		if st.err == nil {
			scratch = vp.enc(scratch, val.Addr().UnsafePointer(), st)
		}
		if st.err != nil {
			st.err.push(keyStep(key))
			return nil, false
		}
		entries = append(entries, mapEntry{scratch[start:mid:mid], scratch[mid:len(scratch):len(scratch)]})
	}
	slices.SortFunc(entries, func(x, y mapEntry) int {
		if c := bytes.Compare(x.k, y.k); c != 0 {
			return c
		}
		return bytes.Compare(x.v, y.v)
	})
	return entries, true
}

// keyStep names a map entry in a path: ["a"] for a string key, [1] for others.
func keyStep(k reflect.Value) string {
	if k.Kind() == reflect.Interface && !k.IsNil() {
		k = k.Elem()
	}
	if k.Kind() == reflect.String {
		return "[" + strconv.Quote(k.String()) + "]"
	}
	return fmt.Sprintf("[%v]", k)
}

// interfaceEncoder writes 0 for nil, else 1, the dynamic type's identity and
// the value, encoded by the dynamic type's plan.
func interfaceEncoder(t reflect.Type) encoder {
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		v := reflect.NewAt(t, p).Elem()
		if v.IsNil() {
			return append(b, 0)
		}
		d := v.Elem()
		dp, err := planOf(d.Type())
		if err != nil {
			st.fail(fmt.Sprintf("%s (in an interface holding %v)", err.what, d.Type()))
			st.err.push(err.path)
			return b
		}
		if !st.enter(nil, 0, nil) {
			return b
		}
		b = append(b, 1)
		b = appendString(b, dp.id)
		holder := reflect.New(d.Type()).Elem()
		holder.Set(d)
		b = dp.enc(b, holder.Addr().UnsafePointer(), st)
		if st.err == nil {
			st.leave(nil, 0, nil)
		}
		return b
	}
}

// valueForm returns the hand-written encoder of a type whose fields are not
// its value, or of a type defined from one.
func (c *compiler) valueForm(t reflect.Type, path string) (encoder, bool) {
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	switch {
	case t.ConvertibleTo(timeType):
		return encTime, true
	case t.ConvertibleTo(bigIntType):
		return encBigInt, true
	case t.ConvertibleTo(bigRatType):
		return encBigRat, true
	case t.ConvertibleTo(bigFloatType):
		return encBigFloat, true
	case t.ConvertibleTo(locationType):
		enc, _ := c.structEncoder(t, path, func(name string) bool { return strings.HasPrefix(name, "cache") })
		return func(b []byte, p unsafe.Pointer, st *encState) []byte {
			_ = (*time.Location)(p).String() // loads time.Local on first use
			return enc(b, p, st)
		}, true
	}
	return nil, false
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	locationType = reflect.TypeFor[time.Location]()
	bigIntType   = reflect.TypeFor[big.Int]()
	bigRatType   = reflect.TypeFor[big.Rat]()
	bigFloatType = reflect.TypeFor[big.Float]()
)

// encTime writes the instant (Unix seconds, nanoseconds) and the zone in
// effect: its offset and name.
func encTime(b []byte, p unsafe.Pointer, _ *encState) []byte {
	t := *(*time.Time)(p)
	name, offset := t.Zone()
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
	b = binary.BigEndian.AppendUint64(b, uint64(int64(offset)))
	return appendString(b, name)
}

// encBigInt writes the sign and the magnitude, big-endian.
func encBigInt(b []byte, p unsafe.Pointer, _ *encState) []byte {
	return appendBigInt(b, (*big.Int)(p))
}

func appendBigInt(b []byte, x *big.Int) []byte {
	b = append(b, byte(x.Sign()+1))
	n := (x.BitLen() + 7) / 8
	b = binary.AppendUvarint(b, uint64(n))
	b = slices.Grow(b, n)
	x.FillBytes(b[len(b) : len(b)+n])
	return b[:len(b)+n]
}

// encBigRat writes the numerator and the denominator (1 for a zero Rat).
func encBigRat(b []byte, p unsafe.Pointer, _ *encState) []byte {
	r := (*big.Rat)(p)
	return appendBigInt(appendBigInt(b, r.Num()), r.Denom())
}

// encBigFloat writes the precision, the rounding mode and the exact value in
// hexadecimal (its text has no 0 byte, which ends it).
func encBigFloat(b []byte, p unsafe.Pointer, _ *encState) []byte {
	f := (*big.Float)(p)
	b = binary.BigEndian.AppendUint32(b, uint32(f.Prec()))
	b = append(b, byte(f.Mode()))
	if f.Sign() == 0 {
		return append(b, '0', 0) // -0 is +0
	}
	return append(f.Append(b, 'p', 0), 0)
}

// typeID names a type uniquely and the same way in every process: a named
// type by its package path and name, any other by its structure.
func typeID(t reflect.Type) string {
	if t.Name() != "" {
		if t.PkgPath() == "" {
			return t.Name() // predeclared: int, string, error…
		}
		return t.PkgPath() + "." + t.Name()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + typeID(t.Elem())
	case reflect.Slice:
		return "[]" + typeID(t.Elem())
	case reflect.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), typeID(t.Elem()))
	case reflect.Map:
		return "map[" + typeID(t.Key()) + "]" + typeID(t.Elem())
	case reflect.Struct:
		return structID(t)
	}
	return t.String() // unnamed interfaces, funcs and channels spell out their parts
}

func structID(t reflect.Type) string {
	var sb strings.Builder
	sb.WriteString("struct{")
	for i := range t.NumField() {
		f := t.Field(i)
		if i > 0 {
			sb.WriteString("; ")
		}
		if f.PkgPath != "" {
			sb.WriteString(f.PkgPath + ".")
		}
		sb.WriteString(f.Name + " " + typeID(f.Type))
		if f.Tag != "" {
			fmt.Fprintf(&sb, " %q", f.Tag)
		}
	}
	sb.WriteString("}")
	return sb.String()
}

// typeError is a type that cannot be encoded: the path to the culprit from
// the root type, as value paths are written ("[i]" for any index, "[key]" for
// a map's keys, "[k]" for its values), and why.
type typeError struct{ path, what string }

func (e *typeError) message(root reflect.Type) string {
	return fmt.Sprintf("cannot encode key%s (key type %v): %s", e.path, root, e.what)
}

// encState is what one walk carries beyond the bytes: how many references
// deep it is, the references on the path once it tracks them, and the error.
type encState struct {
	depth      int
	trackAfter int
	onPath     map[ref]struct{}
	err        *encError
}

// ref identifies what a reference leads to: an address (as a number, so that
// the set holds no pointers), a slice's length, and the reference's type (a
// struct and its first field share an address, and are not one value).
type ref struct {
	addr uintptr
	n    int
	t    reflect.Type
}

// enter records a step through a reference to (p, n, t) and reports whether
// the walk may go on; a nil t is an interface, which counts for depth only.
func (st *encState) enter(p unsafe.Pointer, n int, t reflect.Type) bool {
	st.depth++
	return st.depth <= st.trackAfter || st.track(p, n, t)
}

func (st *encState) track(p unsafe.Pointer, n int, t reflect.Type) bool {
	if st.depth > maxDepth {
		st.fail(fmt.Sprintf("nested deeper than %d references (pointers, slices, maps, interfaces); CanonicalKey refuses it rather than overflow the stack", maxDepth))
		st.err.lead = "too deep at"
		return false
	}
	if t == nil {
		return true
	}
	r := ref{uintptr(p), n, t}
	if st.onPath == nil {
		st.onPath = map[ref]struct{}{}
	}
	if _, dup := st.onPath[r]; dup {
		st.fail(fmt.Sprintf("the %v there contains itself, so it has no finite form", t))
		st.err.lead, st.err.cycle = "cycle at", true
		return false
	}
	st.onPath[r] = struct{}{}
	return true
}

// leave undoes enter, on the way back from a step that did not fail.
func (st *encState) leave(p unsafe.Pointer, n int, t reflect.Type) {
	if st.depth > st.trackAfter && t != nil {
		delete(st.onPath, ref{uintptr(p), n, t})
	}
	st.depth--
}

func (st *encState) fail(what string) { st.err = &encError{lead: "cannot encode", what: what} }

// encError is a value that cannot be encoded, and the path to it, built from
// the inside out as the encoders return. A path is kept whole up to
// 2*keptSteps steps; beyond, its middle is elided.
type encError struct {
	lead, what string
	cycle      bool
	inner      []string          // the innermost steps, innermost first
	outer      [keptSteps]string // a ring of the latest steps beyond them
	more       int               // steps pushed beyond inner
}

const keptSteps = 16

func (e *encError) push(step string) {
	if len(e.inner) < keptSteps {
		e.inner = append(e.inner, step)
		return
	}
	e.outer[e.more%keptSteps] = step
	e.more++
}

func (e *encError) message(root reflect.Type) string {
	var sb strings.Builder
	sb.WriteString("key")
	for i := range min(e.more, keptSteps) {
		sb.WriteString(e.outer[(e.more-1-i)%keptSteps])
	}
	if e.more > keptSteps {
		fmt.Fprintf(&sb, "…(%d steps)…", e.more-keptSteps)
	}
	for i := len(e.inner) - 1; i >= 0; i-- {
		sb.WriteString(e.inner[i])
	}
	return fmt.Sprintf("%s %s (key type %v): %s", e.lead, sb.String(), root, e.what)
}
