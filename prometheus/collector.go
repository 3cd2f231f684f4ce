package memoprom

import (
	"fmt"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-memo/memo"
)

// A memo's counters, as Prometheus series.
//
// The problem: Stats is a snapshot a program must poll, and a dashboard wants
// counters it can rate() and gauges it can plot, one set per memo, under names
// that follow Prometheus' conventions.
//
// Why the obvious designs fail: incrementing prometheus.Counter objects from
// the memo (a stats-recorder hook, as otter and theine offer) puts an atomic
// add on a shared counter into every hit, which is the one path memo keeps
// free of shared writes; and a collector whose set of memos changes after
// registration breaks the registry's checks, which compare what Collect sends
// with what Describe announced.
//
// The design: a Collector reads Stats() of its memo only when the registry
// gathers, and turns each field into a constant metric, labelled memo=<name>
// as a constant label of every descriptor. Because the label is part of the
// descriptors, the registry itself refuses a second memo of the same name
// (Register returns prometheus.AlreadyRegisteredError) and accepts memos of
// other names, from any package, on the same registry. The series are rows of
// a table (name, help, type, the field), so a field added to Stats or
// TierStats is one row here.
//
// The price: a scrape takes the memo's mutex once to snapshot its counters
// (as Stats does), and a memo registered after it was built starts its
// counters at their current values, not at 0, which Prometheus treats as any
// counter it first sees.

// Source is what a Collector reads: anything with a Stats method. Every
// *memo.Memo[K, V], memo.Memo2 and memo.Memo3 is one, whatever its type
// arguments.
type Source interface {
	Stats() memo.Stats
}

// A Collector is a prometheus.Collector of one memo's Stats, each series
// labelled memo=<name>. It reads Stats only when a registry gathers; it adds
// nothing to the memo's Gets. Register one Collector per memo, on as many
// registries as needed:
//
//	reg.MustRegister(memoprom.NewCollector("users", users),
//		memoprom.NewCollector("rates", rates))
//
// Its series: counters memo_hits_total, memo_misses_total, memo_loads_total,
// memo_load_errors_total, memo_shared_total, memo_evictions_total,
// memo_expirations_total, memo_collected_total, memo_refreshes_total and
// memo_load_time_seconds_total (rate of it over rate of memo_loads_total
// is the mean load latency); gauges memo_entries and memo_capacity (0 when
// unbounded). They are the names OpenTelemetry's Prometheus exporter gives the
// instruments of github.com/go-memo/memo/otel, so a dashboard reads either.
// A memo with a tier (memo.WithTier) also has memo_tier_hits_total,
// memo_tier_misses_total, memo_tier_errors_total and
// memo_tier_lease_waits_total, from the first scrape at which any of the
// tier's counters is non-zero on (a memo's Stats cannot tell a tier that has
// not been used yet from no tier).
//
// Memo.Clear resets the memo's counters; Prometheus' rate() and increase()
// treat that as any counter reset. Add labels for every series (a service, a
// shard) with prometheus.WrapRegistererWith. Build a Collector with
// NewCollector; the zero value is not usable.
type Collector struct {
	src       Source
	descs     []*prometheus.Desc // one per row of memoSeries
	tierDescs []*prometheus.Desc // one per row of tierSeries
	tierSeen  atomic.Bool        // the tier's counters have been non-zero
}

// NewCollector returns a Collector of m's Stats, labelled memo=name.
// Registering a second Collector of the same name on a registry returns a
// prometheus.AlreadyRegisteredError, whichever memo it reads.
//
// NewCollector panics if name is empty or not valid UTF-8, or if m is nil.
func NewCollector(name string, m Source) *Collector {
	switch {
	case name == "":
		panic("memoprom: NewCollector with an empty name")
	case !utf8.ValidString(name):
		panic(fmt.Sprintf("memoprom: NewCollector name %q is not valid UTF-8", name))
	case m == nil:
		panic(fmt.Sprintf("memoprom: NewCollector(%q) with a nil memo", name))
	}
	labels := prometheus.Labels{"memo": name}
	return &Collector{
		src:       m,
		descs:     descsOf(memoSeries, labels),
		tierDescs: descsOf(tierSeries, labels),
	}
}

