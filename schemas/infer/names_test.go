package infer_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/schemaflow/schemaflow/internal/protoctest"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// keysDoc builds a document with one field per key, in order; value gives
// each key's value.
func keysDoc(keys []string, value func(i int, k string) any) bson.D {
	d := make(bson.D, 0, len(keys))
	for i, k := range keys {
		if v := value(i, k); v != nil {
			d = append(d, bson.E{Key: k, Value: v})
		}
	}
	return d
}

func marshal(tb testing.TB, d bson.D) bson.Raw {
	tb.Helper()
	raw, err := bson.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func canon(tb testing.TB, d bson.Raw) string {
	tb.Helper()
	b, err := extjson.Canonical(d)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// inferProto infers the value schema and, when a document has _id, the key
// schema of docs, in package pkg.
func inferProto(tb testing.TB, pkg string, docs []bson.Raw) (value, key []byte) {
	tb.Helper()
	in := infer.New()
	for _, d := range docs {
		if err := in.Add(d); err != nil {
			tb.Fatal(err)
		}
	}
	opts := infer.Options{Name: "Doc", Namespace: pkg}
	value, err := in.Proto(opts)
	if err != nil {
		tb.Fatal(err)
	}
	if key, err = in.ProtoKey(opts); err != nil && err != infer.ErrNoID {
		tb.Fatal(err)
	}
	return value, key
}

// checkProto compiles text with protocompile, checks it against protoc's
// naming rules, and round-trips each document (or its _id, for a key
// schema) through the codec: the decoded document must have the original
// field names, in order, and the original values.
func checkProto(tb testing.TB, text []byte, docs []bson.Raw, key bool) {
	tb.Helper()
	s, err := protobuf.Compile("doc.proto", text, protobuf.Options{})
	if err != nil {
		tb.Fatalf("protocompile: %v\n%s", err, text)
	}
	if err := protobuf.CheckProtocNames(s.File); err != nil {
		tb.Fatalf("protoc would reject the schema: %v\n%s", err, text)
	}
	md, err := s.Message("")
	if err != nil {
		tb.Fatal(err)
	}
	c := protobuf.NewCodec(md)
	for i, d := range docs {
		if key {
			id, err := d.LookupErr("_id")
			if err != nil {
				continue
			}
			d = marshal(tb, bson.D{{Key: "_id", Value: id}})
		}
		bin, err := c.Encode(nil, d)
		if err != nil {
			tb.Fatalf("doc %d: encode: %v\n%s\n%s", i, err, canon(tb, d), text)
		}
		back, err := c.Decode(bin)
		if err != nil {
			tb.Fatalf("doc %d: decode: %v\n%s", i, err, text)
		}
		if got, want := canon(tb, back), canon(tb, d); got != want {
			tb.Fatalf("doc %d: round trip differs\n got: %s\nwant: %s\n%s", i, got, want, text)
		}
	}
}

// collisionCases are documents whose field names collide under one of
// protoc's rules once made identifiers, or shadow names the schema uses.
func collisionCases() []struct {
	name string
	docs []bson.D
} {
	long := strings.Repeat("a", 200)
	i32 := func(_ int, _ string) any { return int32(7) }
	str := func(i int, _ string) any { return fmt.Sprintf("s%d", i) }
	return []struct {
		name string
		docs []bson.D
	}{
		{"case underscores punctuation", []bson.D{keysDoc([]string{
			"first_name", "firstName", "FirstName", "first-name", "FIRST_NAME", "first__name", "_first_name", "first_name_", "first.name", "first name",
		}, str)}},
		{"dollar and underscore prefixes", []bson.D{keysDoc([]string{"$price", "price", "_price", "Price", "price_", "$Price", "__price"}, i32)}},
		{"case only", []bson.D{keysDoc([]string{"Value", "value", "VALUE", "vAlue", "valuE"}, i32)}},
		{"no letters", []bson.D{keysDoc([]string{"_", "__", "___", "", "-", "$", "field", "field_", "Field"}, i32)}},
		{"keywords", []bson.D{keysDoc([]string{
			"message", "syntax", "option", "optional", "repeated", "required", "oneof", "enum", "service", "rpc",
			"package", "import", "public", "weak", "reserved", "extensions", "extend", "map", "group", "to", "max",
			"true", "false", "inf", "nan", "string", "int32", "bytes", "double", "bool", "default", "json_name", "stream", "returns", "edition",
		}, i32)}},
		{"unicode", []bson.D{keysDoc([]string{"prénom", "pr_nom", "名前", "名字", "é", "ü", "🙂", "naïve", "nai\u0308ve", "Ω", "ω"}, str)}},
		{"leading digits", []bson.D{keysDoc([]string{"1st", "_1st", "1", "_1", "1_", "123", "2nd", "_2nd_field"}, i32)}},
		{"long names", []bson.D{keysDoc([]string{long, long + "b", strings.ToUpper(long), strings.Repeat("a-", 100), strings.Repeat("é", 200)}, i32)}},
		{"helper and well-known names", []bson.D{
			{{Key: "BsonObjectId", Value: primitive.NewObjectIDFromTimestamp(primitive.NewDateTimeFromTime(primitive.DateTime(0).Time()).Time())},
				{Key: "bsonObjectId", Value: bson.D{{Key: "oid", Value: int32(1)}}},
				{Key: "BsonRegex", Value: primitive.Regex{Pattern: "a", Options: "i"}},
				{Key: "Timestamp", Value: bson.D{{Key: "seconds", Value: int32(1)}}},
				{Key: "timestamp", Value: primitive.DateTime(1000)},
				{Key: "NullValue", Value: nil}, {Key: "nullValue", Value: bson.D{{Key: "x", Value: int32(1)}}}},
		}},
		{"google shadows", []bson.D{
			{{Key: "google", Value: bson.D{{Key: "protobuf", Value: bson.D{{Key: "Timestamp", Value: int32(1)}, {Key: "NullValue", Value: int32(2)}}}}},
				{Key: "Google", Value: primitive.DateTime(5)}, {Key: "protobuf", Value: nil},
				{Key: "when", Value: primitive.DateTime(6)}, {Key: "gone", Value: nil}},
		}},
		{"fields named like nested messages", []bson.D{
			{{Key: "Sub", Value: int32(1)}, {Key: "sub", Value: bson.D{{Key: "a", Value: int32(1)}}},
				{Key: "Sub2", Value: int32(2)}, {Key: "sub_2", Value: bson.D{{Key: "b", Value: int32(2)}}},
				{Key: "SubElement", Value: "x"}, {Key: "subs", Value: bson.A{bson.D{{Key: "c", Value: int32(3)}}}},
				{Key: "x", Value: bson.A{}}, {Key: "X_List", Value: int32(1)}, {Key: "List", Value: int32(2)}, {Key: "_List", Value: int32(3)}},
			{{Key: "x", Value: bson.A{int32(1)}}},
		}},
		{"oneof names", []bson.D{
			{{Key: "x", Value: "s"}, {Key: "x_string", Value: "t"}, {Key: "xString", Value: "u"}, {Key: "x_int32", Value: int32(1)},
				{Key: "tags__more", Value: "a"}, {Key: "tags", Value: bson.A{"a"}}, {Key: "value", Value: int32(1)}, {Key: "v", Value: nil}},
			{{Key: "x", Value: int32(2)}, {Key: "tags__more", Value: int32(3)}, {Key: "v", Value: "w"}},
		}},
		{"extension-like and escapes", []bson.D{keysDoc([]string{"[a]", `\[a]`, `\\[a]`, "[", "]", "[]", "[b", "a]", `\`, `"q"`, "a\tb", "a\nb", "\u200b"}, i32)}},
		{"default JSON names of other fields", []bson.D{keysDoc([]string{"a_b", "aB", "AB", "a__b", "a_b_", "aB_", "ab"}, i32)}},
		{"synthetic oneof names", []bson.D{keysDoc([]string{"x", "_x", "X_x", "XX_x", "y_", "_y_"}, i32)}},
		{"nested, arrays and _id", []bson.D{
			{{Key: "_id", Value: bson.D{{Key: "a_b", Value: int32(1)}, {Key: "aB", Value: int32(2)}, {Key: "[k]", Value: int32(3)}}},
				{Key: "n", Value: bson.D{{Key: "first_name", Value: "a"}, {Key: "firstName", Value: "b"}, {Key: "n", Value: bson.D{{Key: "Value", Value: int32(1)}, {Key: "value", Value: int32(2)}}}}},
				{Key: "arr", Value: bson.A{bson.D{{Key: "$p", Value: int32(1)}, {Key: "p", Value: int32(2)}}, "mixed", nil}}},
			{{Key: "_id", Value: bson.D{{Key: "a_b", Value: int32(4)}, {Key: "aB", Value: int32(5)}, {Key: "[k]", Value: int32(6)}}}},
		}},
	}
}

// TestProtoNameCollisions infers schemas from documents of each collision
// class. Every value and key schema must compile with protocompile, pass
// protoc's naming rules (CheckProtocNames) and compile with protoc itself,
// all in one run; and every document must come back from the codec with
// its original field names and values.
func TestProtoNameCollisions(t *testing.T) {
	t.Parallel()
	files := map[string][]byte{}
	for i, c := range collisionCases() {
		var docs []bson.Raw
		for _, d := range c.docs {
			docs = append(docs, marshal(t, d))
		}
		value, key := inferProto(t, fmt.Sprintf("names.c%d", i), docs)
		t.Run(c.name, func(t *testing.T) {
			checkProto(t, value, docs, false)
			if key != nil {
				checkProto(t, key, docs, true)
			}
		})
		files[fmt.Sprintf("c%d.proto", i)] = value
		if key != nil {
			files[fmt.Sprintf("c%d.key.proto", i)] = key
		}
	}
	// A schema without a package, whose fields shadow google.protobuf.
	value, _ := inferProto(t, "", []bson.Raw{marshal(t, bson.D{
		{Key: "google", Value: bson.D{{Key: "protobuf", Value: int32(1)}}}, {Key: "at", Value: primitive.DateTime(1)}, {Key: "none", Value: nil},
	})})
	files["root.proto"] = value
	if err := protoctest.Compile(t, protoctest.Path(t), files); err != nil {
		t.Fatal(err)
	}
}

// TestProtoNameReproduction is issue 12's reproduction: the schema protoc
// 3.21 rejected compiles, keeps the legal names that came first, and gives
// the others a json_name holding the original name.
func TestProtoNameReproduction(t *testing.T) {
	t.Parallel()
	d, err := extjson.Parse([]byte(`{"first_name":"a","firstName":"b","FirstName":"c","first-name":"d","$price":1,"price":2,"Value":1,"value":2,"_":1,"__":2}`))
	if err != nil {
		t.Fatal(err)
	}
	value, _ := inferProto(t, "", []bson.Raw{d})
	for _, want := range []string{
		`optional string first_name = 1 [json_name = "first_name"];`,
		`optional string firstName_2 = 2 [json_name = "firstName"];`,
		`optional int32 price = 6;`,
		`optional int32 Value = 7;`,
		`optional int32 value_2 = 8 [json_name = "value"];`,
	} {
		if !bytes.Contains(value, []byte(want)) {
			t.Errorf("missing %s in\n%s", want, value)
		}
	}
	checkProto(t, value, []bson.Raw{d}, false)
	if err := protoctest.Compile(t, protoctest.Path(t), map[string][]byte{"n.proto": value}); err != nil {
		t.Fatal(err)
	}
}

// TestProtoReservedNames: a document message that would take the name of
// the well-known types' package is refused with an error that says so.
func TestProtoReservedNames(t *testing.T) {
	t.Parallel()
	in := infer.New()
	if err := in.Add(marshal(t, bson.D{{Key: "a", Value: int32(1)}})); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []infer.Options{{Name: "google"}, {Name: "protobuf", Namespace: "google"}, {Name: "Doc", Namespace: "google.protobuf"}} {
		if _, err := in.Proto(opts); err == nil || !strings.Contains(err.Error(), "well-known types") {
			t.Errorf("%+v: got %v, want an error about the well-known types", opts, err)
		}
	}
}

// namesDocs builds documents from keys that exercise every shape a field
// can take: scalars, nested documents and arrays of documents holding the
// same keys, a field of several kinds (a oneof), a null, a missing field,
// and an _id document with the keys.
func namesDocs(keys []string) []bson.D {
	inner := keysDoc(keys, func(i int, _ string) any { return int32(i) })
	firstValue := func(i int, _ string) any {
		switch i % 6 {
		case 0:
			return int32(i)
		case 1:
			return fmt.Sprintf("s%d", i)
		case 2:
			return inner
		case 3:
			return bson.A{inner, "x"}
		case 4:
			return nil
		}
		return true
	}
	first := keysDoc(keys, firstValue)
	second := keysDoc(keys, func(i int, k string) any {
		switch i % 6 {
		case 0:
			return "now a string" // int32 and string: a oneof
		case 5:
			return nil // missing
		}
		return firstValue(i, k)
	})
	if !slices.Contains(keys, "_id") {
		first = append(bson.D{{Key: "_id", Value: inner}}, first...)
		second = append(bson.D{{Key: "_id", Value: inner}}, second...)
	}
	return []bson.D{first, second}
}

// splitKeys splits fuzz input at NUL bytes, which BSON keys cannot hold,
// into distinct valid UTF-8 keys, at most 40 of at most 300 bytes.
func splitKeys(data []byte) []string {
	var keys []string
	seen := map[string]bool{}
	for _, part := range bytes.Split(data, []byte{0}) {
		k := strings.ToValidUTF8(string(part), "\uFFFD")
		for len(k) > 300 {
			_, size := utf8.DecodeLastRuneInString(k)
			k = k[:len(k)-size]
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		if len(keys) == 40 {
			break
		}
	}
	return keys
}

// FuzzProtoNames builds documents from random keys (the input split at NUL
// bytes) and checks that the inferred value and key schemas compile with
// protocompile, pass protoc's naming rules, and give every document back
// with its original names.
func FuzzProtoNames(f *testing.F) {
	for _, seed := range []string{
		"first_name\x00firstName\x00FirstName\x00first-name\x00$price\x00price\x00Value\x00value\x00_\x00__",
		"x\x00x_string\x00xString\x00_x\x00X_x\x00List\x00_List",
		"[a]\x00\\[a]\x00\x00é\x00名前\x001st\x00_1st\x00google\x00protobuf\x00BsonObjectId",
		"a_b\x00aB\x00AB\x00tags__more\x00tags\x00message\x00option",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys := splitKeys(data)
		var docs []bson.Raw
		for _, d := range namesDocs(keys) {
			docs = append(docs, marshal(t, d))
		}
		value, key := inferProto(t, "fuzz", docs)
		checkProto(t, value, docs, false)
		checkProto(t, key, docs, true)
	})
}

// TestProtoNamesRandomProtoc runs documents of random colliding keys, 320
// in all, through inference, the checks of FuzzProtoNames, and one protoc
// run over every schema.
func TestProtoNamesRandomProtoc(t *testing.T) {
	t.Parallel()
	pieces := []string{"a", "A", "b", "_", "__", "-", "$", ".", " ", "1", "é", "名", "[", "]", `\`,
		"value", "Value", "list", "List", "x", "X", "google", "protobuf", "message", "BsonObjectId", "more", "__more", "string", "int32", "Element", "Item"}
	r := rand.New(rand.NewPCG(12, 1))
	files := map[string][]byte{}
	for set := range 16 {
		var keys []string
		for range 20 {
			var b strings.Builder
			for range 1 + r.IntN(4) {
				b.WriteString(pieces[r.IntN(len(pieces))])
			}
			keys = append(keys, b.String())
		}
		keys = splitKeys([]byte(strings.Join(keys, "\x00")))
		var docs []bson.Raw
		for _, d := range namesDocs(keys) {
			docs = append(docs, marshal(t, d))
		}
		value, key := inferProto(t, fmt.Sprintf("random.s%d", set), docs)
		checkProto(t, value, docs, false)
		checkProto(t, key, docs, true)
		files[fmt.Sprintf("s%d.proto", set)] = value
		files[fmt.Sprintf("s%d.key.proto", set)] = key
	}
	if err := protoctest.Compile(t, protoctest.Path(t), files); err != nil {
		t.Fatal(err)
	}
}

// TestProtoTooManyFields: a document message with more fields than protoc
// accepts is refused with an error that names the limit.
func TestProtoTooManyFields(t *testing.T) {
	t.Parallel()
	d := make(bson.D, 0, protobuf.MaxFields+1)
	for i := range protobuf.MaxFields + 1 {
		d = append(d, bson.E{Key: fmt.Sprintf("f%d", i), Value: int32(i)})
	}
	in := infer.New()
	if err := in.Add(marshal(t, d)); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Proto(infer.Options{Name: "Doc"}); err == nil || !strings.Contains(err.Error(), "protoc accepts at most 65535") {
		t.Fatalf("got %v, want an error about protoc's limit", err)
	}
	// One field fewer is accepted.
	in = infer.New()
	if err := in.Add(marshal(t, d[:protobuf.MaxFields])); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Proto(infer.Options{Name: "Doc"}); err != nil {
		t.Fatal(err)
	}
}
