package evolution

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/internal/protoctest"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// protoFields maps each field of every message of a Protobuf schema,
// "Message.Full.Name#number", to "name bsonName".
func protoFields(t testing.TB, s Schema) map[string]string {
	t.Helper()
	pf, err := parseProto(s)
	if err != nil {
		t.Fatalf("%v\n%s", err, s.Text)
	}
	out := map[string]string{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			out[fmt.Sprintf("%s#%d", md.FullName(), fd.Number())] = string(fd.Name()) + " " + protobuf.BSONName(fd)
		}
		for i := 0; i < md.Messages().Len(); i++ {
			walk(md.Messages().Get(i))
		}
	}
	for i := 0; i < pf.fd.Messages().Len(); i++ {
		walk(pf.fd.Messages().Get(i))
	}
	return out
}

// checkVersion checks one Protobuf version: protoc and protoc's naming
// rules accept it, it keeps every field of the previous version (same
// message, number, name and BSON name), and every document comes back from
// it with its original names and values.
func checkVersion(t *testing.T, bin string, prev *Schema, next Schema, seen []bson.Raw) {
	t.Helper()
	if err := protoctest.Compile(t, bin, map[string][]byte{"doc.proto": next.Text}); err != nil {
		t.Fatal(err)
	}
	pf, err := parseProto(next)
	if err != nil {
		t.Fatal(err)
	}
	if err := protobuf.CheckProtocNames(pf.fd); err != nil {
		t.Fatalf("%v\n%s", err, next.Text)
	}
	if prev != nil {
		was, now := protoFields(t, *prev), protoFields(t, next)
		for _, key := range slices.Sorted(maps.Keys(was)) {
			if now[key] != was[key] {
				t.Fatalf("field %s was %q, is %q\nbefore:\n%s\nafter:\n%s", key, was[key], now[key], prev.Text, next.Text)
			}
		}
	}
	c := protobuf.NewCodec(pf.fd.Messages().Get(0))
	for _, d := range seen {
		bin, err := c.Encode(nil, d)
		if err != nil {
			t.Fatalf("encode: %v\n%s", err, next.Text)
		}
		back, err := c.Decode(bin)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, next.Text)
		}
		// Evolution appends fields, so the order may change; the names and
		// values may not.
		got, want := unordered(t, back), unordered(t, d)
		if got != want {
			t.Fatalf("round trip differs\n got: %s\nwant: %s\n%s", got, want, next.Text)
		}
	}
}

