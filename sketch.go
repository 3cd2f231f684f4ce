package memo

// sketch estimates how often each key was seen recently, for TinyLFU.
//
// # The problem
//
// A frequency-aware cache must compare the popularity of a key it holds with
// that of a key it has just met, and it must remember keys it no longer
// holds: a key that comes back every few thousand requests, in a cache of a
// few hundred entries, is popular, yet it is never in the cache when it
// arrives. An exact counter per key ever seen grows without bound, and
// counts that never decay keep yesterday's favourites forever.
//
// # The design
//
// A count-min sketch (Cormode and Muthukrishnan): four rows of small
// counters, each key hashed to one counter per row; an increment bumps the
// four, an estimate takes their minimum, which overestimates only when every
// one of the four collides with a busier key. Following TinyLFU (Einziger,
// Friedman and Manes), the counters are 4 bits and saturate at 15 (the
// policy only needs to tell popular from rare, not by how much), and every
// sampleSize increments the sketch ages: every counter is halved, so that
// the counts follow the recent past.
//
// Sixteen 4-bit counters share a uint64, and a key's four counters all lie
// in one block of 8 words (64 bytes, one cache line): one cache miss per
// increment or estimate rather than four. Each row owns two words of the
// block, and the key's hash picks the word and the counter within it. The
// block is picked by multiplying the hash's high 32 bits by the number of
// blocks and keeping the product's bits from the 32nd up (Lemire's fast
// range), so the table need not be a power of two: its size follows the
// capacity.
//
// The table has two words (32 counters) per entry of capacity. With one
// word per entry, rounded up to a power of two (Caffeine's size), the sketch
// counts every key seen lately, most of them not held, in as few as 16
// counters per entry held, and collisions blur the duels between candidates
// and victims: replayed by the policy alone (five hash seeds), two words
// gained up to half a point on the synthetic Zipf and scan workloads and on
// scarab at 1 000 entries, 3.4 points summed over every size of every trace
// and workload, and lost at most 0.14 on any.
//
// # The price
//
// 16 bytes per entry of capacity, at least 512 bytes; estimates are
// approximate (collisions inflate them, aging rounds them down), which only
// blurs the admission decisions TinyLFU makes with them.
type sketch struct {
	table      []uint64
	blocks     uint64 // a block is 8 words
	additions  int    // increments since the last aging
	sampleSize int    // increments between agings
}

const sketchOnes = 0x7777777777777777 // keeps the low 3 bits of each counter after a shift

const (
	sketchWordsPerEntry = 2
	sketchMinBlocks     = 8
	sketchMaxBlocks     = 1 << 25 // 2 GiB of counters, for a capacity of 2^27 entries and more
)

// init sizes the sketch for a cache of capacity entries and zeroes it.
func (s *sketch) init(capacity int) {
	blocks := min(max(sketchMinBlocks, (sketchWordsPerEntry*capacity+7)/8), sketchMaxBlocks)
	s.table = make([]uint64, 8*blocks)
	s.blocks = uint64(blocks)
	s.additions = 0
	s.sampleSize = 10 * max(capacity, 64)
}

// reset zeroes every counter.
func (s *sketch) reset() {
	clear(s.table)
	s.additions = 0
}

// spot returns the word and the shift of h's counter in row i.
func (s *sketch) spot(h uint64, i uint) (word int, shift uint) {
	block := ((h >> 32) * s.blocks) >> 32
	word = int(block*8 + uint64(2*i) + (h>>i)&1)
	shift = uint((h>>(4+5*i))&15) * 4
	return word, shift
}

// estimate returns h's count: the smallest of its four counters.
func (s *sketch) estimate(h uint64) int {
	h = rehash(h)
	est := 15
	for i := range uint(4) {
		w, sh := s.spot(h, i)
		est = min(est, int(s.table[w]>>sh&15))
	}
	return est
}

// increment counts one more sighting of h, and ages the sketch every
// sampleSize increments. It reports whether a counter changed: false when
// h's four counters are all at 15, its estimate's ceiling.
func (s *sketch) increment(h uint64) bool {
	h = rehash(h)
	added := false
	for i := range uint(4) {
		w, sh := s.spot(h, i)
		if s.table[w]>>sh&15 < 15 {
			s.table[w] += 1 << sh
			added = true
		}
	}
	if added {
		s.additions++
		if s.additions >= s.sampleSize {
			s.age()
		}
	}
	return added
}

// age halves every counter.
func (s *sketch) age() {
	for i, w := range s.table {
		s.table[i] = (w >> 1) & sketchOnes
	}
	s.additions /= 2
}

// rehash mixes h again, so that the sketch's bits are independent of the
// index's probe position, which uses the low bits of the same hash.
func rehash(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}
