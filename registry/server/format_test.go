package server_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

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
