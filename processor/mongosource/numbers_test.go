package mongosource

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/schemas"
)

// A field holding int32, int64 and double in different documents, and an
// array mixing them, go from lungo through the source, Kafka and the
// registry to the sink's lungo. Under NumbersExact each replica value has
// the BSON type of the original, in Avro and Protobuf; under NumbersWiden
// (the default) the integers come back as doubles: an int32 5 as 5.0.
func TestNumbersRoundTrip(t *testing.T) {
	t.Parallel()
	// The double comes first: under NumbersWiden the integers then fit
	// the double field by conversion.
	docs := []bson.D{
		{{Key: "_id", Value: int32(1)}, {Key: "n", Value: 2.5}, {Key: "xs", Value: bson.A{int32(1), int64(2), 3.5}}},
		{{Key: "_id", Value: int32(2)}, {Key: "n", Value: int32(5)}},
		{{Key: "_id", Value: int32(3)}, {Key: "n", Value: int64(5_000_000_000)}},
		{{Key: "_id", Value: int32(4)}, {Key: "n", Value: int32(7)}},
	}
	i32, i64, dbl := bson.TypeInt32, bson.TypeInt64, bson.TypeDouble
	tests := []struct {
		mode schemas.Numbers
		n    []bsontype.Type // the replica's type of n, per document
		xs   []bsontype.Type // the replica's types of xs in document 1
	}{
		{schemas.NumbersExact, []bsontype.Type{dbl, i32, i64, i32}, []bsontype.Type{i32, i64, dbl}},
		{schemas.NumbersWiden, []bsontype.Type{dbl, dbl, dbl, dbl}, []bsontype.Type{dbl, dbl, dbl}},
	}
	for _, tt := range tests {
		for _, format := range []schemas.Format{schemas.Avro, schemas.Protobuf} {
			t.Run(tt.mode.String()+"/"+format.String(), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				src, stop := e.source(t, func(c *Config) { c.Format, c.Numbers = format, tt.mode })
				testenv.WaitFor(t, "the stream to open", src.Watching)
				// One at a time, so that each document meets the version
				// the previous one made.
				for i, d := range docs {
					e.insert(t, d)
					testenv.WaitFor(t, "the event", func() bool { return src.Stats().Events == int64(i+1) })
				}
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				snk, stopSink := e.sink(t)
				testenv.WaitFor(t, "the copy", func() bool { return snk.Stats().Written == int64(len(docs)) })
				if err := stopSink(); err != nil {
					t.Fatal(err)
				}
				replica := e.dst.Database(e.copyDB()).Collection("orders")
				for i, want := range tt.n {
					var got bson.Raw
					if err := replica.FindOne(context.Background(), bson.D{{Key: "_id", Value: int32(i + 1)}}).Decode(&got); err != nil {
						t.Fatalf("document %d: %v", i+1, err)
					}
					if typ := got.Lookup("n").Type; typ != want {
						t.Errorf("document %d: n is a BSON %s, want %s: %s", i+1, typ, want, got)
					}
					if i != 0 {
						continue
					}
					vals, err := got.Lookup("xs").Array().Values()
					if err != nil || len(vals) != len(tt.xs) {
						t.Fatalf("xs: %v (%v)", vals, err)
					}
					for j, v := range vals {
						if v.Type != tt.xs[j] {
							t.Errorf("xs[%d] is a BSON %s, want %s", j, v.Type, tt.xs[j])
						}
					}
				}
				if tt.mode == schemas.NumbersExact {
					if got, want := dump(t, replica), dump(t, e.src); got != want {
						t.Errorf("replica differs:\n got %s\nwant %s", got, want)
					}
				}
			})
		}
	}
}
