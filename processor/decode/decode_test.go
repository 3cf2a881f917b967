package decode

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
	"github.com/schemaflow/schemaflow/schemas/serde"
	"github.com/schemaflow/schemaflow/schemas/wire"
)

// newRegistry starts a registry whose client does not retry, so an
// outage shows at once.
func newRegistry(t testing.TB) (*registry.Client, *httptest.Server) {
	t.Helper()
	return testenv.Registry(t, registry.ClientOptions{Retries: -1})
}

func register(t *testing.T, c *registry.Client, subject string, req registry.RegisterRequest) int {
	t.Helper()
	id, err := c.Register(context.Background(), subject, req, false)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func js(t *testing.T, d bson.D) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(d, true, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := newRegistry(t)
	doc, _ := bson.Marshal(bson.D{{Key: "name", Value: "ada"}, {Key: "n", Value: int64(3)}})

	avroText := `{"type": "record", "name": "P", "fields": [{"name": "name", "type": "string"}, {"name": "n", "type": "long"}]}`
	avroID := register(t, c, "p-value", registry.RegisterRequest{Schema: avroText})
	avroSerde, err := serde.New([]byte(avroText), serde.Options{Format: schemas.Avro, ID: uint32(avroID)})
	if err != nil {
		t.Fatal(err)
	}
	avroFrame, err := avroSerde.Encode(nil, doc)
	if err != nil {
		t.Fatal(err)
	}

	// A Protobuf schema that imports another through a registry reference.
	common := "syntax = \"proto3\";\npackage c;\nmessage Count { int64 n = 1; }\n"
	register(t, c, "common", registry.RegisterRequest{Schema: common, SchemaType: registry.TypeProtobuf})
	protoText := "syntax = \"proto3\";\nimport \"common.proto\";\nmessage P { string name = 1; int64 n = 2; c.Count extra = 3; }\n"
	protoID := register(t, c, "q-value", registry.RegisterRequest{Schema: protoText, SchemaType: registry.TypeProtobuf,
		References: []registry.Reference{{Name: "common.proto", Subject: "common", Version: 1}}})
	protoSerde, err := serde.New([]byte(protoText), serde.Options{Format: schemas.Protobuf, ID: uint32(protoID),
		Proto: protobuf.Options{Sources: map[string]string{"common.proto": common}}})
	if err != nil {
		t.Fatal(err)
	}
	protoFrame, err := protoSerde.Encode(nil, doc)
	if err != nil {
		t.Fatal(err)
	}

	jsonID := register(t, c, "j-value", registry.RegisterRequest{Schema: `{"type": "object"}`, SchemaType: registry.TypeJSON})
	jsonFrame := append(wire.AppendHeader(nil, uint32(jsonID)), `{"name": "ada", "n": {"$numberLong": "3"}}`...)

	want := `{"name":"ada","n":{"$numberLong":"3"}}`
	tests := []struct {
		name  string
		data  []byte
		plain bool
		want  string
		class string // the DataError class, or "" for success
	}{
		{name: "avro", data: avroFrame, want: want},
		{name: "protobuf with reference", data: protoFrame, want: want},
		{name: "json schema", data: jsonFrame, want: want},
		{name: "plain extended json", data: []byte(`{"name": "ada", "n": {"$numberLong": "3"}}`), plain: true, want: want},
		{name: "empty is nil", data: nil, want: "nil"},
		{name: "plain json disabled", data: []byte(`{"a": 1}`), class: ClassUndecodable},
		{name: "bad plain json", data: []byte(`{"a": `), plain: true, class: ClassUndecodable},
		{name: "unknown id", data: []byte{0, 0, 0, 0x30, 0x39, 1}, class: ClassUnknownSchema},
		{name: "truncated avro", data: avroFrame[:len(avroFrame)-1], class: ClassUndecodable},
		{name: "short frame as json", data: []byte{0, 1}, plain: true, class: ClassUndecodable},
		{name: "bad json schema payload", data: append(wire.AppendHeader(nil, uint32(jsonID)), `[1]`...), class: ClassUndecodable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(Options{Registry: c, PlainJSON: tt.plain})
			got, err := d.Decode(ctx, tt.data)
			if tt.class != "" {
				var de *DataError
				if !errors.As(err, &de) || de.Class != tt.class {
					t.Fatalf("err = %v, want a %s DataError", err, tt.class)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := "nil"
			if got != nil {
				s = js(t, got)
			}
			if s != tt.want {
				t.Fatalf("got %s, want %s", s, tt.want)
			}
		})
	}
}

// A registry that cannot answer is the pipeline's problem, not the
// record's: the error is not a DataError, so the record is retried rather
// than dead-lettered. Once fetched, a schema is served from the cache.
func TestRegistryDown(t *testing.T) {
	t.Parallel()
	c, ts := newRegistry(t)
	text := `{"type": "record", "name": "P", "fields": [{"name": "n", "type": "long"}]}`
	id := register(t, c, "p-value", registry.RegisterRequest{Schema: text})
	d := New(Options{Registry: c})
	frame := append(wire.AppendHeader(nil, uint32(id)), 6)
	if _, err := d.Decode(context.Background(), frame); err != nil {
		t.Fatal(err)
	}
	other := append(wire.AppendHeader(nil, uint32(id+1)), 6)
	ts.Close()
	if got, err := d.Decode(context.Background(), frame); err != nil || js(t, got) != `{"n":{"$numberLong":"3"}}` {
		t.Fatalf("cached decode: %v %v", got, err)
	}
	_, err := New(Options{Registry: c}).Decode(context.Background(), other)
	var de *DataError
	if err == nil || errors.As(err, &de) {
		t.Fatalf("err = %v, want a non-data error", err)
	}
	if !strings.Contains(err.Error(), "schema id") {
		t.Fatalf("err %v does not name the schema id", err)
	}
}

func FuzzDecode(f *testing.F) {
	c, _ := newRegistry(f)
	text := `{"type": "record", "name": "P", "fields": [{"name": "s", "type": "string"}, {"name": "a", "type": {"type": "array", "items": "long"}}]}`
	id, err := c.Register(context.Background(), "p", registry.RegisterRequest{Schema: text}, false)
	if err != nil {
		f.Fatal(err)
	}
	d := New(Options{Registry: c, PlainJSON: true})
	f.Add(append(wire.AppendHeader(nil, uint32(id)), 2, 'x', 2, 4, 0))
	f.Add([]byte(`{"a": {"$date": "2024-01-01T00:00:00Z"}}`))
	f.Add([]byte{0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := d.Decode(context.Background(), data)
		if err == nil && doc == nil && len(data) > 0 {
			t.Fatalf("no document and no error for %q", data)
		}
	})
}
