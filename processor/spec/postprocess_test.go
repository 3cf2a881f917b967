package spec

import (
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"gopkg.in/yaml.v3"

	"github.com/schemaflow/schemaflow/processor/sink"
)

// TestRenameChain checks that renames apply in the order written, in both
// spec forms: a chain a → b, b → c moves a to c on every run. Before renames
// were ordered, a map made the result depend on iteration order, so the
// loop repeats the build and the run enough times to see both orders.
func TestRenameChain(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		in, want   bson.D
	}{
		{"list chain", "rename: [{from: a, to: b}, {from: b, to: c}]", bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "c", Value: 1}}},
		{"mapping chain in written order", "rename: {a: b, b: c}", bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "c", Value: 1}}},
		{"reverse order does not chain", "rename: [{from: b, to: c}, {from: a, to: b}]", bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "b", Value: 1}}},
		// A rename onto a field that exists is skipped (as the MongoDB Kafka
		// Connector does); the next step still runs.
		{"onto existing then on", "rename: [{from: a, to: b}, {from: b, to: c}]", bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 2}}, bson.D{{Key: "a", Value: 1}, {Key: "c", Value: 2}}},
		{"nested path", "rename: [{from: x.a, to: b}, {from: x.b, to: c}]", bson.D{{Key: "x", Value: bson.D{{Key: "a", Value: 1}}}}, bson.D{{Key: "x", Value: bson.D{{Key: "c", Value: 1}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pp PostProcessor
			if err := yaml.Unmarshal([]byte(tc.yaml), &pp); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 64; i++ {
				p, err := postProcessor(pp)
				if err != nil {
					t.Fatal(err)
				}
				got, err := p(sink.Record{}, cloneD(tc.in))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("run %d: got %v, want %v", i, got, tc.want)
				}
			}
		})
	}
}

func cloneD(d bson.D) bson.D {
	out := make(bson.D, len(d))
	for i, e := range d {
		if sub, ok := e.Value.(bson.D); ok {
			e.Value = cloneD(sub)
		}
		out[i] = e
	}
	return out
}
