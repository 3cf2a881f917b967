package server

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of the tests that have them")

// confluentProtoDeps are the stand-in dependencies of the golden cases
// (testdata/confluentproto/deps), by import path.
func confluentProtoDeps(t *testing.T) map[string]string {
	t.Helper()
	root := filepath.Join("testdata", "confluentproto", "deps")
	deps := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		deps[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return deps
}

// TestConfluentProtoGolden: each case under testdata/confluentproto is a
// schema of Confluent's ProtobufSchemaTest with the text Confluent's
// registry gives for it (its source.txt names the test and the
// assertion): canonical.proto is its canonicalString (what it stores for
// the schema), normalized.proto its normalize().canonicalString() (what
// normalize=true stores), noext.proto its
// formattedString("ignore_extensions"). Our printer must give those
// bytes exactly. With -update the files are rewritten from our output,
// which only makes sense for cases that are not Confluent's.
func TestConfluentProtoGolden(t *testing.T) {
	t.Parallel()
	deps := confluentProtoDeps(t)
	dirs, _ := filepath.Glob(filepath.Join("testdata", "confluentproto", "*", "input.proto"))
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			ran := 0
			for _, tc := range []struct {
				file                string
				normalize, ignoreEx bool
			}{
				{"canonical.proto", false, false},
				{"normalized.proto", true, false},
				{"noext.proto", false, true},
			} {
				path := filepath.Join(dir, tc.file)
				want, err := os.ReadFile(path)
				if os.IsNotExist(err) {
					continue
				}
				ran++
				got, err := confluentProto(string(input), deps, tc.normalize, tc.ignoreEx)
				if err != nil {
					t.Errorf("%s: %v", tc.file, err)
					continue
				}
				if *updateGolden {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if got != string(want) {
					t.Errorf("%s differs from Confluent's text\n--- got\n%s--- want\n%s", tc.file, got, want)
				}
				if tc.normalize {
					// Confluent's normal form is a fixed point.
					again, err := confluentProto(got, deps, true, false)
					if err != nil || again != got {
						t.Errorf("normalizing the normal form again: %v\n%s", err, again)
					}
				}
			}
			if ran == 0 {
				t.Fatalf("%s: no expected text", dir)
			}
		})
	}
}

// TestParseWireRefused: text Wire's parser refuses is an error naming the
// line and column, never a panic.
func TestParseWireRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, err string }{
		{`syntax = "proto3"; message A { string a = ; }`, "line 1:43: expected a word"},
		{"syntax = \"proto3\";\nmessage A {\n  string a = 1 [deprecated = true;\n}", "line 3:34: expected ',' or ']'"},
		{`message A { string a = 1; }`, "unexpected label: string"},
		{`syntax = "proto4";`, "unexpected syntax: proto4"},
		{`syntax = "proto3"; message A {`, "unexpected end of file"},
		{`syntax = "proto3"; option x = "abc`, "unterminated string"},
		{`syntax = "proto3"; /* open`, "unterminated comment"},
		{`package a; syntax = "proto3";`, "'syntax' element must be the first declaration"},
	} {
		_, err := parseWire(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want an error containing %q", tc.text, err, tc.err)
		}
	}
}

// FuzzParseWire: any text parses or gives an error, never a panic, and
// what parses prints in every mode.
func FuzzParseWire(f *testing.F) {
	for _, in := range []string{
		`syntax = "proto3"; package a.b; import "x.proto"; option (o).p = {a: 1, b: [1, 2], [c]: "x"}; message M { map<string, M> m = 1; oneof o { int32 x = 2; } reserved 3 to max, "y"; enum E { Z = 0 [(v) = -1.5]; } }`,
		`syntax = "proto2"; message M { repeated group G = 1 { optional int32 a = 1; } extensions 10 to 20 [declaration = {}]; extend M { optional int32 b = 11; } }`,
		`service S { rpc R (stream A) returns (B) { option deprecated = true; } }`,
	} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if _, err := parseWire(text); err != nil {
			return
		}
		for _, mode := range [][2]bool{{false, false}, {false, true}} {
			if _, err := confluentProto(text, nil, mode[0], mode[1]); err != nil {
				t.Fatalf("parsed but does not print: %v", err)
			}
		}
		_, _ = confluentProto(text, nil, true, false) // a name it cannot resolve is an error

	})
}

