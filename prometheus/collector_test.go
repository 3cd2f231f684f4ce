package memoprom_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-memo/memo"
	memoprom "github.com/go-memo/memo/prometheus"
)

// Every memo type is a Source, whatever its type arguments.
var (
	_ memoprom.Source = (*memo.Memo[int, string])(nil)
	_ memoprom.Source = memo.Memo2[int, int, string]{}
	_ memoprom.Source = memo.Memo3[int, int, int, string]{}
)

// expected is the series a memo's Stats must give, written out field by
// field, apart from the collector's own table, so that a row that reads the
// wrong field fails here.
func expected(s memo.Stats, withTier bool) map[string]float64 {
	m := map[string]float64{
		"memo_hits_total":              float64(s.Hits),
		"memo_misses_total":            float64(s.Misses),
		"memo_loads_total":             float64(s.Loads),
		"memo_load_errors_total":       float64(s.LoadErrors),
		"memo_shared_total":            float64(s.Shared),
		"memo_evictions_total":         float64(s.Evictions),
		"memo_expirations_total":       float64(s.Expirations),
		"memo_collected_total":         float64(s.Collected),
		"memo_refreshes_total":         float64(s.Refreshes),
		"memo_load_time_seconds_total": s.LoadTime.Seconds(),
		"memo_entries":                 float64(s.Len),
		"memo_capacity":                float64(s.Capacity),
	}
	if withTier {
		m["memo_tier_hits_total"] = float64(s.Tier.Hits)
		m["memo_tier_misses_total"] = float64(s.Tier.Misses)
		m["memo_tier_errors_total"] = float64(s.Tier.Errors)
		m["memo_tier_lease_waits_total"] = float64(s.Tier.LeaseWaits)
	}
	return m
}

// gathered returns every series of reg, by memo label and metric name, and
// fails the test on a gather error or on a series of the wrong type.
func gathered(t *testing.T, reg prometheus.Gatherer) map[string]map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]map[string]float64{}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			require.Len(t, m.GetLabel(), 1, name)
			require.Equal(t, "memo", m.GetLabel()[0].GetName(), name)
			label := m.GetLabel()[0].GetValue()
			if got[label] == nil {
				got[label] = map[string]float64{}
			}
			got[label][name] = valueOf(t, name, mf.GetType(), m)
		}
	}
	return got
}

func valueOf(t *testing.T, name string, typ dto.MetricType, m *dto.Metric) float64 {
	t.Helper()
	switch name {
	case "memo_entries", "memo_capacity":
		require.Equal(t, dto.MetricType_GAUGE, typ, name)
		return m.GetGauge().GetValue()
	}
	require.Equal(t, dto.MetricType_COUNTER, typ, name)
	return m.GetCounter().GetValue()
}

func TestSeriesMatchStatsAfterAKnownSequenceOfGets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		load := func(ctx context.Context, k int) (string, error) {
			time.Sleep(time.Millisecond) // a fake-clock millisecond per load
			if k < 0 {
				return "", errors.New("no such key")
			}
			return fmt.Sprint(k), nil
		}

		// Evictions and load errors: 1, 2, 1 (hit), 3 (evicts 2), -1 (fails), 1 (hit).
		lru := memo.Memoize(load, memo.WithCapacity(2))
		for _, k := range []int{1, 2, 1, 3, -1, 1} {
			_, _ = lru.Get(ctx, k)
		}

		// Expirations: a load, the TTL passes, the reload replaces the expired entry.
		ttl := memo.Memoize(load, memo.WithTTL(time.Minute))
		_, _ = ttl.Get(ctx, 7)
		time.Sleep(2 * time.Minute)
		_, _ = ttl.Get(ctx, 7)

		// Shared: three concurrent Gets of one key while fn blocks.
		release := make(chan struct{})
		shared := memo.Memoize(func(ctx context.Context, k int) (string, error) {
			<-release
			return "v", nil
		})
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { _, _ = shared.Get(ctx, 1) })
		}
		synctest.Wait() // one Get runs fn, two wait on it
		close(release)
		wg.Wait()

		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(memoprom.NewCollector("lru", lru),
			memoprom.NewCollector("ttl", ttl), memoprom.NewCollector("shared", shared))

		// The sequences did what they were meant to do...
		ls, ts, ss := lru.Stats(), ttl.Stats(), shared.Stats()
		assert.Equal(t, [6]uint64{2, 4, 4, 1, 1, 0}, [6]uint64{ls.Hits, ls.Misses, ls.Loads, ls.LoadErrors, ls.Evictions, ls.Shared}, ls.String())
		assert.Equal(t, [2]int{2, 2}, [2]int{ls.Len, ls.Capacity})
		assert.Equal(t, [4]uint64{0, 2, 2, 1}, [4]uint64{ts.Hits, ts.Misses, ts.Loads, ts.Expirations}, ts.String())
		assert.Equal(t, [3]uint64{3, 1, 2}, [3]uint64{ss.Misses, ss.Loads, ss.Shared}, ss.String())

		// ...and every series says what Stats says, no more, no less.
		assert.Equal(t, map[string]map[string]float64{
			"lru":    expected(ls, false),
			"ttl":    expected(ts, false),
			"shared": expected(ss, false),
		}, gathered(t, reg))
	})
}

