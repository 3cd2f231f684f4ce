package memo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
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
// CanonicalKey panics with a message naming the type and the path to the
// offending part when key holds a func, a channel or an unsafe.Pointer (they
// have no value to compare), or a pointer cycle. Each type's encoding is
// worked out by reflection once and cached; encoding a value then walks it
// without reflection, except through maps and interfaces.
func CanonicalKey[K any](dst []byte, key K) []byte {
	p := planOf(reflect.TypeFor[K]())
	if p.err != "" {
		panic("memo: CanonicalKey: " + p.err)
	}
	var st encState
	dst = p.enc(dst, unsafe.Pointer(&key), &st)
	if st.err != nil {
		panic("memo: CanonicalKey: " + st.err.message(reflect.TypeFor[K]()))
	}
	return dst
}

// encoder appends the form of the value at p.
type encoder func(b []byte, p unsafe.Pointer, st *encState) []byte

// plan is the cached encoding of one type.
type plan struct {
	enc encoder
	id  string // the type's identity, written before interface contents
	err string // why the type cannot be encoded, with the path to the culprit
}

var plans sync.Map // reflect.Type → *plan

func planOf(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	c := compiler{inProgress: map[reflect.Type]*plan{}}
	p := c.compile(t, t.String())
	actual, _ := plans.LoadOrStore(t, p)
	return actual.(*plan)
}

// compiler builds plans; inProgress ties the knot of recursive types.
type compiler struct {
	inProgress map[reflect.Type]*plan
}

func (c *compiler) compile(t reflect.Type, path string) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	if p, ok := c.inProgress[t]; ok {
		return p // a recursive type: p.enc is set before any value is encoded
	}
	p := &plan{id: typeID(t)}
	c.inProgress[t] = p
	p.enc, p.err = c.encoder(t, path)
	if p.err == "" {
		plans.Store(t, p)
	}
	return p
}

func (c *compiler) encoder(t reflect.Type, path string) (encoder, string) {
	switch t.Kind() {
	case reflect.Bool:
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte {
			if *(*bool)(p) {
				return append(b, 1)
			}
			return append(b, 0)
		}, ""
	case reflect.Int8, reflect.Uint8:
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte { return append(b, *(*byte)(p)) }, ""
	case reflect.Int16, reflect.Uint16:
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte {
			return binary.BigEndian.AppendUint16(b, *(*uint16)(p))
		}, ""
	case reflect.Int32, reflect.Uint32:
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte {
			return binary.BigEndian.AppendUint32(b, *(*uint32)(p))
		}, ""
	case reflect.Int64, reflect.Uint64:
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte {
			return binary.BigEndian.AppendUint64(b, *(*uint64)(p))
		}, ""
	case reflect.Int:
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte {
			return binary.BigEndian.AppendUint64(b, uint64(int64(*(*int)(p))))
		}, ""
	case reflect.Uint, reflect.Uintptr:
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte {
			return binary.BigEndian.AppendUint64(b, uint64(*(*uintptr)(p)))
		}, ""
	case reflect.Float32:
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte {
			return binary.BigEndian.AppendUint32(b, canonicalFloat32(*(*float32)(p)))
		}, ""
	case reflect.Float64:
		return encFloat64, ""
	case reflect.Complex64:
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte {
			c := *(*complex64)(p)
			b = binary.BigEndian.AppendUint32(b, canonicalFloat32(real(c)))
			return binary.BigEndian.AppendUint32(b, canonicalFloat32(imag(c)))
		}, ""
	case reflect.Complex128:
		return func(b []byte, p unsafe.Pointer, st *encState) []byte {
			c := (*[2]float64)(p)
			b = encFloat64(b, unsafe.Pointer(&c[0]), st)
			return encFloat64(b, unsafe.Pointer(&c[1]), st)
		}, ""
	case reflect.String:
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte {
			s := *(*string)(p)
			b = binary.AppendUvarint(b, uint64(len(s)))
			return append(b, s...)
		}, ""
	case reflect.Slice:
		return c.sliceEncoder(t, path)
	case reflect.Array:
		return c.arrayEncoder(t, path)
	case reflect.Struct:
		return c.structEncoder(t, path)
	case reflect.Pointer:
		return c.pointerEncoder(t, path)
	case reflect.Map:
		return c.mapEncoder(t, path)
	case reflect.Interface:
		return interfaceEncoder(t), ""
	}
	// Func, Chan, UnsafePointer: no value to compare.
	return nil, fmt.Sprintf("cannot encode %s: %v has no value to compare (funcs, channels and unsafe.Pointers cannot be keys)", path, t)
}

func encFloat64(b []byte, p unsafe.Pointer, _ *encState) []byte {
	f := *(*float64)(p)
	var bits uint64
	switch {
	case f != f:
		bits = 0x7ff8000000000001 // every NaN is one key
	case f == 0:
		bits = 0 // +0 and -0 are one key
	default:
		bits = math.Float64bits(f)
	}
	return binary.BigEndian.AppendUint64(b, bits)
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

func (c *compiler) sliceEncoder(t reflect.Type, path string) (encoder, string) {
	et := t.Elem()
	if et.Kind() == reflect.Uint8 {
		return func(b []byte, p unsafe.Pointer, _ *encState) []byte {
			s := *(*[]byte)(p)
			b = binary.AppendUvarint(b, uint64(len(s)))
			return append(b, s...)
		}, ""
	}
	ep := c.compile(et, path+"[i]")
	if ep.err != "" {
		return nil, ep.err
	}
	size := et.Size()
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		h := (*sliceHeader)(p)
		b = binary.AppendUvarint(b, uint64(h.len))
		for i := range h.len {
			b = ep.enc(b, unsafe.Add(h.data, uintptr(i)*size), st)
			if st.err != nil {
				st.err.push(fmt.Sprintf("[%d]", i))
				return b
			}
		}
		return b
	}, ""
}

