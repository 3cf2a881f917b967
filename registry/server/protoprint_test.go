package server

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// comparable is a descriptor without what printing does not keep: source
// positions and json_name where it is protoc's default.
func comparableFD(fd *descriptorpb.FileDescriptorProto) *descriptorpb.FileDescriptorProto {
	fd = proto.Clone(fd).(*descriptorpb.FileDescriptorProto)
	fd.SourceCodeInfo = nil
	var fields func(m *descriptorpb.DescriptorProto)
	clearJSON := func(fs []*descriptorpb.FieldDescriptorProto) {
		for _, f := range fs {
			if f.GetJsonName() == jsonCamel(f.GetName()) {
				f.JsonName = nil
			}
		}
	}
	fields = func(m *descriptorpb.DescriptorProto) {
		clearJSON(m.GetField())
		clearJSON(m.GetExtension())
		for _, n := range m.GetNestedType() {
			fields(n)
		}
	}
	for _, m := range fd.GetMessageType() {
		fields(m)
	}
	clearJSON(fd.GetExtension())
	return fd
}

func compileFD(t *testing.T, name, text string, deps map[string]string) *descriptorpb.FileDescriptorProto {
	t.Helper()
	c, err := protobuf.Compile(name, []byte(text), protobuf.Options{Sources: deps})
	if err != nil {
		t.Fatalf("compiling %s: %v\n%s", name, err, text)
	}
	return protodesc.ToFileDescriptorProto(c.File)
}

// roundTrip prints a compiled file and compiles the print: both
// descriptors must be equal.
func roundTrip(t *testing.T, name, text string, deps map[string]string) string {
	t.Helper()
	fd := compileFD(t, name, text, deps)
	b, _ := proto.Marshal(fd)
	printed, ok, err := serializedProto(base64.StdEncoding.EncodeToString(b))
	if !ok || err != nil {
		t.Fatalf("%s: printing: ok=%v %v", name, ok, err)
	}
	again := compileFD(t, name, printed, deps)
	if !proto.Equal(comparableFD(fd), comparableFD(again)) {
		t.Fatalf("%s: the printed schema is another schema\n%s\nwant %v\n got %v", name, printed, comparableFD(fd), comparableFD(again))
	}
	return printed
}