// stubTier is a memo.Tier that holds values in a map and counts its hits and
// misses; errors and lease waits are set by the test.
type stubTier struct {
	mu     sync.Mutex
	vals   map[string]string
	counts memo.TierStats
}

func (s *stubTier) Fetch(ctx context.Context, key string, load func(context.Context) (string, error)) (string, error) {
	s.mu.Lock()
	v, ok := s.vals[key]
	if ok {
		s.counts.Hits++
	} else {
		s.counts.Misses++
	}
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := load(ctx)
	if err == nil {
		s.mu.Lock()
		s.vals[key] = v
		s.mu.Unlock()
	}
	return v, err
}

func (s *stubTier) Forget(key string) { s.mu.Lock(); delete(s.vals, key); s.mu.Unlock() }
func (s *stubTier) Clear()            { s.mu.Lock(); clear(s.vals); s.mu.Unlock() }
func (s *stubTier) Stats() memo.TierStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

func newTiered() (*memo.Memo[int, string], *stubTier) {
	tier := &stubTier{vals: map[string]string{}}
	m := memo.Memoize(func(ctx context.Context, k int) (string, error) { return fmt.Sprint(k), nil },
		memo.WithTier[string](tier))
	return m, tier
}

func TestTierSeriesAppearOnceTheTierCountsAndStay(t *testing.T) {
	ctx := context.Background()
	tiered, tier := newTiered()
	plain := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(memoprom.NewCollector("tiered", tiered), memoprom.NewCollector("plain", plain))

	// Before the tier is used its counters are all 0, like no tier's.
	assert.Equal(t, map[string]map[string]float64{
		"tiered": expected(tiered.Stats(), false),
		"plain":  expected(plain.Stats(), false),
	}, gathered(t, reg))

	_, _ = tiered.Get(ctx, 1) // tier miss
	tiered.Forget(1)          // drops it locally and from the tier
	_, _ = tiered.Get(ctx, 1) // tier miss again
	tiered.Set(2, "2")
	_, _ = plain.Get(ctx, 1)
	tier.mu.Lock()
	tier.counts.Errors, tier.counts.LeaseWaits = 3, 4
	tier.mu.Unlock()

	s := tiered.Stats()
	require.Equal(t, memo.TierStats{Misses: 2, Errors: 3, LeaseWaits: 4}, s.Tier)
	assert.Equal(t, map[string]map[string]float64{
		"tiered": expected(s, true),
		"plain":  expected(plain.Stats(), false),
	}, gathered(t, reg))

	// Clear resets the memo's counters and the tier's stay as the tier keeps
	// them; once seen, the tier's series stay even if they read 0 again.
	tier.mu.Lock()
	tier.counts = memo.TierStats{}
	tier.mu.Unlock()
	tiered.Clear()
	assert.Equal(t, expected(tiered.Stats(), true), gathered(t, reg)["tiered"])
}

func TestNamesPassPromlint(t *testing.T) {
	ctx := context.Background()
	tiered, _ := newTiered()
	_, _ = tiered.Get(ctx, 1) // so that the tier's series are gathered too
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(memoprom.NewCollector("users", tiered))

	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)
	count, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Equal(t, 16, count, "every series was linted, the tier's included")
}

func TestSecondMemoOfTheSameNameIsRefusedAtRegister(t *testing.T) {
	a := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil })
	b := memo.Memoize2(func(ctx context.Context, x, y int) (int, error) { return x + y, nil })
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(memoprom.NewCollector("users", a)))

	err := reg.Register(memoprom.NewCollector("users", b))
	var dup prometheus.AlreadyRegisteredError
	require.ErrorAs(t, err, &dup)

	// Other names share the registry, and gathering stays consistent.
	require.NoError(t, reg.Register(memoprom.NewCollector("sums", b)))
	got := gathered(t, reg)
	assert.Equal(t, expected(a.Stats(), false), got["users"])
	assert.Equal(t, expected(b.Stats(), false), got["sums"])
}

