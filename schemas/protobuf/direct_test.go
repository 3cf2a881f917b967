package protobuf_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

// The direct codec is held to the dynamicpb codec it replaced (the oracle,
// oracle_test.go): the same bytes for every document, the same error where
// the oracle rejects one; the same document for every wire input, or an
// error for both.

// errText is an error's message with the protobuf runtime's randomised
// prefix spacing (U+00A0 in some builds) made plain.
func errText(err error) string {
	return strings.ReplaceAll(err.Error(), "\u00a0", " ")
}

// sameEncode fails unless c encodes doc to the oracle's bytes, or fails
// with the oracle's error.
func sameEncode(t testing.TB, c *protobuf.Codec, doc bson.Raw, what string) []byte {
	t.Helper()
	got, gerr := c.Encode(nil, doc)
	want, werr := protobuf.OracleEncode(c, nil, doc)
	var panicked *protobuf.OraclePanic
	if errors.As(werr, &panicked) {
		t.Fatalf("%s: the oracle panicked on a document: %v\ndoc: %x", what, werr, []byte(doc))
	}
	switch {
	case werr != nil && gerr == nil:
		t.Fatalf("%s: oracle rejects (%v), direct encodes %x\ndoc: %s", what, werr, got, docText(doc))
	case werr == nil && gerr != nil:
		t.Fatalf("%s: direct rejects (%v), oracle encodes %x\ndoc: %s", what, gerr, want, docText(doc))
	case werr != nil:
		var de *protobuf.DataError
		if !errors.As(gerr, &de) {
			t.Fatalf("%s: error %T is not a *DataError: %v", what, gerr, gerr)
		}
		if errText(gerr) != errText(werr) {
			t.Fatalf("%s: errors differ\ndirect: %v\noracle: %v\ndoc: %s", what, gerr, werr, docText(doc))
		}
		return nil
	case !bytes.Equal(got, want):
		t.Fatalf("%s: bytes differ\ndirect: %x\noracle: %x\ndoc: %s", what, got, want, docText(doc))
	}
	return got
}

// sameDecode fails unless c decodes data to the oracle's document, or
// both fail.
// Where the oracle panics (bsoncore refuses a map key holding NUL), the
// direct codec must fail.
func sameDecode(t testing.TB, c *protobuf.Codec, data []byte, what string) {
	t.Helper()
	got, gerr := c.Decode(data)
	want, werr := protobuf.OracleDecode(c, data)
	var panicked *protobuf.OraclePanic
	if errors.As(werr, &panicked) {
		if gerr == nil {
			t.Fatalf("%s: oracle panicked (%v), direct did not fail: %x", what, werr, data)
		}
		return
	}
	switch {
	case werr != nil && gerr == nil:
		t.Fatalf("%s: oracle rejects (%v), direct decodes %s\nwire: %x", what, werr, docText(got), data)
	case werr == nil && gerr != nil:
		t.Fatalf("%s: direct rejects (%v), oracle decodes %s\nwire: %x", what, gerr, docText(want), data)
	case werr != nil:
		var de *protobuf.DataError
		if !errors.As(gerr, &de) {
			t.Fatalf("%s: error %T is not a *DataError: %v", what, gerr, gerr)
		}
	case !bytes.Equal(got, want):
		t.Fatalf("%s: documents differ\ndirect: %s\noracle: %s\nwire: %x", what, docText(got), docText(want), data)
	}
}

func docText(d bson.Raw) string {
	if err := rawbson.Validate(d); err != nil {
		return fmt.Sprintf("%x (%v)", []byte(d), err)
	}
	b, err := extjson.Canonical(d)
	if err != nil {
		return fmt.Sprintf("%x", []byte(d))
	}
	return string(b)
}

func codecs(t testing.TB, text []byte, message string) []*protobuf.Codec {
	t.Helper()
	s, err := protobuf.Compile("doc.proto", text, protobuf.Options{})
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, text)
	}
	md, err := s.Message(message)
	if err != nil {
		t.Fatal(err)
	}
	return []*protobuf.Codec{
		protobuf.NewCodec(md),
		protobuf.NewCodecWith(md, protobuf.CodecOptions{Numbers: schemas.NumbersExact}),
	}
}

