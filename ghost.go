package memo

// Ghosts: the window of TinyLFU (tinylfu.go) also moves on the evidence of
// keys that came back soon after the policy let them go.
//
// # The problem
//
// The climber sizes the window by comparing the hit ratios of successive
// samples, thousands of requests each, and the models (windowsim.go) need
// caches of 256 entries or more and a sample of keys. Neither sees quickly
// what a single request can show: a key the admission refused a moment ago
// is asked for again. On the Corda trace every key is asked for once or
// twice, the second time 2 to 102 requests after the first: all its hits
// are window hits, and only a window that holds about 60 entries gets them.
// A cache of 250 or 500 entries starts at a window of 12 or 25, and the
// climber's first sample (5 000 or 10 000 requests) goes by before it grows
// the window: TinyLFU ended 1.5 and 2.0 points below an LRU there.
//
// # The design
//
// ARC's ghost lists (Megiddo and Modha, FAST 2003), applied to W-TinyLFU's
// two regions: two small tables remember the hashes of the keys the policy
// let go lately, one for the candidates the admission refused (they left
// from the window), one for the victims the main region evicted. A miss on a
// key refused within the last capacity/2 requests says that a larger window
// would have kept it: the window grows by ghostGrow entries. A miss on a key
// still in the second table says that a larger main region would have: the
// window shrinks by ghostShrink. A ghost counts once (the miss forgets it).
//
// Each table is direct-mapped, with one slot per ten entries of capacity
// (rounded up to a power of two), so a newer key overwrites an older one in
// its slot: a table remembers roughly the last capacity/10 keys to leave. A
// slot holds a 32-bit fingerprint of the key's hash, and in the refused
// table the policy's request count when the key left (the requests it sees:
// misses and recorded hits; hits the read buffer postponed or dropped are
// not counted, so under a hot key the horizon spans more of the memo's
// requests). A key that comes back more than capacity/2 requests after it
// was refused is no evidence that a slightly larger window would have kept
// it: on a loop a little longer than the cache every refused key comes
// back, a loop later, and growing the window for it only loses hits. The sizes,
// the horizon and the two steps were chosen on every recorded trace at every
// size and on the synthetic ones, never on one (benchmarks/README.md): one
// slot per entry makes every refused key of a Zipf stream come back sooner
// or later and pulls the window toward an LRU; equal steps grow the window
// too much on frequency-heavy traffic, a shrink of four or eight too little
// on recency-heavy traffic; a horizon on the evicted table too (at 0.25 to
// 2 capacities) lets recency-heavy traffic grow the window unchecked.
//
// # The price
//
// 12 bytes per ten entries of capacity (1.5 MiB at a million entries), a
// hash of the victim's key on each eviction, and two loads on each miss of a
// full cache. The models have no ghosts: their windows never move.

const (
	ghostShare  = 10 // entries of capacity per slot of each table
	ghostGrow   = 1  // entries the window grows by on a miss of a refused key
	ghostShrink = 2  // entries it shrinks by on a miss of a main region's victim
)

// ghosts are the two tables; a nil *ghosts has none.
type ghosts struct {
	refused []uint64 // fingerprint, and in the high half the clock when refused
	evicted []uint32 // fingerprint
	mask    uint64
	clock   uint32 // the requests the policy sees (misses and recorded hits), counted by tick
	horizon uint32 // requests after which a refused key's return is no evidence
}

func newGhosts(capacity int) *ghosts {
	n := 8
	for n*ghostShare < capacity {
		n *= 2
	}
	return &ghosts{
		refused: make([]uint64, n),
		evicted: make([]uint32, n),
		mask:    uint64(n - 1),
		horizon: uint32(min(max(capacity/2, 1), 1<<30)),
	}
}

// tick counts a request of the policy.
func (g *ghosts) tick() { g.clock++ }

// slot returns where the key of hash h goes in either table, and its
// fingerprint there, never 0 (an empty slot).
func (g *ghosts) slot(h uint64) (uint64, uint32) { return h & g.mask, uint32(h>>32) | 1 }

func (g *ghosts) refuse(h uint64) {
	i, f := g.slot(h)
	g.refused[i] = uint64(g.clock)<<32 | uint64(f)
}

func (g *ghosts) evict(h uint64) {
	i, f := g.slot(h)
	g.evicted[i] = f
}

// miss returns how far to move the window for a miss of the key of hash h:
// ghostGrow if the admission refused it within the horizon, -ghostShrink if
// the main region evicted it lately, else 0. The key's ghost is forgotten.
func (g *ghosts) miss(h uint64) int {
	i, f := g.slot(h)
	if r := g.refused[i]; uint32(r) == f {
		g.refused[i] = 0
		if g.clock-uint32(r>>32) <= g.horizon { // in uint32: the clock wraps
			return ghostGrow
		}
		return 0
	}
	if g.evicted[i] == f {
		g.evicted[i] = 0
		return -ghostShrink
	}
	return 0
}

func (g *ghosts) clear() {
	clear(g.refused)
	clear(g.evicted)
}
