package memo

import (
	"math"
	"sync"
)

// The TinyLFU store: WithCapacity(n) with WithPolicy(TinyLFU) keeps at most n
// entries, chosen by how often and how recently their keys were asked for.
//
// # The problem
//
// For a memo every miss is a call of fn, so the hit ratio of a bounded memo
// is what its users pay for. An LRU keeps whatever was used last: a scan of
// keys seen once flushes it, and a loop a little longer than the cache gets
// no hit at all. A pure LFU is the opposite: it clings to keys that were
// popular an hour ago, and a burst of new popular keys cannot get in. No fixed
// mix of the two wins on every workload: loops and skewed traffic want
// frequency, recency-heavy traffic over large caches wants an LRU.
//
// # The design
//
// Adaptive W-TinyLFU, after Einziger, Friedman and Manes ("TinyLFU: A Highly
// Efficient Cache Admission Policy") and "Adaptive Software Cache Management"
// (Middleware 2018), the design of Caffeine:
//
//   - A sketch (sketch.go) counts how often each key was seen recently,
//     including keys no longer held, and forgets slowly (it ages).
//   - New entries go into a small LRU window. An entry pushed out of the
//     window is a candidate for the main region, and it gets in only if its
//     key is more frequent than that of the main region's victim by at least
//     two counts, and then the victim is evicted in its place; otherwise the
//     candidate is evicted. (A lead of one count is what a candidate gets
//     from being recent: its count includes the request that just brought it
//     in, while the victim's last request is the oldest in the main region.
//     On a loop a little longer than the cache the victim is the very key
//     asked for next, and admitting on that lead evicts it, then the next,
//     as an LRU does.) A candidate without the lead loses, except that a
//     fairly frequent one wins at random one time in 128, so that an
//     attacker who floods the sketch with colliding keys cannot pin a victim
//     forever.
//   - The main region is a segmented LRU: entries come in on probation and
//     move to the protected segment (80% of the main region) when used again;
//     the protected segment's least recent entry falls back to probation.
//   - A hill climber sizes the window, starting at 1% of the capacity (as
//     Caffeine does; the ghosts and the models below grow it within a few
//     thousand requests when recency pays, and LIRS's gli trace at 500 and
//     1 000 entries gained 1.3 points over a 5% start): every
//     sample of requests (20 per entry of capacity, at least 4 000 so that a
//     small cache's samples are not mostly noise, at most 50 000 so that
//     large caches adapt within a realistic trace) it compares the hit ratio
//     with the previous sample's. It keeps moving the window in the same
//     direction, by the same step, while that helps; it reverses, with a
//     smaller step, when it hurts by more than a noise tolerance; and it
//     stays put when the change is within that tolerance (on traffic that
//     does not care, a climber that keeps walking drifts far from where the
//     next phase of the workload wants it). Steps restart at their first
//     size when the hit ratio jumps (the workload changed). Recency-heavy
//     traffic grows the window toward a plain LRU (the window may take the
//     whole capacity); frequency-heavy traffic and loops shrink it toward a
//     pure TinyLFU.
//   - Models of the cache at six window sizes (windowsim.go), fed a sample
//     of the keys, let the window jump in one sample to where the climber
//     would take dozens: at the end of each of their samples, the window
//     moves to the best model's if it beat the model nearest the current
//     window clearly, and only while the real cache hits as its model does.
//     The climber goes on from there.
//   - Ghosts (ghost.go) move the window by a step on a single miss: one
//     entry up when the key was refused admission within the last
//     capacity/2 requests, two down when the main region evicted it lately.
//
// The policy (wtinylfu) is a plain single-threaded structure, tested alone.
// The store puts it behind the lock-free index: a hit is a lookup plus a
// record in the read buffer (buffer.go), which drops records when full and
// never blocks; whoever holds the memo's mutex replays the records into the
// policy. Misses and writes hold the mutex and run the policy directly.
//
// Most hits of a skewed workload are on a few hot keys whose counts sit at
// the sketch's ceiling, in the protected segment or the window: applying
// them bumps no counter and moves an entry already near its segment's
// front, yet costs a mutex round trip and a sketch cache miss. So when a use
// finds its key's counters at the ceiling, the policy postpones the entry
// (readBuffer.postpone) for half its segment's share of uses: hits on it
// meanwhile record nothing, and cost the lookup and a compare. An entry
// moving to probation is unpostponed, so that a hit there is always
// recorded, and promotes it; a key below the ceiling is recorded on every
// hit, so the sketch misses only the increments that aging would have
// allowed in between. The climber, which needs every hit, takes the hits
// it did not see from the memo's hit counter (count).
//
// # The price
//
// Hits are recorded lossily and out of order, so the policy sees most hits,
// not all, under heavy parallel load (the records dropped are counted); its
// decisions are approximate by design anyway. Per entry the policy costs a
// 16-byte list node and 16 bytes of sketch. The window's models
// (windowsim.go) cost about 85 KiB for a cache of 500 to 4 000 entries, 10
// bytes per entry from 4 096 to 65 536, at most 640 KiB, and six model
// requests for each sampled request; the ghosts 1.2 to 2.4 bytes per entry and a
// hash per eviction. An entry refused admission or
// evicted from the main region is reported as Evicted: the entry that a new
// key pushes out may be the previous newcomer, the one a put just stored, and
// not the least recently used. With a TTL, expired entries are reclaimed as
// the LRU does: lazily, when a Get finds them or the policy picks them.

