package avro_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/schemaflow/schemaflow/schemas/avro"
)

// orderDoc builds a realistic order: nested customer and address, an array
// of line items, tags, dates, an ObjectId and decimals. items sets its size.
func orderDoc(items int) bson.Raw {
	oid, _ := primitive.ObjectIDFromHex("64b7f0a1c2d3e4f5a6b7c8d9")
	price, _ := primitive.ParseDecimal128("19.99")
	lines := make(bson.A, items)
	for i := range lines {
		lines[i] = bson.D{
			{Key: "sku", Value: fmt.Sprintf("SKU-%06d", i)},
			{Key: "name", Value: "Stainless steel water bottle, 750 ml"},
			{Key: "qty", Value: int32(i%5 + 1)},
			{Key: "price", Value: price},
			{Key: "discount", Value: 0.05},
			{Key: "attrs", Value: bson.D{{Key: "color", Value: "blue"}, {Key: "size", Value: "L"}}},
		}
	}
	d := bson.D{
		{Key: "_id", Value: oid},
		{Key: "orderNo", Value: int64(1000042)},
		{Key: "status", Value: "shipped"},
		{Key: "createdAt", Value: primitive.NewDateTimeFromTime(time.UnixMilli(1700000000000))},
		{Key: "customer", Value: bson.D{
			{Key: "name", Value: "Ada Lovelace"},
			{Key: "email", Value: "ada@example.com"},
			{Key: "vip", Value: true},
			{Key: "address", Value: bson.D{
				{Key: "street", Value: "12 Analytical Engine Road"},
				{Key: "city", Value: "London"},
				{Key: "zip", Value: "NW1 2DB"},
				{Key: "geo", Value: bson.A{-0.1276, 51.5072}},
			}},
		}},
		{Key: "items", Value: lines},
		{Key: "tags", Value: bson.A{"gift", "express", "fragile"}},
		{Key: "total", Value: 119.94},
		{Key: "notes", Value: strings.Repeat("Leave at the door. ", 3)},
	}
	b, err := bson.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

type benchCase struct {
	name  string
	doc   bson.Raw
	codec *avro.Codec
	gc    *goavro.Codec
	bin   []byte
	nat   any
}

func benchCases(b *testing.B) []benchCase {
	b.Helper()
	var out []benchCase
	for _, c := range []struct {
		name  string
		items int
	}{{"1KB", 4}, {"10KB", 58}} {
		doc := orderDoc(c.items)
		schema := inferAvro(b, doc)
		codec := mustCodec(b, schema)
		gc, err := goavro.NewCodec(string(schema))
		if err != nil {
			b.Fatal(err)
		}
		bin, err := codec.Encode(nil, doc)
		if err != nil {
			b.Fatal(err)
		}
		// goavro's floor: its native form of the same record, ready-made.
		nat, _, err := gc.NativeFromBinary(bin)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, benchCase{fmt.Sprintf("%s(bson=%dB,avro=%dB)", c.name, len(doc), len(bin)), doc, codec, gc, bin, nat})
	}
	return out
}

func docsPerSec(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkEncode is schemaflow's BSON → Avro binary conversion.
func BenchmarkEncode(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.doc)))
			var dst []byte
			var err error
			for b.Loop() {
				if dst, err = c.codec.Encode(dst[:0], c.doc); err != nil {
					b.Fatal(err)
				}
			}
			docsPerSec(b)
		})
	}
}

// BenchmarkDecode is schemaflow's Avro binary → BSON conversion.
func BenchmarkDecode(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.doc)))
			for b.Loop() {
				if _, err := c.codec.Decode(c.bin); err != nil {
					b.Fatal(err)
				}
			}
			docsPerSec(b)
		})
	}
}

// BenchmarkDecodeAppend is Avro binary → BSON appended into a reused
// buffer, as a sink decodes a batch: no allocation per document.
func BenchmarkDecodeAppend(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.doc)))
			var dst []byte
			var err error
			for b.Loop() {
				if dst, err = c.codec.AppendDecode(dst[:0], c.bin); err != nil {
					b.Fatal(err)
				}
			}
			docsPerSec(b)
		})
	}
}

// BenchmarkDecodeReference is the decoder as it was before it was compiled
// per schema (decode_ref_test.go), for before and after in one run.
func BenchmarkDecodeReference(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.doc)))
			for b.Loop() {
				if _, err := avro.RefDecode(c.codec, c.bin); err != nil {
					b.Fatal(err)
				}
			}
			docsPerSec(b)
		})
	}
}

// BenchmarkGoavroBinaryFromNative is goavro encoding ready-made native maps:
// the floor a goavro-based pipeline cannot go below, before any BSON
// conversion.
func BenchmarkGoavroBinaryFromNative(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.doc)))
			var dst []byte
			var err error
			for b.Loop() {
				if dst, err = c.gc.BinaryFromNative(dst[:0], c.nat); err != nil {
					b.Fatal(err)
				}
			}
			docsPerSec(b)
		})
	}
}

// BenchmarkGoavroNativeFromBinary is goavro decoding to native maps, before
// any conversion to BSON.
func BenchmarkGoavroNativeFromBinary(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.doc)))
			for b.Loop() {
				if _, _, err := c.gc.NativeFromBinary(c.bin); err != nil {
					b.Fatal(err)
				}
			}
			docsPerSec(b)
		})
	}
}
