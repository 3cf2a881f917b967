package server_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/schemaflow/schemaflow/registry/store"
)

// TestFormatSerialized: format=serialized answers a Protobuf schema, by id
// and by version, as its FileDescriptorProto in base64 (imports from
// references resolved), as Confluent does; without it, and for other
// schema types, the stored text is answered. srclient reads the text.
func TestFormatSerialized(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	money := "syntax = \"proto3\";\npackage shop;\nmessage Money { string currency = 1; int64 units = 2; }\n"
	order := "syntax = \"proto3\";\npackage shop;\nimport \"money.proto\";\nmessage Order { string id = 1; shop.Money total = 2; }\n"
	if got := httpCall(t, "POST", ts.URL+"/subjects/money/versions", map[string]any{"schema": money, "schemaType": "PROTOBUF"}); got.status != 200 {
		t.Fatalf("money: %s", got.raw)
	}
	got := httpCall(t, "POST", ts.URL+"/subjects/orders/versions", map[string]any{"schema": order, "schemaType": "PROTOBUF",
		"references": []map[string]any{{"name": "money.proto", "subject": "money", "version": 1}}})
	if got.status != 200 {
		t.Fatalf("orders: %s", got.raw)
	}
	orderID := got.id()
	avro := httpCall(t, "POST", ts.URL+"/subjects/users-value/versions", map[string]any{"schema": userV1})
	for _, url := range []string{
		fmt.Sprintf("%s/schemas/ids/%d?format=serialized", ts.URL, orderID),
		ts.URL + "/subjects/orders/versions/1?format=serialized",
		ts.URL + "/subjects/orders/versions/latest?format=serialized",
	} {
		a := httpCall(t, "GET", url, nil)
		raw, err := base64.StdEncoding.DecodeString(fmt.Sprint(a.body["schema"]))
		if a.status != 200 || err != nil {
			t.Fatalf("%s: %s (%v)", url, a.raw, err)
		}
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(raw, &fd); err != nil {
			t.Fatalf("%s: not a FileDescriptorProto: %v", url, err)
		}
		if fd.GetPackage() != "shop" || len(fd.GetMessageType()) != 1 || fd.GetMessageType()[0].GetName() != "Order" ||
			!slices.Contains(fd.GetDependency(), "money.proto") || fd.GetMessageType()[0].GetField()[1].GetTypeName() != ".shop.Money" {
			t.Fatalf("%s: descriptor %v", url, &fd)
		}
	}
	stored := strings.TrimSpace(order) // the registry keeps the text trimmed
	for _, tc := range []struct{ url, want string }{
		{fmt.Sprintf("%s/schemas/ids/%d", ts.URL, orderID), stored},
		{ts.URL + "/subjects/orders/versions/1?format=default", stored},
		{fmt.Sprintf("%s/schemas/ids/%d?format=serialized", ts.URL, avro.id()), userV1},
	} {
		if a := httpCall(t, "GET", tc.url, nil); a.status != 200 || a.body["schema"] != tc.want {
			t.Fatalf("%s: %s", tc.url, a.raw)
		}
	}
	s, err := client(ts).GetSchema(orderID)
	if err != nil || s.Schema() != stored {
		t.Fatalf("srclient: %v %v", s, err)
	}
}

