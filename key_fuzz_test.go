package memo_test

import (
	"bytes"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/go-memo/memo"
)

// fz is the value the fuzzer builds: one field of each shape CanonicalKey
// handles.
type fz struct {
	S string
	L []string
	I int16
	F float64
	P *uint8
	M map[string]int8
	A any
	B []byte
	N [2]bool
}

// reader hands out the fuzzer's bytes; once they run out it returns zeros.
type reader struct{ b []byte }

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) str() string {
	n := int(r.byte() % 4)
	s := make([]byte, n)
	for i := range s {
		s[i] = "ab,\x00"[r.byte()%4] // few letters, so that different splits meet
	}
	return string(s)
}

func (r *reader) float() float64 {
	switch r.byte() % 6 {
	case 0:
		return 0
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return math.NaN()
	case 3:
		return math.Float64frombits(0x7ff8000000000000 | uint64(r.byte())) // another NaN
	case 4:
		return math.Inf(1)
	}
	return float64(r.byte())
}

func (r *reader) value() fz {
	var v fz
	v.S = r.str()
	if n := int(r.byte() % 4); n > 0 || r.byte()%2 == 0 {
		v.L = make([]string, n) // n == 0: an empty, non-nil slice
		for i := range v.L {
			v.L[i] = r.str()
		}
	}
	v.I = int16(r.byte()%3) - 1
	v.F = r.float()
	if c := r.byte() % 3; c > 0 {
		x := c - 1
		v.P = &x
	}
	if n := int(r.byte() % 3); n > 0 || r.byte()%2 == 0 {
		v.M = map[string]int8{}
		for range n {
			v.M[r.str()] = int8(r.byte() % 2)
		}
	}
	switch r.byte() % 6 {
	case 1:
		v.A = int8(r.byte() % 2)
	case 2:
		v.A = int16(r.byte() % 2)
	case 3:
		v.A = r.str()
	case 4:
		v.A = r.float()
	case 5:
		v.A = []string{r.str()}
	}
	if n := int(r.byte() % 3); n > 0 || r.byte()%2 == 0 {
		v.B = make([]byte, n)
		for i := range v.B {
			v.B[i] = r.byte() % 2
		}
	}
	v.N = [2]bool{r.byte()%2 == 0, r.byte()%2 == 0}
	return v
}

func floatEqual(a, b float64) bool { return a == b || a != a && b != b }

// fzEqual is equality under CanonicalKey's documented rules.
func fzEqual(a, b fz) bool {
	return a.S == b.S && slices.Equal(a.L, b.L) && a.I == b.I && floatEqual(a.F, b.F) &&
		(a.P == nil) == (b.P == nil) && (a.P == nil || *a.P == *b.P) &&
		maps.Equal(a.M, b.M) && anyEqual(a.A, b.A) && bytes.Equal(a.B, b.B) && a.N == b.N
}

func anyEqual(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && floatEqual(x, y)
	case []string:
		y, ok := b.([]string)
		return ok && slices.Equal(x, y)
	}
	return a == b
}

// FuzzCanonicalKey builds two values from the fuzzer's bytes, often close to
// each other, and checks that their forms are equal exactly when the values
// are equal under the documented rules. The seed corpus is in
// testdata/fuzz/FuzzCanonicalKey; go test runs it, go test -fuzz explores.
func FuzzCanonicalKey(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("seed: two independent values with some structure"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &reader{data}
		a := r.value()
		b := r.value()
		if r.byte()%2 == 0 {
			// Mostly, b is a with a few fields taken from the second value,
			// so that near-equal pairs are common.
			c := a
			mask := r.byte()
			if mask&1 != 0 {
				c.S = b.S
			}
			if mask&2 != 0 {
				c.L = b.L
			}
			if mask&4 != 0 {
				c.F = b.F
			}
			if mask&8 != 0 {
				c.M = b.M
			}
			if mask&16 != 0 {
				c.A = b.A
			}
			if mask&32 != 0 {
				c.B = b.B
			}
			if mask&64 != 0 {
				c.P = b.P
			}
			b = c
		}
		ka, kb := memo.CanonicalKey(nil, a), memo.CanonicalKey(nil, b)
		if eq := fzEqual(a, b); eq != bytes.Equal(ka, kb) {
			t.Fatalf("equal=%v but forms equal=%v\na=%#v\nb=%#v\nka=%x\nkb=%x", eq, !eq, a, b, ka, kb)
		}
	})
}
