package avro_test

import (
	"bytes"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/schemaflow/schemaflow/schemas/avro"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

// sameDecode decodes data with the compiled decoder (Decode and
// AppendDecode behind a prefix) and the reference tree walk, and fails
// unless they give the same document or the same error.
func sameDecode(t testing.TB, c *avro.Codec, data []byte) {
	t.Helper()
	got, gotErr := c.Decode(data)
	want, wantErr := avro.RefDecode(c, data)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("data %x:\n error %v\n want %v", data, gotErr, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("data %x:\n got  %x\n want %x", data, []byte(got), []byte(want))
	}
	if depth, bounded := c.MaxNesting(); gotErr == nil && bounded && depth <= rawbson.MaxDepth {
		// What the sink then writes without validating (decode.Value.Checked).
		if err := rawbson.Validate(got); err != nil {
			t.Fatalf("data %x: decoded document is not well-formed: %v", data, err)
		}
	}
	prefix := []byte("prefix")
	appended, err := c.AppendDecode(prefix, data)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("AppendDecode of %x: error %v, want %v", data, err, wantErr)
	}
	if err == nil && (!bytes.Equal(appended[:len(prefix)], prefix) || !bytes.Equal(appended[len(prefix):], want)) {
		t.Fatalf("AppendDecode of %x:\n got  %x\n want prefix then %x", data, appended, []byte(want))
	}
}

// mutations are the bytes of bin cut short at every length and with each
// byte replaced by a few others: good and bad input for every type.
func mutations(bin []byte) [][]byte {
	var out [][]byte
	for i := range len(bin) + 1 {
		out = append(out, bin[:i])
	}
	for i := range bin {
		for _, v := range []byte{0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xff, bin[i] ^ 0x01, bin[i] + 2} {
			m := bytes.Clone(bin)
			m[i] = v
			out = append(out, m)
		}
	}
	return append(out, append(bytes.Clone(bin), 0))
}

// TestDecodeMatchesReference decodes the round-trip documents of every
// BSON type, the benchmark orders and the every-type schema's values, each
// cut short and with every byte altered, with the compiled decoder and
// the reference: documents and errors must be the same.
func TestDecodeMatchesReference(t *testing.T) {
	docs := readDocs(t, "roundtrip/alltypes.jsonl")
	raws := make([]bson.Raw, len(docs))
	for i, d := range docs {
		raws[i] = d.raw
	}
	for _, tc := range []struct {
		name string
		docs []bson.Raw
	}{
		{"alltypes", raws},
		{"orders", []bson.Raw{orderDoc(0), orderDoc(3)}},
		{"decimals", decimalDocs(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCodec(t, inferAvro(t, tc.docs...))
			for _, d := range tc.docs {
				bin, err := c.Encode(nil, d)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Decode(bin); err != nil {
					t.Fatalf("%s: %v", d, err)
				}
				for _, m := range mutations(bin) {
					sameDecode(t, c, m)
				}
			}
		})
	}
	t.Run("everyType", func(t *testing.T) {
		c := mustCodec(t, []byte(everyType))
		for _, data := range everyTypeValues() {
			for _, m := range mutations(data) {
				sameDecode(t, c, m)
			}
		}
	})
}

