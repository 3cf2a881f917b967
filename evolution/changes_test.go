package evolution

import (
	"slices"
	"testing"

	"github.com/schemaflow/schemaflow/schemas"
)

// TestChanges evolves a version inferred from the first documents with
// the next ones, and lists the changes: each kind, with its BSON path.
func TestChanges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		format schemas.Format
		v1     []string
		next   []string
		want   []string
	}{
		{
			name: "avro", format: schemas.Avro,
			v1:   []string{`{"a": 1, "b": "x", "c": {"d": 1}, "e": [1]}`},
			next: []string{`{"a": {"$numberLong": "5000000000"}, "b": 2, "c": {"d": 1, "f": true}, "e": ["s"], "g": 1}`, `{"a": 1, "c": {"d": 1}, "e": []}`},
			want: []string{
				"widened a: int -> long",
				"union grown b: string -> [null, string, int]",
				"made optional b: string -> [null, string, int]",
				`added c.f: [null, boolean]`,
				"union grown e[]: int -> [int, string]",
				`added g: [null, int]`,
			},
		},
		{
			name: "protobuf", format: schemas.Protobuf,
			v1:   []string{`{"a": 1, "b": "x", "c": {"d": 1}, "e": [1]}`},
			next: []string{`{"a": {"$numberLong": "5000000000"}, "b": 2, "c": {"d": 1, "f": true}, "e": ["s"], "g": 1}`},
			want: []string{
				"widened a: int32 -> int64",
				"union grown b: string -> oneof {string, int32}",
				"added c.f: bool",
				"union grown e: repeated int32 -> oneof {repeated int32, Doc.EMore_List}",
				"added g: int32",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v1 := inferred(t, c.format, docs(t, c.v1...)...)
			v2, changed, err := Evolve(Backward, []Schema{v1}, inferred(t, c.format, docs(t, c.next...)...))
			if err != nil || !changed {
				t.Fatalf("Evolve: %v %v", changed, err)
			}
			got, err := Changes(v1, v2)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, ch := range got {
				lines = append(lines, ch.String())
			}
			if !slices.Equal(lines, c.want) {
				t.Errorf("changes\n got %q\nwant %q\n%s", lines, c.want, v2.Text)
			}
			if none, err := Changes(v2, v2); err != nil || len(none) != 0 {
				t.Errorf("Changes(v2, v2) = %v, %v; want none", none, err)
			}
		})
	}
}
