package relmap

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson/primitive"
)

// Each field type from the representations Debezium gives, and the values
// it refuses.
func TestConvert(t *testing.T) {
	t.Parallel()
	dec := func(s string) primitive.Decimal128 { d, _ := primitive.ParseDecimal128(s); return d }
	oid, _ := primitive.ObjectIDFromHex("65a1b2c3d4e5f60718293a4b")
	tests := []struct {
		in   any
		to   FieldType
		want any
		err  string
	}{
		{int32(5), TypeString, "5", ""},
		{dec("12.50"), TypeString, "12.50", ""},
		{1.5, TypeString, "1.5", ""},
		{true, TypeString, "true", ""},
		{"42", TypeInt, int32(42), ""},
		{int64(1 << 40), TypeInt, nil, "does not fit an int"},
		{"x", TypeInt, nil, "not convertible to int"},
		{int32(7), TypeLong, int64(7), ""},
		{2.0, TypeLong, int64(2), ""},
		{2.5, TypeLong, nil, "not convertible to long"},
		{"2.25", TypeDouble, 2.25, ""},
		{int64(3), TypeDouble, 3.0, ""},
		{"19.99", TypeDecimal, dec("19.99"), ""},
		{int32(3), TypeDecimal, dec("3"), ""},
		{"abc", TypeDecimal, nil, "not convertible to decimal"},
		{int32(1), TypeBool, true, ""},
		{"false", TypeBool, false, ""},
		{int32(2), TypeBool, nil, "not convertible to bool"},
		{int64(1700000000123), TypeDate, primitive.DateTime(1700000000123), ""},
		{"2024-05-01T10:00:00Z", TypeDate, primitive.DateTime(1714557600000), ""},
		{"yesterday", TypeDate, nil, "not convertible to date"},
		{int64(1700000000123456), TypeDateMicros, primitive.DateTime(1700000000123), ""},
		{int32(19844), TypeDateDays, primitive.DateTime(19844 * 86400000), ""},
		{"65a1b2c3d4e5f60718293a4b", TypeObjectID, oid, ""},
		{"65a1", TypeObjectID, nil, "not convertible to objectId"},
		{nil, TypeDecimal, nil, ""},
	}
	for _, tt := range tests {
		got, err := convert(tt.in, tt.to)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v → %s: error %v, want %q", tt.in, tt.to, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v → %s: %v (%T), %v; want %v (%T)", tt.in, tt.to, got, got, err, tt.want, tt.want)
		}
	}
}

// Types apply to documents, elements and copies; a value that does not
// convert is an invalid record naming the column, and a typed key column
// is refused.
func TestTypesInDocuments(t *testing.T) {
	t.Parallel()
	cfg := shop()
	orders := cfg.Tables["public.orders"]
	orders.Types = map[string]FieldType{"order_date": TypeDate, "total": TypeDecimal}
	cfg.Tables["public.orders"] = orders
	lines := cfg.Tables["public.order_lines"]
	lines.Types = map[string]FieldType{"line_no": TypeLong}
	cfg.Tables["public.order_lines"] = lines
	m, err := New(cfg, shopTopics)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	applyAll(t, m, st, []ev{
		c("public.orders", "1", `{"id": 1, "customer_id": null, "order_date": "2024-05-01T10:00:00Z", "total": "19.99"}`),
		c("public.order_lines", "10", line10),
	})
	want := docs(t, []string{`{"_id":1,"id":1,"customer_id":null,"placedAt":{"$date":"2024-05-01T10:00:00Z"},"total":{"$numberDecimal":"19.99"},` +
		`"lines":[{"id":10,"order_id":1,"line_no":{"$numberLong":"2"},"sku":"pen"}]}`})
	if got := st.dump(t, "orders"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("orders\n got %s\nwant %s", got, want)
	}
	err = m.Apply(context.Background(), st, record(t, c("public.orders", "2", `{"id": 2, "order_date": "soon", "total": "1"}`), 9))
	if !IsDataError(err) || !strings.Contains(err.Error(), `column "order_date": soon (string) is not convertible to date`) {
		t.Fatalf("a bad date: %v", err)
	}
	orders.Types = map[string]FieldType{"id": TypeLong}
	cfg.Tables["public.orders"] = orders
	if _, err = New(cfg, shopTopics); err == nil || !strings.Contains(err.Error(), `"id" joins tables`) {
		t.Fatalf("a typed join column: %v", err)
	}
	orders.Types = map[string]FieldType{"total": "money"}
	cfg.Tables["public.orders"] = orders
	if _, err = New(cfg, shopTopics); err == nil || !strings.Contains(err.Error(), `"money": want one of`) {
		t.Fatalf("an unknown type: %v", err)
	}
	cfg = shop()
	cfg.Tables["public.refunds"] = Table{Collection: "refunds", Types: map[string]FieldType{"id": TypeLong}}
	if m, err = New(cfg, append(shopTopics, "pg.public.refunds")); err != nil {
		t.Fatal(err)
	}
	err = m.Apply(context.Background(), st, record(t, c("public.refunds", "1", `{"id": 1}`), 10))
	if !IsDataError(err) || !strings.Contains(err.Error(), `the key column "id" cannot be given a type`) {
		t.Fatalf("a typed key column: %v", err)
	}
}
