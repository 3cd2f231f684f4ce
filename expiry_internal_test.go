package memo

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The deadline heap against a sorted reference: after any sequence of pushes
// and removals, its front is the earliest deadline, every entry's node is its
// position, and popping yields the deadlines in order.
func TestDeadlineHeapKeepsTheEarliestDeadlineInFront(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var q deadlineHeap[int, int]
	var x index[int, int]
	x.init(true) // the heap's entries are timed
	var in []*entry[int, int]
	for step := range 2000 {
		if len(in) == 0 || r.IntN(3) > 0 {
			e := x.newEntry(step, 0, 1+r.Int64N(1000))
			q.push(e)
			in = append(in, e)
		} else {
			i := r.IntN(len(in))
			q.remove(in[i])
			assert.Zero(t, in[i].node, "a removed entry has no position")
			q.remove(in[i]) // removing it again does nothing
			in = slices.Delete(in, i, i+1)
		}
		require.Len(t, q.h, len(in))
		for i, e := range q.h {
			require.Equal(t, uint32(i+1), e.node)
		}
		min := slices.MinFunc(in, func(a, b *entry[int, int]) int { return int(a.deadline() - b.deadline()) })
		require.Equal(t, min.deadline(), q.front().deadline())
	}
	var last int64
	for q.front() != nil {
		e := q.front()
		require.GreaterOrEqual(t, e.deadline(), last)
		last = e.deadline()
		q.remove(e)
	}
}

func TestAddSatSaturates(t *testing.T) {
	assert.Equal(t, int64(5), addSat(2, 3))
	assert.Equal(t, int64(1<<63-1), addSat(1<<62, 1<<62))
}
