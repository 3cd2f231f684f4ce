//go:build race

package memo_test

// raceEnabled reports that the race detector is on: it instruments memory
// accesses with allocations of its own, so allocation counts are meaningless.
const raceEnabled = true