func TestUnregisterRemovesTheMemosSeries(t *testing.T) {
	a := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil })
	reg := prometheus.NewPedanticRegistry()
	c := memoprom.NewCollector("users", a)
	reg.MustRegister(c)
	require.True(t, reg.Unregister(c))
	assert.Empty(t, gathered(t, reg))
	require.NoError(t, reg.Register(memoprom.NewCollector("users", a)), "the name is free again")
}

// countingSource counts the calls of Stats.
type countingSource struct{ calls int }

func (c *countingSource) Stats() memo.Stats { c.calls++; return memo.Stats{Hits: 1} }

func TestStatsAreReadOnceAtEachScrapeAndNeverOtherwise(t *testing.T) {
	src := &countingSource{}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(memoprom.NewCollector("users", src))
	assert.Equal(t, 0, src.calls, "registering reads nothing")
	gathered(t, reg)
	gathered(t, reg)
	assert.Equal(t, 2, src.calls)
}

func TestNewCollectorPanicsOnBadInput(t *testing.T) {
	m := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil })
	assert.PanicsWithValue(t, "memoprom: NewCollector with an empty name", func() { memoprom.NewCollector("", m) })
	assert.PanicsWithValue(t, `memoprom: NewCollector name "\xff" is not valid UTF-8`, func() { memoprom.NewCollector("\xff", m) })
	assert.PanicsWithValue(t, `memoprom: NewCollector("users") with a nil memo`, func() { memoprom.NewCollector("users", nil) })
}

type blob struct {
	key int
	_   [64]byte // big enough to be allocated, and reclaimed, on its own
}

func TestCollectedSeriesCountsReclaimedWeakEntries(t *testing.T) {
	weak := memo.MemoizeWeak(func(ctx context.Context, k int) (*blob, error) { return &blob{key: k}, nil })
	for k := range 10 {
		_, _ = weak.Get(context.Background(), k) // nobody keeps the values
	}
	for range 200 {
		if weak.Stats().Collected == 10 {
			break
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // real time: let the runtime's cleanup goroutine run
	}
	s := weak.Stats()
	require.Equal(t, uint64(10), s.Collected, s.String())

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(memoprom.NewCollector("weak", weak))
	assert.Equal(t, expected(s, false), gathered(t, reg)["weak"])
	assert.Equal(t, 10.0, gathered(t, reg)["weak"]["memo_collected_total"])
}

func TestScrapesDuringGetsSeeCountersThatNeverGoBack(t *testing.T) {
	m := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil }, memo.WithCapacity(64))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(memoprom.NewCollector("busy", m))

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				_, _ = m.Get(context.Background(), (g*7+i)%100)
			}
		})
	}
	var last map[string]float64
	for range 20 {
		got := gathered(t, reg)["busy"]
		for name, v := range last {
			if name != "memo_entries" {
				require.GreaterOrEqual(t, got[name], v, name)
			}
		}
		last = got
	}
	wg.Wait()
	s := m.Stats()
	require.Equal(t, uint64(8000), s.Hits+s.Misses)
	assert.Equal(t, expected(s, false), gathered(t, reg)["busy"])
}

// fixedSource returns Stats whose every field differs from every other.
type fixedSource struct{}

func (fixedSource) Stats() memo.Stats {
	return memo.Stats{Hits: 1, Misses: 2, Loads: 3, LoadErrors: 4, Shared: 5, Evictions: 6,
		Expirations: 7, Collected: 8, Refreshes: 9, LoadTime: 1500 * time.Millisecond, Len: 11, Capacity: 12,
		Tier: memo.TierStats{Hits: 13, Misses: 14, Errors: 15, LeaseWaits: 16}}
}

func TestEachSeriesShowsItsOwnFieldInBaseUnits(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(memoprom.NewCollector("fixed", fixedSource{}))
	assert.Equal(t, map[string]float64{
		"memo_hits_total": 1, "memo_misses_total": 2, "memo_loads_total": 3, "memo_load_errors_total": 4,
		"memo_shared_total": 5, "memo_evictions_total": 6, "memo_expirations_total": 7,
		"memo_collected_total": 8, "memo_refreshes_total": 9, "memo_load_time_seconds_total": 1.5,
		"memo_entries": 11, "memo_capacity": 12,
		"memo_tier_hits_total": 13, "memo_tier_misses_total": 14, "memo_tier_errors_total": 15,
		"memo_tier_lease_waits_total": 16,
	}, gathered(t, reg)["fixed"])
}
