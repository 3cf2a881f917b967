package check

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/schemas"
)

// TestExplanationExamples checks every explanation's examples: the broken
// change raises the rule under BACKWARD, and the safe one raises nothing.
func TestExplanationExamples(t *testing.T) {
	t.Parallel()
	for _, e := range Explanations {
		if e.Before == "" {
			continue
		}
		t.Run(e.Format.String()+"/"+e.Rule, func(t *testing.T) {
			t.Parallel()
			schema := func(text string) evolution.Schema {
				s := evolution.Schema{Format: e.Format, Text: []byte(text)}
				if e.Format == schemas.Protobuf {
					s.Name = "example.proto"
				}
				return s
			}
			res, err := evolution.Check(evolution.Backward, schema(e.Broken), []evolution.Schema{schema(e.Before)})
			if err != nil {
				t.Fatalf("broken example: %v", err)
			}
			var rules []string
			for _, is := range res.Issues {
				rules = append(rules, is.Type)
			}
			if !strings.Contains(" "+strings.Join(rules, " ")+" ", " "+e.Rule+" ") {
				t.Errorf("broken example raises %v, not %s", rules, e.Rule)
			}
			res, err = evolution.Check(evolution.Backward, schema(e.Safe), []evolution.Schema{schema(e.Before)})
			if err != nil {
				t.Fatalf("safe example: %v", err)
			}
			if len(res.Issues) > 0 {
				t.Errorf("safe example raises %+v", res.Issues)
			}
		})
	}
}

// TestExplanationsCoverRules checks that every rule the evolution package
// reports for an incompatible change has an explanation: the rule names
// are read from its sources.
func TestExplanationsCoverRules(t *testing.T) {
	t.Parallel()
	explained := map[string]bool{}
	for _, e := range Explanations {
		explained[e.Rule] = true
	}
	dir := filepath.Join("..", "..", "evolution")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var rules []string
	// Avro: the avro* constants.
	for _, m := range regexp.MustCompile(`avro[A-Z]\w+\s*=\s*"([A-Z_]+)"`).FindAllStringSubmatch(read("avro.go"), -1) {
		rules = append(rules, m[1])
	}
	// JSON Schema: the jsonIssue calls.
	for _, m := range regexp.MustCompile(`jsonIssue\("([A-Z_]+)"`).FindAllStringSubmatch(read("jsonschema.go"), -1) {
		rules = append(rules, m[1])
	}
	// Protobuf: the differences Confluent rejects.
	src := read("protobuf.go")
	compatible := src[strings.Index(src, "var compatibleChanges"):]
	compatible = compatible[:strings.Index(compatible, "}")]
	for _, m := range regexp.MustCompile(`\n\t([A-Z]\w+)\s*=\s*"([A-Z_]+)"`).FindAllStringSubmatch(src, -1) {
		if !regexp.MustCompile(`\b` + m[1] + `:`).MatchString(compatible) {
			rules = append(rules, m[2])
		}
	}
	if len(rules) < 20 {
		t.Fatalf("read only %d rules from the evolution sources: %v", len(rules), rules)
	}
	for _, r := range rules {
		if !explained[r] {
			t.Errorf("rule %s has no explanation", r)
		}
	}
}

func TestExplainRule(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := Explain(&b, "reader_field_missing_default_value"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"READER_FIELD_MISSING_DEFAULT_VALUE (avro)\n\nWhat it means:\n  The new schema has a field",
		"Example that breaks it (checked BACKWARD):\n  before:\n    {\"type\":\"record\"",
		"How to evolve safely:\n  Give the new field a default",
		`"default":null}]}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	// A rule in two formats explains both.
	b.Reset()
	if err := Explain(&b, "ENUM_ADDED"); err != nil || !strings.Contains(b.String(), "ENUM_ADDED (json)") {
		t.Fatalf("%v\n%s", err, b.String())
	}
	var ue *UnknownRuleError
	if err := Explain(&b, "NO_SUCH_RULE"); !errors.As(err, &ue) || ue.Rule != "NO_SUCH_RULE" || !strings.Contains(err.Error(), "unknown rule \"NO_SUCH_RULE\"; known rules: ") || !strings.Contains(err.Error(), "TYPE_MISMATCH") {
		t.Fatalf("unknown rule: %v", err)
	}
}
