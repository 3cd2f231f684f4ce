// Package memootel publishes the Stats of memos (github.com/go-memo/memo) as
// OpenTelemetry metrics: asynchronous instruments on the program's
// MeterProvider, read in one callback at each collection. It is a module of
// its own, so that the memo module itself depends on no metrics library.
//
//	metrics, err := memootel.New(otel.GetMeterProvider())
//	if err != nil { ... }
//	defer metrics.Unregister()
//	err = metrics.Add("users", users) // memo.hits{memo.name="users"}, memo.misses, ...
//
// Instruments follow OpenTelemetry's naming: memo.hits with unit {hit},
// memo.load.time in seconds, memo.entries as an up-down counter, and so on
// (see Metrics). They read each memo's Stats only when a reader collects, so
// observing a memo adds nothing to its hit path.
//
// The package is named memootel rather than otel so that it can be imported
// beside go.opentelemetry.io/otel without renaming either, as memoredis sits
// beside go-redis.
package memootel
