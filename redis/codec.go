// Codecs, and the fingerprint that keeps processes running different versions
// of a value type from decoding each other's values.
//
// The fingerprint used to hash V's Go structure, unexported fields included,
// while the default codec, encoding/json, writes only exported fields under
// their JSON names: two versions that encode alike got different keys, and a
// rename of a JSON tag was the only change that really mattered. Now the
// fingerprint hashes what the codec writes: for JSON, the JSON shape (each
// encoded field's JSON name and options, each value's kind, and the Go type of
// anything that marshals itself); for any other codec, which the tier cannot
// see into, the whole Go structure as before, and the codec's type. A JSON
// value type holding something JSON cannot encode (a channel, a func, a
// complex number, a map with keys JSON cannot write) panics in New instead of
// failing on every miss.
package memoredis

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// A Codec turns values into bytes for Redis and back: encoding/json by
// default (JSON), or any Marshal/Unmarshal pair (Funcs), such as gob,
// protobuf or msgpack.
type Codec[V any] interface {
	Marshal(v V) ([]byte, error)
	Unmarshal(data []byte, v *V) error
}

// JSON is the default Codec: encoding/json. It carries what JSON carries,
// and a value comes back from Redis changed where JSON changes it:
//   - unexported fields, and fields tagged `json:"-"`, are not written: they
//     come back as their zero value;
//   - strings that are not valid UTF-8 come back with each bad byte replaced
//     by U+FFFD;
//   - numbers inside an interface (an any holding an int64) come back as
//     float64, exact only up to 2^53;
//   - a time.Time loses its monotonic clock reading and its *time.Location
//     (it comes back with a fixed zone of the same offset);
//   - a nil slice or map inside an interface comes back as nil, and an empty
//     []byte as an empty one or nil depending on the field.
//
// New panics when V holds something JSON cannot encode at all: a channel, a
// func, a complex number, an unsafe.Pointer, or a map whose keys are not
// strings, integers or encoding.TextMarshalers. Use Funcs with another
// encoding (gob, protobuf, msgpack) for such values, or for values that must
// come back bit for bit.
type JSON[V any] struct{}

// Marshal encodes v with json.Marshal.
func (JSON[V]) Marshal(v V) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data with json.Unmarshal.
func (JSON[V]) Unmarshal(data []byte, v *V) error { return json.Unmarshal(data, v) }

// Funcs makes a Codec of a Marshal and an Unmarshal function.
type Funcs[V any] struct {
	MarshalFunc   func(V) ([]byte, error)
	UnmarshalFunc func([]byte, *V) error
}

// Marshal calls MarshalFunc.
func (f Funcs[V]) Marshal(v V) ([]byte, error) { return f.MarshalFunc(v) }

// Unmarshal calls UnmarshalFunc.
func (f Funcs[V]) Unmarshal(data []byte, v *V) error { return f.UnmarshalFunc(data, v) }

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// fingerprint hashes what codec writes for values of t (see the file's
// opening). For JSON it panics if t cannot be encoded.
func fingerprint[V any](codec Codec[V]) string {
	t := reflect.TypeFor[V]()
	var sb strings.Builder
	if _, ok := codec.(JSON[V]); ok {
		sb.WriteString("json:")
		if err := jsonShape(&sb, t, map[reflect.Type]bool{}, t.String()); err != "" {
			panic(fmt.Sprintf("memoredis: New: the default JSON codec cannot encode %v: %s; pass a Codec that can (memoredis.Funcs)", t, err))
		}
	} else {
		fmt.Fprintf(&sb, "%T:", codec)
		goShape(&sb, t, map[reflect.Type]bool{})
	}
	sum := sha256.Sum256([]byte(sb.String()))
	return hex.EncodeToString(sum[:6])
}

// marshalsItself reports whether JSON hands t (or *t) to its own methods.
func marshalsItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler) ||
		p.Implements(jsonMarshaler) || p.Implements(textMarshaler)
}

// jsonShape writes the JSON shape of t, or returns why JSON cannot encode it,
// naming the path to the culprit.
func jsonShape(sb *strings.Builder, t reflect.Type, seen map[reflect.Type]bool, path string) string {
	if marshalsItself(t) {
		sb.WriteString("self:" + t.PkgPath() + "." + t.String())
		return ""
	}
	if seen[t] {
		sb.WriteString("rec:" + t.String())
		return ""
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
		return fmt.Sprintf("%s is a %v", path, t.Kind())
	case reflect.Pointer:
		sb.WriteString("*")
		return jsonShape(sb, t.Elem(), seen, "*"+path)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice && !marshalsItself(t.Elem()) {
			sb.WriteString("base64")
			return ""
		}
		fmt.Fprintf(sb, "%v[", t.Kind())
		defer sb.WriteString("]")
		return jsonShape(sb, t.Elem(), seen, path+"[]")
	case reflect.Map:
		k := t.Key()
		switch {
		case k.Kind() == reflect.String, k.Kind() >= reflect.Int && k.Kind() <= reflect.Uintptr, k.Implements(textMarshaler):
		default:
			return fmt.Sprintf("%s has map keys of type %v (JSON needs strings, integers or encoding.TextMarshalers)", path, k)
		}
		fmt.Fprintf(sb, "map[%v]", k.Kind())
		return jsonShape(sb, t.Elem(), seen, path+"[key]")
	case reflect.Struct:
		seen[t] = true
		defer delete(seen, t)
		sb.WriteString("{")
		defer sb.WriteString("}")
		return jsonFields(sb, t, seen, path)
	}
	sb.WriteString(t.Kind().String()) // basic kinds and interfaces (whatever they hold)
	return ""
}

// jsonFields writes the fields JSON encodes, under their JSON names.
func jsonFields(sb *strings.Builder, t reflect.Type, seen map[reflect.Type]bool, path string) string {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		embedded := f.Anonymous && (f.Type.Kind() == reflect.Struct ||
			f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct)
		if !f.IsExported() && !embedded {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		if embedded && tag == "" {
			name = "" // promoted fields
		}
		fmt.Fprintf(sb, "%q,%q:", name, opts)
		if err := jsonShape(sb, f.Type, seen, path+"."+f.Name); err != "" {
			return err
		}
		sb.WriteString(";")
	}
	return ""
}

// goShape writes the Go structure of t: its name, and for structs the names,
// types and tags of every field, recursively.
func goShape(sb *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	sb.WriteString(t.PkgPath() + "." + t.String())
	if seen[t] {
		return
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		sb.WriteString("(")
		goShape(sb, t.Elem(), seen)
		sb.WriteString(")")
	case reflect.Map:
		sb.WriteString("(")
		goShape(sb, t.Key(), seen)
		sb.WriteString(",")
		goShape(sb, t.Elem(), seen)
		sb.WriteString(")")
	case reflect.Struct:
		sb.WriteString("{")
		for i := range t.NumField() {
			f := t.Field(i)
			fmt.Fprintf(sb, "%s %q ", f.Name, f.Tag)
			goShape(sb, f.Type, seen)
			sb.WriteString(";")
		}
		sb.WriteString("}")
	}
}
