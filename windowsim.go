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
// it gains (PERFORMANCE.md, tenth round).
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
//     deviations of the difference, and by at least simMinLead of the
//     nearest model's hits. The models see the same requests, so most
//     requests hit in both or miss in both, and only those on which they
//     disagree make the difference vary: its standard deviation is the
//     square root of their number (McNemar's test for paired counts). A
//     smaller lead is sampling noise, and acting on it costs the workloads
//     where windows do not matter (a large cache of recorded traffic lost
//     up to a point to such moves). The floor on the lead is there because
//     a scale model is not the cache: a lead of a few percent can be the
//     sample's bias rather than the window's effect (without it, scarab at
//     50 000 entries lost 0.35 points). Treating the two counts as
//     independent, with the square root of their sum, as this check first
//     did, asks for a lead several times too large: on the moving hot sets
//     at 5 000 entries the models showed 100 % beating 25 % by 530 hits to
//     469 in the first sample and the window stayed put; with the paired
//     test it moves there, and drift and shift at 5 000 gain 0.55 and 0.35
//     points (means of 8 replays), no row losing more than 0.1. After a
//     move the climber starts again from the new window.
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
// at most 640 KiB beyond (0.6 bytes per entry at a million), and the
// sample's counts 512 bytes.
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
	simMinLead     = 0.05 // a move needs a lead of this share of the nearest model's hits
	simProbes      = 8    // checks of a move's trust in the sample after it
)

// windowSims is the set of models of one policy.
type windowSims struct {
	models [len(simFractions)]simModel
	by     [1 << len(simFractions)]int // this sample's requests, by the models they hit (bit i: model i)
	real   int                         // this sample's hits of the real cache on sampled keys
	n      int                         // sampled requests in this sample
	sample int                         // sampled requests per sample
	probe  int                         // sampled requests between checks of a move on probation
	shift  uint                        // a key is sampled when its hash's top shift bits are 0
	from   int                         // the window before the previous sample's move; -1 for none
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
	s.by = [1 << len(simFractions)]int{}
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
	in := 0
	for i := range s.models {
		if s.models[i].request(h) {
			in |= 1 << i
		}
	}
	s.by[in]++
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
	s.by = [1 << len(simFractions)]int{}
	s.real, s.n = 0, 0
	return w, move
}

// decide applies the trust and gain checks (see the top of this file) to
// the sample just ended.
func (s *windowSims) decide(window, capacity int) (int, bool) {
	near, best := nearest(window, capacity), 0
	for i := range s.models {
		if s.hits(i) > s.hits(best) {
			best = i
		}
	}
	from := s.from
	s.from = -1
	if !s.trusted(near) {
		return from, from >= 0
	}
	if !s.leads(best, near) {
		return 0, false
	}
	s.from = window
	return int(math.Round(simFractions[best] * float64(capacity))), true
}

// trusted reports whether the real cache's hits on the sampled keys, so far
// in this sample, are within simTrust standard deviations of those of
// model near.
func (s *windowSims) trusted(near int) bool {
	real, model := float64(s.real), float64(s.hits(near))
	return real >= model-simTrust*math.Sqrt(real+model)
}

// hits returns model i's hits in this sample.
func (s *windowSims) hits(i int) int {
	n := 0
	for in, c := range s.by {
		if in>>i&1 != 0 {
			n += c
		}
	}
	return n
}

// leads reports whether model best hit clearly more than model near in this
// sample: by simTrust standard deviations of the difference, counted on the
// requests that one of the two hit and the other missed, and by simMinLead
// of near's hits.
func (s *windowSims) leads(best, near int) bool {
	won, lost := 0, 0 // requests that best hit and near missed, and the reverse
	for in, c := range s.by {
		switch b, n := in>>best&1, in>>near&1; {
		case b > n:
			won += c
		case b < n:
			lost += c
		}
	}
	lead := float64(won - lost)
	return lead > simTrust*math.Sqrt(float64(won+lost)) && lead >= simMinLead*float64(s.hits(near))
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
