package benchmarks

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Zipf returns count keys in [0, n) drawn from a Zipf distribution of
// exponent s: key i is drawn with probability proportional to 1/(i+1)^s. Unlike
// math/rand's Zipf it accepts any s > 0, including the s <= 1 of real
// traffic. The same seed gives the same keys.
func Zipf(s float64, n, count int, seed uint64) []int {
	cdf := make([]float64, n)
	total := 0.0
	for i := range cdf {
		total += 1 / math.Pow(float64(i+1), s)
		cdf[i] = total
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	keys := make([]int, count)
	for i := range keys {
		keys[i] = sort.SearchFloat64s(cdf, r.Float64()*total)
	}
	return keys
}

// Trace is a named sequence of keys.
type Trace struct {
	Name     string
	Keys     []int
	Distinct int // the size of the hot key space that capacities are relative to
}

// Traces returns the hit-ratio workloads: Zipf traffic of three skews over
// universe keys, and Zipf traffic polluted by scans, where a quarter of the
// requests are sequential runs of 1 000 keys seen once, as a batch job or a
// crawler would make.
func Traces(universe, length int) []Trace {
	ts := []Trace{
		{"zipf-0.8", Zipf(0.8, universe, length, 1), universe},
		{"zipf-1.0", Zipf(1.0, universe, length, 2), universe},
		{"zipf-1.2", Zipf(1.2, universe, length, 3), universe},
	}
	scan := Zipf(1.0, universe, length, 4)
	next := universe
	for i := 0; i+1000 <= len(scan); i += 4000 {
		for j := range 1000 {
			scan[i+j] = next
			next++
		}
	}
	return append(ts, Trace{"zipf-1.0+scans", scan, universe})
}

// Capacities are the cache sizes of the hit-ratio tables, as fractions of the
// distinct keys: 0.1% to 10%.
var Capacities = []float64{0.001, 0.003, 0.01, 0.03, 0.1}

// MovingHotSets are the recency-heavy workloads, where an LRU is hard to
// beat: Zipf(1.0) traffic over a hot set of 10 000 keys that moves, as on a
// news site or a timeline, where keys arrive popular and then go cold for
// good. In "drift" the hot set slides by 1 000 new keys every 5 000
// requests; in "shift" it is replaced whole every 37 000 requests (a period
// that divides no policy's sample). Each is 1 000 000 requests; the sizes
// are 1% to 50% of the hot set.
func MovingHotSets() []FileTrace {
	const hot, length = 10_000, 1_000_000
	sizes := []int{100, 500, 1_000, 2_000, 5_000}
	drift := Zipf(1.0, hot, length, 16)
	for i := range drift {
		drift[i] += i / 5_000 * 1_000
	}
	shift := Zipf(1.0, hot, length, 15)
	for i := range shift {
		shift[i] += i / 37_000 * hot
	}
	return []FileTrace{{"drift", sizes, drift}, {"shift", sizes, shift}}
}