// checkBoth compares encoding doc, and decoding what it encodes to and
// mutations of it.
func checkBoth(t testing.TB, c *protobuf.Codec, doc bson.Raw, what string, rng *rand.Rand) {
	t.Helper()
	bin := sameEncode(t, c, doc, what)
	if bin == nil {
		return
	}
	sameDecode(t, c, bin, what+" (decode)")
	for i := range 8 {
		sameDecode(t, c, mutate(rng, bin), fmt.Sprintf("%s (mutation %d)", what, i))
	}
}

// mutate changes wire bytes the ways that reach the decoder's corners:
// flipped bytes, cuts, a field repeated (merging, last wins), fields
// swapped out of order, garbage appended.
func mutate(rng *rand.Rand, b []byte) []byte {
	out := bytes.Clone(b)
	switch rng.IntN(6) {
	case 0:
		if len(out) > 0 {
			out[rng.IntN(len(out))] ^= byte(1 << rng.IntN(8))
		}
	case 1:
		if len(out) > 0 {
			out = out[:rng.IntN(len(out))]
		}
	case 2, 3:
		// Split into top-level fields, then repeat or shuffle them.
		var fields [][]byte
		for rest := out; len(rest) > 0; {
			num, wt, n := protowire.ConsumeTag(rest)
			if n < 0 {
				return out
			}
			m := protowire.ConsumeFieldValue(num, wt, rest[n:])
			if m < 0 {
				return out
			}
			fields = append(fields, rest[:n+m])
			rest = rest[n+m:]
		}
		if len(fields) == 0 {
			return out
		}
		if rng.IntN(2) == 0 {
			fields = append(fields, fields[rng.IntN(len(fields))])
		}
		rng.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
		return bytes.Join(fields, nil)
	case 4:
		out = protowire.AppendTag(out, protowire.Number(rng.IntN(40)+1), protowire.Type(rng.IntN(6)))
		out = append(out, byte(rng.IntN(256)), byte(rng.IntN(256)))
	case 5:
		if len(out) > 1 {
			i := rng.IntN(len(out) - 1)
			out = append(out[:i], out[i+1:]...)
		}
	}
	return out
}