// Describe sends the descriptors of every series the Collector may send,
// tier series included.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	for _, d := range c.tierDescs {
		ch <- d
	}
}

// Collect reads the memo's Stats once and sends every series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	send(ch, c.descs, memoSeries, s)
	if s.Tier != (memo.TierStats{}) {
		c.tierSeen.Store(true)
	}
	if c.tierSeen.Load() {
		send(ch, c.tierDescs, tierSeries, s)
	}
}

// series is one row of the table: a metric and the Stats field it shows.
type series struct {
	name  string
	help  string
	kind  prometheus.ValueType
	value func(memo.Stats) float64
}

const (
	counter = prometheus.CounterValue
	gauge   = prometheus.GaugeValue
)

var memoSeries = []series{
	{"memo_hits_total", "Gets answered from the memo's own store.", counter, func(s memo.Stats) float64 { return float64(s.Hits) }},
	{"memo_misses_total", "Gets not answered from the memo's own store (loads started by Gets plus shared).", counter, func(s memo.Stats) float64 { return float64(s.Misses) }},
	{"memo_loads_total", "Calls of the memo's function, background refreshes included.", counter, func(s memo.Stats) float64 { return float64(s.Loads) }},
	{"memo_load_errors_total", "Calls of the memo's function that returned an error, panicked or exited.", counter, func(s memo.Stats) float64 { return float64(s.LoadErrors) }},
	{"memo_shared_total", "Gets that waited on a call of the function started by another Get.", counter, func(s memo.Stats) float64 { return float64(s.Shared) }},
	{"memo_evictions_total", "Entries dropped to stay within the capacity.", counter, func(s memo.Stats) float64 { return float64(s.Evictions) }},
	{"memo_expirations_total", "Entries dropped because their TTL passed.", counter, func(s memo.Stats) float64 { return float64(s.Expirations) }},
	{"memo_collected_total", "Weak entries dropped because the garbage collector reclaimed the value.", counter, func(s memo.Stats) float64 { return float64(s.Collected) }},
	{"memo_refreshes_total", "Background reloads started by WithRefresh (also counted in memo_loads_total).", counter, func(s memo.Stats) float64 { return float64(s.Refreshes) }},
	{"memo_load_time_seconds_total", "Time spent in the memo's function, over every load; its rate over the rate of memo_loads_total is the mean load latency.", counter, func(s memo.Stats) float64 { return s.LoadTime.Seconds() }},
	{"memo_entries", "Entries the memo holds now.", gauge, func(s memo.Stats) float64 { return float64(s.Len) }},
	{"memo_capacity", "Most entries the memo holds (WithCapacity); 0 when unbounded.", gauge, func(s memo.Stats) float64 { return float64(s.Capacity) }},
}

var tierSeries = []series{
	{"memo_tier_hits_total", "Fetches the memo's tier answered.", counter, func(s memo.Stats) float64 { return float64(s.Tier.Hits) }},
	{"memo_tier_misses_total", "Fetches of the memo's tier that called the function.", counter, func(s memo.Stats) float64 { return float64(s.Tier.Misses) }},
	{"memo_tier_errors_total", "Failed or timed-out calls to the memo's tier, and values it could not decode.", counter, func(s memo.Stats) float64 { return float64(s.Tier.Errors) }},
	{"memo_tier_lease_waits_total", "Fetches of the memo's tier that waited for another process's load of the same key.", counter, func(s memo.Stats) float64 { return float64(s.Tier.LeaseWaits) }},
}

func descsOf(rows []series, labels prometheus.Labels) []*prometheus.Desc {
	descs := make([]*prometheus.Desc, len(rows))
	for i, r := range rows {
		descs[i] = prometheus.NewDesc(r.name, r.help, nil, labels)
	}
	return descs
}

// send sends one constant metric per row. The descriptors have no variable
// labels, so MustNewConstMetric cannot fail.
func send(ch chan<- prometheus.Metric, descs []*prometheus.Desc, rows []series, s memo.Stats) {
	for i, r := range rows {
		ch <- prometheus.MustNewConstMetric(descs[i], r.kind, r.value(s))
	}
}
