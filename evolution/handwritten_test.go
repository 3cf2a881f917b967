package evolution

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/schemaflow/schemaflow/internal/protoctest"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/infer"
)

// handWrittenProto is a first version written by hand, with what code
// generators and people rely on: file options, comments, reserved numbers
// and names, a deprecated field, an enum, a nested message and a service.
const handWrittenProto = `// Orders of the shop, as the team wrote them.
syntax = "proto3";

package shop.v1;

import "google/protobuf/timestamp.proto";

option go_package = "example.com/shop/gen/shopv1";
option java_package = "com.example.shop.v1";
option java_multiple_files = true;

// An order placed in the shop.
message Order {
  reserved 7, 9 to 11;
  reserved "legacy", "old_total";

  string _id = 1; // the order number
  // Who placed it.
  string customer = 2;
  int32 quantity = 3;
  Status status = 4;
  // Wrapping, when the order is a gift.
  Gift gift = 5;
  // Replaced by status.
  string state = 6 [deprecated = true];
  google.protobuf.Timestamp placed_at = 8;

  // A gift wrapping.
  message Gift {
    string message = 1; // printed on the card
  }

  enum Status {
    STATUS_UNSPECIFIED = 0;
    PLACED = 1;
    SHIPPED = 2;
  }
}

// Looks orders up.
service Orders {
  // Returns the order.
  rpc Get(Order) returns (Order);
}
`

// isSubsequence reports whether every line of a appears in b, in order.
func isSubsequence(a, b string) (string, bool) {
	bl := strings.Split(b, "\n")
	j := 0
	for _, l := range strings.Split(a, "\n") {
		for j < len(bl) && bl[j] != l {
			j++
		}
		if j == len(bl) {
			return l, false
		}
		j++
	}
	return "", true
}

// reservedOf lists a message's reserved ranges (inclusive) and names.
func reservedOf(md protoreflect.MessageDescriptor) ([][2]int, []string) {
	var ranges [][2]int
	for i := 0; i < md.ReservedRanges().Len(); i++ {
		r := md.ReservedRanges().Get(i)
		ranges = append(ranges, [2]int{int(r[0]), int(r[1]) - 1})
	}
	var names []string
	for i := 0; i < md.ReservedNames().Len(); i++ {
		names = append(names, string(md.ReservedNames().Get(i)))
	}
	return ranges, names
}

// checkReserved fails when a field of any message of next takes a number
// or a name that message reserves in prev, or when next lost a
// reservation.
func checkReserved(t *testing.T, prev, next Schema) {
	t.Helper()
	p, err := parseProto(prev)
	if err != nil {
		t.Fatal(err)
	}
	n, err := parseProto(next)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(pm protoreflect.MessageDescriptor)
	walk = func(pm protoreflect.MessageDescriptor) {
		md := findMessageIn(n.fd, pm.FullName())
		if md == nil {
			t.Fatalf("message %s is gone\n%s", pm.FullName(), next.Text)
		}
		pr, pn := reservedOf(pm)
		nr, nn := reservedOf(md)
		if !slices.Equal(pr, nr) || !slices.Equal(pn, nn) {
			t.Fatalf("%s reserved %v %v, now %v %v\n%s", pm.FullName(), pr, pn, nr, nn, next.Text)
		}
		for i := 0; i < md.Fields().Len(); i++ {
			f := md.Fields().Get(i)
			if slices.Contains(pn, string(f.Name())) {
				t.Fatalf("field %s of %s takes a reserved name\n%s", f.Name(), md.FullName(), next.Text)
			}
			for _, r := range pr {
				if int(f.Number()) >= r[0] && int(f.Number()) <= r[1] {
					t.Fatalf("field %s of %s takes the reserved number %d\n%s", f.Name(), md.FullName(), f.Number(), next.Text)
				}
			}
		}
		for i := 0; i < pm.Messages().Len(); i++ {
			walk(pm.Messages().Get(i))
		}
	}
	for i := 0; i < p.fd.Messages().Len(); i++ {
		walk(p.fd.Messages().Get(i))
	}
}

