package memootel

import (
	"math"

	"go.opentelemetry.io/otel/metric"

	"github.com/go-memo/memo"
)

// The instruments, one row per field of Stats. A new field is a new row.

type kind uint8

const (
	counter kind = iota // a monotonic sum: Int64ObservableCounter
	upDown              // a sum that goes both ways: Int64ObservableUpDownCounter
)

type intRow struct {
	name, unit, desc string
	kind             kind
	value            func(memo.Stats) int64
}

type floatRow struct {
	name, unit, desc string
	value            func(memo.Stats) float64
}

var intRows = []intRow{
	{"memo.hits", "{hit}", "Gets answered from the memo's own store.", counter, func(s memo.Stats) int64 { return clamp(s.Hits) }},
	{"memo.misses", "{miss}", "Gets not answered from the memo's own store (loads started by Gets plus shared).", counter, func(s memo.Stats) int64 { return clamp(s.Misses) }},
	{"memo.loads", "{load}", "Calls of the memo's function, background refreshes included.", counter, func(s memo.Stats) int64 { return clamp(s.Loads) }},
	{"memo.load.errors", "{error}", "Calls of the memo's function that returned an error, panicked or exited.", counter, func(s memo.Stats) int64 { return clamp(s.LoadErrors) }},
	{"memo.shared", "{get}", "Gets that waited on a call of the function started by another Get.", counter, func(s memo.Stats) int64 { return clamp(s.Shared) }},
	{"memo.evictions", "{entry}", "Entries dropped to stay within the capacity.", counter, func(s memo.Stats) int64 { return clamp(s.Evictions) }},
	{"memo.expirations", "{entry}", "Entries dropped because their TTL passed.", counter, func(s memo.Stats) int64 { return clamp(s.Expirations) }},
	{"memo.collected", "{entry}", "Weak entries dropped because the garbage collector reclaimed the value.", counter, func(s memo.Stats) int64 { return clamp(s.Collected) }},
	{"memo.refreshes", "{refresh}", "Background reloads started by WithRefresh (also counted in memo.loads).", counter, func(s memo.Stats) int64 { return clamp(s.Refreshes) }},
	{"memo.entries", "{entry}", "Entries the memo holds now.", upDown, func(s memo.Stats) int64 { return int64(s.Len) }},
	{"memo.capacity", "{entry}", "Most entries the memo holds (WithCapacity); 0 when unbounded.", upDown, func(s memo.Stats) int64 { return int64(s.Capacity) }},
}

var floatRows = []floatRow{
	{"memo.load.time", "s", "Time spent in the memo's function, over every load; its rate over memo.loads' is the mean load latency.", func(s memo.Stats) float64 { return s.LoadTime.Seconds() }},
}

var tierRows = []intRow{
	{"memo.tier.hits", "{hit}", "Fetches the memo's tier answered.", counter, func(s memo.Stats) int64 { return clamp(s.Tier.Hits) }},
	{"memo.tier.misses", "{miss}", "Fetches of the memo's tier that called the function.", counter, func(s memo.Stats) int64 { return clamp(s.Tier.Misses) }},
	{"memo.tier.errors", "{error}", "Failed or timed-out calls to the memo's tier, and values it could not decode.", counter, func(s memo.Stats) int64 { return clamp(s.Tier.Errors) }},
	{"memo.tier.lease_waits", "{wait}", "Fetches of the memo's tier that waited for another process's load of the same key.", counter, func(s memo.Stats) int64 { return clamp(s.Tier.LeaseWaits) }},
}

// clamp converts a counter to the API's int64, saturating rather than
// wrapping to a negative value past 2^63-1.
func clamp(n uint64) int64 { return int64(min(n, math.MaxInt64)) }

type intInstrument struct {
	inst  metric.Int64Observable
	value func(memo.Stats) int64
}

type floatInstrument struct {
	inst  metric.Float64Observable
	value func(memo.Stats) float64
}

// newInts creates the instruments of rows on meter, appending any error to
// errs.
func newInts(meter metric.Meter, rows []intRow, errs *[]error) []intInstrument {
	ins := make([]intInstrument, 0, len(rows))
	for _, r := range rows {
		var inst metric.Int64Observable
		var err error
		switch r.kind {
		case counter:
			inst, err = meter.Int64ObservableCounter(r.name, metric.WithUnit(r.unit), metric.WithDescription(r.desc))
		case upDown:
			inst, err = meter.Int64ObservableUpDownCounter(r.name, metric.WithUnit(r.unit), metric.WithDescription(r.desc))
		}
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		ins = append(ins, intInstrument{inst, r.value})
	}
	return ins
}

// newFloats creates the instruments of rows on meter, appending any error to
// errs.
func newFloats(meter metric.Meter, rows []floatRow, errs *[]error) []floatInstrument {
	ins := make([]floatInstrument, 0, len(rows))
	for _, r := range rows {
		inst, err := meter.Float64ObservableCounter(r.name, metric.WithUnit(r.unit), metric.WithDescription(r.desc))
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		ins = append(ins, floatInstrument{inst, r.value})
	}
	return ins
}