func parseDoc(t testing.TB, s string) bson.Raw {
	t.Helper()
	r, err := extjson.Parse([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return r
}

// TestDirectMatchesOracleOnVectors runs every document of the round-trip
// vectors and the inferred goldens through both codecs: with the schema
// inferred from each document alone, from all of them, and each golden
// .proto with its documents.
func TestDirectMatchesOracleOnVectors(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	docs := readDocs(t, "roundtrip/alltypes.jsonl")
	var raws []bson.Raw
	for _, d := range docs {
		raws = append(raws, d.raw)
		for _, c := range codecs(t, inferProto(t, d.raw), "") {
			checkBoth(t, c, d.raw, fmt.Sprintf("alltypes line %d, own schema", d.line), rng)
		}
	}
	merged := codecs(t, inferProto(t, raws...), "")
	for _, d := range docs {
		for _, c := range merged {
			checkBoth(t, c, d.raw, fmt.Sprintf("alltypes line %d, merged schema", d.line), rng)
		}
	}
	protos, err := filepath.Glob("../../testdata/infer/*.proto")
	if err != nil || len(protos) == 0 {
		t.Fatalf("no golden .proto files: %v", err)
	}
	n := 0
	for _, pf := range protos {
		jsonl := strings.TrimSuffix(strings.TrimSuffix(pf, ".proto"), ".key") + ".jsonl"
		if _, err := os.Stat(jsonl); err != nil {
			continue
		}
		text, err := os.ReadFile(pf)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range readDocs(t, filepath.Join("infer", filepath.Base(jsonl))) {
			for _, c := range codecs(t, text, "") {
				checkBoth(t, c, d.raw, fmt.Sprintf("%s line %d", filepath.Base(pf), d.line), rng)
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no golden documents compared")
	}
}

// handwritten covers what inferred schemas do not: proto2 presence,
// defaults and required fields, groups, maps of every key kind, packed and
// unpacked lists, real oneofs, enums with aliases, wrappers and the
// well-known types, out-of-order field numbers.
const handwritten = `syntax = "proto3";
package hw;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";

message Doc {
  int32 i32 = 5;
  sint32 s32 = 1;
  sfixed32 sf32 = 2;
  uint32 u32 = 3;
  fixed32 f32 = 4;
  int64 i64 = 6;
  sint64 s64 = 7;
  sfixed64 sf64 = 8;
  uint64 u64 = 9;
  fixed64 f64 = 10;
  float fl = 11;
  double db = 12;
  bool b = 13;
  string s = 14;
  bytes by = 15;
  Color color = 16;
  google.protobuf.NullValue nul = 17;
  optional int32 oi = 18;
  repeated int32 packed = 19;
  repeated int64 unpacked = 20 [packed = false];
  repeated string strs = 21;
  repeated Sub subs = 22;
  map<string, int32> msi = 23;
  map<int32, Sub> mis = 24;
  map<bool, string> mbs = 25;
  map<uint64, double> mud = 26;
  map<sint64, Color> msc = 27;
  map<fixed32, bytes> mfb = 28;
  oneof pick {
    string pick_s = 30;
    Sub pick_sub = 31;
    int64 pick_i = 32;
  }
  oneof other {
    bool other_b = 29;
  }
  google.protobuf.Timestamp at = 33;
  google.protobuf.Int64Value wi = 34;
  google.protobuf.StringValue ws = 35;
  google.protobuf.DoubleValue wd = 36;
  Sub sub = 37;
  repeated Color colors = 38;
  repeated float fls = 39;
  map<string, Sub> mss = 40;
  message Sub {
    string name = 2;
    int32 n = 1;
    Sub child = 3;
    repeated double xs = 4;
  }
}

enum Color {
  option allow_alias = true;
  COLOR_UNSPECIFIED = 0;
  RED = 1;
  CRIMSON = 1;
  BLUE = 2;
  NEG = -3;
}
`

const handwritten2 = `syntax = "proto2";
package hw2;

message Doc {
  required int32 id = 1;
  optional string name = 2 [default = "anon"];
  optional int32 n = 3 [default = 7];
  optional Kind kind = 4 [default = B];
  repeated int32 xs = 5 [packed = true];
  repeated int32 ys = 6;
  optional group G = 7 { optional int32 a = 8; required string r = 9; }
  optional Req req = 10;
  repeated Req reqs = 11;
  map<string, Req> rmap = 12;
  optional bytes data = 13 [default = "x\001"];
  enum Kind { A = 0; B = 1; C = 5; }
  message Req { required int32 must = 1; optional int32 may = 2; }
}
`

// handwritten4 is a proto2 file whose helper and wrapper shapes have
// required fields, which a zero value leaves unset.
const handwritten4 = `syntax = "proto2";
package hw4;

message Doc {
  optional BsonBinary bin = 1;
  optional Tags_List tags = 2;
  optional BsonTimestamp ts = 3;
  message Tags_List { repeated int32 values = 1; }
}
message BsonBinary { required uint32 subtype = 1; required bytes data = 2; }
message BsonTimestamp { optional uint32 t = 1; required uint32 i = 2; }
`

// handwritten3 gives one BSON name to two fields: a repeated field and the
// oneof that carries its other kinds.
const handwritten3 = `syntax = "proto3";
package hw3;

message Doc {
  repeated int32 tags = 1;
  oneof tags__more {
    string tags__more_string = 2;
    int64 tags__more_int64 = 3;
  }
}
`

func TestDirectMatchesOracleHandwritten(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		schema string
		docs   []string
	}{
		{handwritten, []string{
			`{}`,
			`{"i32": 0, "s32": 0, "s": "", "b": false, "by": {"$binary": {"base64": "", "subType": "00"}}}`,
			`{"i32": -1, "s32": -2147483648, "sf32": -5, "u32": {"$numberLong": "4294967295"}, "f32": 7, "i64": {"$numberLong": "-9223372036854775808"}}`,
			`{"s64": {"$numberLong": "-3"}, "sf64": {"$numberLong": "-1"}, "u64": {"$numberLong": "9223372036854775807"}, "f64": 1, "fl": 1.5, "db": {"$numberDouble": "-0.0"}}`,
			`{"fl": {"$numberDouble": "NaN"}, "db": {"$numberDouble": "Infinity"}, "b": true, "s": "h\u00e9", "by": {"$binary": {"base64": "AAE=", "subType": "00"}}}`,
			`{"color": "RED"}`, `{"color": "CRIMSON"}`, `{"color": 2}`, `{"color": -3}`, `{"color": "NEG"}`, `{"color": 9}`, `{"color": "PINK"}`,
			`{"nul": null}`, `{"oi": 0}`, `{"oi": 5, "i32": 3}`,
			`{"packed": [1, -1, 300, 0], "unpacked": [{"$numberLong": "5"}, 0], "strs": ["a", "", "b"]}`,
			`{"packed": [], "unpacked": [], "strs": []}`,
			`{"subs": [{"name": "x", "n": 1}, {}, {"child": {"xs": [1.5, 2]}}]}`,
			`{"subs": [{"name": "x", "zz": 1}]}`, `{"subs": [{"name": 5}]}`, `{"subs": [1]}`,
			`{"msi": {"b": 2, "a": 1, "c": 0}}`, `{"msi": {}}`, `{"msi": {"a": "x"}}`,
			`{"mis": {"10": {"n": 1}, "9": {"n": 2}, "-1": {}, "+4": {"name": "p"}}}`, `{"mis": {"x": {}}}`,
			`{"mis": {"1": {"n": 1}, "01": {"n": 2}}}`, `{"mis": {"3000000000": {}}}`,
			`{"mbs": {"true": "t", "false": "f"}}`, `{"mbs": {"yes": "t"}}`, `{"mbs": {"1": "t", "0": ""}}`,
			`{"mud": {"18446744073709551615": 1.5, "0": 0, "7": -1}}`, `{"mud": {"-1": 1}}`,
			`{"msc": {"-5": "BLUE", "5": 1, "0": "RED"}}`, `{"mfb": {"4294967295": {"$binary": {"base64": "AQ==", "subType": "00"}}, "2": {"$binary": {"base64": "", "subType": "00"}}}}`,
			`{"pick_s": "x"}`, `{"pick_s": ""}`, `{"pick_sub": {"n": 3}}`, `{"pick_i": {"$numberLong": "0"}}`, `{"pick_s": "a", "pick_i": 1}`,
			`{"other_b": false, "pick_i": 2, "i32": 1}`,
			`{"at": {"$date": {"$numberLong": "-1500"}}}`, `{"at": {"$date": {"$numberLong": "0"}}}`, `{"at": {"$date": "2023-11-14T22:13:20.123Z"}}`,
			`{"wi": {"$numberLong": "0"}, "ws": "", "wd": 2.5}`, `{"wi": 5, "ws": "x", "wd": 0}`, `{"wi": "x"}`,
			`{"sub": {"n": 1, "name": "a", "child": {"n": 2, "child": {}}}}`, `{"sub": {}}`, `{"sub": {"child": {"x": 1}}}`,
			`{"colors": ["RED", 2, "NEG", 0], "fls": [1.5, {"$numberDouble": "-0.0"}, 3]}`, `{"fls": [0.1]}`,
			`{"mss": {"k": {"n": 1}, "a": {}}}`,
			`{"i32": 1, "i32": 2}`, `{"i32": 0, "i32": 2}`, `{"packed": [], "packed": [1]}`, `{"packed": [1], "packed": [1]}`, `{"sub": {}, "sub": {}}`,
			`{"msi": {}, "msi": {"a": 1}}`, `{"oi": 0, "oi": 1}`,
			`{"sub": {"n": 1}, "sub": {"zz": 1}}`, `{"packed": [1], "packed": ["x"]}`, `{"sub": {"n": 1}, "sub": 5}`,
			`{"i32": 1.5}`, `{"i32": {"$numberLong": "5000000000"}}`, `{"u32": -1}`, `{"u64": -1}`, `{"fl": 0.1}`, `{"fl": 16777217}`, `{"db": {"$numberLong": "9007199254740993"}}`,
			`{"s": 1}`, `{"by": {"$binary": {"base64": "AQ==", "subType": "04"}}}`, `{"zz": 1}`,
			`{"sub": {"n": 1, "child": {"name": 2}}, "s": 3}`,
		}},
		{handwritten2, []string{
			`{"id": 1}`, `{}`, `{"id": 0, "name": "", "n": 0, "kind": "A"}`,
			`{"id": 1, "xs": [1, 2], "ys": [3, 4]}`,
			`{"id": 1, "g": {"a": 1, "r": "x"}}`, `{"id": 1, "g": {"a": 1}}`,
			`{"id": 1, "req": {"must": 0}}`, `{"id": 1, "req": {"may": 1}}`, `{"req": {"may": 1}}`,
			`{"id": 1, "reqs": [{"must": 1}, {"may": 2}]}`, `{"id": 1, "rmap": {"a": {"may": 1}}}`, `{"id": 1, "rmap": {"a": {"must": 1}}}`,
			`{"id": 1, "data": {"$binary": {"base64": "", "subType": "00"}}}`,
		}},
		{handwritten4, []string{
			`{"bin": {"$binary": {"base64": "AQ==", "subType": "80"}}}`, `{"bin": {"$binary": {"base64": "AQ==", "subType": "00"}}}`,
			`{"bin": {"$binary": {"base64": "", "subType": "04"}}}`, `{"tags": [1]}`, `{"tags": []}`,
			`{"ts": {"$timestamp": {"t": 1, "i": 0}}}`, `{"ts": {"$timestamp": {"t": 0, "i": 2}}}`,
		}},
		{handwritten3, []string{
			`{"tags": [1, 2]}`, `{"tags": "x"}`, `{"tags": {"$numberLong": "5"}}`, `{"tags": 5}`, `{"tags": []}`,
			`{"tags": true}`, `{"tags": [1, "x"]}`, `{"tags": [], "tags": "x"}`,
		}},
	}
	for _, tt := range tests {
		for _, c := range codecs(t, []byte(tt.schema), "") {
			for _, d := range tt.docs {
				checkBoth(t, c, parseDoc(t, d), d, rng)
			}
		}
	}
}

// TestDirectDecodeWireCorners feeds hand-made wire bytes: repeated and
// merged fields, packed and unpacked lists, oneof switches, unknown
// fields in messages that keep and that drop them, map entries without a
// key or a value, and bytes that do not parse.
func TestDirectDecodeWireCorners(t *testing.T) {
	t.Parallel()
	c := codecs(t, []byte(handwritten), "")[0]
	c2 := codecs(t, []byte(handwritten2), "")[0]
	c3 := codecs(t, []byte(handwritten3), "")[0]
	tag := func(b []byte, num int, wt protowire.Type) []byte {
		return protowire.AppendTag(b, protowire.Number(num), wt)
	}
	msg := func(num int, body []byte) []byte {
		return protowire.AppendBytes(tag(nil, num, protowire.BytesType), body)
	}
	varint := func(num int, v uint64) []byte { return protowire.AppendVarint(tag(nil, num, protowire.VarintType), v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		c    *protobuf.Codec
		wire []byte
	}{
		{"empty", c, nil},
		{"scalar twice, last wins", c, cat(varint(5, 1), varint(5, 2))},
		{"zero after non-zero drops the field", c, cat(varint(5, 1), varint(5, 0))},
		{"int32 from a 64-bit varint", c, varint(5, 1<<32|7)},
		{"sint32 high bits", c, varint(1, 1<<32)},
		{"bool from a large varint", c, varint(13, 1<<40)},
		{"enum unknown number", c, varint(16, 77)},
		{"enum alias number", c, varint(16, 1)},
		{"null value of any number", c, varint(17, 5)},
		{"message merged", c, cat(msg(37, varint(1, 5)), msg(37, msg(2, []byte("n"))))},
		{"packed and unpacked mixed", c, cat(msg(19, []byte{1, 2, 3}), varint(19, 4), msg(19, nil))},
		{"only an empty packed run", c, msg(19, nil)},
		{"unpacked field sent packed", c, msg(20, []byte{5, 6})},
		{"oneof switch", c, cat(varint(32, 1), msg(30, []byte("s")))},
		{"oneof message then scalar", c, cat(msg(31, varint(1, 2)), varint(32, 3))},
		{"oneof cleared message malformed", c, cat(msg(31, []byte{0x08}), varint(32, 3))},
		{"oneof message merged", c, cat(msg(31, varint(1, 2)), msg(31, msg(2, []byte("x"))))},
		{"message merged from halves of a varint", c, cat(msg(37, []byte{0x08}), msg(37, []byte{0x01}))},
		{"oneof message merged from halves of a varint", c, cat(msg(31, []byte{0x08}), msg(31, []byte{0x01}))},
		{"map value merged from halves of a varint", c, msg(40, cat(msg(1, []byte("k")), msg(2, []byte{0x08}), msg(2, []byte{0x01})))},
		{"map duplicate key hides a bad value", c, cat(msg(40, cat(msg(1, []byte("k")), msg(2, []byte{0x08}))), msg(40, cat(msg(1, []byte("k")), msg(2, nil))))},
		{"map duplicate key hides unknown fields", c, cat(msg(40, cat(msg(1, []byte("k")), msg(2, varint(9, 1)))), msg(40, cat(msg(1, []byte("k")), msg(2, nil))))},
		{"oneof message back after switch", c, cat(msg(31, varint(1, 2)), varint(32, 3), msg(31, msg(2, []byte("x"))))},
		{"unknown field", c, varint(99, 1)},
		{"unknown in sub", c, msg(37, varint(99, 1))},
		{"wrong wire type is unknown", c, msg(5, []byte("x"))},
		{"unknown in timestamp is dropped", c, msg(33, cat(varint(1, 10), varint(9, 1)))},
		{"unknown in wrapper is dropped", c, msg(34, cat(varint(1, 10), varint(9, 1)))},
		{"timestamp out of range", c, msg(33, varint(1, 1<<62))},
		{"timestamp negative nanos", c, msg(33, varint(2, uint64(1<<64-1)))},
		{"wrapper empty", c, msg(35, nil)},
		{"map entry without key", c, msg(23, varint(2, 5))},
		{"map entry without value", c, msg(24, varint(1, 5))},
		{"map entry empty", c, msg(40, nil)},
		{"map entry extra field", c, msg(23, cat(msg(1, []byte("k")), varint(2, 1), varint(3, 1)))},
		{"map duplicate keys", c, cat(msg(23, cat(msg(1, []byte("k")), varint(2, 1))), msg(23, cat(msg(1, []byte("k")), varint(2, 2))))},
		{"map int keys sort as text", c, cat(msg(24, varint(1, 10)), msg(24, varint(1, 9)), msg(24, varint(1, uint64(1<<64-1))))},
		{"map key with NUL", c, msg(23, cat(msg(1, []byte("a\x00b")), varint(2, 1)))},
		{"map entry key wrong wire type", c, msg(23, cat(varint(1, 1), varint(2, 1)))},
		{"map value message merged", c, msg(40, cat(msg(1, []byte("k")), msg(2, varint(1, 1)), msg(2, msg(2, []byte("n")))))},
		{"invalid UTF-8", c, msg(14, []byte{0xff})},
		{"invalid UTF-8 overwritten", c, cat(msg(14, []byte{0xff}), msg(14, []byte("ok")))},
		{"truncated varint", c, []byte{0x28, 0x80}},
		{"truncated length", c, []byte{0x72, 5, 'a'}},
		{"field number zero", c, []byte{0x00, 1}},
		{"end group at top", c, []byte{0x0c}},
		{"reserved wire type", c, []byte{0x0e}},
		{"packed truncated", c, msg(19, []byte{0x80})},
		{"deep nesting", c, nest(200)},
		{"uint64 above int64", c, varint(9, 1<<63+5)},
		{"one BSON name set by two fields", c3, cat(msg(1, []byte{1, 2}), msg(2, []byte("x")))},
		{"one BSON name, one field set", c3, cat(msg(1, nil), msg(2, []byte("x")))},
		{"proto2 defaults", c2, varint(1, 1)},
		{"proto2 required missing", c2, varint(3, 1)},
		{"proto2 group", c2, cat(varint(1, 1), tag(nil, 7, protowire.StartGroupType), msg(9, []byte("r")), tag(nil, 7, protowire.EndGroupType))},
		{"proto2 group missing required", c2, cat(varint(1, 1), tag(nil, 7, protowire.StartGroupType), varint(8, 1), tag(nil, 7, protowire.EndGroupType))},
		{"proto2 group wrong end", c2, cat(varint(1, 1), tag(nil, 7, protowire.StartGroupType), tag(nil, 8, protowire.EndGroupType))},
		{"proto2 map value missing required", c2, cat(varint(1, 1), msg(12, msg(1, []byte("k"))))},
		{"proto2 required merged across occurrences", c2, cat(varint(1, 1), msg(10, varint(2, 1)), msg(10, varint(1, 1)))},
		{"proto2 invalid UTF-8 is kept", c2, cat(varint(1, 1), msg(2, []byte{0xff}))},
		{"proto2 enum unknown", c2, cat(varint(1, 1), varint(4, 3))},
	}
	for _, tt := range tests {
		sameDecode(t, tt.c, tt.wire, tt.name)
	}
}

// nest is wire bytes of sub messages nested n deep.
func nest(n int) []byte {
	var b []byte
	for range n {
		b = protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), b)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, 37, protowire.BytesType), b)
}

// randomValue is a BSON value of a random type, nested up to depth.
func randomValue(rng *rand.Rand, depth int) any {
	switch rng.IntN(20) {
	case 0:
		return int32(rng.IntN(200) - 100)
	case 1:
		return rng.Int64N(1<<40) - 1<<39
	case 2:
		return []float64{0, -0.5, 1e300, math.Inf(1), 2.5}[rng.IntN(5)]
	case 3:
		return []string{"", "a", "héllo", "x\x00y"}[rng.IntN(4)]
	case 4:
		return rng.IntN(2) == 0
	case 5:
		return nil
	case 6:
		return primitive.NewDateTimeFromTime(time.UnixMilli(rng.Int64N(1<<42) - 1<<41))
	case 7:
		return primitive.NewObjectIDFromTimestamp(time.Unix(rng.Int64N(1<<31), 0))
	case 8:
		d, _ := primitive.ParseDecimal128([]string{"1.5", "-0", "1E+10", "NaN"}[rng.IntN(4)])
		return d
	case 9:
		return primitive.Binary{Subtype: []byte{0, 4, 0x80}[rng.IntN(3)], Data: []byte("bin")[:rng.IntN(4)]}
	case 10:
		return primitive.Timestamp{T: rng.Uint32(), I: rng.Uint32N(3)}
	case 11:
		return primitive.Regex{Pattern: "^a", Options: []string{"", "i"}[rng.IntN(2)]}
	case 12, 13, 14:
		if depth > 0 {
			return randomDoc(rng, depth-1)
		}
		return int32(1)
	case 15, 16, 17:
		if depth > 0 {
			a := bson.A{}
			for range rng.IntN(4) {
				a = append(a, randomValue(rng, depth-1))
			}
			return a
		}
		return bson.A{}
	case 18:
		return primitive.MinKey{}
	}
	return primitive.JavaScript("f()")
}

var randomKeys = []string{"a", "b", "c", "d", "e", "f_g", "hI", "_id"}

func randomDoc(rng *rand.Rand, depth int) bson.D { return randomDocOf(rng, depth, randomKeys) }

// randomDocOf is a document of up to four distinct keys drawn from keys,
// with random values (whose documents draw from keys too).
func randomDocOf(rng *rand.Rand, depth int, keys []string) bson.D {
	d := bson.D{}
	for _, i := range rng.Perm(len(keys))[:rng.IntN(min(5, len(keys)+1))] {
		v := randomValue(rng, depth)
		if _, isDoc := v.(bson.D); isDoc {
			v = randomDocOf(rng, depth-1, keys)
		}
		d = append(d, bson.E{Key: keys[i], Value: v})
	}
	return d
}

// bsonNames are the BSON names of the fields of md and of every message
// it reaches.
func bsonNames(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool, names map[string]bool) {
	if seen[md.FullName()] {
		return
	}
	seen[md.FullName()] = true
	for i := 0; i < md.Fields().Len(); i++ {
		fd := md.Fields().Get(i)
		names[protobuf.BSONName(fd)] = true
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if fd.Message() != nil {
			bsonNames(fd.Message(), seen, names)
		}
	}
}

// TestDirectMatchesOracleRandom infers schemas from random documents and
// runs documents through both codecs: those the schema was inferred from,
// which encode, and others, which mostly do not fit (unknown keys, other
// types, keys twice).
func TestDirectMatchesOracleRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	rounds := 60
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		var docs []bson.Raw
		for range 1 + rng.IntN(6) {
			b, err := bson.Marshal(randomDoc(rng, 3))
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, b)
		}
		schema := inferProto(t, docs...)
		for _, c := range codecs(t, schema, "") {
			for i, d := range docs {
				checkBoth(t, c, d, fmt.Sprintf("round %d doc %d", round, i), rng)
			}
			for i := range 6 {
				d := randomDoc(rng, 3)
				if len(d) > 0 && rng.IntN(4) == 0 {
					d = append(d, bson.E{Key: d[0].Key, Value: randomValue(rng, 2)})
				}
				b, err := bson.Marshal(d)
				if err != nil {
					t.Fatal(err)
				}
				checkBoth(t, c, b, fmt.Sprintf("round %d stranger %d\nschema:\n%s", round, i, schema), rng)
			}
		}
	}
}

