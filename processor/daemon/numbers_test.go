package daemon

import (
	"context"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// The spec's source key numbers reaches the source: with numbers: exact a
// field holding double, int32 and int64 comes back from Kafka into the
// sink's collection with each value's BSON type; without the key (widen,
// the default) the integers written to the double field come back as
// doubles.
func TestSpecNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string // the source's numbers key, if any
		want []bsontype.Type
	}{
		{"exact", "numbers: exact, ", []bsontype.Type{bson.TypeDouble, bson.TypeInt32, bson.TypeInt64, bson.TypeInt32}},
		{"default widens", "", []bsontype.Type{bson.TypeDouble, bson.TypeDouble, bson.TypeDouble, bson.TypeDouble}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			coll := fmt.Sprintf("nums%d", i)
			d, stop := e.start(t, e.specs(t, header+fmt.Sprintf(`
  - name: out
    mongodb: {collection: %[1]s}
    source: {%[2]stopic: %[1]s}
  - name: in
    mongodb: {collection: %[1]s_copy}
    sink: {topics: [%[1]s], id_strategy: key, max_wait: 5ms}
`, coll, tt.key)))
			client, err := e.conns.Client(context.Background(), "lungo:memory")
			if err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, "readiness", func() bool { code, _ := get(t, d, "/readyz"); return code == 200 })
			src, dst := client.Database("shop").Collection(coll), client.Database("shop").Collection(coll+"_copy")
			values := []any{2.5, int32(5), int64(5_000_000_000), int32(7)}
			for j, v := range values {
				if _, err := src.InsertOne(context.Background(), bson.D{{Key: "_id", Value: int32(j)}, {Key: "n", Value: v}}); err != nil {
					t.Fatal(err)
				}
				// Each document meets the version the previous one made.
				testenv.WaitFor(t, "the copy", func() bool {
					n, err := dst.CountDocuments(context.Background(), bson.D{})
					return err == nil && n == int64(j+1)
				})
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			for j, want := range tt.want {
				var got bson.Raw
				if err := dst.FindOne(context.Background(), bson.D{{Key: "_id", Value: int32(j)}}).Decode(&got); err != nil {
					t.Fatal(err)
				}
				if typ := got.Lookup("n").Type; typ != want {
					t.Errorf("document %d: n is a BSON %s, want %s: %s", j, typ, want, got)
				}
			}
		})
	}
}