// TestFormatResolved: format=resolved answers an Avro schema with the
// named types of its references, and of theirs, defined inline where first
// used, by id, by version and on the raw /schema endpoints, as Confluent's
// AvroSchema.formattedString("resolved"); the answer parses on its own
// (goavro, with no references) and names each type once. Without it the
// stored text comes back, which is what srclient reads.
func TestFormatResolved(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	money := `{"type":"record","name":"Money","namespace":"shop","fields":[{"name":"units","type":"long"},{"name":"currency","type":{"type":"enum","name":"Currency","symbols":["EUR","USD"]}}]}`
	line := `{"type":"record","name":"Line","namespace":"shop","fields":[{"name":"sku","type":"string"},{"name":"price","type":"shop.Money"}]}`
	order := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"lines","type":{"type":"array","items":"shop.Line"}},{"name":"total","type":"shop.Money"},{"name":"paidIn","type":"shop.Currency"}]}`
	reg := func(subject, schema string, refs ...map[string]any) int {
		t.Helper()
		body := map[string]any{"schema": schema}
		if len(refs) > 0 {
			body["references"] = refs
		}
		got := httpCall(t, "POST", ts.URL+"/subjects/"+subject+"/versions", body)
		if got.status != 200 {
			t.Fatalf("register %s: %s", subject, got.raw)
		}
		return got.id()
	}
	reg("money", money)
	reg("line", line, map[string]any{"name": "shop.Money", "subject": "money", "version": 1})
	// Order names Line and, through it, Money; it also references money
	// directly. Line's own reference is found through line.
	id := reg("order", order, map[string]any{"name": "shop.Line", "subject": "line", "version": 1}, map[string]any{"name": "shop.Money", "subject": "money", "version": 1})
	want := `{"type":"record","name":"shop.Order","fields":[{"name":"lines","type":{"type":"array","items":{"type":"record","name":"shop.Line","fields":[{"name":"sku","type":"string"},{"name":"price","type":{"type":"record","name":"shop.Money","fields":[{"name":"units","type":"long"},{"name":"currency","type":{"type":"enum","name":"shop.Currency","symbols":["EUR","USD"]}}]}}]}}},{"name":"total","type":"shop.Money"},{"name":"paidIn","type":"shop.Currency"}]}`
	for _, tc := range []struct {
		path string
		json bool
		want string
	}{
		{fmt.Sprintf("/schemas/ids/%d?format=resolved", id), true, want},
		{"/subjects/order/versions/1?format=resolved", true, want},
		{"/subjects/order/versions/latest/schema?format=resolved", false, want},
		{fmt.Sprintf("/schemas/ids/%d/schema?format=resolved", id), false, want},
		{fmt.Sprintf("/schemas/ids/%d", id), true, order},
		{"/subjects/order/versions/1?format=default", true, order},
		{"/subjects/money/versions/1?format=resolved", true, `{"type":"record","name":"shop.Money","fields":[{"name":"units","type":"long"},{"name":"currency","type":{"type":"enum","name":"shop.Currency","symbols":["EUR","USD"]}}]}`},
	} {
		a := httpCall(t, "GET", ts.URL+tc.path, nil)
		got := a.raw
		if tc.json {
			got = fmt.Sprint(a.body["schema"])
		}
		if a.status != 200 || got != tc.want {
			t.Errorf("GET %s: %d\n got %s\nwant %s", tc.path, a.status, got, tc.want)
		}
	}
	if _, err := goavro.NewCodec(want); err != nil {
		t.Fatalf("the resolved schema does not stand alone: %v", err)
	}
	if s, err := client(ts).GetSchema(id); err != nil || s.Schema() != order {
		t.Fatalf("srclient: %v %v", s, err)
	}
}

// TestRegisterSerializedProtobuf: a Protobuf schema given as a base64
// FileDescriptorProto (what format=serialized answers) registers, as in
// Confluent, and is stored as the .proto text it prints to: its own
// format=serialized gives the same descriptor back, a lookup with the
// descriptor finds it, and srclient registers it under the same id. A
// base64 text that is no descriptor is an invalid schema.
func TestRegisterSerializedProtobuf(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	money := "syntax = \"proto3\";\npackage shop;\nmessage Money { string currency = 1; int64 units = 2; }\n"
	order := "syntax = \"proto3\";\npackage shop;\nimport \"money.proto\";\nmessage Order { string id = 1; shop.Money total = 2; map<string, int32> counts = 3; oneof pay { string card = 4; bytes token = 5; } }\n"
	refs := []map[string]any{{"name": "money.proto", "subject": "money", "version": 1}}
	if got := httpCall(t, "POST", ts.URL+"/subjects/money/versions", map[string]any{"schema": money, "schemaType": "PROTOBUF"}); got.status != 200 {
		t.Fatalf("money: %s", got.raw)
	}
	if got := httpCall(t, "POST", ts.URL+"/subjects/orders/versions", map[string]any{"schema": order, "schemaType": "PROTOBUF", "references": refs}); got.status != 200 {
		t.Fatalf("orders: %s", got.raw)
	}
	serialized := fmt.Sprint(httpCall(t, "GET", ts.URL+"/subjects/orders/versions/1?format=serialized", nil).body["schema"])

	got := httpCall(t, "POST", ts.URL+"/subjects/orders-copy/versions", map[string]any{"schema": serialized, "schemaType": "PROTOBUF", "references": refs})
	if got.status != 200 {
		t.Fatalf("register serialized: %s", got.raw)
	}
	id := got.id()
	text := fmt.Sprint(httpCall(t, "GET", ts.URL+"/subjects/orders-copy/versions/1", nil).body["schema"])
	if !strings.Contains(text, "message Order {") || !strings.Contains(text, `import "money.proto";`) {
		t.Fatalf("stored text:\n%s", text)
	}
	if back := fmt.Sprint(httpCall(t, "GET", ts.URL+"/subjects/orders-copy/versions/1?format=serialized", nil).body["schema"]); back != serialized {
		t.Fatalf("the stored text serializes to another descriptor:\n%s\n%s", back, serialized)
	}
	if lk := httpCall(t, "POST", ts.URL+"/subjects/orders-copy", map[string]any{"schema": serialized, "schemaType": "PROTOBUF", "references": refs}); lk.status != 200 || lk.id() != id {
		t.Fatalf("lookup by descriptor: %s", lk.raw)
	}
	s, err := client(ts).CreateSchema("orders-srclient", serialized, srclient.Protobuf, srclient.Reference{Name: "money.proto", Subject: "money", Version: 1})
	if err != nil || s.ID() != id {
		t.Fatalf("srclient register serialized: %v %v (want id %d)", s, err, id)
	}
	bad := base64.StdEncoding.EncodeToString([]byte{0xff, 0xff, 0xff, 0xff})
	if got := httpCall(t, "POST", ts.URL+"/subjects/bad/versions", map[string]any{"schema": bad, "schemaType": "PROTOBUF"}); got.status != 422 || got.code() != 42201 || !strings.Contains(got.raw, "FileDescriptorProto") {
		t.Fatalf("bad descriptor: %s", got.raw)
	}
}

// TestFormatIgnoreExtensions: format=ignore_extensions answers a Protobuf
// schema as Confluent's ProtobufSchema.formattedString does, byte for
// byte: without its extend blocks, extension ranges and custom options
// (the option's definition comes from a reference), keeping Confluent's
// own confluent.* options unless written with a leading dot; by id and by
// version. Without it the stored text is answered.
func TestFormatIgnoreExtensions(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	refs := registerConfluentDeps(t, ts.URL)
	opts := "syntax = \"proto2\";\npackage ext;\nimport \"google/protobuf/descriptor.proto\";\nextend google.protobuf.FieldOptions { optional string sensitivity = 50001; }\n"
	thing := `syntax = "proto2";
