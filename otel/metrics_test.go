package memootel_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/go-memo/memo"
	memootel "github.com/go-memo/memo/otel"
)

// Every memo type is a Source, whatever its type arguments.
var (
	_ memootel.Source = (*memo.Memo[int, string])(nil)
	_ memootel.Source = memo.Memo2[int, int, string]{}
	_ memootel.Source = memo.Memo3[int, int, int, string]{}
)

// shape is what an instrument must look like: its unit, whether it is a
// monotonic sum (a counter) or not (an up-down counter).
type shape struct {
	unit      string
	monotonic bool
}

// shapes lists every instrument, written out apart from the package's table.
var shapes = map[string]shape{
	"memo.hits":             {"{hit}", true},
	"memo.misses":           {"{miss}", true},
	"memo.loads":            {"{load}", true},
	"memo.load.errors":      {"{error}", true},
	"memo.shared":           {"{get}", true},
	"memo.evictions":        {"{entry}", true},
	"memo.expirations":      {"{entry}", true},
	"memo.collected":        {"{entry}", true},
	"memo.refreshes":        {"{refresh}", true},
	"memo.load.time":        {"s", true},
	"memo.entries":          {"{entry}", false},
	"memo.capacity":         {"{entry}", false},
	"memo.tier.hits":        {"{hit}", true},
	"memo.tier.misses":      {"{miss}", true},
	"memo.tier.errors":      {"{error}", true},
	"memo.tier.lease_waits": {"{wait}", true},
}

// expected is what each instrument must read for a memo of these Stats.
func expected(s memo.Stats, withTier bool) map[string]float64 {
	m := map[string]float64{
		"memo.hits":        float64(s.Hits),
		"memo.misses":      float64(s.Misses),
		"memo.loads":       float64(s.Loads),
		"memo.load.errors": float64(s.LoadErrors),
		"memo.shared":      float64(s.Shared),
		"memo.evictions":   float64(s.Evictions),
		"memo.expirations": float64(s.Expirations),
		"memo.collected":   float64(s.Collected),
		"memo.refreshes":   float64(s.Refreshes),
		"memo.load.time":   s.LoadTime.Seconds(),
		"memo.entries":     float64(s.Len),
		"memo.capacity":    float64(s.Capacity),
	}
	if withTier {
		m["memo.tier.hits"] = float64(s.Tier.Hits)
		m["memo.tier.misses"] = float64(s.Tier.Misses)
		m["memo.tier.errors"] = float64(s.Tier.Errors)
		m["memo.tier.lease_waits"] = float64(s.Tier.LeaseWaits)
	}
	return m
}

// collected reads every instrument once and returns their data points by
// memo.name and instrument name, after checking each instrument's scope,
// unit, kind and temporality.
func collected(t *testing.T, r sdkmetric.Reader) map[string]map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	got := map[string]map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, memootel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			want, ok := shapes[m.Name]
			require.True(t, ok, "unexpected instrument %s", m.Name)
			assert.Equal(t, want.unit, m.Unit, m.Name)
			assert.NotEmpty(t, m.Description, m.Name)
			for memoName, v := range points(t, m, want.monotonic) {
				if got[memoName] == nil {
					got[memoName] = map[string]float64{}
				}
				got[memoName][m.Name] = v
			}
		}
	}
	return got
}

func points(t *testing.T, m metricdata.Metrics, monotonic bool) map[string]float64 {
	t.Helper()
	vals := map[string]float64{}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		assert.Equal(t, monotonic, d.IsMonotonic, m.Name)
		assert.Equal(t, metricdata.CumulativeTemporality, d.Temporality, m.Name)
		for _, p := range d.DataPoints {
			vals[nameOf(t, p.Attributes)] = float64(p.Value)
		}
	case metricdata.Sum[float64]:
		assert.Equal(t, monotonic, d.IsMonotonic, m.Name)
		assert.Equal(t, metricdata.CumulativeTemporality, d.Temporality, m.Name)
		for _, p := range d.DataPoints {
			vals[nameOf(t, p.Attributes)] = p.Value
		}
	default:
		t.Fatalf("%s is a %T, want a sum", m.Name, m.Data)
	}
	return vals
}

// nameOf returns "memo.name=<name>" for a data point's attributes, and fails
// the test if they hold anything else.
func nameOf(t *testing.T, attrs attribute.Set) string {
	t.Helper()
	require.Equal(t, 1, attrs.Len(), attrs.Encoded(attribute.DefaultEncoder()))
	v, ok := attrs.Value(memootel.NameKey)
	require.True(t, ok)
	return string(memootel.NameKey) + "=" + v.AsString()
}