// wtinylfu is the eviction policy: which entries stay, in which region. It
// does not own the entries' index; it reports every entry it drops to evict.
type wtinylfu[S comparable, V any] struct {
	window, probation, protected    list[S, V]
	nWindow, nProbation, nProtected int

	capacity     int
	maxWindow    int // the climber moves it within [1, capacity]
	maxProtected int

	sketch  sketch
	climber climber
	hash    func(S) uint64
	// postpone, if set, stamps e so that its hits for the next n uses are
	// not recorded (n = 0: every hit is); hits, if set, returns every hit of
	// the store, recorded or not (see count).
	postpone func(e *entry[S, V], n int)
	hits     func() uint64
	seen     uint64                               // hits() at the climber's last sync
	synced   bool                                 // seen is current: the policy was full since
	recorded int                                  // hits recorded (count(true)) since the last sync
	evict    func(*entry[S, V])                   // called for every entry the policy drops
	now      int64                                // the memo's clock, for expiry, set by the store
	expired  func(e *entry[S, V], now int64) bool // the store's index's; nil: entries never expire
	rand     uint64                               // xorshift state for the admission jitter
	sims     *windowSims                          // the window's models (windowsim.go); nil for none
	ghosts   *ghosts                              // keys let go lately (ghost.go); nil for none
	fixed    bool                                 // the window never moves: this policy is a model
}

const (
	protectedShare   = 0.8 // of the main region
	admitJitterFloor = 6   // a tied candidate this frequent wins one time in 128
	postponeShare    = 2   // a postponed entry's hits are not recorded for 1/postponeShare of its segment's share of uses
	climberSync      = 64  // recorded requests between the climber's reads of the hit counter
)

func (p *wtinylfu[S, V]) init(capacity int, hash func(S) uint64, evict func(*entry[S, V])) {
	p.capacity, p.hash, p.evict = capacity, hash, evict
	p.rand = 0x9e3779b97f4a7c15
	p.sketch.init(capacity)
	p.climber.init(capacity)
	for _, l := range []*list[S, V]{&p.window, &p.probation, &p.protected} {
		l.most = capacity + 2 // the sentinel, and one entry over capacity until the policy evicts
	}
	p.reset()
	if !p.fixed {
		p.sims = newWindowSims(capacity, p.climber.sample)
		p.ghosts = newGhosts(capacity)
	}
}

// reset forgets every entry (without reporting them) and the frequencies.
func (p *wtinylfu[S, V]) reset() {
	p.window.init()
	p.probation.init()
	p.protected.init()
	p.nWindow, p.nProbation, p.nProtected = 0, 0, 0
	p.sketch.reset()
	p.climber.init(p.capacity)
	if p.ghosts != nil {
		p.ghosts.clear()
	}
	p.synced = false
	p.setWindow(int(float64(p.capacity) * initialWindow))
	if p.sims != nil {
		p.sims.reset()
	}
}

// setWindow sets the window's share, and the protected segment's from it.
func (p *wtinylfu[S, V]) setWindow(n int) {
	p.maxWindow = min(max(n, 1), p.capacity)
	p.maxProtected = int(float64(p.capacity-p.maxWindow) * protectedShare)
}

func (p *wtinylfu[S, V]) size() int { return p.nWindow + p.nProbation + p.nProtected }

// add takes in a new entry, evicting entries if the policy is over capacity.
func (p *wtinylfu[S, V]) add(e *entry[S, V]) {
	h := p.hash(e.key)
	if p.ghosts != nil {
		p.ghosts.tick()
		if p.size() >= p.capacity {
			if d := p.ghosts.miss(h); d != 0 { // a key let go lately is back (ghost.go)
				p.setWindow(p.maxWindow + d)
				p.demote()
			}
		}
	}
	p.sketch.increment(h)
	p.window.attach(e)
	p.window.pushFront(e)
	p.nWindow++
	p.count(false)
	p.balance()
	p.simulate(h, false)
}

