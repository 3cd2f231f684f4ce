package memo

import "math"

// The simulated windows: scale models of the TinyLFU store (tinylfu.go),
// each at one window size, that tell its climber where the window should be.
//
// # The problem
//
// The climber moves the window by a tenth of the capacity per sample of
// requests, and a sample is 20 requests per entry of capacity (at most
// 50 000), so that a move's effect stands out of the noise. On traffic
// whose popular keys keep changing, the best window is the whole cache (an
// LRU), and the climb there takes half a million requests, missing up to
// six points more than an LRU meanwhile. Faster climbing (bigger steps,
// shorter samples) moves on noise, and costs the other workloads more than
// it gains (the README's tenth round).
//
// # The design
//
// Beside the real policy run len(simFractions) models: small W-TinyLFU
// policies whose windows are fixed at simFractions of their capacity. They
// see only the keys whose hash falls in a sample of 1/2^k, and hold
// capacity/2^k entries each, so each is the real cache scaled down (the
// sampling of SHARDS: Waldspurger et al., "Efficient MRC Construction with
// SHARDS", FAST 2015): a sampled key is about as likely to be held by a
// model as by the real cache with that model's window. The models are
// keyed by the keys' hashes; two keys with one hash would share a model
// entry, which bends an estimate and nothing else.
//
// At the end of each sample of sampled requests, two checks decide:
//
//   - Trust. The real cache's hits on the sampled keys must not fall more
//     than simTrust standard deviations below the hits of the model nearest
//     its window. When they do, the models are not seeing what the real
//     cache sees: typically a loop a little longer than the cache, whose
//     sampled keys all fit in the models, so that every window looks
//     perfect while the real cache, made an LRU by a move, hits nothing.
//     Nothing is moved then, and a move made at the previous sample is
//     undone. A move is also checked so every eighth of the sample after
//     it, and undone at the first check it fails: a loop found by an LRU
//     costs an eighth of a sample, not a whole one.
//   - Gain. The window moves to the best model's only if that model hit
//     more than the one nearest the current window by simTrust standard
//     deviations of the difference (the square root of the two counts'
//     sum); a smaller lead is sampling noise, and acting on it costs the
//     workloads where windows do not matter (a large cache of recorded
//     traffic lost up to a point to such moves). After a move the climber
//     starts again from the new window.
//
// Between moves the climber sizes the window as before. Caches smaller than
// simMinCapacity have no models: a model of 64 entries is already noisy,
// and the replays showed no gain below.
//
// # The price
//
// Memory: a model entry is an entry (24 bytes), a list node (16), a map
// slot and its share of the model's sketch, about 110 bytes measured; six
// models of capacity/2^k entries come to about 85 KiB for caches of 500 to
// 4 000 entries, 10 bytes per entry of capacity from 4 096 to 65 536, and
// at most 640 KiB beyond (0.6 bytes per entry at a million).
// Time: a sampled request (1 key in 2^k, k = 2 at a capacity of 256, 6 from
// 4 096) costs six model requests under the memo's mutex. The share of
// requests sampled is that of the sampled keys' traffic, so a hot key that
// falls in the sample raises it: on Zipf traffic through 10 000 entries,
// 1 request in 10 rather than 1 in 64, and the policy alone then takes
// 1.4 times as long per request (BenchmarkPolicyModels). In the store most
// hits on hot keys are postponed and never reach the policy (tinylfu.go); a
// postponed hit is seen by no model, so the models and the real cache's
// count of sampled hits miss it alike.

// simFractions are the models' windows, as shares of their capacity.
var simFractions = [...]float64{0.01, 0.1, 0.25, 0.5, 0.75, 1}

const (
	simMinCapacity = 256  // caches smaller than this have no models
	simMinModel    = 64   // a model holds at least this many entries...
	simMaxShift    = 6    // ...sampling at most 1 key in 2^6...
	simMaxModel    = 1024 // ...unless that would make a model larger than this
	simTrust       = 3.0  // standard deviations: see the top of this file
	simProbes      = 8    // checks of a move's trust in the sample after it
)

// windowSims is the set of models of one policy.
type windowSims struct {
	models [len(simFractions)]simModel
	hits   [len(simFractions)]int // this sample's hits, per model
	real   int                    // this sample's hits of the real cache on sampled keys
	n      int                    // sampled requests in this sample
	sample int                    // sampled requests per sample
	probe  int                    // sampled requests between checks of a move on probation
	shift  uint                   // a key is sampled when its hash's top shift bits are 0
	from   int                    // the window before the previous sample's move; -1 for none
}

