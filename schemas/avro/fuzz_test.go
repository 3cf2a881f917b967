package avro_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/schemas/avro"
)

// A schema with every Avro type, logical types and a recursive record.
const everyType = `{"type":"record","name":"All","namespace":"f","fields":[
 {"name":"n","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},
 {"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},
 {"name":"by","type":"bytes"},{"name":"s","type":"string"},
 {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
 {"name":"fx","type":{"type":"fixed","name":"F","size":3}},
 {"name":"m","type":{"type":"map","values":["null","long"]}},
 {"name":"a","type":{"type":"array","items":"All"}},
 {"name":"u","type":["null","string",{"type":"array","items":"null"}]},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"uuid","type":{"type":"string","logicalType":"uuid"}},
 {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
 {"name":"decf","type":{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":18,"scale":4}}
]}`

func FuzzDecodeEveryType(f *testing.F) {
	s, err := avro.Parse([]byte(everyType))
	if err != nil {
		f.Fatal(err)
	}
	c, err := avro.NewCodec(s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = c.Decode(data) // must not panic; errors are expected
	})
}

// FuzzDecodeInferred decodes arbitrary bytes with a schema inferred from
// documents of every BSON type. Whatever decodes must encode again and
// decode to the same document.
func FuzzDecodeInferred(f *testing.F) {
	docs := readDocs(f, "roundtrip/alltypes.jsonl")
	raws := make([]bson.Raw, len(docs))
	for i, d := range docs {
		raws[i] = d.raw
	}
	c := mustCodec(f, inferAvro(f, raws...))
	for _, d := range raws {
		bin, err := c.Encode(nil, d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bin)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := c.Decode(data)
		if err != nil {
			return
		}
		bin, err := c.Encode(nil, doc)
		if err != nil {
			t.Fatalf("decoded document does not encode: %v", err)
		}
		again, err := c.Decode(bin)
		if err != nil {
			t.Fatalf("re-encoded bytes do not decode: %v", err)
		}
		if canonical(t, again) != canonical(t, doc) {
			t.Fatalf("unstable round trip:\n%s\n%s", canonical(t, doc), canonical(t, again))
		}
	})
}

func FuzzParseSchema(f *testing.F) {
	f.Add([]byte(everyType))
	f.Add([]byte(`["null",{"type":"record","name":"R","fields":[{"name":"r","type":["null","R"],"default":null}]}]`))
	f.Add([]byte(`{"type":"enum","name":"E","symbols":["A"],"default":"A"}`))
	f.Fuzz(func(t *testing.T, text []byte) {
		s, err := avro.Parse(text)
		if err != nil {
			return
		}
		if s.Root == nil {
			t.Fatal("nil root without error")
		}
	})
}

// FuzzEncode feeds arbitrary bytes as a BSON document: encoding must fail
// cleanly or produce Avro that decodes.
func FuzzEncode(f *testing.F) {
	docs := readDocs(f, "roundtrip/alltypes.jsonl")
	raws := make([]bson.Raw, len(docs))
	for i, d := range docs {
		raws[i] = d.raw
		f.Add([]byte(d.raw))
	}
	c := mustCodec(f, inferAvro(f, raws...))
	f.Fuzz(func(t *testing.T, data []byte) {
		bin, err := c.Encode(nil, data)
		if err != nil {
			return
		}
		if _, err := c.Decode(bin); err != nil {
			t.Fatalf("encoded bytes do not decode: %v", err)
		}
	})
}