// access records a hit on e, if e is still held; h is the hash of e's key,
// or 0 for one that the caller has not computed. A key whose counters are
// at their ceiling is postponed (see the top of this file) for half its
// segment's share of uses: within that many uses since e went to its
// segment's front, fewer entries than its segment holds went in front of it.
func (p *wtinylfu[S, V]) access(e *entry[S, V], h uint64) {
	share := 0
	switch {
	case p.window.holds(e):
		p.window.moveToFront(e)
		share = p.maxWindow
	case p.protected.holds(e):
		p.protected.moveToFront(e)
		share = p.maxProtected
	case p.probation.holds(e):
		p.probation.remove(e)
		p.nProbation--
		p.protected.attach(e)
		p.protected.pushFront(e)
		p.nProtected++
		p.demote()
		if p.protected.holds(e) { // else demoted at once: a protected share of 0
			share = p.maxProtected
		}
	default:
		return // dropped since the hit was recorded
	}
	if h == 0 { // a key whose hash is 0 is hashed again: no harm
		h = p.hash(e.key)
	}
	if p.ghosts != nil {
		p.ghosts.tick()
	}
	if !p.sketch.increment(h) && p.postpone != nil {
		p.postpone(e, share/postponeShare)
	}
	p.count(true)
	p.simulate(h, true)
}

// simulate feeds the window's models a request for the key of hash h, and
// moves the window where they say (windowsim.go); the climber starts again
// from there.
func (p *wtinylfu[S, V]) simulate(h uint64, hit bool) {
	if p.sims == nil {
		return
	}
	if w, ok := p.sims.request(h, hit, p.maxWindow, p.capacity); ok {
		p.climber.restart(w - p.maxWindow)
		p.setWindow(w)
		p.demote()
	}
}

// replace puts e where old was, as a use of the key: Set or a reload of a
// key the policy holds.
func (p *wtinylfu[S, V]) replace(old, e *entry[S, V]) {
	l := p.listOf(old)
	if l == nil {
		p.add(e)
		return
	}
	l.swap(old, e)
	p.access(e, 0)
}

// remove drops e without reporting it (Forget).
func (p *wtinylfu[S, V]) remove(e *entry[S, V]) {
	l := p.listOf(e)
	switch l {
	case &p.window:
		p.nWindow--
	case &p.probation:
		p.nProbation--
	case &p.protected:
		p.nProtected--
	default:
		return
	}
	l.remove(e)
}

func (p *wtinylfu[S, V]) listOf(e *entry[S, V]) *list[S, V] {
	switch {
	case p.window.holds(e):
		return &p.window
	case p.probation.holds(e):
		return &p.probation
	case p.protected.holds(e):
		return &p.protected
	}
	return nil
}

// demote moves the protected segment's least recent entries to probation
// while the segment is over its share.
func (p *wtinylfu[S, V]) demote() {
	for p.nProtected > p.maxProtected {
		e := p.protected.back()
		p.protected.remove(e)
		p.nProtected--
		p.unpostpone(e)
		p.probation.attach(e)
		p.probation.pushFront(e)
		p.nProbation++
	}
}

// balance moves window overflow into the main region while it has room, then
// evicts until the policy is within capacity.
func (p *wtinylfu[S, V]) balance() {
	for p.nWindow > p.maxWindow && p.nProbation+p.nProtected < p.capacity-p.maxWindow {
		p.promote(p.window.back())
	}
	for p.size() > p.capacity {
		p.evictOne()
	}
}

// promote moves e from the window to the front of probation.
func (p *wtinylfu[S, V]) promote(e *entry[S, V]) {
	p.window.remove(e)
	p.nWindow--
	p.unpostpone(e)
	p.probation.attach(e)
	p.probation.pushFront(e)
	p.nProbation++
}

// unpostpone makes every hit on e recorded again: e is going on probation,
// where a hit promotes it.
func (p *wtinylfu[S, V]) unpostpone(e *entry[S, V]) {
	if p.postpone != nil {
		p.postpone(e, 0)
	}
}

// victim is the main region's next entry to go: probation's least recent,
// or protected's when probation is empty; nil for an empty main region.
func (p *wtinylfu[S, V]) victim() *entry[S, V] {
	if v := p.probation.back(); v != nil {
		return v
	}
	return p.protected.back()
}

