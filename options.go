package memo

import (
	"fmt"
	"time"
)

// An Option configures a memo at construction. Options are not generic, so
// call sites need no type arguments:
//
//	m := memo.Memoize(fetch, memo.WithCapacity(1000), memo.WithTTL(time.Minute))
type Option func(*config)

type config struct {
	capacity int
	ttl      time.Duration
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o == nil {
			panic("memo: nil Option")
		}
		o(&c)
	}
	return c
}

// WithCapacity bounds the memo to n entries, evicting the least recently
// used entry to make room, like Python's lru_cache(maxsize=n). A Get that hits
// counts as a use; Peek does not. 0 means unbounded, the default. A negative n
// panics.
func WithCapacity(n int) Option {
	if n < 0 {
		panic(fmt.Sprintf("memo: WithCapacity(%d): capacity must be >= 0 (0 means unbounded)", n))
	}
	return func(c *config) { c.capacity = n }
}

// WithTTL makes every entry expire d after it was stored (by a load or by
// Set): from then on Get never returns it and loads the key again. Expired
// entries are reclaimed as the memo is written to, with no background
// goroutine, so an unbounded memo holds no more than what was stored within
// the last d. 0 means entries never expire, the default. A negative d panics.
func WithTTL(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("memo: WithTTL(%v): TTL must be >= 0 (0 means no expiry)", d))
	}
	return func(c *config) { c.ttl = d }
}
