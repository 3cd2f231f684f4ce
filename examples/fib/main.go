// Command fib memoizes a recursive function: the memo's own Get is called
// from inside the function, so every subproblem is computed exactly once.
//
//	go run ./examples/fib
package main

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/go-memo/memo"
)

func main() {
	calls := 0
	var fib *memo.Memo[int, *big.Int]
	fib = memo.Memoize(func(ctx context.Context, n int) (*big.Int, error) {
		calls++
		if n < 2 {
			return big.NewInt(int64(n)), nil
		}
		a, err := fib.Get(ctx, n-1)
		if err != nil {
			return nil, err
		}
		b, err := fib.Get(ctx, n-2)
		if err != nil {
			return nil, err
		}
		return new(big.Int).Add(a, b), nil
	})

	ctx := context.Background()
	start := time.Now()
	v, _ := fib.Get(ctx, 300)
	fmt.Printf("fib(300) = %v\n", v)
	fmt.Printf("computed with %d calls in %v (the naive recursion would make about 10^62)\n",
		calls, time.Since(start).Round(time.Microsecond))

	calls = 0
	v, _ = fib.Get(ctx, 310)
	fmt.Printf("fib(310) = %v\nreused fib(0..300): %d new calls\n", v, calls)
	fmt.Println(fib.Stats())
}
