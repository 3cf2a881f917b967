package evolution

import (
	"fmt"
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/schemas"
)

func avroText(text string) Schema {
	return Schema{Format: schemas.Avro, Text: []byte(text)}
}

func rec(fields string) string {
	return `{"type":"record","name":"R","namespace":"ns","fields":[` + fields + `]}`
}

func field(name, typ string) string { return fmt.Sprintf(`{"name":%q,"type":%s}`, name, typ) }

var allLevels = []Level{None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive}

// TestAvroResolutionRules checks each rule of Avro schema resolution as a
// change from old to new, at every level. backward is whether new reads
// old's data; forward whether old reads new's data.
func TestAvroResolutionRules(t *testing.T) {
	t.Parallel()
	type tc struct {
		name              string
		old, new          string
		backward, forward bool
		// issue, when set, is a line expected among the backward (or, if
		// backward holds, forward) issues.
		issue string
	}
	var cases []tc
	// Promotions, each in both directions.
	promotions := [][2]string{{"int", "long"}, {"int", "float"}, {"int", "double"}, {"long", "float"}, {"long", "double"}, {"float", "double"}, {"string", "bytes"}, {"bytes", "string"}}
	for _, p := range promotions {
		reverse := p[0] == "string" || p[0] == "bytes" // string and bytes promote both ways
		cases = append(cases,
			tc{name: p[0] + " to " + p[1], old: rec(field("f", `"`+p[0]+`"`)), new: rec(field("f", `"`+p[1]+`"`)), backward: true, forward: reverse},
			tc{name: p[1] + " to " + p[0], old: rec(field("f", `"`+p[1]+`"`)), new: rec(field("f", `"`+p[0]+`"`)), backward: reverse, forward: true},
		)
	}
	cases = append(cases, []tc{
		{name: "type mismatch", old: rec(field("a", `"int"`) + "," + field("b", `"string"`)), new: rec(field("a", `"int"`) + "," + field("b", `"long"`)), backward: false, forward: false,
			issue: `/fields/1/type: reader type "long" cannot read writer type "string" [TYPE_MISMATCH]`},
		{name: "same primitive", old: rec(field("f", `"string"`)), new: rec(field("f", `"string"`)), backward: true, forward: true},
		// Unions on either side.
		{name: "union gains a branch", old: rec(field("f", `["null","string"]`)), new: rec(field("f", `["null","string","int"]`)), backward: true, forward: false,
			issue: `/fields/0/type/2: reader union lacks writer type "int" [MISSING_UNION_BRANCH]`},
		{name: "field becomes a union", old: rec(field("f", `"string"`)), new: rec(field("f", `["null","string"]`)), backward: true, forward: false},
		{name: "union becomes its branch", old: rec(field("f", `["null","string"]`)), new: rec(field("f", `"string"`)), backward: false, forward: true,
			issue: `/fields/0/type/0: reader type "string" cannot read writer type "null" [TYPE_MISMATCH]`},
		{name: "union reorders", old: rec(field("f", `["null","string","int"]`)), new: rec(field("f", `["int","null","string"]`)), backward: true, forward: true},
		{name: "union branch promoted", old: rec(field("f", `["null","int"]`)), new: rec(field("f", `["null","long"]`)), backward: true, forward: false},
		// Enums and enum defaults.
		{name: "enum gains a symbol", old: rec(field("e", `{"type":"enum","name":"E","symbols":["A","B"]}`)), new: rec(field("e", `{"type":"enum","name":"E","symbols":["A","B","C"]}`)), backward: true, forward: false,
			issue: `/fields/0/type/symbols: reader enum "ns.E" lacks writer symbols [C] and has no default [MISSING_ENUM_SYMBOLS]`},
		{name: "enum gains a symbol, old has a default", old: rec(field("e", `{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`)), new: rec(field("e", `{"type":"enum","name":"E","symbols":["A","B","C"]}`)), backward: true, forward: true},
		{name: "enum loses a symbol", old: rec(field("e", `{"type":"enum","name":"E","symbols":["A","B"]}`)), new: rec(field("e", `{"type":"enum","name":"E","symbols":["A"]}`)), backward: false, forward: true},
		{name: "enum renamed", old: rec(field("e", `{"type":"enum","name":"E","symbols":["A"]}`)), new: rec(field("e", `{"type":"enum","name":"F","symbols":["A"]}`)), backward: false, forward: false,
			issue: `/fields/0/type/name: reader enum name "ns.F" does not match writer name "ns.E" [NAME_MISMATCH]`},
		// Record fields added and removed, with and without defaults.
		{name: "field added with default", old: rec(field("a", `"int"`)), new: rec(field("a", `"int"`) + `,{"name":"b","type":"string","default":"x"}`), backward: true, forward: true},
		{name: "field added without default", old: rec(field("a", `"int"`)), new: rec(field("a", `"int"`) + "," + field("b", `"string"`)), backward: false, forward: true,
			issue: `/fields/1: reader field "b" has no default value and is missing from the writer [READER_FIELD_MISSING_DEFAULT_VALUE]`},
		{name: "optional field added", old: rec(field("a", `"int"`)), new: rec(field("a", `"int"`) + `,{"name":"b","type":["null","string"],"default":null}`), backward: true, forward: true},
		{name: "field with default removed", old: rec(field("a", `"int"`) + `,{"name":"b","type":"string","default":"x"}`), new: rec(field("a", `"int"`)), backward: true, forward: true},
		{name: "field without default removed", old: rec(field("a", `"int"`) + "," + field("b", `"string"`)), new: rec(field("a", `"int"`)), backward: true, forward: false},
		// Aliases.
		{name: "field renamed with an alias", old: rec(field("a", `"int"`)), new: rec(`{"name":"b","type":"int","aliases":["a"]}`), backward: true, forward: false},
		{name: "record renamed with an alias", old: rec(field("a", `"int"`)), new: `{"type":"record","name":"S","namespace":"ns","aliases":["ns.R"],"fields":[{"name":"a","type":"int"}]}`, backward: true, forward: false},
		{name: "record renamed", old: rec(field("a", `"int"`)), new: `{"type":"record","name":"S","namespace":"ns","fields":[{"name":"a","type":"int"}]}`, backward: false, forward: false,
			issue: `/name: reader record name "ns.S" does not match writer name "ns.R" [NAME_MISMATCH]`},
		// Fixed sizes.
		{name: "fixed resized", old: rec(field("f", `{"type":"fixed","name":"F","size":4}`)), new: rec(field("f", `{"type":"fixed","name":"F","size":8}`)), backward: false, forward: false,
			issue: `/fields/0/type/size: reader fixed "ns.F" has size 8, writer fixed has size 4 [FIXED_SIZE_MISMATCH]`},
		{name: "fixed unchanged", old: rec(field("f", `{"type":"fixed","name":"F","size":4}`)), new: rec(field("f", `{"type":"fixed","name":"F","size":4}`)), backward: true, forward: true},
		// Named types are matched by unqualified name.
		{name: "namespace changed", old: rec(field("a", `"int"`)), new: `{"type":"record","name":"R","namespace":"other","fields":[{"name":"a","type":"int"}]}`, backward: true, forward: true},
		// Logical types do not take part, as in Confluent's default policy.
		{name: "logical type added", old: rec(field("t", `"long"`)), new: rec(field("t", `{"type":"long","logicalType":"timestamp-millis"}`)), backward: true, forward: true},
		// Arrays, maps, nested and recursive records.
		{name: "array items promoted", old: rec(field("a", `{"type":"array","items":"int"}`)), new: rec(field("a", `{"type":"array","items":"long"}`)), backward: true, forward: false},
		{name: "map values changed", old: rec(field("m", `{"type":"map","values":"string"}`)), new: rec(field("m", `{"type":"map","values":"int"}`)), backward: false, forward: false,
			issue: `/fields/0/type/values: reader type "int" cannot read writer type "string" [TYPE_MISMATCH]`},
		{name: "recursive record gains an optional field", old: `{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null}]}`,
			new: `{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null},{"name":"v","type":["null","int"],"default":null}]}`, backward: true, forward: true},
	}...)
	for _, c := range cases {
		for _, lvl := range allLevels {
			want := true
			switch {
			case lvl == None:
			case lvl.Backward() && lvl.Forward():
				want = c.backward && c.forward
			case lvl.Backward():
				want = c.backward
			case lvl.Forward():
				want = c.forward
			}
			res, err := Check(lvl, avroText(c.new), []Schema{avroText(c.old)})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if res.Compatible != want {
				t.Errorf("%s at %s: compatible=%v, want %v; issues %v", c.name, lvl, res.Compatible, want, res.Issues)
			}
			if c.issue != "" && lvl == Full {
				found := false
				for _, is := range res.Issues {
					found = found || is.String() == c.issue
				}
				if !found {
					t.Errorf("%s: issues %v lack %q", c.name, res.Issues, c.issue)
				}
			}
		}
	}
}

