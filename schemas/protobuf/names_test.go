package protobuf_test

import (
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/internal/protoctest"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// TestCheckProtocNames gives CheckProtocNames messages that break each of
// protoc's naming rules, and messages that keep them. A message that breaks
// a rule must be refused by protocompile or by CheckProtocNames; where
// protoc 3.21 applies the rule too (protoc21), protoc must refuse it as
// well, and every message that keeps the rules must compile with protoc.
func TestCheckProtocNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		problem  string // "" when the message keeps the rules
		protoc21 bool   // protoc 3.21 refuses it too
	}{
		{"camel-case", `optional int32 first_name = 1; optional int32 firstName = 2;`, "camel-case", true},
		{"case only", `optional int32 Value = 1; optional int32 value = 2;`, "camel-case", true},
		{"underscores only", `optional int32 _ = 1; optional int32 __ = 2;`, "camel-case", true},
		{"oneof member camel-case", `optional int32 x_string = 1; oneof x { string xString = 2; int32 x_int32 = 3; }`, "camel-case", true},
		{"synthetic oneof and nested message", `optional int32 _List = 1; message X_List {}`, "synthetic oneof", true},
		{"custom JSON names", `optional int32 a = 1 [json_name = "x"]; optional int32 b = 2 [json_name = "x"];`, "JSON name", false},
		{"custom and default JSON names", `optional int32 first_name = 1; optional int32 b = 2 [json_name = "firstName"];`, "JSON name", false},
		{"extension-like JSON name", `optional int32 a = 1 [json_name = "[a]"];`, "extension", false},
		{"kept", `optional int32 first_name = 1 [json_name = "first_name"]; optional int32 firstName_2 = 2 [json_name = "firstName"]; optional int32 Value = 3; optional int32 value_2 = 4 [json_name = "value"];`, "", false},
		{"escaped extension-like JSON name", `optional int32 _a_ = 1 [json_name = "\\[a]"];`, "", false},
		{"synthetic oneof beside a free name", `optional int32 _List = 1; message X2_List {}`, "", false},
	}
	bin := protoctest.Path(t)
	for _, tt := range tests {
		text := []byte("syntax = \"proto3\";\nmessage M {\n  " + tt.body + "\n}\n")
		var err error
		s, cerr := protobuf.Compile("m.proto", text, protobuf.Options{})
		if cerr != nil {
			err = cerr
		} else {
			err = protobuf.CheckProtocNames(s.File)
		}
		perr := protoctest.Compile(t, bin, map[string][]byte{"m.proto": text})
		switch {
		case tt.problem == "" && (err != nil || perr != nil):
			t.Errorf("%s: refused: %v; protoc: %v", tt.name, err, perr)
		case tt.problem != "" && (err == nil || cerr == nil && !strings.Contains(err.Error(), tt.problem)):
			t.Errorf("%s: got %v, want a problem with %q", tt.name, err, tt.problem)
		case tt.protoc21 && perr == nil:
			t.Errorf("%s: protoc accepts it", tt.name)
		}
	}
}

// TestJSONNameEscape: every BSON name survives EscapeJSONName and
// UnescapeJSONName, and no escaped name looks like an extension's.
func TestJSONNameEscape(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "a", "[a]", `\[a]`, `\\[a]`, "[", "]", "[]", `\`, `\a`, "[a", "a]", `a\[b]`, " [a]"} {
		j := protobuf.EscapeJSONName(name)
		if strings.HasPrefix(j, "[") && strings.HasSuffix(j, "]") {
			t.Errorf("%q escapes to %q, which looks like an extension's", name, j)
		}
		if back := protobuf.UnescapeJSONName(j); back != name {
			t.Errorf("%q escapes to %q, which unescapes to %q", name, j, back)
		}
	}
}
