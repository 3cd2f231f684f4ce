package memootel_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/go-memo/memo"
	memootel "github.com/go-memo/memo/otel"
)

// Observe a memo on a MeterProvider; here the SDK's with a manual reader,
// in a program the provider that exports to a collector.
func ExampleNew() {
	users := memo.Memoize(func(ctx context.Context, id int) (string, error) {
		return fmt.Sprint("user-", id), nil
	}, memo.WithCapacity(1000))
	ctx := context.Background()
	for _, id := range []int{1, 1, 1, 2} {
		_, _ = users.Get(ctx, id)
	}

	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	metrics, err := memootel.New(provider)
	if err != nil {
		panic(err)
	}
	defer metrics.Unregister()
	if err := metrics.Add("users", users); err != nil {
		panic(err)
	}

	// A collection, and a few of the instruments it read.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch m.Name {
		case "memo.hits", "memo.misses", "memo.entries", "memo.capacity":
			p := m.Data.(metricdata.Sum[int64]).DataPoints[0]
			name, _ := p.Attributes.Value(memootel.NameKey)
			fmt.Printf("%s %s memo.name=%s: %d\n", m.Name, m.Unit, name.AsString(), p.Value)
		}
	}
	// Output:
	// memo.hits {hit} memo.name=users: 2
	// memo.misses {miss} memo.name=users: 2
	// memo.entries {entry} memo.name=users: 2
	// memo.capacity {entry} memo.name=users: 1000
}
