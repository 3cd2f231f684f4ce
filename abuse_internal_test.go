package memo

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNaNKeysLeaveNothingBehind(t *testing.T) {
	for _, capacity := range []int{0, 8} {
		m := Memoize(func(_ context.Context, k float64) ([]byte, error) { return make([]byte, 1024), nil },
			WithCapacity(capacity))
		ctx, cancel := context.WithCancel(context.Background())
		for range 1000 {
			v, err := m.Get(context.Background(), math.NaN())
			assert.NoError(t, err)
			assert.Len(t, v, 1024)
			_, err = m.Get(ctx, math.NaN()) // runs fn on its own goroutine
			assert.NoError(t, err)
		}
		cancel()
		m.Clear()
		d := m.e.(*direct[float64, []byte])
		d.mu.Lock()
		calls := len(d.calls)
		d.mu.Unlock()
		assert.Zero(t, calls, "calls of NaN keys stay in the calls map")
		assert.Zero(t, m.Len())
		st := m.Stats()
		assert.Zero(t, st.Hits)
	}
}