func newMetrics(t *testing.T) (*memootel.Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	metrics, err := memootel.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	require.NoError(t, err)
	return metrics, reader
}

func TestEveryInstrumentReadsTheMemosStatsAfterAKnownSequenceOfGets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		load := func(ctx context.Context, k int) (string, error) {
			time.Sleep(time.Millisecond) // a fake-clock millisecond per load
			if k < 0 {
				return "", errors.New("no such key")
			}
			return fmt.Sprint(k), nil
		}
		// Evictions, expirations, load errors: 1, 2, 1 (hit), 3 (evicts 2),
		// -1 (fails); then 3 after its TTL.
		lru := memo.Memoize(load, memo.WithCapacity(2), memo.WithTTL(time.Minute))
		for _, k := range []int{1, 2, 1, 3, -1} {
			_, _ = lru.Get(ctx, k)
		}
		time.Sleep(2 * time.Minute)
		_, _ = lru.Get(ctx, 3)

		// Shared: three concurrent Gets of one key while fn blocks; with a tier.
		release := make(chan struct{})
		tier := &stubTier{vals: map[string]string{}}
		shared := memo.Memoize(func(ctx context.Context, k int) (string, error) {
			<-release
			return "v", nil
		}, memo.WithTier[string](tier))
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { _, _ = shared.Get(ctx, 1) })
		}
		synctest.Wait() // one Get runs fn, two wait on it
		close(release)
		wg.Wait()
		tier.mu.Lock()
		tier.counts.Hits, tier.counts.Errors, tier.counts.LeaseWaits = 5, 3, 4 // all distinct
		tier.mu.Unlock()

		metrics, reader := newMetrics(t)
		require.NoError(t, metrics.Add("lru", lru))
		require.NoError(t, metrics.Add("shared", shared))

		ls, ss := lru.Stats(), shared.Stats()
		assert.Equal(t, [6]uint64{1, 5, 5, 1, 1, 1}, [6]uint64{ls.Hits, ls.Misses, ls.Loads, ls.LoadErrors, ls.Evictions, ls.Expirations}, ls.String())
		assert.Equal(t, [2]int{2, 2}, [2]int{ls.Len, ls.Capacity})
		assert.Equal(t, [3]uint64{3, 1, 2}, [3]uint64{ss.Misses, ss.Loads, ss.Shared}, ss.String())
		assert.Equal(t, memo.TierStats{Hits: 5, Misses: 1, Errors: 3, LeaseWaits: 4}, ss.Tier)

		assert.Equal(t, map[string]map[string]float64{
			"memo.name=lru":    expected(ls, false),
			"memo.name=shared": expected(ss, true),
		}, collected(t, reader))
	})
}

func TestUnregisterStopsEveryObservation(t *testing.T) {
	m := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil })
	_, _ = m.Get(context.Background(), 1)
	metrics, reader := newMetrics(t)
	require.NoError(t, metrics.Add("users", m))
	require.Equal(t, expected(m.Stats(), false), collected(t, reader)["memo.name=users"])

	require.NoError(t, metrics.Unregister())
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, inst := range sm.Metrics {
			switch d := inst.Data.(type) {
			case metricdata.Sum[int64]:
				assert.Empty(t, d.DataPoints, inst.Name)
			case metricdata.Sum[float64]:
				assert.Empty(t, d.DataPoints, inst.Name)
			}
		}
	}
}

func TestAddRefusesADuplicateOrInvalidName(t *testing.T) {
	a := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil })
	b := memo.Memoize2(func(ctx context.Context, x, y int) (int, error) { return x + y, nil })
	metrics, reader := newMetrics(t)
	require.NoError(t, metrics.Add("users", a))
	assert.EqualError(t, metrics.Add("users", b), `memootel: a memo named "users" is already added`)
	assert.EqualError(t, metrics.Add("", b), `memootel: Add(""): a memo's name must be non-empty UTF-8`)
	assert.EqualError(t, metrics.Add("\xff", b), `memootel: Add("\xff"): a memo's name must be non-empty UTF-8`)
	assert.EqualError(t, metrics.Add("sums", nil), `memootel: Add("sums") with a nil memo`)
	require.NoError(t, metrics.Add("sums", b))
	got := collected(t, reader)
	assert.Equal(t, map[string]map[string]float64{
		"memo.name=users": expected(a.Stats(), false),
		"memo.name=sums":  expected(b.Stats(), false),
	}, got)
}

