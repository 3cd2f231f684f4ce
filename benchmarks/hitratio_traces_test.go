package benchmarks

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fileTraces loads the recorded traces, skipping the test when they are
// absent outside CI; in CI (CI=true) their absence is a failure.
func fileTraces(t *testing.T) []FileTrace {
	t.Helper()
	dir := TracesDir()
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("the recorded traces are missing: CI must have ../shared/traces beside the repository")
		}
		t.Skip("no recorded traces (../shared/traces or $MEMO_TRACES); skipping")
	}
	trs, err := LoadFileTraces(dir)
	require.NoError(t, err)
	return trs
}

// TestFileTraceTable replays every recorded trace at every size of its
// README through memo's two policies and the peers, and prints the table
// with -v. MEMO_PEERS (comma-separated) limits the peers, MEMO_TRACE the
// traces.
func TestFileTraceTable(t *testing.T) {
	trs := fileTraces(t)
	if testing.Short() || raceEnabled {
		t.Skip("the full replay takes a while; cmd/report renders it")
	}
	peers := TracePeers
	if s := os.Getenv("MEMO_PEERS"); s != "" {
		peers = strings.Split(s, ",")
	}
	for _, tr := range trs {
		if s := os.Getenv("MEMO_TRACE"); s != "" && !strings.Contains(","+s+",", ","+tr.Name+",") {
			continue
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s %v\n", tr.Name, tr.Sizes)
		for _, name := range peers {
			fmt.Fprintf(&sb, "  %-16s", name)
			for _, v := range FileHitRatios(PeerByName(name), tr) {
				fmt.Fprintf(&sb, " %6.2f", 100*v)
			}
			sb.WriteString("\n")
		}
		t.Log(sb.String())
	}
}

// memo's WithCapacity is an exact LRU on real traffic too: on every recorded
// trace, at every size of its README, its hit ratio is exactly that of the
// reference LRU (a map and a list), hit for hit. Under -race, where a replay
// is ten times slower, each trace is cut to its first 200 000 requests.
func TestMemoMatchesTheReferenceLRUOnEveryRecordedTrace(t *testing.T) {
	for _, tr := range fileTraces(t) {
		keys := tr.Keys
		if raceEnabled && len(keys) > 200_000 {
			keys = keys[:200_000]
		}
		for _, n := range tr.Sizes {
			got := HitRatio(PeerByName("memo"), n, keys)
			want := ReferenceLRU(n, keys)
			require.Equal(t, want, got, "%s at size %d", tr.Name, n)
		}
	}
}

// A bounded memo holds at most its capacity at every step of a replay, not
// only at rest: its hit ratios are those of a cache of n entries, and Belady's
// optimum for n bounds them. Peers that apply writes asynchronously may hold
// more while they replay; with -v the test prints the mean and the largest
// number of entries each cache held, at the sizes where a peer beat the
// optimum or memo by most (see benchmarks/README.md).
func TestEntriesHeldDuringReplay(t *testing.T) {
	byName := map[string][]int{}
	for _, tr := range fileTraces(t) {
		byName[tr.Name] = tr.Keys
	}
	universe, length := traceSize(t)
	byName["zipf-1.2"] = Traces(universe, length)[2].Keys
	cases := []struct {
		trace string
		size  int
	}{{"lirs-loop", 1000}, {"lirs-gli", 1000}, {"mixed", 500}, {"zipf-1.2", max(universe/1000, 5)}}
	for _, tc := range cases {
		keys := byName[tc.trace]
		if raceEnabled {
			keys = keys[:min(len(keys), 200_000)]
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s at %d entries: entries held, mean and largest\n", tc.trace, tc.size)
		for _, name := range []string{"memo", "memo-tinylfu", "otter", "theine", "golang-lru-arc"} {
			c := PeerByName(name).New(tc.size, identityLoad)
			sized := c.(Sized)
			total, most := 0, 0
			for _, k := range keys {
				if _, err := c.Get(context.Background(), k); err != nil {
					t.Fatal(err)
				}
				n := sized.Len()
				total, most = total+n, max(most, n)
			}
			c.Close()
			if name == "memo" || name == "memo-tinylfu" {
				require.LessOrEqual(t, most, tc.size, "%s on %s", name, tc.trace)
			}
			fmt.Fprintf(&sb, "  %-16s %8.1f %6d\n", name, float64(total)/float64(len(keys)), most)
		}
		t.Log(sb.String())
	}
}