// unordered renders d as canonical Extended JSON with the fields of every
// document sorted by name.
func unordered(t testing.TB, d bson.Raw) string {
	t.Helper()
	c, err := extjson.Canonical(d)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(c, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestEvolveProtobufCollidingNames evolves v1, inferred from {first_name},
// with documents that add names colliding with it and each other under
// protoc's rules. Every version compiles with protoc, keeps the name and
// number of every field of the version before, and gives back every
// document seen so far with its original names.
func TestEvolveProtobufCollidingNames(t *testing.T) {
	t.Parallel()
	bin := protoctest.Path(t)
	batches := [][]string{
		{`{"first_name": "a"}`},
		{`{"first_name": "b", "firstName": "c"}`},
		{`{"FirstName": "d"}`},
		{`{"first_name": "e", "first-name": "f"}`},
		{`{"Value": 1}`},
		{`{"Value": 2, "value": 3}`},
		{`{"firstname": "g", "FIRST_NAME": "h", "[v]": 4, "_": 5, "__": 6, "first_name_2": "i"}`},
		{`{"n": {"a_b": 1}}`, `{"n": {"aB": 2, "AB": 3}}`},
	}
	var history []Schema
	var seen []bson.Raw
	for i, lines := range batches {
		batch := docs(t, lines...)
		next, changed, err := Evolve(Backward, history, inferred(t, schemas.Protobuf, batch...))
		if err != nil || !changed {
			t.Fatalf("batch %d: changed=%v err=%v", i, changed, err)
		}
		seen = append(seen, batch...)
		var prev *Schema
		if len(history) > 0 {
			prev = &history[len(history)-1]
		}
		checkVersion(t, bin, prev, next, seen)
		history = append(history, next)
	}
	// The first field kept its name and, to let firstName carry its own,
	// took a json_name.
	final := string(history[len(history)-1].Text)
	for _, want := range []string{`optional string first_name = 1 [json_name = "first_name"];`, `[json_name = "firstName"]`, `[json_name = "\\[v]"]`} {
		if !strings.Contains(final, want) {
			t.Errorf("missing %s in\n%s", want, final)
		}
	}
}

// TestEvolveProtobufFreesJSONNames evolves a version written without the
// json_names protoc 22 needs once new fields arrive: a field whose default
// JSON name is a new field's BSON name gets a json_name holding its own
// BSON name; a oneof member gets a fresh one, after the first member takes
// the oneof's BSON name. No field changes name, number or BSON name.
func TestEvolveProtobufFreesJSONNames(t *testing.T) {
	t.Parallel()
	bin := protoctest.Path(t)
	v1 := Schema{Format: schemas.Protobuf, Text: []byte(`syntax = "proto3";
message Doc {
  optional string first_name = 1;
  oneof x {
    string x_string = 2;
    int32 x_int32 = 3;
  }
  repeated string tags = 4;
  oneof tags__more {
    int32 tags__more_int32 = 5;
  }
}
`)}
	old := docs(t, `{"first_name": "a", "x": "s", "tags": ["t"]}`, `{"x": 1}`)
	checkVersion(t, bin, nil, v1, old)
	batch := docs(t, `{"firstName": "b", "xInt32": true, "xString": "c", "tagsMoreInt32": 2, "x": "d"}`)
	next, changed, err := Evolve(Backward, []Schema{v1}, inferred(t, schemas.Protobuf, batch...))
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	checkVersion(t, bin, &v1, next, append(old, batch...))
	for _, want := range []string{`first_name = 1 [json_name = "first_name"]`, `x_string = 2 [json_name = "x"]`, `x_int32 = 3 [json_name = "xInt32_2"]`, `tags__more_int32 = 5 [json_name = "tagsMoreInt32_2"]`} {
		if !strings.Contains(string(next.Text), want) {
			t.Errorf("missing %s in\n%s", want, next.Text)
		}
	}
}

// TestEvolveProtobufRandomNames evolves schemas over batches of documents
// with random colliding keys, top-level and nested, checking every version
// as TestEvolveProtobufCollidingNames does.
func TestEvolveProtobufRandomNames(t *testing.T) {
	t.Parallel()
	bin := protoctest.Path(t)
	pieces := []string{"a", "A", "_", "-", "$", "1", "é", "[", "]", "value", "Value", "x", "X", "List", "string", "more", "__more"}
	for seed := range 4 {
		r := rand.New(rand.NewPCG(uint64(seed), 12))
		key := func() string {
			var b strings.Builder
			for range 1 + r.IntN(3) {
				b.WriteString(pieces[r.IntN(len(pieces))])
			}
			return b.String()
		}
		var history []Schema
		var seen []bson.Raw
		for v := range 6 {
			d := bson.D{}
			used := map[string]bool{}
			for range 4 {
				if k := key(); !used[k] {
					used[k] = true
					d = append(d, bson.E{Key: k, Value: fmt.Sprintf("v%d", v)})
				}
			}
			nested := bson.D{}
			for range 3 {
				if k := key(); !used["n."+k] {
					used["n."+k] = true
					nested = append(nested, bson.E{Key: k, Value: int32(v)})
				}
			}
			d = append(d, bson.E{Key: "nested", Value: nested})
			raw, err := bson.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			next, changed, err := Evolve(Backward, history, inferred(t, schemas.Protobuf, raw))
			if err != nil {
				t.Fatalf("seed %d version %d: %v", seed, v, err)
			}
			seen = append(seen, raw)
			if !changed {
				continue
			}
			var prev *Schema
			if len(history) > 0 {
				prev = &history[len(history)-1]
			}
			checkVersion(t, bin, prev, next, seen)
			history = append(history, next)
		}
	}
}
