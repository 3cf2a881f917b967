package subject

import (
	"context"
	"testing"

	"github.com/schemaflow/schemaflow/schemas"
)

// A field that holds int32, int64 and double across documents, encoded
// through the registry and decoded as a sink would: under NumbersExact
// each value comes back with its own BSON type, the subject growing a
// union or oneof as new number types appear; under NumbersWiden (the
// default) the integers come back as doubles: an int32 5 as 5.0.
func TestNumbers(t *testing.T) {
	t.Parallel()
	// The double comes first: under NumbersWiden the later integers fit
	// the double field by conversion and need no new version.
	docs := []string{
		`{"_id": {"$numberInt": "1"}, "n": {"$numberDouble": "2.5"}}`,
		`{"_id": {"$numberInt": "2"}, "n": {"$numberInt": "5"}}`,
		`{"_id": {"$numberInt": "3"}, "n": {"$numberLong": "5000000000"}}`,
		`{"_id": {"$numberInt": "4"}, "n": {"$numberInt": "7"}}`,
		`{"_id": {"$numberInt": "5"}, "n": {"$numberLong": "8"}}`,
	}
	tests := []struct {
		mode schemas.Numbers
		// want is what each document decodes to.
		want []string
		// registered is the number of versions the documents make.
		registered int64
	}{
		{schemas.NumbersExact, docs, 3},
		{schemas.NumbersWiden, []string{
			docs[0],
			`{"_id": {"$numberInt": "2"}, "n": {"$numberDouble": "5.0"}}`,
			`{"_id": {"$numberInt": "3"}, "n": {"$numberDouble": "5.0E+9"}}`,
			`{"_id": {"$numberInt": "4"}, "n": {"$numberDouble": "7.0"}}`,
			`{"_id": {"$numberInt": "5"}, "n": {"$numberDouble": "8.0"}}`,
		}, 1},
	}
	for _, tt := range tests {
		for _, format := range []schemas.Format{schemas.Avro, schemas.Protobuf} {
			t.Run(tt.mode.String()+"/"+format.String(), func(t *testing.T) {
				t.Parallel()
				c := newRegistry(t)
				ctx := context.Background()
				enc, err := New(ctx, Options{Registry: c, Subject: "n-value", Format: format, Infer: inferOpts(), Numbers: tt.mode})
				if err != nil {
					t.Fatal(err)
				}
				for i, d := range docs {
					frame, err := enc.Encode(ctx, nil, raw(t, d))
					if err != nil {
						t.Fatalf("doc %d: %v", i+1, err)
					}
					if got, want := roundTrip(t, c, frame), canonical(t, raw(t, tt.want[i])); got != want {
						t.Errorf("doc %d decodes to %s, want %s", i+1, got, want)
					}
				}
				if got := enc.Stats().Registered; got != tt.registered {
					t.Errorf("registered %d versions, want %d", got, tt.registered)
				}
			})
		}
	}
}
