package rawbson

import (
	"bytes"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	good, _ := bson.Marshal(bson.D{{Key: "a", Value: "x"}, {Key: "b", Value: bson.A{int32(1), bson.D{{Key: "c", Value: true}}}}})
	if err := Validate(good); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  []byte
		want string
	}{
		{"short", []byte{4, 0, 0}, "frame"},
		{"length mismatch", []byte{6, 0, 0, 0, 0}, "frame"},
		{"no terminator", []byte{5, 0, 0, 0, 1}, "frame"},
		{"negative string", append([]byte{13, 0, 0, 0, 2, 'a', 0, 0xff, 0xff, 0xff, 0xff}, 0, 0), "malformed element"},
		{"bad utf8", []byte{14, 0, 0, 0, 2, 'a', 0, 2, 0, 0, 0, 0xff, 0, 0}, "non-UTF-8 string"},
		{"bad bool", []byte{10, 0, 0, 0, 8, 'a', 0, 7, 0, 0}, "boolean byte 7"},
		{"nested negative", []byte{20, 0, 0, 0, 4, 'a', 0, 12, 0, 0, 0, 2, '0', 0, 0, 0, 0, 0x80, 0, 0}, `field "a"`},
	}
	for _, tt := range tests {
		err := Validate(tt.doc)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestNextKeyed(t *testing.T) {
	t.Parallel()
	doc, _ := bson.Marshal(bson.D{{Key: "ab", Value: int32(7)}, {Key: "c", Value: "x"}})
	body := doc[4 : len(doc)-1]
	if _, _, ok := NextKeyed(body, "a"); ok {
		t.Fatal("prefix key matched")
	}
	v, rest, ok := NextKeyed(body, "ab")
	if !ok || v.Int32() != 7 {
		t.Fatalf("ab: %v %v", v, ok)
	}
	k, v, rest, ok := Next(rest)
	if !ok || string(k) != "c" || v.StringValue() != "x" || len(rest) != 0 {
		t.Fatalf("c: %q %v %v", k, v, ok)
	}
}

// walk reads every value with the driver's accessors, which panic on
// malformed input.
func walk(doc bsoncore.Document) {
	elems, _ := doc.Elements()
	for _, e := range elems {
		v := e.Value()
		switch v.Type {
		case bson.TypeEmbeddedDocument:
			walk(v.Document())
		case bson.TypeArray:
			walk(bsoncore.Document(v.Array()))
		case bson.TypeCodeWithScope:
			_, scope := v.CodeWithScope()
			walk(scope)
		default:
			_ = v.String()
		}
	}
}

func FuzzValidate(f *testing.F) {
	seed, _ := bson.Marshal(bson.D{{Key: "a", Value: bson.A{"x", int64(2)}}, {Key: "b", Value: bson.D{{Key: "c", Value: 1.5}}}})
	f.Add(seed)
	f.Add([]byte{20, 0, 0, 0, 4, 'a', 0, 12, 0, 0, 0, 2, '0', 0, 0, 0, 0, 0x80, 0, 0})
	f.Fuzz(func(t *testing.T, doc []byte) {
		if Validate(doc) != nil {
			return
		}
		walk(doc)
		if _, err := bson.MarshalExtJSON(bson.Raw(doc), true, false); err != nil {
			t.Fatalf("valid document does not print as Extended JSON: %v", err)
		}
	})
}

// NextKey, with its word comparison, agrees with NextKeyed on any bytes
// and any key.
func FuzzNextKey(f *testing.F) {
	doc, _ := bson.Marshal(bson.D{{Key: "sku", Value: "A-1"}, {Key: "quantity", Value: int64(2)}, {Key: "", Value: true}})
	for _, k := range []string{"sku", "quantity", "", "sk", "skuu", "1234567", "12345678"} {
		f.Add(doc[4:len(doc)-1], k)
	}
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		if strings.IndexByte(key, 0) >= 0 {
			return
		}
		k := MakeKey(key)
		v1, rest1, ok1 := NextKey(b, &k)
		v2, rest2, ok2 := NextKeyed(b, key)
		if ok1 != ok2 || v1.Type != v2.Type || !bytes.Equal(v1.Data, v2.Data) || !bytes.Equal(rest1, rest2) {
			t.Fatalf("NextKey %v %x %x, NextKeyed %v %x %x", ok1, v1.Data, rest1, ok2, v2.Data, rest2)
		}
	})
}
