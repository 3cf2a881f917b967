package evolution

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/schemas"
)

// withoutTrailingCommas drops commas that close an array or object, which
// Confluent's Jackson reader accepts in its vector files and encoding/json
// does not. Commas inside strings are kept.
func withoutTrailingCommas(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ',':
			j := i + 1
			for j < len(b) && strings.ContainsRune(" \t\r\n", rune(b[j])) {
				j++
			}
			if j < len(b) && (b[j] == ']' || b[j] == '}') {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// jsonVectorFiles are Confluent's four JSON Schema diff vector files and
// how many cases each holds.
var jsonVectorFiles = []struct {
	name      string
	wantCases int
}{
	{"diff-schema-examples.json", 104},
	{"diff-schema-examples-2020-12.json", 113},
	{"diff-combined-schema-examples.json", 28},
	{"diff-combined-schema-examples-2020-12.json", 18},
}

// TestConfluentJSONVectors runs every case of Confluent's four JSON Schema
// diff vector files at BACKWARD (the update reads what the original
// wrote): every schema validates and every verdict is Confluent's. The
// agreement per file is logged.
func TestConfluentJSONVectors(t *testing.T) {
	t.Parallel()
	for _, f := range jsonVectorFiles {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(conformance(t, "json-schema-provider/src/test/resources/"+f.name))
			if err != nil {
				t.Fatal(err)
			}
			var cases []struct {
				Description    string          `json:"description"`
				OriginalSchema json.RawMessage `json:"original_schema"`
				UpdateSchema   json.RawMessage `json:"update_schema"`
				Compatible     bool            `json:"compatible"`
				Changes        []string        `json:"changes"`
			}
			if err := json.Unmarshal(withoutTrailingCommas(raw), &cases); err != nil {
				t.Fatal(err)
			}
			if len(cases) != f.wantCases {
				t.Fatalf("%d cases, want %d", len(cases), f.wantCases)
			}
			agree, falseCompat, falseIncompat := 0, 0, 0
			for i, c := range cases {
				res, err := Check(Backward, Schema{Format: schemas.JSON, Text: c.UpdateSchema}, []Schema{{Format: schemas.JSON, Text: c.OriginalSchema}})
				if err != nil {
					t.Errorf("case %d %q: %v", i, c.Description, err)
					continue
				}
				switch {
				case res.Compatible == c.Compatible:
					agree++
				case res.Compatible:
					falseCompat++
					t.Errorf("case %d %q: Confluent refuses it (%v), accepted here", i, c.Description, c.Changes)
				default:
					falseIncompat++
					t.Errorf("case %d %q: Confluent accepts it (%v), refused here: %v", i, c.Description, c.Changes, res.Issues)
				}
			}
			t.Logf("%s: %d cases, same verdict %d; accepted here but refused by Confluent %d; refused here but accepted by Confluent %d",
				f.name, len(cases), agree, falseCompat, falseIncompat)
		})
	}
}

// TestJSONUndecidedRefused: a change to a keyword whose rules are not
// implemented is refused, never accepted; the same keyword unchanged does
// not stand in the way.
func TestJSONUndecidedRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, old, new string
		compatible     bool
	}{
		{"if/then changed", `{"if":{"type":"string"},"then":{"maxLength":3}}`, `{"if":{"type":"string"},"then":{"maxLength":2}}`, false},
		{"if/then unchanged, title changed", `{"title":"a","if":{"type":"string"},"then":{"maxLength":3}}`, `{"title":"b","if":{"type":"string"},"then":{"maxLength":3}}`, true},
		{"contains added", `{"type":"array"}`, `{"type":"array","contains":{"type":"string"}}`, false},
		{"propertyNames changed", `{"type":"object","propertyNames":{"maxLength":3}}`, `{"type":"object","propertyNames":{"maxLength":4}}`, false},
		{"format changed", `{"type":"string","format":"date"}`, `{"type":"string","format":"email"}`, false},
		{"combinator beside a type changed", `{"type":"object","oneOf":[{"required":["a"]}]}`, `{"type":"object","oneOf":[{"required":["a"]},{"required":["b"]}]}`, false},
		{"unevaluatedProperties changed", `{"type":"object","unevaluatedProperties":{"type":"string"}}`, `{"type":"object","unevaluatedProperties":{"type":"number"}}`, false},
		{"tuple to one item schema", `{"type":"array","items":[{"type":"string"}]}`, `{"type":"array","items":{"type":"string"}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Check(Backward, Schema{Format: schemas.JSON, Text: []byte(tc.new)}, []Schema{{Format: schemas.JSON, Text: []byte(tc.old)}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Compatible != tc.compatible {
				t.Fatalf("compatible = %v, want %v: %v", res.Compatible, tc.compatible, res.Issues)
			}
		})
	}
}
