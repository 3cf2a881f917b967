package evolution

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

func inferred(t testing.TB, format schemas.Format, docs ...bson.Raw) Schema {
	t.Helper()
	in := infer.New()
	for _, d := range docs {
		if err := in.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	var text []byte
	var err error
	if format == schemas.Avro {
		text, err = in.Avro(infer.Options{Name: "Doc"})
	} else {
		text, err = in.Proto(infer.Options{Name: "Doc"})
	}
	if err != nil {
		t.Fatal(err)
	}
	return Schema{Format: format, Text: text}
}

func docs(t testing.TB, lines ...string) []bson.Raw {
	t.Helper()
	var out []bson.Raw
	for _, l := range lines {
		d, err := extjson.Parse([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func encodes(t testing.TB, s Schema, d bson.Raw) error {
	t.Helper()
	sd, err := serde.New(s.Text, serde.Options{Format: s.Format})
	if err != nil {
		t.Fatalf("schema does not compile: %v\n%s", err, s.Text)
	}
	frame, err := sd.Encode(nil, d)
	if err != nil {
		return err
	}
	_, _, err = sd.Decode(frame)
	return err
}

func TestEvolveAvro(t *testing.T) {
	t.Parallel()
	v1 := inferred(t, schemas.Avro, docs(t, `{"_id": 1, "name": "a", "qty": 1}`)...)
	tests := []struct {
		name    string
		level   Level
		batch   []string
		changed bool
		err     string // an EvolveError containing this
	}{
		{"fits the current version", Backward, []string{`{"_id": 2, "name": "b", "qty": 5}`}, false, ""},
		{"int32 fits a long field", Backward, []string{`{"_id": 3, "name": "c", "qty": 2}`}, false, ""},
		{"new field", Backward, []string{`{"_id": 4, "name": "d", "qty": 1, "note": "x"}`}, true, ""},
		{"new field under FULL", Full, []string{`{"_id": 4, "name": "d", "qty": 1, "note": "x"}`}, true, ""},
		{"missing field", Backward, []string{`{"_id": 5, "qty": 1}`}, true, ""},
		{"missing field under FORWARD", Forward, []string{`{"_id": 5, "qty": 1}`}, false, `field "name": documents lack the field`},
		{"int widens to long", Backward, []string{`{"_id": 6, "name": "e", "qty": {"$numberLong": "5000000000"}}`}, true, ""},
		{"widening refused under FULL", Full, []string{`{"_id": 6, "name": "e", "qty": {"$numberLong": "5000000000"}}`}, false, `field "qty": values of type long`},
		{"string and int become a union", BackwardTransitive, []string{`{"_id": 7, "name": 7, "qty": 1}`}, true, ""},
		{"new nested document", Backward, []string{`{"_id": 8, "name": "f", "qty": 1, "addr": {"city": "x"}}`}, true, ""},
	}
	for _, tt := range tests {
		batch := docs(t, tt.batch...)
		next, changed, err := Evolve(tt.level, []Schema{v1}, inferred(t, schemas.Avro, batch...))
		var ee *EvolveError
		if tt.err != "" {
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: got %v, want an EvolveError with %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if changed != tt.changed {
			t.Errorf("%s: changed=%v, want %v\n%s", tt.name, changed, tt.changed, next.Text)
		}
		for _, d := range append(batch, docs(t, `{"_id": 1, "name": "a", "qty": 1}`)...) {
			if err := encodes(t, next, d); err != nil {
				t.Errorf("%s: %v\n%s", tt.name, err, next.Text)
			}
		}
	}
}

// randomDoc makes a document whose fields come and go and change type, so
// that a stream of them exercises every merge rule.
func randomDoc(r *rand.Rand, id int, depth int) bson.D {
	d := bson.D{}
	if depth == 0 {
		d = append(d, bson.E{Key: "_id", Value: int32(id)})
	}
	names := []string{"a", "b", "c", "d-e", "f", "g"}
	for _, n := range names {
		if r.IntN(3) == 0 {
			continue // missing
		}
		d = append(d, bson.E{Key: n, Value: randomValue(r, depth)})
	}
	return d
}

func randomValue(r *rand.Rand, depth int) any {
	switch r.IntN(11) {
	case 0:
		return int32(r.IntN(100))
	case 1:
		return int64(r.Int64N(1 << 40))
	case 2:
		return r.Float64()
	case 3:
		return fmt.Sprintf("s%d", r.IntN(10))
	case 4:
		return r.IntN(2) == 0
	case 5:
		return nil
	case 6:
		return primitive.NewDateTimeFromTime(primitive.DateTime(r.Int64N(1 << 40)).Time())
	case 7:
		if depth < 2 {
			return randomDoc(r, 0, depth+1)
		}
		return "leaf"
	case 8:
		if depth < 2 {
			return bson.A{randomValue(r, depth+1), randomValue(r, depth+1)}
		}
		return bson.A{}
	case 9:
		return primitive.NewObjectID()
	}
	return primitive.Binary{Subtype: 0, Data: []byte{byte(r.IntN(256))}}
}

// TestEvolutionProperties runs random document streams through inference
// and evolution at each level. Every version must be compatible with all
// earlier ones under the level (checked transitively), and every document
// accepted must encode under the final version. NONE and BACKWARD levels
// accept every batch; FORWARD and FULL levels may refuse one, but only with
// an *EvolveError saying the level forbids the change.
func TestEvolutionProperties(t *testing.T) {
	t.Parallel()
	for _, format := range []schemas.Format{schemas.Avro, schemas.Protobuf} {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			evolutionProperties(t, format)
		})
	}
}

func evolutionProperties(t *testing.T, format schemas.Format) {
	for _, level := range []Level{Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive, None} {
		for seed := range 15 {
			r := rand.New(rand.NewPCG(uint64(seed), uint64(level)))
			var history []Schema
			var accepted []bson.Raw
			id := 0
			for range 12 {
				var batch []bson.Raw
				for range 1 + r.IntN(4) {
					id++
					raw, err := bson.Marshal(randomDoc(r, id, 0))
					if err != nil {
						t.Fatal(err)
					}
					batch = append(batch, raw)
				}
				next, changed, err := Evolve(level, history, inferred(t, format, batch...))
				if err != nil {
					var ee *EvolveError
					if !errors.As(err, &ee) {
						t.Fatalf("level %s seed %d: untyped error %v", level, seed, err)
					}
					// Where the level lets types widen, nothing is refused.
					if !level.Forward() {
						t.Fatalf("level %s seed %d: %v", level, seed, err)
					}
					if ee.Rule != RuleLevelForbidsChange && ee.Rule != RuleIncompatible {
						t.Fatalf("level %s seed %d: refused for %s: %v", level, seed, ee.Rule, err)
					}
					continue // the pipeline dead-letters the batch
				}
				if changed {
					transitive := map[Level]Level{Backward: BackwardTransitive, Forward: ForwardTransitive, Full: FullTransitive}[level]
					if transitive == 0 {
						transitive = level
					}
					res, err := Check(transitive, next, history)
					if err != nil || !res.Compatible {
						t.Fatalf("level %s seed %d: version %d breaks earlier ones: %v %v\n%s", level, seed, len(history)+1, err, res.Issues, next.Text)
					}
					history = append(history, next)
				}
				accepted = append(accepted, batch...)
			}
			if len(history) == 0 {
				t.Fatalf("level %s seed %d: no version was accepted", level, seed)
			}
			final := history[len(history)-1]
			for i, d := range accepted {
				if err := encodes(t, final, d); err != nil {
					c, _ := extjson.Canonical(d)
					t.Fatalf("level %s seed %d: document %d does not encode under the final version: %v\n%s\n%s", level, seed, i, err, c, final.Text)
				}
			}
		}
	}
}

// Field numbers are never reused: a number a removed field had in an
// earlier version is not given to a new field.
func TestEvolveProtobufNeverReusesNumbers(t *testing.T) {
	t.Parallel()
	v1 := Schema{Format: schemas.Protobuf, Text: []byte("syntax = \"proto3\";\nmessage Doc {\n  optional int32 _id = 1;\n  optional string a = 2;\n  optional string gone = 3;\n}\n")}
	v2 := Schema{Format: schemas.Protobuf, Text: []byte("syntax = \"proto3\";\nmessage Doc {\n  optional int32 _id = 1;\n  optional string a = 2;\n}\n")}
	next, changed, err := Evolve(Backward, []Schema{v1, v2}, inferred(t, schemas.Protobuf, docs(t, `{"_id": 1, "a": "x", "b": true}`)...))
	if err != nil || !changed {
		t.Fatalf("%v %v", changed, err)
	}
	if !strings.Contains(string(next.Text), "optional bool b = 4;") {
		t.Fatalf("b should take number 4, after the removed field's 3:\n%s", next.Text)
	}
	// A field that gains a kind becomes a oneof whose first member keeps
	// the number and type.
	next2, changed, err := Evolve(Backward, []Schema{v1, v2, next}, inferred(t, schemas.Protobuf, docs(t, `{"_id": 2, "a": 7}`)...))
	if err != nil || !changed {
		t.Fatalf("%v %v", changed, err)
	}
	for _, want := range []string{"oneof a {", "string a_string = 2;", "int32 a_int32 = 5;"} {
		if !strings.Contains(string(next2.Text), want) {
			t.Fatalf("missing %q:\n%s", want, next2.Text)
		}
	}
	for _, d := range docs(t, `{"_id": 1, "a": "x", "b": true}`, `{"_id": 2, "a": 7}`) {
		if err := encodes(t, next2, d); err != nil {
			t.Fatal(err)
		}
	}
	// Documents that fit produce no new version.
	_, changed, err = Evolve(Backward, []Schema{v1, v2, next, next2}, inferred(t, schemas.Protobuf, docs(t, `{"_id": 3, "a": "y"}`)...))
	if err != nil || changed {
		t.Fatalf("no change expected: %v %v", changed, err)
	}
}
