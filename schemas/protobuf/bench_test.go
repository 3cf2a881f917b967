package protobuf_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// orderDoc is the realistic order of the Avro benchmarks: nested customer
// and address, line items (items of them), tags, a date, an ObjectId and
// decimals.
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
	b, err := bson.Marshal(bson.D{
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
	})
	if err != nil {
		panic(err)
	}
	return b
}

type benchCase struct {
	name  string
	doc   bson.Raw
	codec *protobuf.Codec
	bin   []byte
	msg   *dynamicpb.Message // the same record, ready-made for dynamicpb
}

func benchCases(b *testing.B) []benchCase {
	b.Helper()
	var out []benchCase
	for _, c := range []struct {
		name  string
		items int
	}{{"1KB", 4}, {"10KB", 60}} {
		doc := orderDoc(c.items)
		codec := mustCodec(b, inferProto(b, doc))
		bin, err := codec.Encode(nil, doc)
		if err != nil {
			b.Fatal(err)
		}
		msg := dynamicpb.NewMessage(codec.Message())
		if err := proto.Unmarshal(bin, msg); err != nil {
			b.Fatal(err)
		}
		out = append(out, benchCase{fmt.Sprintf("%s(bson=%dB,proto=%dB)", c.name, len(doc), len(bin)), doc, codec, bin, msg})
	}
	return out
}

// rateAgainst times ref for as many iterations as the benchmark's loop ran
// and reports the benchmark's rate over ref's as name (above 1: ours is
// faster), measured one after the other in the same process.
func rateAgainst(b *testing.B, name string, ref func() error) {
	b.Helper()
	ours := b.Elapsed()
	start := time.Now()
	for range b.N {
		if err := ref(); err != nil {
			b.Fatal(err)
		}
	}
	if theirs := time.Since(start); ours > 0 && theirs > 0 {
		b.ReportMetric(theirs.Seconds()/ours.Seconds(), name)
	}
}

// BenchmarkCompareEncode is schemaflow's BSON → Protobuf conversion with
// dynamicpb marshalling the same record, its message ready-made, beside
// it: x-dynamicpb is our rate over dynamicpb's.
func BenchmarkCompareEncode(b *testing.B) {
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
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
			var ref []byte
			opts := proto.MarshalOptions{Deterministic: true}
			rateAgainst(b, "x-dynamicpb", func() (err error) {
				ref, err = opts.MarshalAppend(ref[:0], c.msg)
				return err
			})
		})
	}
}

// BenchmarkCompareDecode is schemaflow's Protobuf → BSON conversion with
// dynamicpb unmarshalling the same bytes (into a message, no BSON) beside
// it: x-dynamicpb is our rate over dynamicpb's.
func BenchmarkCompareDecode(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.doc)))
			for b.Loop() {
				if _, err := c.codec.Decode(c.bin); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
			rateAgainst(b, "x-dynamicpb", func() error {
				return proto.Unmarshal(c.bin, dynamicpb.NewMessage(c.codec.Message()))
			})
		})
	}
}
