package relmap

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkMapping maps order-line inserts and updates into 100 orders,
// and customer updates copied into their orders, on lungo: the cost of
// reading the parent (or the copy) for each event.
func BenchmarkMapping(b *testing.B) {
	m, err := New(shop(), shopTopics)
	if err != nil {
		b.Fatal(err)
	}
	st := openStore(b)
	ctx := context.Background()
	for i := range 100 {
		r := record(b, c("public.orders", fmt.Sprint(i), fmt.Sprintf(`{"id": %d, "customer_id": %d, "order_date": "d"}`, i, i%10)), 0)
		if err := m.Apply(ctx, st, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		var e ev
		switch i % 4 {
		case 3:
			e = u("public.customers", fmt.Sprint(i%10), "null", fmt.Sprintf(`{"id": %d, "name": "n%d"}`, i%10, i))
		default:
			id := i % 1000
			e = u("public.order_lines", fmt.Sprint(id), "null", fmt.Sprintf(`{"id": %d, "order_id": %d, "line_no": %d, "sku": "s"}`, id, id%100, i%7))
		}
		if err := m.Apply(ctx, st, record(b, e, int64(i))); err != nil {
			b.Fatal(err)
		}
	}
}