// TestEvolveHandWrittenProtobuf evolves the hand-written v1 with documents
// that add coupon, gift.note and legacy (a reserved name): v2 is v1 with
// three field lines inserted, every line of v1 kept in order (options,
// comments, reservations, the deprecated field, the enum, the service);
// no reserved number or name is taken, legacy keeps its document name in
// json_name, protoc compiles it, Check passes at BACKWARD and the
// documents round-trip. v3 then widens quantity and moves customer and the
// deprecated state into oneofs, editing those lines in place.
func TestEvolveHandWrittenProtobuf(t *testing.T) {
	t.Parallel()
	bin := protoctest.Path(t)
	v1 := Schema{Format: schemas.Protobuf, Text: []byte(handWrittenProto)}
	if err := protoctest.Compile(t, bin, map[string][]byte{"doc.proto": v1.Text}); err != nil {
		t.Fatal(err)
	}
	inferOrder := func(ds ...string) Schema {
		t.Helper()
		in := infer.New()
		for _, d := range docs(t, ds...) {
			if err := in.Add(d); err != nil {
				t.Fatal(err)
			}
		}
		// The source infers under the subject's names.
		text, err := in.Proto(infer.Options{Name: "Order", Namespace: "shop.v1"})
		if err != nil {
			t.Fatal(err)
		}
		return Schema{Format: schemas.Protobuf, Text: text}
	}
	seen := docs(t,
		`{"_id": "o1", "customer": "ann", "quantity": 2, "status": "PLACED", "gift": {"message": "hi", "note": "wrap it"}, "state": "x", "placed_at": {"$date": "2026-01-02T03:04:05Z"}, "coupon": "SAVE10", "legacy": true}`,
	)
	v2, changed, err := Evolve(Backward, []Schema{v1}, inferOrder(`{"_id": "o1", "customer": "ann", "quantity": 2, "status": "PLACED", "gift": {"message": "hi", "note": "wrap it"}, "state": "x", "placed_at": {"$date": "2026-01-02T03:04:05Z"}, "coupon": "SAVE10", "legacy": true}`))
	if err != nil || !changed {
		t.Fatalf("Evolve: changed %v, %v", changed, err)
	}
	if l, ok := isSubsequence(handWrittenProto, string(v2.Text)); !ok {
		t.Fatalf("v2 lost the line %q of v1:\n%s", l, v2.Text)
	}
	added := strings.Count(string(v2.Text), "\n") - strings.Count(handWrittenProto, "\n")
	if added != 3 {
		t.Errorf("v2 has %d more lines than v1, want 3 (one per new field):\n%s", added, v2.Text)
	}
	for _, want := range []string{
		"  optional string coupon = 12;\n",
		"  optional bool legacy_2 = 13 [json_name = \"legacy\"];\n",
		"    optional string note = 2;\n",
	} {
		if !strings.Contains(string(v2.Text), want) {
			t.Errorf("v2 lacks %q:\n%s", want, v2.Text)
		}
	}
	checkEvolvedProto(t, bin, v1, v2, []Schema{v1})
	checkVersion(t, bin, &v1, v2, seen)

	// v3: quantity widens in place; customer and the deprecated state take
	// another kind and become oneofs around their own lines.
	v3doc := `{"_id": "o2", "customer": 42, "quantity": {"$numberLong": "9007199254740993"}, "state": 7, "coupon": "X"}`
	v3, changed, err := Evolve(Backward, []Schema{v1, v2}, inferOrder(v3doc))
	if err != nil || !changed {
		t.Fatalf("Evolve v3: changed %v, %v", changed, err)
	}
	for _, want := range []string{
		"  string _id = 1; // the order number\n",
		"  // Who placed it.\n  oneof customer {\n    string customer_string = 2;\n    int32 customer_int32 = 14;\n  }\n",
		"  int64 quantity = 3;\n",
		"  // Replaced by status.\n  oneof state {\n    string state_string = 6 [deprecated = true];\n    int32 state_int32 = 15;\n  }\n",
		"option go_package = \"example.com/shop/gen/shopv1\";\n",
		"  reserved 7, 9 to 11;\n  reserved \"legacy\", \"old_total\";\n",
		"service Orders {\n  // Returns the order.\n  rpc Get(Order) returns (Order);\n}\n",
	} {
		if !strings.Contains(string(v3.Text), want) {
			t.Errorf("v3 lacks %q:\n%s", want, v3.Text)
		}
	}
	checkEvolvedProto(t, bin, v2, v3, []Schema{v1, v2})
	// v3 renames customer and state (into their oneofs), and under
	// numbers: widen the v1 document's quantity now decodes as an int64:
	// the round trip is of the v3 document.
	checkVersion(t, bin, nil, v3, docs(t, v3doc))
}

// checkEvolvedProto checks what every evolved Protobuf version must be:
// protoc compiles it, it keeps prev's reservations and takes none of
// them, its file options and service are prev's, and Check passes at
// BACKWARD against the history.
func checkEvolvedProto(t *testing.T, bin string, prev, next Schema, history []Schema) {
	t.Helper()
	if err := protoctest.Compile(t, bin, map[string][]byte{"doc.proto": next.Text}); err != nil {
		t.Fatalf("%v\n%s", err, next.Text)
	}
	checkReserved(t, prev, next)
	p, err := parseProto(prev)
	if err != nil {
		t.Fatal(err)
	}
	n, err := parseProto(next)
	if err != nil {
		t.Fatal(err)
	}
	po, no := p.fd.Options().(*descriptorpb.FileOptions), n.fd.Options().(*descriptorpb.FileOptions)
	if po.GetGoPackage() != no.GetGoPackage() || po.GetJavaPackage() != no.GetJavaPackage() || po.GetJavaMultipleFiles() != no.GetJavaMultipleFiles() {
		t.Errorf("file options %v, now %v", po, no)
	}
	if p.fd.Services().Len() != n.fd.Services().Len() {
		t.Errorf("%d services, now %d", p.fd.Services().Len(), n.fd.Services().Len())
	}
	res, err := Check(Backward, next, history)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Compatible {
		t.Fatalf("not BACKWARD compatible: %v\n%s", res.Issues, next.Text)
	}
}

