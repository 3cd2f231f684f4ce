package memo_test

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
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

// graph is a value the fuzzer builds out of maps, slices and pointers that
// may hold each other, itself described as a table, so that the test can
// tell by its own walk whether the value contains itself.
type graph struct {
	nodes []gnode
}

// gnode is a map[string]any (kind 0), a []any (kind 1) or a *any (kind 2);
// its children are node numbers, or -1 for the int 7. A child that is a
// slice can be a sub-slice of it, from offset off.
type gnode struct {
	kind     int
	children []gchild
}

type gchild struct{ node, off int }

var mapKeys = []string{"a", "b", "c"}

func (r *reader) graph() graph {
	var g graph
	n := 1 + int(r.byte()%6)
	for range n {
		nd := gnode{kind: int(r.byte() % 3)}
		m := 1
		if nd.kind != 2 {
			m = 1 + int(r.byte()%3)
		}
		for range m {
			c := gchild{node: int(r.byte()%uint8(n+1)) - 1}
			if c.node >= 0 {
				c.off = int(r.byte() % 3)
			}
			nd.children = append(nd.children, c)
		}
		g.nodes = append(g.nodes, nd)
	}
	for i := range g.nodes { // an offset must stay within the slice it cuts
		for j, c := range g.nodes[i].children {
			if c.node >= 0 && (g.nodes[c.node].kind != 1 || c.off > len(g.nodes[c.node].children)) {
				g.nodes[i].children[j].off = 0
			}
		}
	}
	return g
}

// build makes the Go value of node 0.
func (g graph) build() any {
	vals := make([]any, len(g.nodes))
	for i, nd := range g.nodes {
		switch nd.kind {
		case 0:
			vals[i] = map[string]any{}
		case 1:
			vals[i] = make([]any, len(nd.children))
		default:
			vals[i] = new(any)
		}
	}
	child := func(c gchild) any {
		if c.node < 0 {
			return 7
		}
		if s, ok := vals[c.node].([]any); ok {
			return s[c.off:]
		}
		return vals[c.node]
	}
	for i, nd := range g.nodes {
		for j, c := range nd.children {
			switch v := vals[i].(type) {
			case map[string]any:
				v[mapKeys[j]] = child(c)
			case []any:
				v[j] = child(c)
			case *any:
				*v = child(c)
			}
		}
	}
	return vals[0]
}

// gstate is where a walk of the graph stands: a node, and for a slice the
// offset it starts at (its length follows).
type gstate struct{ node, off int }

// cyclic reports whether the value at s contains itself, by a plain walk
// with the states on the path.
func (g graph) cyclic(s gstate, onPath map[gstate]bool) bool {
	if onPath[s] {
		return true
	}
	onPath[s] = true
	defer delete(onPath, s)
	for _, c := range g.nodes[s.node].children[s.off:] {
		if c.node >= 0 && g.cyclic(gstate{c.node, c.off}, onPath) {
			return true
		}
	}
	return false
}

// follow walks path (as CanonicalKey writes it, after "key") from the root
// and reports whether it ends on a state it passed before, and not sooner.
func (g graph) follow(t *testing.T, path string) bool {
	seen := map[gstate]bool{}
	s, again := g.land(gchild{0, 0}, seen)
	for path != "" {
		end := strings.IndexByte(path, ']')
		if again || s.node < 0 || path[0] != '[' || end < 0 {
			t.Fatalf("unexpected path step in %q", path)
		}
		step := path[1:end]
		path = path[end+1:]
		i, err := strconv.Atoi(step)
		if g.nodes[s.node].kind == 0 {
			k, uerr := strconv.Unquote(step)
			i, err = slices.Index(mapKeys, k), uerr
		}
		if err != nil {
			t.Fatalf("step %q: %v", step, err)
		}
		s, again = g.land(g.nodes[s.node].children[s.off+i], seen)
	}
	return again
}