type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

func (c *compiler) arrayEncoder(t reflect.Type, path string) (encoder, string) {
	n := t.Len()
	ep := c.compile(t.Elem(), path+"[i]")
	if ep.err != "" {
		return nil, ep.err
	}
	size := t.Elem().Size()
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		for i := range n {
			b = ep.enc(b, unsafe.Add(p, uintptr(i)*size), st)
			if st.err != nil {
				st.err.push(fmt.Sprintf("[%d]", i))
				return b
			}
		}
		return b
	}, ""
}

func (c *compiler) structEncoder(t reflect.Type, path string) (encoder, string) {
	type field struct {
		off  uintptr
		name string
		p    *plan
	}
	var fields []field
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" || f.Type.Size() == 0 && f.Type.Kind() != reflect.Interface {
			continue // blank fields are ignored by ==; zero-size ones hold nothing
		}
		fp := c.compile(f.Type, path+"."+f.Name)
		if fp.err != "" {
			return nil, fp.err
		}
		fields = append(fields, field{f.Offset, f.Name, fp})
	}
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		for _, f := range fields {
			b = f.p.enc(b, unsafe.Add(p, f.off), st)
			if st.err != nil {
				st.err.push("." + f.name)
				return b
			}
		}
		return b
	}, ""
}

func (c *compiler) pointerEncoder(t reflect.Type, path string) (encoder, string) {
	ep := c.compile(t.Elem(), "(*"+path+")")
	if ep.err != "" {
		return nil, ep.err
	}
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		q := *(*unsafe.Pointer)(p)
		if q == nil {
			return append(b, 0)
		}
		if st.onPath(q) {
			st.err = &encError{what: "a pointer cycle: this pointer leads back to a value that contains it"}
			return b
		}
		st.ptrs = append(st.ptrs, q)
		b = ep.enc(append(b, 1), q, st)
		st.ptrs = st.ptrs[:len(st.ptrs)-1]
		if st.err != nil {
			st.err.push("*")
		}
		return b
	}, ""
}

func (c *compiler) mapEncoder(t reflect.Type, path string) (encoder, string) {
	kp := c.compile(t.Key(), path+"[key]")
	if kp.err != "" {
		return nil, kp.err
	}
	vp := c.compile(t.Elem(), path+"[value]")
	if vp.err != "" {
		return nil, vp.err
	}
	return func(b []byte, p unsafe.Pointer, st *encState) []byte {
		m := reflect.NewAt(t, p).Elem()
		n := m.Len()
		b = binary.AppendUvarint(b, uint64(n))
		if n == 0 {
			return b
		}
		// Encode every entry on its own, then write them sorted by their
		// encoded key (and value, for keys that encode alike, such as NaNs).
		type kv struct{ k, v []byte }
		entries := make([]kv, 0, n)
		var scratch []byte
		key, val := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
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
				st.err.push(fmt.Sprintf("[%v]", key))
				return b
			}
			entries = append(entries, kv{scratch[start:mid:mid], scratch[mid:len(scratch):len(scratch)]})
		}
		slices.SortFunc(entries, func(x, y kv) int {
			if c := bytes.Compare(x.k, y.k); c != 0 {
				return c
			}
			return bytes.Compare(x.v, y.v)
		})
		for _, e := range entries {
			b = append(append(b, e.k...), e.v...)
		}
		return b
	}, ""
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
		dp := planOf(d.Type())
		if dp.err != "" {
			st.err = &encError{what: fmt.Sprintf("an interface holding %v: %s", d.Type(), dp.err)}
			return b
		}
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(dp.id)))
		b = append(b, dp.id...)
		holder := reflect.New(d.Type()).Elem()
		holder.Set(d)
		return dp.enc(b, holder.Addr().UnsafePointer(), st)
	}
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
	return t.String() // unnamed interfaces, funcs and channels spell out their parts
}

// encState carries what one encoding needs beyond the bytes: the pointers on
// the path from the root (to detect cycles) and the error, if any.
type encState struct {
	ptrs []unsafe.Pointer
	err  *encError
}

func (st *encState) onPath(p unsafe.Pointer) bool {
	return slices.Contains(st.ptrs, p)
}

// encError is a value that cannot be encoded, and the path to it, built from
// the inside out as the encoders return.
type encError struct {
	what string
	path []string // innermost first
}

func (e *encError) push(step string) { e.path = append(e.path, step) }

func (e *encError) message(root reflect.Type) string {
	var sb strings.Builder
	sb.WriteString(root.String())
	for i := len(e.path) - 1; i >= 0; i-- {
		sb.WriteString(e.path[i])
	}
	return fmt.Sprintf("cannot encode %s: %s", sb.String(), e.what)
}
