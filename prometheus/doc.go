// Package memoprom exports the Stats of memos (github.com/go-memo/memo) as
// Prometheus metrics. It is a module of its own, so that the memo module
// itself depends on no metrics library.
//
//	users := memo.Memoize(fetchUser, memo.WithCapacity(10_000))
//	prometheus.MustRegister(memoprom.NewCollector("users", users))
//
// Every series is labelled memo=<name>:
//
//	memo_hits_total{memo="users"} 9
//	memo_misses_total{memo="users"} 1
//	memo_entries{memo="users"} 1
//
// A Collector reads the memo's Stats only when a registry gathers, so
// registering one adds nothing to the memo's hit path. Useful queries:
//
//	rate(memo_hits_total[5m]) / (rate(memo_hits_total[5m]) + rate(memo_misses_total[5m]))  # hit ratio
//	rate(memo_load_time_seconds_total[5m]) / rate(memo_loads_total[5m])                   # mean load latency
//	memo_entries / (memo_capacity > 0)                                                     # how full a bounded memo is
//
// The package is named memoprom rather than prometheus so that it can be
// imported beside client_golang's prometheus package without renaming
// either, as memoredis sits beside go-redis.
package memoprom