// TestJavaNumber: numbers in options are written when normalizing as
// Confluent writes them; the cases are ProtobufSchemaTest.testNumberFormats
// (confluentinc/schema-registry, protobuf-provider), plus words Confluent
// keeps as written.
func TestJavaNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"123", "123"}, {"0123", "83"}, {"0x123", "291"}, {"0123.0", "123"}, {"123.", "123"},
		{"123.0", "123"}, {"123.00", "123"}, {"123e1", "1230"}, {"123E1", "1230"}, {"123E+1", "1230"},
		{"123E-1", "12.3"}, {".123E+3", "123"}, {"1.23E+3", "1230"}, {"12.3E+3", "12300"},
		{"123.E+3", "123000"}, {"123.4E+3", "123400"}, {"123.45E+3", "123450"}, {"123.456E+3", "123456"},
		{"123.4567E+2", "12345.67"},
		// not in Confluent's table: suffixes, signs, words it cannot read
		{"10f", "10"}, {"1.0f", "1"}, {"-2.0", "-2"}, {"-0", "0"}, {"1.23456", "1.235"},
		{"-inf", "-inf"}, {"-nan", "-nan"}, {"08", "08"},
	} {
		c := &confluentFormat{normalize: true}
		if got := c.formatNumber(tc.in); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
		if got := (&confluentFormat{}).formatNumber(tc.in); got != tc.in {
			t.Errorf("%s without normalizing: %s", tc.in, got)
		}
	}
}

// BenchmarkCanonicalProto: Confluent's canonical string of a schema of
// Confluent's tests (what ignore_extensions costs a read, and what
// comparing schemas by it would cost a registration).
func BenchmarkCanonicalProto(b *testing.B) {
	text, err := os.ReadFile(filepath.Join("testdata", "confluentproto", "normalization", "input.proto"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if out, err := confluentProto(string(text), nil, false, false); err != nil || out == "" {
			b.Fatal(err)
		}
	}
}

// TestConfluentProtoEscapes: string options are unescaped as Wire reads
// them and escaped back as Confluent writes them. The schema and the
// substrings are ProtobufSchemaTest.testOptionEscape's
// (confluentinc/schema-registry, protobuf-provider), which asserts only
// that the canonical string contains them.
func TestConfluentProtoEscapes(t *testing.T) {
	t.Parallel()
	schema := "syntax = \"proto3\";\n\n" +
		"option java_package = \"io.confluent.kafka.serializers.protobuf.test\";\n" +
		"option java_outer_classname = \"TestOptionEscape\";\n" +
		"option testBackslash = \"backslash\\\\backslash\";\n" +
		"option testDoubleQuote = \"\\\"something\\\"\";\n" +
		"option testSingleQuote = \"\\'something\\'\";\n" +
		"option testNewline = \"newline\\n\";\n" +
		"option testBell = \"bell\\a\";\n" +
		"option testBackspace = \"backspace\\b\";\n" +
		"option testFormFeed = \"formFeed\\f\";\n" +
		"option testCarriageReturn = \"carriageReturn\\r\";\n" +
		"option testTab = \"tab\\t\";\n" +
		"option testVerticalTab = \"verticalTab\\v\";\n\n" +
		"import \"google/protobuf/descriptor.proto\";\n\n" +
		"message TestOptionEscape {\n    option (source_ref) = \"https://someUrl.com\";\n\n    bool test_bool = 1;\n}\n"
	got, err := confluentProto(schema, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`backslash\\backslash`, `\"something\"`, `\'something\'`, `newline\n`, `bell\a`, `backspace\b`,
		`formFeed\f`, `carriageReturn\r`, `tab\t`, `verticalTab\v`, `https://someUrl.com`} {
		if !strings.Contains(got, want) {
			t.Errorf("canonical string lacks %s:\n%s", want, got)
		}
	}
}