// land steps to c and through the pointers after it (they take no step in a
// path), marking the states it passes; it returns where it stops, and
// whether it passed a state twice.
func (g graph) land(c gchild, seen map[gstate]bool) (gstate, bool) {
	for c.node >= 0 {
		s := gstate{c.node, c.off}
		if seen[s] {
			return s, true
		}
		seen[s] = true
		if g.nodes[c.node].kind != 2 {
			return s, false
		}
		c = g.nodes[c.node].children[0]
	}
	return gstate{-1, 0}, false
}

// FuzzCanonicalKeyCycles builds maps, slices and pointers that hold each
// other (sub-slices included), or a long chain of pointers that may lead
// back into itself, and checks that CanonicalKey panics with "cycle at" and
// a path that leads back to where it passed exactly when the value contains
// itself, refuses chains deeper than its bound, and otherwise encodes the
// value the same way twice.
func FuzzCanonicalKeyCycles(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1})       // a map holding itself
	f.Add([]byte{0, 0, 1, 0, 1, 0})    // a slice holding itself
	f.Add([]byte{1, 0x10, 0x00, 1, 5}) // a chain of 4096 pointers, back to the fifth
	f.Add([]byte{1, 0xff, 0xff, 0, 0}) // a chain too deep
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &reader{data}
		if r.byte()%4 == 1 { // a quarter of the inputs: chains, slower
			checkChain(t, r)
			return
		}
		g := r.graph()
		cyclic := g.cyclic(gstate{0, 0}, map[gstate]bool{})
		var form []byte
		msg := panicMessage(func() { form = memo.CanonicalKey(nil, g.build()) })
		if !cyclic {
			if msg != "" {
				t.Fatalf("acyclic %+v: %s", g, msg)
			}
			if again := memo.CanonicalKey(nil, g.build()); !bytes.Equal(form, again) {
				t.Fatalf("two builds of %+v encode differently", g)
			}
			return
		}
		path, ok := strings.CutPrefix(msg, "memo: CanonicalKey: cycle at key")
		if !ok {
			t.Fatalf("cyclic %+v: got %q", g, msg)
		}
		path, _, _ = strings.Cut(path, " (key type")
		if !g.follow(t, path) {
			t.Fatalf("%+v: path %q does not lead back to where it passed", g, path)
		}
	})
}

// checkChain builds a chain of n *any, the last holding 7 or pointing back
// to one of them.
func checkChain(t *testing.T, r *reader) {
	n := 1 + int(r.byte())
	if long := r.byte(); long%8 == 7 { // up to 65 536 links, past the bound
		n = 1 + (int(long)<<8 | int(r.byte()))
	}
	back := -1
	if r.byte()%2 == 1 {
		back = int(r.byte()) % n
	}
	ptrs := make([]*any, n)
	for i := range ptrs {
		ptrs[i] = new(any)
	}
	for i := range n - 1 {
		*ptrs[i] = ptrs[i+1]
	}
	*ptrs[n-1] = 7
	if back >= 0 {
		*ptrs[n-1] = ptrs[back]
	}
	// Each link is two references: the pointer and the interface it holds;
	// going back is one more.
	depth := 2 * n
	if back >= 0 {
		depth++
	}
	msg := panicMessage(func() { memo.CanonicalKey(nil, ptrs[0]) })
	switch {
	case depth > 1<<17:
		if !strings.HasPrefix(msg, "memo: CanonicalKey: too deep at key (key type *interface {}): nested deeper than") {
			t.Fatalf("chain of %d (back to %d): got %q", n, back, msg)
		}
	case back >= 0:
		if msg != "memo: CanonicalKey: cycle at key (key type *interface {}): the *interface {} there contains itself, so it has no finite form" {
			t.Fatalf("chain of %d back to %d: got %q", n, back, msg)
		}
	case msg != "":
		t.Fatalf("chain of %d: got %q", n, msg)
	}
}

// panicMessage runs f and returns the string it panicked with, or "".
func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}