package shop;
import "opts.proto";
import "confluent/meta.proto";
option (confluent.file_meta).doc = "things";
option (.confluent.file_meta).tags = "dotted";
option java_package = "com.shop";
message Thing {
  optional string name = 1 [(ext.sensitivity) = "high", deprecated = true, (confluent.field_meta).tags = "PII"];
  extensions 100 to 199;
  message Inner { extend Thing { optional int32 inner = 101; } optional int32 n = 1; }
}
extend Thing { optional int32 weight = 100; }
`
	want := `syntax = "proto2";
package shop;

import "opts.proto";
import "confluent/meta.proto";

option (confluent.file_meta).doc = "things";
option java_package = "com.shop";

message Thing {
  optional string name = 1 [
    deprecated = true,
    (confluent.field_meta).tags = "PII"
  ];

  message Inner {
    optional int32 n = 1;
  }
}
`
	if got := httpCall(t, "POST", ts.URL+"/subjects/opts/versions", map[string]any{"schema": opts, "schemaType": "PROTOBUF"}); got.status != 200 {
		t.Fatalf("opts: %s", got.raw)
	}
	refs = append(refs, map[string]any{"name": "opts.proto", "subject": "opts", "version": 1})
	got := httpCall(t, "POST", ts.URL+"/subjects/thing/versions", map[string]any{"schema": thing, "schemaType": "PROTOBUF", "references": refs})
	if got.status != 200 {
		t.Fatalf("thing: %s", got.raw)
	}
	for _, path := range []string{fmt.Sprintf("/schemas/ids/%d?format=ignore_extensions", got.id()), "/subjects/thing/versions/1?format=ignore_extensions"} {
		if a := httpCall(t, "GET", ts.URL+path, nil); a.status != 200 || a.body["schema"] != want {
			t.Errorf("GET %s: %d\n%s\nwant\n%s", path, a.status, a.body["schema"], want)
		}
	}
	if a := httpCall(t, "GET", ts.URL+"/subjects/thing/versions/1", nil); a.body["schema"] != strings.TrimSpace(thing) {
		t.Errorf("without format: %s", a.raw)
	}
}