// decimalDocs hold Decimal128 values of every form the parser's fast path
// takes and leaves to the driver: signs, zeros, leading and trailing
// zeros, 19 and 20 digits, exponents, NaN and infinities.
func decimalDocs(t testing.TB) []bson.Raw {
	var out []bson.Raw
	for _, s := range []string{"19.99", "-19.99", "0", "-0", "0.00", "-0.050", "007.50", "1", "9999999999999999999",
		"99999999999999999999", "-1234567890.123456789", "12345678901234567890.5", "1E+3", "1.5E-7", "-1.000000000000000000000000000000001E-6143",
		"NaN", "-Infinity", "Infinity", "1234567890123456789012345678901234", ".5"} {
		d, err := primitive.ParseDecimal128(s)
		if err != nil {
			continue // not every string above is a Decimal128: fine
		}
		raw, err := bson.Marshal(bson.D{{Key: "d", Value: d}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

// everyTypeValues are Avro binary values of the everyType schema (fuzz
// seeds): an empty-ish record and one with each field set.
func everyTypeValues() [][]byte {
	return [][]byte{
		// n, b=1, i=-1, l=2, f, d, by="ab", s="hé", e=1, fx, m={"k": 3}, a=[], u="x", ts, uuid, dec, decf
		append(append([]byte{1, 1, 4},
			0, 0, 0x80, 0x3f, // float 1.0
			0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // double 1.0
			4, 'a', 'b', 6, 'h', 0xc3, 0xa9, 2, 'x', 'y', 'z',
			2, 2, 'k', 2, 6, 0, // map: one entry k -> long 3
			0, 2, 2, 'x', 0x90, 0x4e), // array empty, union string "x", ts 5000
			append(append([]byte{72}, []byte("123e4567-e89b-12d3-a456-426614174000")...), 4, 0x01, 0x2c, 0, 0, 0, 0, 0, 0, 0x30, 0x39)...),
		{},
	}
}

// FuzzDecodeMatchesReference: the compiled decoder and the reference give
// the same document or error on any bytes, for the every-type schema and
// one inferred from documents of every BSON type.
func FuzzDecodeMatchesReference(f *testing.F) {
	docs := readDocs(f, "roundtrip/alltypes.jsonl")
	raws := make([]bson.Raw, len(docs))
	for i, d := range docs {
		raws[i] = d.raw
	}
	inferred := mustCodec(f, inferAvro(f, raws...))
	every := mustCodec(f, []byte(everyType))
	for _, d := range raws {
		bin, err := inferred.Encode(nil, d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(false, bin)
	}
	for _, v := range everyTypeValues() {
		f.Add(true, v)
	}
	f.Fuzz(func(t *testing.T, useEvery bool, data []byte) {
		c := inferred
		if useEvery {
			c = every
		}
		sameDecode(t, c, data)
	})
}

// FuzzParseDecimal128 holds the decoder's Decimal128 parsing to the
// driver's on any string, through a document of one Decimal128 helper.
func FuzzParseDecimal128(f *testing.F) {
	c := mustCodec(f, inferAvro(f, decimalDocs(f)...))
	for _, s := range []string{"19.99", "-0", "1.", ".5", "-.5", "+1", "1e5", "00", "1..2", "9999999999999999999", "-99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 100 {
			return
		}
		// The helper's value: a string, its length as a zig-zag varint.
		data := appendAvroString(nil, s)
		sameDecode(t, c, data)
	})
}

// appendAvroString appends s as an Avro string.
func appendAvroString(dst []byte, s string) []byte {
	n := uint64(len(s)) << 1
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(append(dst, byte(n)), s...)
}

// TestMaxNesting: how deeply a schema lets decoded documents nest, and
// which schemas leave it unbounded.
func TestMaxNesting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		schema  string
		depth   int
		bounded bool
	}{
		{"flat", `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"s","type":"string"}]}`, 0, true},
		{"nested record", `{"type":"record","name":"R","fields":[{"name":"c","type":{"type":"record","name":"C","fields":[{"name":"x","type":"long"}]}}]}`, 1, true},
		{"array of records", `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"x","type":"long"}]}}}]}`, 2, true},
		{"map of arrays", `{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":{"type":"array","items":"long"}}}]}`, 2, true},
		{"union branch", `{"type":"record","name":"R","fields":[{"name":"u","type":["null","long",{"type":"array","items":{"type":"array","items":"long"}}]}]}`, 2, true},
		{"recursive", `{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"]}]}`, 0, false},
		{"every type", everyType, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			depth, bounded := mustCodec(t, []byte(tc.schema)).MaxNesting()
			if depth != tc.depth || bounded != tc.bounded {
				t.Fatalf("MaxNesting() = %d, %v; want %d, %v", depth, bounded, tc.depth, tc.bounded)
			}
		})
	}
	// Nesting past rawbson.MaxDepth is bounded, and counted.
	deep := `"long"`
	for i := range rawbson.MaxDepth + 2 {
		deep = fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"f","type":%s}]}`, i, deep)
	}
	if depth, bounded := mustCodec(t, []byte(deep)).MaxNesting(); depth != rawbson.MaxDepth+1 || !bounded {
		t.Fatalf("%d records in records: MaxNesting() = %d, %v; want %d, true", rawbson.MaxDepth+2, depth, bounded, rawbson.MaxDepth+1)
	}
	// A code-with-scope helper's scope is a document the schema does not
	// describe: unbounded.
	cws, err := bson.Marshal(bson.D{{Key: "f", Value: primitive.CodeWithScope{Code: "x", Scope: bson.D{{Key: "a", Value: int32(1)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, bounded := mustCodec(t, inferAvro(t, cws)).MaxNesting(); bounded {
		t.Fatal("a code-with-scope schema is bounded")
	}
}