// findMessageIn returns the message of fd with the full name, or nil.
func findMessageIn(fd protoreflect.FileDescriptor, full protoreflect.FullName) protoreflect.MessageDescriptor {
	var walk func(ms protoreflect.MessageDescriptors) protoreflect.MessageDescriptor
	walk = func(ms protoreflect.MessageDescriptors) protoreflect.MessageDescriptor {
		for i := 0; i < ms.Len(); i++ {
			if ms.Get(i).FullName() == full {
				return ms.Get(i)
			}
			if m := walk(ms.Get(i).Messages()); m != nil {
				return m
			}
		}
		return nil
	}
	return walk(fd.Messages())
}

// TestEvolveProtobufNumbers: new field numbers continue after the highest
// number any version used or reserved, skip Protobuf's own 19000-19999,
// and when a reservation reaches the maximum, take the lowest number no
// version used and nothing reserves.
func TestEvolveProtobufNumbers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		v1   string
		want string
	}{
		{"after the highest reserved", "reserved 2, 40 to 42;\n  string a = 1;", "optional string b = 43;"},
		{"after the highest used", "reserved 2;\n  string a = 30;", "optional string b = 31;"},
		{"past Protobuf's range", "reserved 18990 to 18999;\n  string a = 1;", "optional string b = 20000;"},
		{"reserved to max", "reserved 2 to 3, 5 to max;\n  string a = 1;", "optional string b = 4;"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v1 := Schema{Format: schemas.Protobuf, Text: []byte("syntax = \"proto3\";\n\nmessage Doc {\n  " + c.v1 + "\n}\n")}
			next, changed, err := Evolve(Backward, []Schema{v1}, inferred(t, schemas.Protobuf, docs(t, `{"a": "x", "b": "y"}`)...))
			if err != nil || !changed {
				t.Fatalf("Evolve: %v %v", changed, err)
			}
			if !strings.Contains(string(next.Text), "  "+c.want+"\n") {
				t.Errorf("want %q in\n%s", c.want, next.Text)
			}
			checkReserved(t, v1, next)
		})
	}
}

// TestEvolveProtobufImports: an import the next version needs goes after
// the last import, else after the package statement, else after syntax;
// the rest of the file is unchanged.
func TestEvolveProtobufImports(t *testing.T) {
	t.Parallel()
	bin := protoctest.Path(t)
	cases := []struct{ name, v1, want string }{
		{"after syntax", "syntax = \"proto3\"; // three\nmessage Doc {\n  string a = 1;\n}\n",
			"syntax = \"proto3\"; // three\n\nimport \"google/protobuf/timestamp.proto\";\nmessage Doc {\n  string a = 1;\n  .google.protobuf.Timestamp d = 2;\n}\n"},
		{"after package", "syntax = \"proto3\";\npackage p;\n\nmessage Doc {\n  string a = 1;\n}\n",
			"syntax = \"proto3\";\npackage p;\n\nimport \"google/protobuf/timestamp.proto\";\n\nmessage Doc {\n  string a = 1;\n  .google.protobuf.Timestamp d = 2;\n}\n"},
		{"after the last import", "syntax = \"proto3\";\nimport \"google/protobuf/struct.proto\";\nmessage Doc {\n  string a = 1;\n}\n",
			"syntax = \"proto3\";\nimport \"google/protobuf/struct.proto\";\nimport \"google/protobuf/timestamp.proto\";\nmessage Doc {\n  string a = 1;\n  .google.protobuf.Timestamp d = 2;\n}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v1 := Schema{Format: schemas.Protobuf, Text: []byte(c.v1)}
			in := inferred(t, schemas.Protobuf, docs(t, `{"a": "x", "d": {"$date": "2026-01-02T03:04:05Z"}}`)...)
			if strings.Contains(c.v1, "package p;") {
				in.Text = []byte(strings.Replace(string(in.Text), "syntax = \"proto3\";", "syntax = \"proto3\";\npackage p;", 1))
			}
			next, changed, err := Evolve(Backward, []Schema{v1}, in)
			if err != nil || !changed {
				t.Fatalf("Evolve: %v %v", changed, err)
			}
			if string(next.Text) != c.want {
				t.Errorf("got\n%s\nwant\n%s", next.Text, c.want)
			}
			if err := protoctest.Compile(t, bin, map[string][]byte{"doc.proto": next.Text}); err != nil {
				t.Error(err)
			}
		})
	}
}