// TestAvroTransitive shows the difference between plain and transitive
// levels: the new version fits the latest one but not an older one.
func TestAvroTransitive(t *testing.T) {
	t.Parallel()
	// v3 requires b, which v2 wrote with a default and v1 did not have.
	back := []string{rec(field("a", `"string"`)), rec(field("a", `"string"`) + `,{"name":"b","type":"int","default":0}`), rec(field("b", `"int"`))}
	// v1 requires b; v2 gives it a default; v3 drops it.
	fwd := []string{rec(field("a", `"string"`) + "," + field("b", `"int"`)), rec(field("a", `"string"`) + `,{"name":"b","type":"int","default":0}`), rec(field("a", `"string"`))}
	tests := []struct {
		history []string
		lvl     Level
		want    bool
	}{
		{back, Backward, true}, {back, BackwardTransitive, false},
		{fwd, Forward, true}, {fwd, ForwardTransitive, false},
		{fwd, Full, true}, {fwd, FullTransitive, false},
	}
	for _, tt := range tests {
		var olds []Schema
		for i, s := range tt.history[:2] {
			sc := avroText(s)
			sc.Name = fmt.Sprintf("v%d", i+1)
			olds = append(olds, sc)
		}
		res, err := Check(tt.lvl, avroText(tt.history[2]), olds)
		if err != nil {
			t.Fatal(err)
		}
		if res.Compatible != tt.want {
			t.Errorf("%s: compatible=%v, want %v (%v)", tt.lvl, res.Compatible, tt.want, res.Issues)
		}
		if !tt.want && (len(res.Issues) == 0 || res.Issues[0].Against != "v1") {
			t.Errorf("%s: issues %v should name v1", tt.lvl, res.Issues)
		}
	}
}

func TestCheckErrors(t *testing.T) {
	t.Parallel()
	_, err := Check(Backward, avroText(`{"type":"record"}`), []Schema{avroText(rec(""))})
	if err == nil || !strings.Contains(err.Error(), "needs a string \"name\"") {
		t.Fatalf("bad new schema: %v", err)
	}
	if _, err := ParseLevel("sideways"); err == nil {
		t.Fatal("unknown level accepted")
	}
	res, err := Check(Backward, Schema{Format: schemas.Protobuf, Text: []byte(`syntax = "proto3"; message M {}`)}, []Schema{avroText(rec(""))})
	if err != nil || res.Compatible || res.Issues[0].Type != "SCHEMA_TYPE_CHANGED" {
		t.Fatalf("format change: %+v %v", res, err)
	}
}
