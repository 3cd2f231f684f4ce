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
