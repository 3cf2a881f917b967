package protobuf_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/bson"
)

// FuzzDecodeInferred decodes arbitrary bytes with a message inferred from
// documents of every BSON type. Whatever decodes must encode again and
// decode to the same document.
func FuzzDecodeInferred(f *testing.F) {
	docs := readDocs(f, "roundtrip/alltypes.jsonl")
	var raws []bson.Raw
	for _, d := range docs {
		raws = append(raws, d.raw)
	}
	c := mustCodec(f, inferProto(f, raws...))
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
			t.Fatalf("decoded document does not encode: %v\n%s", err, canonical(t, doc))
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
