package memoprom_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-memo/memo"
	memoprom "github.com/go-memo/memo/prometheus"
)

// BenchmarkHit compares, in one run, a hit on a memo that no collector reads
// with a hit on one registered on a registry that is gathered: the Collector
// reads Stats at scrape time only, so the two must cost the same.
func BenchmarkHit(b *testing.B) {
	for _, registered := range []bool{false, true} {
		name := "registered=false"
		if registered {
			name = "registered=true"
		}
		b.Run(name, func(b *testing.B) {
			m := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil })
			ctx := context.Background()
			_, _ = m.Get(ctx, 1)
			if registered {
				reg := prometheus.NewRegistry()
				reg.MustRegister(memoprom.NewCollector("bench", m))
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_, _ = m.Get(ctx, 1)
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						_, _ = m.Get(ctx, 1)
					}
				})
			})
		})
	}
}

// BenchmarkGather is the cost of one scrape of a registry holding one memo.
func BenchmarkGather(b *testing.B) {
	m := memo.Memoize(func(ctx context.Context, k int) (int, error) { return k, nil })
	_, _ = m.Get(context.Background(), 1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(memoprom.NewCollector("bench", m))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