// simModel is one model: a policy over hashes, at a fixed window.
type simModel struct {
	pol wtinylfu[uint64, struct{}]
	idx map[uint64]*entry[uint64, struct{}]
}

func identityHash(h uint64) uint64 { return h }

// newWindowSims returns the models for a policy of capacity entries whose
// climber samples climberSample requests, or nil for a cache too small.
func newWindowSims(capacity, climberSample int) *windowSims {
	if capacity < simMinCapacity {
		return nil
	}
	shift := uint(0)
	for shift < simMaxShift && capacity>>(shift+1) >= simMinModel {
		shift++
	}
	for capacity>>shift > simMaxModel {
		shift++
	}
	s := &windowSims{shift: shift}
	size := capacity >> shift
	// As many sampled requests as the climber's sample holds, on average,
	// and at least 10 per model entry.
	s.sample = max(climberSample>>shift, 10*size)
	s.probe = max(1, s.sample/simProbes)
	for i := range s.models {
		m := &s.models[i]
		m.pol.fixed = true
		m.pol.init(size, identityHash, func(e *entry[uint64, struct{}]) { delete(m.idx, e.key) })
	}
	s.reset()
	return s
}

// reset empties the models, as Clear empties the cache, and sets each
// model's window.
func (s *windowSims) reset() {
	for i := range s.models {
		m := &s.models[i]
		m.pol.reset()
		m.pol.setWindow(int(math.Round(simFractions[i] * float64(m.pol.capacity))))
		m.idx = make(map[uint64]*entry[uint64, struct{}])
	}
	s.hits = [len(simFractions)]int{}
	s.real, s.n, s.from = 0, 0, -1
}

// sampled reports whether the key of hash h is one the models see.
func (s *windowSims) sampled(h uint64) bool { return s.shift == 0 || h>>(64-s.shift) == 0 }

// request feeds the models a request of the real cache for the key of hash
// h, which hit there or not. It returns the window the real cache should
// move to, given its window now and its capacity, and true; or false for no
// move.
func (s *windowSims) request(h uint64, hit bool, window, capacity int) (int, bool) {
	if !s.sampled(h) {
		return 0, false
	}
	if hit {
		s.real++
	}
	for i := range s.models {
		if s.models[i].request(h) {
			s.hits[i]++
		}
	}
	if s.n++; s.n < s.sample {
		// A move is on probation: undone as soon as the real cache falls
		// behind its model, not a whole sample later.
		if s.from >= 0 && s.n%s.probe == 0 && !s.trusted(nearest(window, capacity)) {
			from := s.from
			s.from = -1
			return from, true
		}
		return 0, false
	}
	w, move := s.decide(window, capacity)
	s.hits = [len(simFractions)]int{}
	s.real, s.n = 0, 0
	return w, move
}

// decide applies the trust and gain checks (see the top of this file) to
// the sample just ended.
func (s *windowSims) decide(window, capacity int) (int, bool) {
	near, best := nearest(window, capacity), 0
	for i := range s.hits {
		if s.hits[i] > s.hits[best] {
			best = i
		}
	}
	from := s.from
	s.from = -1
	if !s.trusted(near) {
		return from, from >= 0
	}
	if lead, sum := s.hits[best]-s.hits[near], s.hits[best]+s.hits[near]; float64(lead) <= simTrust*math.Sqrt(float64(sum)) {
		return 0, false
	}
	s.from = window
	return int(math.Round(simFractions[best] * float64(capacity))), true
}

// trusted reports whether the real cache's hits on the sampled keys, so far
// in this sample, are within simTrust standard deviations of those of
// model near.
func (s *windowSims) trusted(near int) bool {
	real, model := float64(s.real), float64(s.hits[near])
	return real >= model-simTrust*math.Sqrt(real+model)
}

// nearest returns the model whose window is nearest the real one.
func nearest(window, capacity int) int {
	cur := float64(window) / float64(capacity)
	near := 0
	for i, f := range simFractions {
		if math.Abs(f-cur) < math.Abs(simFractions[near]-cur) {
			near = i
		}
	}
	return near
}

// request runs one request through the model and reports whether it hit.
func (m *simModel) request(h uint64) bool {
	if e := m.idx[h]; e != nil {
		m.pol.access(e, h)
		return true
	}
	e := &entry[uint64, struct{}]{key: h}
	m.idx[h] = e
	m.pol.add(e)
	return false
}