// fuzzCodecs are the codecs the fuzz targets compare: the handwritten
// schemas, and one inferred from documents of every BSON type.
func fuzzCodecs(f *testing.F) ([]*protobuf.Codec, []bson.Raw) {
	docs := readDocs(f, "roundtrip/alltypes.jsonl")
	var raws []bson.Raw
	for _, d := range docs {
		raws = append(raws, d.raw)
	}
	cs := codecs(f, inferProto(f, raws...), "")
	cs = append(cs, codecs(f, []byte(handwritten), "")...)
	cs = append(cs, codecs(f, []byte(handwritten2), "")...)
	return cs, raws
}

// FuzzDirectDecode decodes arbitrary bytes with the direct codec and the
// oracle: the same document or both an error, never a panic.
func FuzzDirectDecode(f *testing.F) {
	cs, raws := fuzzCodecs(f)
	for _, d := range raws {
		if bin, err := cs[0].Encode(nil, d); err == nil {
			f.Add(uint8(0), bin)
		}
	}
	f.Add(uint8(2), []byte{0x28, 0x01, 0x9a, 0x01, 0x03, 0x01, 0x02, 0x03})
	f.Add(uint8(4), []byte{0x08, 0x01, 0x3b, 0x4a, 0x01, 0x72, 0x3c})
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		c := cs[int(which)%len(cs)]
		sameDecode(t, c, data, "fuzz")
	})
}

