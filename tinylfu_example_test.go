package memo_test

import (
	"context"
	"fmt"

	"github.com/go-memo/memo"
)

// A frequently asked key survives scans of keys asked for once, each longer
// than the capacity, which flush an LRU of the same size: with TinyLFU, fetch
// runs once for it.
func ExampleWithPolicy() {
	for _, policy := range []memo.Policy{memo.LRU, memo.TinyLFU} {
		hot := 0
		fetch := func(_ context.Context, id int) (string, error) {
			if id == -1 {
				hot++
			}
			return fmt.Sprint("page ", id), nil
		}
		m := memo.Memoize(fetch, memo.WithCapacity(100), memo.WithPolicy(policy))
		ctx := context.Background()
		for round := range 100 {
			for range 3 {
				_, _ = m.Get(ctx, -1) // the home page
			}
			for id := range 150 {
				_, _ = m.Get(ctx, round*150+id) // a crawler, each page once
			}
		}
		fmt.Printf("%v: the home page was fetched %d times\n", policy, hot)
	}
	// Output:
	// LRU: the home page was fetched 100 times
	// TinyLFU: the home page was fetched 1 times
}