func TestRemoveStopsObservingOneMemo(t *testing.T) {
	a := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil })
	metrics, reader := newMetrics(t)
	require.NoError(t, metrics.Add("users", a))
	require.NoError(t, metrics.Add("others", a))
	assert.True(t, metrics.Remove("users"))
	assert.False(t, metrics.Remove("users"))
	got := collected(t, reader)
	assert.NotContains(t, got, "memo.name=users")
	assert.Contains(t, got, "memo.name=others")
	require.NoError(t, metrics.Add("users", a), "the name is free again")
}

// countingSource counts the calls of Stats.
type countingSource struct{ calls int }

func (c *countingSource) Stats() memo.Stats { c.calls++; return memo.Stats{Hits: 1} }

func TestStatsAreReadOnceAtEachCollectionAndNeverOtherwise(t *testing.T) {
	src := &countingSource{}
	metrics, reader := newMetrics(t)
	require.NoError(t, metrics.Add("users", src))
	assert.Equal(t, 0, src.calls, "adding reads nothing")
	collected(t, reader)
	collected(t, reader)
	assert.Equal(t, 2, src.calls)
}

func TestNewWorksOnTheNoopProviderAndPanicsOnNil(t *testing.T) {
	metrics, err := memootel.New(noop.NewMeterProvider())
	require.NoError(t, err)
	require.NoError(t, metrics.Add("users", &countingSource{}))
	require.NoError(t, metrics.Unregister())
	assert.PanicsWithValue(t, "memootel: New with a nil MeterProvider", func() { _, _ = memootel.New(nil) })
}

// stubTier is a memo.Tier that holds values in a map and counts its hits and
// misses.
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

type blob struct {
	key int
	_   [64]byte // big enough to be allocated, and reclaimed, on its own
}

func TestCollectedCountsReclaimedWeakEntries(t *testing.T) {
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

	metrics, reader := newMetrics(t)
	require.NoError(t, metrics.Add("weak", weak))
	got := collected(t, reader)["memo.name=weak"]
	assert.Equal(t, expected(s, false), got)
	assert.Equal(t, 10.0, got["memo.collected"])
}

func TestCollectionsDuringGetsAndAddsSeeCountersThatNeverGoBack(t *testing.T) {
	m := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil }, memo.WithCapacity(64))
	metrics, reader := newMetrics(t)
	require.NoError(t, metrics.Add("busy", m))

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				_, _ = m.Get(context.Background(), (g*7+i)%100)
			}
		})
	}
	wg.Go(func() { // Add and Remove while collections run
		for i := range 50 {
			name := fmt.Sprint("other-", i)
			assert.NoError(t, metrics.Add(name, m))
			assert.True(t, metrics.Remove(name))
		}
	})
	var last map[string]float64
	for range 20 {
		got := collected(t, reader)["memo.name=busy"]
		for name, v := range last {
			if name != "memo.entries" {
				require.GreaterOrEqual(t, got[name], v, name)
			}
		}
		last = got
	}
	wg.Wait()
	s := m.Stats()
	require.Equal(t, uint64(8000), s.Hits+s.Misses)
	assert.Equal(t, map[string]map[string]float64{"memo.name=busy": expected(s, false)}, collected(t, reader))
}

// fixedSource returns Stats whose every field differs from every other.
type fixedSource struct{}

func (fixedSource) Stats() memo.Stats {
	return memo.Stats{Hits: 1, Misses: 2, Loads: 3, LoadErrors: 4, Shared: 5, Evictions: 6,
		Expirations: 7, Collected: 8, Refreshes: 9, LoadTime: 1500 * time.Millisecond, Len: 11, Capacity: 12,
		Tier: memo.TierStats{Hits: 13, Misses: 14, Errors: 15, LeaseWaits: 16}}
}

func TestEachInstrumentShowsItsOwnFieldInBaseUnits(t *testing.T) {
	metrics, reader := newMetrics(t)
	require.NoError(t, metrics.Add("fixed", fixedSource{}))
	assert.Equal(t, map[string]float64{
		"memo.hits": 1, "memo.misses": 2, "memo.loads": 3, "memo.load.errors": 4, "memo.shared": 5,
		"memo.evictions": 6, "memo.expirations": 7, "memo.collected": 8, "memo.refreshes": 9,
		"memo.load.time": 1.5, "memo.entries": 11, "memo.capacity": 12,
		"memo.tier.hits": 13, "memo.tier.misses": 14, "memo.tier.errors": 15, "memo.tier.lease_waits": 16,
	}, collected(t, reader)["memo.name=fixed"])
}
