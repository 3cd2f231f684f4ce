package memootel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/go-memo/memo"
)

// A memo's counters, as OpenTelemetry instruments.
//
// The problem: Stats is a snapshot a program must poll; an OpenTelemetry
// pipeline wants instruments on the program's MeterProvider, one attribute
// set per memo, named after its semantic conventions.
//
// Why the obvious designs fail: synchronous counters added to from the memo
// would put a shared write into every hit; and a callback per memo and per
// instrument, each registered on its own, leaves nothing to stop two of them
// from observing the same instrument with the same attributes, which the
// metric API forbids (a Callback must make observations no other Callback
// makes).
//
// The design: one Metrics creates every instrument once and registers one
// callback over all of them; at each collection it reads Stats() of each of
// its memos once and observes every field. The memos are kept in an
// immutable slice behind an atomic pointer, replaced by Add and Remove, so
// the callback takes no lock of its own; Add refuses a name already used.
// The instruments are rows of a table (name, unit, the field), so a field
// added to Stats or TierStats is one row here.
//
// The price: a collection takes each memo's mutex once, as Stats does.

// Source is what Metrics reads: anything with a Stats method. Every
// *memo.Memo[K, V], memo.Memo2 and memo.Memo3 is one, whatever its type
// arguments.
type Source interface {
	Stats() memo.Stats
}

// ScopeName is the instrumentation scope of the meter Metrics uses.
const ScopeName = "github.com/go-memo/memo/otel"

// NameKey is the attribute that names a memo in every observation.
const NameKey = attribute.Key("memo.name")

// Metrics publishes the Stats of memos as asynchronous instruments of one
// meter (scope ScopeName), observed in one callback at each collection. It
// adds nothing to the memos' Gets.
//
// Its instruments, each observed with the attribute memo.name=<name>:
// counters memo.hits {hit}, memo.misses {miss}, memo.loads {load},
// memo.load.errors {error}, memo.shared {get}, memo.evictions {entry},
// memo.expirations {entry}, memo.collected {entry}, memo.refreshes
// {refresh} and memo.load.time (s; its rate over memo.loads' is the mean load
// latency); up-down counters memo.entries {entry} and memo.capacity {entry}
// (0 when unbounded), up-down counters rather than gauges because their sum
// over memos means something (the entries a process holds). A memo with a
// tier (memo.WithTier) also has memo.tier.hits {hit}, memo.tier.misses
// {miss}, memo.tier.errors {error} and memo.tier.lease_waits {wait}, from the
// first collection at which any of the tier's counters is non-zero on (a
// memo's Stats cannot tell a tier that has not been used yet from no tier).
//
// Names are unique within one Metrics only: use one Metrics per
// MeterProvider, as two that observe the same name would report conflicting
// values for one attribute set. Memo.Clear resets the memo's counters, which
// a cumulative reader sees as a counter reset. Every method is safe for
// concurrent use. Build a Metrics with New; the zero value is not usable.
type Metrics struct {
	ints   []intInstrument
	floats []floatInstrument
	tier   []intInstrument
	reg    metric.Registration

	mu    sync.Mutex                // serializes Add and Remove
	memos atomic.Pointer[[]*member] // read by the callback; replaced, never changed
}

type member struct {
	name     string
	src      Source
	attrs    metric.MeasurementOption
	tierSeen atomic.Bool // the tier's counters have been non-zero
}

// New creates the instruments on a meter of mp, and registers the callback
// that observes them. It returns the errors of the meter, if any. Add memos
// to it; Unregister stops the observations.
//
// New panics if mp is nil.
func New(mp metric.MeterProvider) (*Metrics, error) {
	if mp == nil {
		panic("memootel: New with a nil MeterProvider")
	}
	meter := mp.Meter(ScopeName)
	m := &Metrics{}
	m.memos.Store(new([]*member))
	var errs []error
	m.ints = newInts(meter, intRows, &errs)
	m.tier = newInts(meter, tierRows, &errs)
	m.floats = newFloats(meter, floatRows, &errs)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	reg, err := meter.RegisterCallback(m.observe, m.observables()...)
	if err != nil {
		return nil, err
	}
	m.reg = reg
	return m, nil
}

// Add observes src under name from the next collection on. It returns an
// error, and adds nothing, if name is empty or not valid UTF-8, is already
// used by a memo of m, or if src is nil.
func (m *Metrics) Add(name string, src Source) error {
	switch {
	case name == "" || !utf8.ValidString(name):
		return fmt.Errorf("memootel: Add(%q): a memo's name must be non-empty UTF-8", name)
	case src == nil:
		return fmt.Errorf("memootel: Add(%q) with a nil memo", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.memos.Load()
	if slices.ContainsFunc(old, func(e *member) bool { return e.name == name }) {
		return fmt.Errorf("memootel: a memo named %q is already added", name)
	}
	e := &member{name: name, src: src,
		attrs: metric.WithAttributeSet(attribute.NewSet(NameKey.String(name)))}
	memos := append(slices.Clip(old), e)
	m.memos.Store(&memos)
	return nil
}

// Remove stops observing the memo named name, and reports whether there was
// one. The name may be added again.
func (m *Metrics) Remove(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.memos.Load()
	i := slices.IndexFunc(old, func(e *member) bool { return e.name == name })
	if i < 0 {
		return false
	}
	memos := slices.Delete(slices.Clone(old), i, i+1)
	m.memos.Store(&memos)
	return true
}

// Unregister unregisters the callback from the meter: no memo of m is
// observed after it returns. It returns the meter's error, if any.
func (m *Metrics) Unregister() error { return m.reg.Unregister() }

// observe is the callback: one Stats per memo, every instrument observed.
func (m *Metrics) observe(ctx context.Context, o metric.Observer) error {
	for _, e := range *m.memos.Load() {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := e.src.Stats()
		for _, in := range m.ints {
			o.ObserveInt64(in.inst, in.value(s), e.attrs)
		}
		for _, in := range m.floats {
			o.ObserveFloat64(in.inst, in.value(s), e.attrs)
		}
		if s.Tier != (memo.TierStats{}) {
			e.tierSeen.Store(true)
		}
		if e.tierSeen.Load() {
			for _, in := range m.tier {
				o.ObserveInt64(in.inst, in.value(s), e.attrs)
			}
		}
	}
	return nil
}

func (m *Metrics) observables() []metric.Observable {
	var obs []metric.Observable
	for _, in := range m.ints {
		obs = append(obs, in.inst)
	}
	for _, in := range m.tier {
		obs = append(obs, in.inst)
	}
	for _, in := range m.floats {
		obs = append(obs, in.inst)
	}
	return obs
}
