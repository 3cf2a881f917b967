package serde_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/avro"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/serde"
	"github.com/schemaflow/schemaflow/schemas/wire"
)

const protoText = `syntax = "proto3";
package p;
message A { optional int32 x = 1; message Inner { optional string s = 1; } }
message B { optional string y = 1; A.Inner inner = 2; }`

func TestProtobufFramesCarryMessageIndexes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		message string
		doc     string
		header  []byte // bytes after the schema id
	}{
		{"", `{"x": 5}`, []byte{0x00}},
		{"A", `{"x": 5}`, []byte{0x00}},
		{"B", `{"y": "v", "inner": {"s": "t"}}`, []byte{0x02, 0x02}},
		{"A.Inner", `{"s": "t"}`, []byte{0x04, 0x00, 0x00}},
	}
	for _, tt := range tests {
		s, err := serde.New([]byte(protoText), serde.Options{Format: schemas.Protobuf, ID: 9, Message: tt.message})
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := extjson.Parse([]byte(tt.doc))
		frame, err := s.Encode(nil, doc)
		if err != nil {
			t.Fatal(err)
		}
		if string(frame[:5]) != string([]byte{0, 0, 0, 0, 9}) || string(frame[5:5+len(tt.header)]) != string(tt.header) {
			t.Errorf("%s: frame % x", tt.message, frame)
		}
		// Any Serde of the same file decodes it, choosing the message by index.
		reader, _ := serde.New([]byte(protoText), serde.Options{Format: schemas.Protobuf})
		back, id, err := reader.Decode(frame)
		if err != nil || id != 9 {
			t.Fatalf("%s: decode: %v (id %d)", tt.message, err, id)
		}
		c, _ := extjson.Canonical(back)
		want, _ := extjson.Canonical(doc)
		if string(c) != string(want) {
			t.Errorf("%s: got %s, want %s", tt.message, c, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	s, err := serde.New([]byte(protoText), serde.Options{Format: schemas.Protobuf})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		frame  []byte
		reason wire.Reason
		offset int
	}{
		{[]byte{0, 0, 0}, wire.ShortFrame, 3},
		{[]byte{2, 0, 0, 0, 1, 0}, wire.BadMagic, 0},
		{[]byte{0, 0, 0, 0, 1}, wire.BadVarint, 5},
		{[]byte{0, 0, 0, 0, 1, 0x02, 0x08}, wire.IndexOutOfRange, 0},
		{[]byte{0, 0, 0, 0, 1, 0x04, 0x00, 0x02}, wire.IndexOutOfRange, 0},
	}
	for _, tt := range tests {
		_, _, err := s.Decode(tt.frame)
		var fe *wire.FrameError
		if !errors.As(err, &fe) || fe.Reason != tt.reason || (tt.offset != 0 && fe.Offset != tt.offset) {
			t.Errorf("% x: got %v, want %s at %d", tt.frame, err, tt.reason, tt.offset)
		}
	}
	a, err := serde.New([]byte(`{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}`), serde.Options{Format: schemas.Avro})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = a.Decode([]byte{0, 0, 0, 0, 1, 0x80})
	var de *avro.DataError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "unexpected end of data") {
		t.Fatalf("avro: %v", err)
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	if _, err := serde.New([]byte(`{}`), serde.Options{Format: schemas.Avro, Message: "X"}); err == nil {
		t.Error("message accepted for Avro")
	}
	if _, err := serde.New([]byte(protoText), serde.Options{Format: schemas.Protobuf, Message: "Nope"}); err == nil || !strings.Contains(err.Error(), `no message "Nope"`) {
		t.Errorf("unknown message: %v", err)
	}
	if _, err := serde.New([]byte(`{}`), serde.Options{Format: schemas.JSON}); err == nil {
		t.Error("JSON accepted")
	}
}

func FuzzDecodeFrame(f *testing.F) {
	s, err := serde.New([]byte(protoText), serde.Options{Format: schemas.Protobuf})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0x08, 0x05})
	f.Add([]byte{0, 0, 0, 0, 1, 0x02, 0x02, 0x0a, 0x01, 'v'})
	f.Add([]byte{0, 0, 0, 0, 1, 0x04, 0x00, 0x00, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, frame []byte) {
		_, _, _ = s.Decode(frame) // must not panic
	})
}