// TestPrintProtoRoundTrip: a schema serialized as a FileDescriptorProto
// and printed back as .proto text compiles to the same descriptor, for
// every construct of proto2 and proto3.
func TestPrintProtoRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, text string }{
		{"proto3", `syntax = "proto3";
package shop.v1;
option java_package = "com.shop";
option go_package = "example.com/shop";
option optimize_for = SPEED;
import "google/protobuf/timestamp.proto";
message Order {
  option deprecated = true;
  string id = 1;
  repeated int64 quantities = 2 [packed = false];
  map<string, Line> lines = 3;
  google.protobuf.Timestamp at = 4;
  optional string coupon = 5;
  oneof payment { string card = 6; bytes token = 7 [deprecated = true]; }
  Status status = 8;
  string weird_name = 9 [json_name = "WeIrD"];
  message Line { string sku = 1; double price = 2; map<int32, Status> by = 3; }
  enum Status { option allow_alias = true; NEW = 0; OPEN = 0; PAID = 1 [deprecated = true]; reserved 5 to 9, 20; reserved "OLD"; }
  reserved 10, 12 to 14, 100 to max;
  reserved "gone", "old";
}
enum Top { TOP_UNKNOWN = 0; TOP_A = 1; }
service Orders {
  rpc Get (Order) returns (Order);
  rpc Watch (stream Order) returns (stream Order) { option deprecated = true; }
}
`},
		{"proto2", `syntax = "proto2";
package legacy;
message Thing {
  required int32 id = 1;
  optional string name = 2 [default = "a \"quoted\"\n name\001"];
  optional double ratio = 3 [default = -inf];
  optional Kind kind = 4 [default = B];
  optional bytes blob = 5 [default = "\000\377x"];
  repeated group Item = 6 { optional string label = 1; }
  extensions 100 to 199, 1000 to max;
  enum Kind { A = 1; B = 2; }
}
extend Thing { optional string note = 100; repeated int32 marks = 101; }
message Holder {
  extend Thing { optional Holder holder = 150; }
}
`},
		{"nested and empty", `syntax = "proto3";
message A { message B { message C { enum E { Z = 0; } E e = 1; } } B.C c = 1; }
message Empty {}
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			roundTrip(t, c.name+".proto", c.text, nil)
		})
	}
}

// TestPrintProtoConfluentFiles: Confluent's Protobuf test schemas that
// compile alone print back to the same descriptor.
func TestPrintProtoConfluentFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(conformanceRoot("..", "..", "..", "shared", "conformance"), "confluentinc-schema-registry",
		"protobuf-provider/src/test/resources/io/confluent/kafka/schemaregistry/protobuf/diff")
	files, _ := filepath.Glob(filepath.Join(dir, "*.proto"))
	if len(files) == 0 {
		if os.Getenv("SCHEMAFLOW_REQUIRE_CONFORMANCE") != "" {
			t.Fatalf("conformance vectors missing in %s", dir)
		}
		t.Skip("conformance vectors not found: put them beside the project (../shared/conformance) or set SCHEMAFLOW_CONFORMANCE_DIR")
	}
	sources := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources[filepath.Base(f)] = string(b)
	}
	printed := 0
	for name, text := range sources {
		if _, err := protobuf.Compile(name, []byte(text), protobuf.Options{Sources: sources}); err != nil {
			t.Logf("%s does not compile here (%v); skipped", name, strings.SplitN(err.Error(), "\n", 2)[0])
			continue
		}
		roundTrip(t, name, text, sources)
		printed++
	}
	t.Logf("%d of %d files printed back to the same descriptor", printed, len(sources))
	if printed == 0 {
		t.Fatal("no file compiled")
	}
}

// TestSerializedProtoRefused: what is not a usable descriptor gets a clear
// error naming the problem; .proto text is left alone.
func TestSerializedProtoRefused(t *testing.T) {
	t.Parallel()
	withCustom := &descriptorpb.FileDescriptorProto{Name: proto.String("x.proto"), Syntax: proto.String("proto3"), Options: &descriptorpb.FileOptions{}}
	withCustom.Options.ProtoReflect().SetUnknown([]byte{0xa2, 0x06, 0x01, 'x'}) // field 52 (an extension), a string
	custom, _ := proto.Marshal(withCustom)
	editions, _ := proto.Marshal(&descriptorpb.FileDescriptorProto{Name: proto.String("e.proto"), Syntax: proto.String("editions")})
	for _, tc := range []struct {
		name, text string
		ok         bool
		err        string
	}{
		{"proto text", `syntax = "proto3"; message A {}`, false, ""},
		{"not a descriptor", base64.StdEncoding.EncodeToString([]byte{0xff, 0xff, 0xff}), true, "not a FileDescriptorProto"},
		{"custom options", base64.StdEncoding.EncodeToString(custom), true, "custom options"},
		{"editions", base64.StdEncoding.EncodeToString(editions), true, `syntax "editions"`},
	} {
		_, ok, err := serializedProto(tc.text)
		if ok != tc.ok || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: ok=%v err=%v, want ok=%v err containing %q", tc.name, ok, err, tc.ok, tc.err)
		}
	}
}

// conformanceRoot is SCHEMAFLOW_CONFORMANCE_DIR, or the default path of the
// shared conformance vectors beside the project.
func conformanceRoot(def ...string) string {
	if dir := os.Getenv("SCHEMAFLOW_CONFORMANCE_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(def...)
}

// FuzzSerializedProto: any input gives text, an error or "not base64",
// never a panic.
func FuzzSerializedProto(f *testing.F) {
	fd, _ := proto.Marshal(&descriptorpb.FileDescriptorProto{Name: proto.String("a.proto"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("A"), Field: []*descriptorpb.FieldDescriptorProto{{Name: proto.String("x"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()}}}}})
	f.Add(base64.StdEncoding.EncodeToString(fd))
	f.Add(`syntax = "proto3";`)
	f.Fuzz(func(t *testing.T, text string) {
		_, _, _ = serializedProto(text)
	})
}
