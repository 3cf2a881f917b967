package server_test

import (
	"strings"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/schemaflow/schemaflow/registry/store"
)

// TestNormalizeProtobuf: with normalize=true (or normalize in the config),
// Protobuf schemas that differ only in the order of their imports,
// options, fields, oneofs, enum values and reserved ranges, in how they
// name types, or in layout get one id, as Confluent's normalization gives
// them; messages keep their order (message indexes depend on it). Without
// it each is its own schema. srclient registers under a normalizing
// config.
func TestNormalizeProtobuf(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	money := "syntax = \"proto3\";\npackage shop;\nmessage Money { int64 units = 1; }\n"
	tags := "syntax = \"proto3\";\npackage shop;\nmessage Tag { string name = 1; }\n"
	for subject, text := range map[string]string{"money": money, "tags": tags} {
		if got := httpCall(t, "POST", ts.URL+"/subjects/"+subject+"/versions", map[string]any{"schema": text, "schemaType": "PROTOBUF"}); got.status != 200 {
			t.Fatalf("%s: %s", subject, got.raw)
		}
	}
	refs := []map[string]any{{"name": "money.proto", "subject": "money", "version": 1}, {"name": "tags.proto", "subject": "tags", "version": 1}}
	a := `syntax = "proto3";
package shop;
import "money.proto";
import "tags.proto";
option java_package = "com.shop";
option go_package = "example.com/shop";
message Order {
  string id = 1;
  Money total = 2;
  oneof pay { string card = 3; bytes token = 4; }
  repeated Tag tags = 5;
  Status status = 6;
  reserved 10, 20 to 25;
}
message Other { int32 n = 1; }
enum Status { NEW = 0; PAID = 1; SHIPPED = 2; }
`
	b := `syntax = "proto3";
package shop;
import "tags.proto";
import "money.proto";
option go_package = "example.com/shop";
option java_package = "com.shop";
message Order {
  Status status = 6;
  repeated .shop.Tag tags = 5;
  oneof pay { bytes token = 4; string card = 3; }
  shop.Money total = 2;
  string id = 1;
  reserved 20 to 25, 10;
}
message Other {
  int32 n = 1;
}
enum Status { NEW = 0; SHIPPED = 2; PAID = 1; }
`
	reg := func(subject, text, query string) answer {
		return httpCall(t, "POST", ts.URL+"/subjects/"+subject+"/versions"+query, map[string]any{"schema": text, "schemaType": "PROTOBUF", "references": refs})
	}
	first := reg("orders", a, "?normalize=true")
	if first.status != 200 {
		t.Fatalf("register a: %s", first.raw)
	}
	for _, tc := range []struct {
		name, subject, text, query string
		same                       bool
	}{
		{"the same schema reordered, normalized", "orders", b, "?normalize=true", true},
		{"reordered, in another subject, normalized", "orders2", b, "?normalize=true", true},
		{"reordered, not normalized", "orders3", b, "", false},
	} {
		got := reg(tc.subject, tc.text, tc.query)
		if got.status != 200 || (got.id() == first.id()) != tc.same {
			t.Errorf("%s: %s (first id %d)", tc.name, got.raw, first.id())
		}
	}
	stored := httpCall(t, "GET", ts.URL+"/subjects/orders/versions/1", nil).body["schema"].(string)
	if strings.Index(stored, "message Order") > strings.Index(stored, "message Other") ||
		!strings.Contains(stored, ".shop.Money total = 2;") || strings.Index(stored, "string id = 1;") > strings.Index(stored, ".shop.Money total") {
		t.Errorf("normalized text:\n%s", stored)
	}
	if lk := httpCall(t, "POST", ts.URL+"/subjects/orders?normalize=true", map[string]any{"schema": b, "schemaType": "PROTOBUF", "references": refs}); lk.status != 200 || lk.id() != first.id() {
		t.Errorf("normalized lookup: %s", lk.raw)
	}
	// srclient, which sends no normalize parameter, under a normalizing
	// subject config.
	if got := httpCall(t, "PUT", ts.URL+"/config/orders-srclient", map[string]any{"compatibility": "BACKWARD", "normalize": true}); got.status != 200 {
		t.Fatalf("config: %s", got.raw)
	}
	s, err := client(ts).CreateSchema("orders-srclient", b, srclient.Protobuf,
		srclient.Reference{Name: "money.proto", Subject: "money", Version: 1}, srclient.Reference{Name: "tags.proto", Subject: "tags", Version: 1})
	if err != nil || s.ID() != first.id() {
		t.Fatalf("srclient under normalize config: %v %v (want id %d)", s, err, first.id())
	}
}