// evictOne drops one entry: while the window is over its share, the duel of
// its least recent entry against the main region's victim decides which;
// otherwise (the climber has just grown the window) the main region's victim.
func (p *wtinylfu[S, V]) evictOne() {
	v := p.victim()
	if p.nWindow <= p.maxWindow && v != nil {
		p.dropEvicted(v)
		return
	}
	c := p.window.back()
	switch {
	case v == nil || p.expiredNow(c):
		p.drop(c)
	case p.expiredNow(v) || p.admit(c, v):
		p.dropEvicted(v)
		p.promote(c)
	default:
		if p.ghosts != nil {
			p.ghosts.refuse(p.hash(c.key))
		}
		p.drop(c)
	}
}

// expiredNow reports whether e's deadline has passed at p.now.
func (p *wtinylfu[S, V]) expiredNow(e *entry[S, V]) bool {
	return p.expired != nil && p.expired(e, p.now)
}

// dropEvicted drops v, the main region's victim, and remembers its key
// unless it expired (its return would be no sign of a main region too small).
func (p *wtinylfu[S, V]) dropEvicted(v *entry[S, V]) {
	if p.ghosts != nil && !p.expiredNow(v) {
		p.ghosts.evict(p.hash(v.key))
	}
	p.drop(v)
}

// admit reports whether candidate c should replace victim v: c's key must be
// at least two counts more frequent.
func (p *wtinylfu[S, V]) admit(c, v *entry[S, V]) bool {
	cf, vf := p.sketch.estimate(p.hash(c.key)), p.sketch.estimate(p.hash(v.key))
	if cf > vf+1 { // see the top of this file for why a lead of one is not enough
		return true
	}
	if cf < admitJitterFloor {
		return false
	}
	p.rand ^= p.rand << 13
	p.rand ^= p.rand >> 7
	p.rand ^= p.rand << 17
	return p.rand&127 == 0
}

// drop removes e from its region and reports it.
func (p *wtinylfu[S, V]) drop(e *entry[S, V]) {
	p.remove(e)
	p.evict(e)
}

// count feeds one request to the climber once the cache is full, and applies
// the climber's adjustment at the end of each sample.
//
// Hits on postponed entries, and hits the read buffer skipped or dropped
// under concurrency, never reach count; a climber that did not see them
// would take a hot phase for a cold one. Every climberSync requests it
// sees, count therefore reads the memo's hit counter, which counts every
// hit, and feeds the climber the hits it did not see.
func (p *wtinylfu[S, V]) count(hit bool) {
	if p.fixed {
		return
	}
	if p.size() < p.capacity {
		p.synced = false
		return
	}
	if p.hits != nil {
		p.sync(hit)
	}
	if d := p.climber.record(hit); d != 0 {
		p.setWindow(p.maxWindow + d)
		p.demote()
	}
}

// sync counts a request for the climber's reads of the hit counter, and
// every climberSync requests adds the hits that the policy did not see.
func (p *wtinylfu[S, V]) sync(hit bool) {
	if hit {
		p.recorded++
	}
	if p.synced && p.climber.requests%climberSync != climberSync-1 {
		return
	}
	t := p.hits()
	if p.synced && t >= p.seen { // else the counter was reset: start again
		if n := int(t-p.seen) - p.recorded; n > 0 {
			p.climber.hits += n
			p.climber.requests += n
		}
	}
	p.seen, p.recorded, p.synced = t, 0, true
}

// climber is the hill climber that sizes the window (see the top of this
// file). Its moves are in entries.
type climber struct {
	hits, requests int
	sample         int     // requests per sample
	prev           float64 // hit ratio of the previous sample, -1 before the first
	step           float64 // signed size of the next move, in entries
	initialStep    float64
}

// The climber's settings, tuned on every recorded trace at every size (see
// benchmarks/README.md), never on one.
const (
	initialWindow  = 0.01   // share of the capacity, before the climber moves it
	climbStepShare = 0.1    // the first step: 10% of the capacity
	climbDecay     = 0.98   // a step that did not help is followed by one this much smaller
	climbRestart   = 0.05   // a change of hit ratio this large restarts the steps
	climbTolerance = 0.001  // a change smaller than this is noise: no reason to move
	climbSample    = 20     // requests per sample, per entry of capacity...
	climbMinSample = 4000   // ...but at least this many
	climbMaxSample = 50_000 // and at most this many, so that large caches adapt
)

func (c *climber) init(capacity int) {
	*c = climber{sample: min(max(climbSample*capacity, climbMinSample), climbMaxSample), prev: -1}
	c.initialStep = max(1, climbStepShare*float64(capacity))
	c.step = c.initialStep
}

