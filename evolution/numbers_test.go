package evolution

import (
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

func inferredWith(t testing.TB, format schemas.Format, mode schemas.Numbers, docs ...bson.Raw) Schema {
	t.Helper()
	in := infer.NewWith(infer.Config{Numbers: mode})
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

// roundTrip encodes d with s under mode and returns the decoded document
// as canonical Extended JSON, which tells int32, int64 and double apart.
func roundTrip(t testing.TB, s Schema, mode schemas.Numbers, d bson.Raw) (string, error) {
	t.Helper()
	sd, err := serde.New(s.Text, serde.Options{Format: s.Format, Numbers: mode})
	if err != nil {
		t.Fatalf("schema does not compile: %v\n%s", err, s.Text)
	}
	frame, err := sd.Encode(nil, d)
	if err != nil {
		return "", err
	}
	back, _, err := sd.Decode(frame)
	if err != nil {
		return "", err
	}
	out, err := extjson.Canonical(back)
	return string(out), err
}

// Under NumbersExact, a number type never carries another: a field gains
// a union branch or oneof member for each new BSON number type, the new
// version passes the level, and every document, old and new, decodes with
// its own BSON number types. Under NumbersWiden the same documents widen
// or fit as before.
func TestEvolveNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mode    schemas.Numbers
		level   Level
		v1      string // the document of version 1, inferred under mode
		next    string // the document evolution must cover
		changed bool
		err     string // an EvolveError containing this
		avro    string // in the next Avro version, when set
		proto   string // in the next Protobuf version, when set
	}{
		{
			name: "int sees a double", mode: schemas.NumbersExact, level: Backward,
			v1: `{"_id": 1, "n": 5}`, next: `{"_id": 2, "n": 2.5}`, changed: true,
			avro: `"type":["int","double"]`, proto: "int32 n_int32 = 2;\n    double n_double = 3;",
		},
		{
			name: "int sees a small int64", mode: schemas.NumbersExact, level: Backward,
			v1: `{"_id": 1, "n": 5}`, next: `{"_id": 2, "n": {"$numberLong": "6"}}`, changed: true,
			avro: `"type":["int","long"]`, proto: "int32 n_int32 = 2;\n    int64 n_int64 = 3;",
		},
		{
			name: "int64 sees an int32", mode: schemas.NumbersExact, level: BackwardTransitive,
			v1: `{"_id": 1, "n": {"$numberLong": "6"}}`, next: `{"_id": 2, "n": 5}`, changed: true,
			avro: `"type":["long","int"]`, proto: "int64 n_int64 = 2;\n    int32 n_int32 = 3;",
		},
		{
			name: "double sees an int32", mode: schemas.NumbersExact, level: None,
			v1: `{"_id": 1, "n": 2.5}`, next: `{"_id": 2, "n": 5}`, changed: true,
			avro: `"type":["double","int"]`, proto: "double n_double = 2;\n    int32 n_int32 = 3;",
		},
		{
			name: "array elements of a new number type", mode: schemas.NumbersExact, level: Backward,
			v1: `{"_id": 1, "xs": [1, 2]}`, next: `{"_id": 2, "xs": [{"$numberLong": "3"}, 4.5]}`, changed: true,
			avro: `"items":["int","long","double"]`, proto: "oneof xs__more {",
		},
		{
			name: "the union already has the branch", mode: schemas.NumbersExact, level: Backward,
			v1: `{"_id": 1, "n": 5}`, next: `{"_id": 1, "n": 6}`, changed: false,
		},
		{
			name: "refused under FULL", mode: schemas.NumbersExact, level: Full,
			v1: `{"_id": 1, "n": 5}`, next: `{"_id": 2, "n": 2.5}`, err: `field "n"`,
		},
		{
			name: "widen: int promotes to long", mode: schemas.NumbersWiden, level: Backward,
			v1: `{"_id": 1, "n": 5}`, next: `{"_id": 2, "n": {"$numberLong": "6"}}`, changed: true,
			avro: `"type":"long"`, proto: "optional int64 n = 2;",
		},
		{
			name: "widen: int64 carries int32", mode: schemas.NumbersWiden, level: Backward,
			v1: `{"_id": 1, "n": {"$numberLong": "6"}}`, next: `{"_id": 2, "n": 5}`, changed: false,
		},
	}
	for _, tt := range tests {
		for _, format := range []schemas.Format{schemas.Avro, schemas.Protobuf} {
			t.Run(tt.name+"/"+format.String(), func(t *testing.T) {
				v1doc, nextDoc := docs(t, tt.v1)[0], docs(t, tt.next)[0]
				history := []Schema{inferredWith(t, format, tt.mode, v1doc)}
				next, changed, err := EvolveWith(tt.level, history, inferredWith(t, format, tt.mode, nextDoc), EvolveOptions{Numbers: tt.mode})
				if tt.err != "" {
					var ee *EvolveError
					if !errors.As(err, &ee) || ee.Rule != RuleLevelForbidsChange || !strings.Contains(err.Error(), tt.err) {
						t.Fatalf("got %v, want a %s EvolveError with %q", err, RuleLevelForbidsChange, tt.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if changed != tt.changed {
					t.Fatalf("changed=%v, want %v\n%s", changed, tt.changed, next.Text)
				}
				compact := strings.Join(strings.Fields(string(next.Text)), "")
				if format == schemas.Avro && tt.avro != "" && !strings.Contains(compact, tt.avro) {
					t.Errorf("next version lacks %s:\n%s", tt.avro, next.Text)
				}
				if format == schemas.Protobuf && tt.proto != "" && !strings.Contains(string(next.Text), tt.proto) {
					t.Errorf("next version lacks %q:\n%s", tt.proto, next.Text)
				}
				// The version passes the subject's level, as the registry
				// will check it.
				res, err := Check(tt.level, next, history)
				if err != nil || !res.Compatible {
					t.Fatalf("next version fails %s: %v %v\n%s", tt.level, err, res.Issues, next.Text)
				}
				for _, d := range []bson.Raw{v1doc, nextDoc} {
					got, err := roundTrip(t, next, tt.mode, d)
					if err != nil {
						t.Fatalf("%s: %v\n%s", d, err, next.Text)
					}
					want, _ := extjson.Canonical(d)
					if tt.mode == schemas.NumbersExact && got != string(want) {
						t.Errorf("round trip changed a BSON type:\n got %s\nwant %s\n%s", got, want, next.Text)
					}
				}
			})
		}
	}
}
