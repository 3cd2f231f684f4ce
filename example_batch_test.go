package memo_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-memo/memo"
)

// Resolvers running at the same time each ask for one author; MemoizeBatch
// answers them with one query. A key the query does not find gets
// ErrNotFound.
func ExampleMemoizeBatch() {
	var queries atomic.Int32
	// One query for many ids, as SELECT id, name FROM authors WHERE id IN (...).
	authorsByID := func(ctx context.Context, ids []int) (map[int]string, error) {
		queries.Add(1)
		table := map[int]string{1: "Ada", 2: "Brian", 3: "Grace"}
		found := make(map[int]string, len(ids))
		for _, id := range ids {
			if name, ok := table[id]; ok {
				found[id] = name
			}
		}
		return found, nil
	}
	// Up to 3 ids per query; a query waits at most 50ms for more ids.
	authors := memo.MemoizeBatch(authorsByID, memo.WithBatch(3, 50*time.Millisecond))
	ctx := context.Background()

	ids := []int{3, 1, 2}
	names := make([]string, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { names[i], _ = authors.Get(ctx, id) })
	}
	wg.Wait()
	fmt.Println(names, "queries:", queries.Load())

	name, _ := authors.Get(ctx, 1) // from memory
	fmt.Println(name, "queries:", queries.Load())

	_, err := authors.Get(ctx, 9) // waits for the window, then asks
	fmt.Println(errors.Is(err, memo.ErrNotFound), "queries:", queries.Load())

	st := authors.Stats()
	fmt.Println("calls of fn:", st.Loads, "keys loaded:", st.Misses-st.Shared)
	// Output:
	// [Grace Ada Brian] queries: 1
	// Ada queries: 1
	// true queries: 2
	// calls of fn: 2 keys loaded: 4
}

// GetMany answers the cached keys from memory and loads the others once
// each, concurrently, returning the values in the order of the keys.
func ExampleMemo_GetMany() {
	square := memo.Memoize(func(ctx context.Context, n int) (int, error) {
		return n * n, nil
	})
	ctx := context.Background()
	square.Set(4, 16)
	vs, err := square.GetMany(ctx, []int{4, 2, 3, 2})
	fmt.Println(vs, err)
	st := square.Stats()
	fmt.Println("hits:", st.Hits, "loads:", st.Loads)
	// Output:
	// [16 4 9 4] <nil>
	// hits: 1 loads: 2
}