// restart forgets the samples so far and makes the next move a first step
// in the direction of dir (the window was moved by dir entries).
func (c *climber) restart(dir int) {
	c.hits, c.requests, c.prev = 0, 0, -1
	c.step = math.Copysign(c.initialStep, float64(dir))
}

// record counts one request and returns the window's move at the end of a
// sample, else 0.
func (c *climber) record(hit bool) int {
	c.requests++
	if hit {
		c.hits++
	}
	if c.requests < c.sample {
		return 0
	}
	rate := float64(c.hits) / float64(c.requests)
	c.hits, c.requests = 0, 0
	if c.prev < 0 {
		c.prev = rate
		return int(c.step)
	}
	delta := rate - c.prev
	c.prev = rate
	switch {
	case math.Abs(delta) >= climbRestart: // the workload changed
		if delta < 0 {
			c.step = -c.step
		}
		c.step = math.Copysign(c.initialStep, c.step)
	case delta > climbTolerance: // the last move helped: another like it
	case delta < -climbTolerance: // it hurt: back, by less
		c.step = -c.step * climbDecay
	default: // no telling: stay, and move by less next time
		c.step *= climbDecay
		return 0
	}
	return int(c.step)
}

// tinyLFUStore is the store of WithPolicy(TinyLFU): the lock-free index for
// hits, the read buffer for recording them, and the policy under the memo's
// mutex.
type tinyLFUStore[S comparable, V any] struct {
	// Read by every hit.
	idx   index[S, V]
	reads *readBuffer[S, V]

	// Written under the memo's mutex, on lines of their own.
	_   [cacheLine]byte
	pol wtinylfu[S, V]
	obs *observer[S, V]
}

func newTinyLFUStore[S comparable, V any](capacity int, timed bool, obs *observer[S, V], mu *sync.Mutex) *tinyLFUStore[S, V] {
	s := &tinyLFUStore[S, V]{obs: obs}
	s.idx.init(timed)
	s.pol.init(capacity, s.idx.hash, func(e *entry[S, V]) {
		s.idx.delEntry(e)
		s.obs.drop(e, s.idx.expired(e, s.pol.now), Evicted)
	})
	s.pol.expired = s.idx.expired
	s.reads = newReadBuffer(mu, capacity, &obs.ctr.hits, s.pol.access)
	s.reads.postpones = true
	s.pol.postpone, s.pol.hits = s.reads.postpone, obs.ctr.hits.sum
	return s
}

func (s *tinyLFUStore[S, V]) load(k S, now int64) (V, bool) {
	e, h := s.idx.getLiveHash(k, now)
	if e == nil {
		var zero V
		return zero, false
	}
	s.reads.record(e, h)
	return e.val, true
}

func (s *tinyLFUStore[S, V]) loadLocked(k S, now int64) (V, bool) {
	e := s.idx.getLive(k, now)
	if e == nil {
		var zero V
		return zero, false
	}
	s.reads.drain()
	s.pol.access(e, 0)
	s.reads.moved()
	s.obs.ctr.hits.addLocked()
	return e.val, true
}

func (s *tinyLFUStore[S, V]) peek(k S, now int64) (V, bool) {
	if e := s.idx.getLive(k, now); e != nil {
		return e.val, true
	}
	var zero V
	return zero, false
}

func (s *tinyLFUStore[S, V]) put(k S, v V, now, exp int64) {
	s.reads.drain() // hits recorded before this put weigh in its decisions
	s.pol.now = now
	e := s.idx.newEntry(k, v, exp)
	old, ok := s.idx.put(e)
	if !ok {
		return
	}
	s.reads.moved()
	if old != nil {
		s.pol.replace(old, e)
		s.obs.drop(old, s.idx.expired(old, now), Replaced)
		return
	}
	s.pol.add(e)
}

func (s *tinyLFUStore[S, V]) del(k S, now int64) {
	if old := s.idx.del(k); old != nil {
		s.reads.drain() // lets go of any record of old
		s.pol.remove(old)
		s.obs.drop(old, s.idx.expired(old, now), Forgotten)
	}
}

func (s *tinyLFUStore[S, V]) sweep(int64) {}

func (s *tinyLFUStore[S, V]) clear(now int64) {
	s.reads.reset()
	if s.obs.onEvict != nil {
		s.idx.each(func(e *entry[S, V]) { s.obs.drop(e, s.idx.expired(e, now), Cleared) })
	}
	s.pol.reset()
	s.idx.clear()
}

func (s *tinyLFUStore[S, V]) len() int { return s.idx.len() }
