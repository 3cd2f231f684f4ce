package benchmarks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// traceSize is the length of the hit-ratio traces and the size of their key
// space: full size for the report, smaller in tests under -short or -race.
func traceSize(t *testing.T) (universe, length int) {
	if testing.Short() || raceEnabled {
		return 5_000, 50_000
	}
	return 50_000, 500_000
}

// memo's WithCapacity is an exact LRU: on every trace, at every capacity, its
// hit ratio is exactly that of the reference LRU.
func TestMemoMatchesTheReferenceLRUOnEveryTrace(t *testing.T) {
	universe, length := traceSize(t)
	for _, tr := range Traces(universe, length) {
		for _, f := range Capacities {
			capacity := int(f * float64(tr.Distinct))
			got := HitRatio(PeerByName("memo"), capacity, tr.Keys)
			want := ReferenceLRU(capacity, tr.Keys)
			assert.Equal(t, want, got, "%s at capacity %d", tr.Name, capacity)
		}
	}
}

// TestHitRatioTable prints every bounded peer's hit ratio on every trace,
// with -v; cmd/report renders the same table and plots.
func TestHitRatioTable(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("the full table takes a while; cmd/report renders it")
	}
	universe, length := traceSize(t)
	for _, tr := range Traces(universe, length) {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s:\n", tr.Name)
		for _, p := range Peers {
			if !p.Bounded {
				continue
			}
			fmt.Fprintf(&sb, "  %-22s", p.Name)
			for _, f := range Capacities {
				fmt.Fprintf(&sb, " %6.2f%%", 100*HitRatio(p, int(f*float64(tr.Distinct)), tr.Keys))
			}
			sb.WriteString("\n")
		}
		t.Log(sb.String())
	}
}

// Belady's optimum is an upper bound: on every synthetic trace at every
// capacity, no policy memo offers beats it, and on a loop longer than the
// cache it tends to the known (capacity-1)/(loop-1).
func TestOptimalHitRatioBoundsEveryPolicy(t *testing.T) {
	universe, length := traceSize(t)
	for _, tr := range Traces(universe, length)[:2] {
		capacity := int(0.01 * float64(tr.Distinct))
		opt := OptimalHitRatio(capacity, tr.Keys)
		for _, name := range []string{"memo", "memo-tinylfu"} {
			assert.LessOrEqual(t, HitRatio(PeerByName(name), capacity, tr.Keys), opt, "%s on %s", name, tr.Name)
		}
	}
	var loop []int
	for range 100 {
		for k := range 11 {
			loop = append(loop, k)
		}
	}
	assert.InDelta(t, 0.9, OptimalHitRatio(10, loop), 0.015)
}