// FuzzDirectEncode encodes arbitrary BSON bytes with the direct codec and
// the oracle: the same bytes or the same error, never a panic. Besides
// the bytes, seed draws a random document of the schema's field names
// (values of any type, so most do not fit), which random bytes seldom
// reach.
func FuzzDirectEncode(f *testing.F) {
	cs, raws := fuzzCodecs(f)
	keys := make([][]string, len(cs))
	for i, c := range cs {
		names := map[string]bool{}
		bsonNames(c.Message(), map[protoreflect.FullName]bool{}, names)
		for n := range names {
			keys[i] = append(keys[i], n)
		}
		slices.Sort(keys[i])
	}
	for _, d := range raws {
		f.Add(uint8(0), uint64(0), []byte(d))
	}
	for _, s := range []string{`{"i32": 1, "msi": {"b": 1, "a": 2}, "pick_s": "x", "sub": {"n": 1}}`, `{"id": 1, "g": {"r": "x"}}`} {
		f.Add(uint8(2), uint64(1), []byte(parseDoc(f, s)))
		f.Add(uint8(4), uint64(2), []byte(parseDoc(f, s)))
	}
	f.Fuzz(func(t *testing.T, which uint8, seed uint64, doc []byte) {
		i := int(which) % len(cs)
		sameEncode(t, cs[i], doc, "fuzz")
		rng := rand.New(rand.NewPCG(seed, uint64(which)))
		gen, err := bson.Marshal(randomDocOf(rng, 3, keys[i]))
		if err != nil {
			t.Fatal(err)
		}
		checkBoth(t, cs[i], gen, "fuzz (generated)", rng)
	})
}
