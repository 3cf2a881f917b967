package infer_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// What infer writes, the shared conventions of schemas/protobuf read back:
// each helper message gives its BSON kind, a _List message wraps an array
// in ListField, an _Item message holds ItemOneof.
func TestProtoConventionsRoundTrip(t *testing.T) {
	oid, _ := primitive.ObjectIDFromHex("0123456789abcdef01234567")
	dec, _ := primitive.ParseDecimal128("1.5")
	want := map[string]schemas.Kind{
		"oid":    schemas.KindObjectID,
		"dec":    schemas.KindDecimal128,
		"re":     schemas.KindRegex,
		"js":     schemas.KindJavaScript,
		"ts":     schemas.KindTimestamp,
		"bin":    schemas.KindBinaryOther,
		"uuid":   schemas.KindBinaryOther, // BsonBinary carries both
		"sym":    schemas.KindSymbol,
		"dbp":    schemas.KindDBPointer,
		"cws":    schemas.KindCodeWithScope,
		"minkey": schemas.KindMinKey,
		"maxkey": schemas.KindMaxKey,
		"undef":  schemas.KindUndefined,
	}
	doc := bson.D{
		{Key: "oid", Value: oid}, {Key: "dec", Value: dec},
		{Key: "re", Value: primitive.Regex{Pattern: "^a", Options: "i"}},
		{Key: "js", Value: primitive.JavaScript("f()")},
		{Key: "ts", Value: primitive.Timestamp{T: 1, I: 2}},
		{Key: "bin", Value: primitive.Binary{Subtype: 0x80, Data: []byte{1}}},
		{Key: "uuid", Value: primitive.Binary{Subtype: 4, Data: make([]byte, 16)}},
		{Key: "sym", Value: primitive.Symbol("s")},
		{Key: "dbp", Value: primitive.DBPointer{DB: "x", Pointer: oid}},
		{Key: "cws", Value: primitive.CodeWithScope{Code: "f()", Scope: bson.D{{Key: "a", Value: 1}}}},
		{Key: "minkey", Value: primitive.MinKey{}}, {Key: "maxkey", Value: primitive.MaxKey{}},
		{Key: "undef", Value: primitive.Undefined{}},
		{Key: "empty", Value: bson.A{}},                // an empty array: a _List message
		{Key: "mixed", Value: bson.A{int32(1), "two"}}, // elements of two kinds: an _Item message
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	in := infer.New()
	if err := in.Add(raw); err != nil {
		t.Fatal(err)
	}
	text, err := in.Proto(infer.Options{Name: "Doc"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := protobuf.Compile("doc.proto", text, protobuf.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	md := s.File.Messages().ByName("Doc")
	for name, k := range want {
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil || fd.Message() == nil {
			t.Errorf("field %s: not a message field in\n%s", name, text)
			continue
		}
		if got, ok := protobuf.HelperKind(fd.Message()); !ok || got != k {
			t.Errorf("field %s: HelperKind(%s) = %v, %v; want %v", name, fd.Message().Name(), got, ok, k)
		}
		if got := protobuf.HelperName(k); string(fd.Message().Name()) != got {
			t.Errorf("field %s: message %s, HelperName %s", name, fd.Message().Name(), got)
		}
	}
	list := md.Fields().ByName("empty").Message()
	if !protobuf.IsListName(string(list.Name())) || list.Fields().Len() != 1 || string(list.Fields().Get(0).Name()) != protobuf.ListField || !list.Fields().Get(0).IsList() {
		t.Errorf("empty array: message %s is not a %s wrapper of %q", list.Name(), protobuf.ListSuffix, protobuf.ListField)
	}
	item := md.Fields().ByName("mixed").Message()
	if !protobuf.IsItemName(string(item.Name())) || item.Oneofs().Len() != 1 || string(item.Oneofs().Get(0).Name()) != protobuf.ItemOneof {
		t.Errorf("mixed array: element message %s is not an %s with oneof %q", item.Name(), protobuf.ItemSuffix, protobuf.ItemOneof)
	}
	if _, ok := protobuf.HelperKind(list); ok {
		t.Errorf("a _List message taken for a helper")
	}
}

// A message named like a helper is one only at the top of its file and
// with the helper's fields.
func TestProtoHelperKindRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, text, message string
	}{
		{"nested", `syntax = "proto3"; message Doc { message BsonObjectId { bytes oid = 1; } BsonObjectId id = 1; }`, "Doc.BsonObjectId"},
		{"other fields", `syntax = "proto3"; message BsonObjectId { string oid = 1; }`, "BsonObjectId"},
		{"extra field", `syntax = "proto3"; message BsonObjectId { bytes oid = 1; int32 n = 2; }`, "BsonObjectId"},
		{"unknown helper", `syntax = "proto3"; message BsonWhatever { bytes oid = 1; }`, "BsonWhatever"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := protobuf.Compile("x.proto", []byte(tc.text), protobuf.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := s.File.Messages()
			var md protoreflect.MessageDescriptor
			for i := 0; i < d.Len(); i++ {
				m := d.Get(i)
				if string(m.FullName()) == tc.message {
					md = m
				}
				if n := m.Messages().ByName("BsonObjectId"); n != nil && string(n.FullName()) == tc.message {
					md = n
				}
			}
			if md == nil {
				t.Fatalf("no message %s", tc.message)
			}
			if k, ok := protobuf.HelperKind(md); ok {
				t.Errorf("HelperKind(%s) = %v, want not a helper", tc.message, k)
			}
		})
	}
	// The right shape at the top is one.
	s, err := protobuf.Compile("x.proto", []byte(`syntax = "proto3"; message BsonObjectId { bytes oid = 1; }`), protobuf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := protobuf.HelperKind(s.File.Messages().Get(0)); !ok || k != schemas.KindObjectID {
		t.Errorf("top-level BsonObjectId: %v %v", k, ok)
	}
}
