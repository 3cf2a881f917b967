package decode

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
	"github.com/schemaflow/schemaflow/schemas/wire"
)

// TestRead reads the same bytes in every format, in key and value
// position: what each format makes of them, what auto chooses, and what
// each refuses (as a DataError, so the record is dead-lettered or stops
// the pipeline as errors.tolerance says).
func TestRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := newRegistry(t)
	text := `{"type": "record", "name": "K", "fields": [{"name": "id", "type": "long"}]}`
	id := register(t, c, "k-key", registry.RegisterRequest{Schema: text})
	s, err := serde.New([]byte(text), serde.Options{Format: schemas.Avro, ID: uint32(id)})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := bson.Marshal(bson.D{{Key: "id", Value: int64(7)}})
	frame, err := s.Encode(nil, doc)
	if err != nil {
		t.Fatal(err)
	}
	unknown := append(wire.AppendHeader(nil, 999), 'x')
	binary := []byte{0xff, 0xfe, 0x01}

	// render shows a Value as its format and its content in canonical
	// Extended JSON.
	render := func(v Value) string {
		if v.IsNil() {
			return string(v.Format) + " nil"
		}
		var x any = v.Doc
		if v.Doc == nil {
			x = v.Scalar
		}
		b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: x}}, true, false)
		if err != nil {
			t.Fatal(err)
		}
		return string(v.Format) + " " + string(b)
	}
	tests := []struct {
		format Format
		data   []byte
		want   string // rendered Value, or "error CLASS"
	}{
		{FormatAuto, frame, `registry {"v":{"id":{"$numberLong":"7"}}}`},
		{FormatAuto, []byte(`{"id": 7}`), `json {"v":{"id":{"$numberInt":"7"}}}`},
		{FormatAuto, []byte(`"abc"`), `json {"v":"abc"}`},
		{FormatAuto, []byte(`42`), `json {"v":{"$numberInt":"42"}}`},
		{FormatAuto, []byte(`{"$oid": "5f1d7a3b9d3e2a1b2c3d4e5f"}`), `json {"v":{"$oid":"5f1d7a3b9d3e2a1b2c3d4e5f"}}`},
		{FormatAuto, []byte(`order-17`), `string {"v":"order-17"}`},
		{FormatAuto, []byte(`550e8400-e29b-41d4-a716-446655440000`), `string {"v":"550e8400-e29b-41d4-a716-446655440000"}`},
		{FormatAuto, binary, `bytes {"v":{"$binary":{"base64":"//4B","subType":"00"}}}`},
		// A frame the registry does not know is not taken for one.
		{FormatAuto, unknown, `bytes {"v":{"$binary":{"base64":"AAAAA+d4","subType":"00"}}}`},
		{FormatAuto, frame[:len(frame)-1], "error undecodable"},
		{FormatAuto, nil, "auto nil"},
		{FormatRegistry, frame, `registry {"v":{"id":{"$numberLong":"7"}}}`},
		{FormatRegistry, []byte(`"abc"`), "error undecodable"},
		{FormatRegistry, unknown, "error unknown-schema"},
		{FormatJSON, []byte(`{"id": 7}`), `json {"v":{"id":{"$numberInt":"7"}}}`},
		{FormatJSON, []byte(`[1, "a"]`), `json {"v":[{"$numberInt":"1"},"a"]}`},
		{FormatJSON, []byte(`null`), "json nil"},
		{FormatJSON, []byte(`{"id": 7}, "x": {}`), "error undecodable"},
		{FormatJSON, []byte(`order-17`), "error undecodable"},
		{FormatString, []byte(`{"id": 7}`), `string {"v":"{\"id\": 7}"}`},
		{FormatString, binary, "error undecodable"},
		{FormatBytes, []byte(`abc`), `bytes {"v":{"$binary":{"base64":"YWJj","subType":"00"}}}`},
		{FormatIgnore, frame, "ignore nil"},
	}
	for _, part := range []Part{PartKey, PartValue} {
		for _, tt := range tests {
			if part == PartValue && tt.format == FormatIgnore {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s/%q", part, tt.format, tt.data), func(t *testing.T) {
				opts := Options{Registry: c, Logger: testenv.Quiet()}
				if part == PartKey {
					opts.KeyFormat = tt.format
				} else {
					opts.ValueFormat = tt.format
				}
				v, err := New(opts).Read(ctx, "t", part, tt.data)
				got := ""
				if err != nil {
					var de *DataError
					if !errors.As(err, &de) {
						t.Fatalf("err %v is not a DataError", err)
					}
					got = "error " + de.Class
				} else {
					got = render(v)
				}
				if got != tt.want {
					t.Fatalf("got  %s\nwant %s", got, tt.want)
				}
			})
		}
	}
}

// Under auto a topic may mix framed and plain records; the counts say
// what was chosen per topic and part, and a value that is not a document
// is written as {value: X}.
func TestReadCountsFormats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := newRegistry(t)
	text := `{"type": "record", "name": "V", "fields": [{"name": "n", "type": "long"}]}`
	id := register(t, c, "v-value", registry.RegisterRequest{Schema: text})
	frame := append(wire.AppendHeader(nil, uint32(id)), 6)
	d := New(Options{Registry: c, Logger: testenv.Quiet()})
	for _, r := range []struct {
		topic string
		part  Part
		data  []byte
	}{
		{"a", PartValue, frame}, {"a", PartValue, []byte(`{"n": 1}`)}, {"a", PartValue, frame},
		{"a", PartKey, []byte(`k1`)}, {"b", PartKey, []byte(`7`)},
	} {
		if _, err := d.Read(ctx, r.topic, r.part, r.data); err != nil {
			t.Fatal(err)
		}
	}
	got := fmt.Sprint(d.Stats().Formats)
	want := "[{a key string 1} {a value json 1} {a value registry 2} {b key json 1}]"
	if got != want {
		t.Fatalf("formats %s, want %s", got, want)
	}
	v, err := d.Read(ctx, "a", PartValue, []byte(`"just text"`))
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := v.D(); err != nil || len(doc) != 1 || doc[0].Key != "value" || doc[0].Value != "just text" {
		t.Fatalf("document %v (%v), want {value: just text}", doc, err)
	}
	if raw, err := v.Document(); err != nil || raw.Lookup("value").StringValue() != "just text" {
		t.Fatalf("raw document %v (%v), want {value: just text}", raw, err)
	}
	v, _ = d.Read(ctx, "a", PartValue, []byte{0xff, 2})
	if doc, err := v.D(); err != nil || doc[0].Value.(primitive.Binary).Data[1] != 2 {
		t.Fatalf("bytes value %v (%v)", v, err)
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in     string
		forKey bool
		want   Format
		err    string
	}{
		{"", true, FormatAuto, ""},
		{"string", false, FormatString, ""},
		{"ignore", true, FormatIgnore, ""},
		{"ignore", false, "", `"ignore" is for keys only: a value is what gets written`},
		{"avro", true, "", `"avro": want auto, registry, json, string, bytes or ignore`},
		{"avro", false, "", `"avro": want auto, registry, json, string or bytes`},
	} {
		got, err := ParseFormat(tt.in, tt.forKey)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("ParseFormat(%q, %v) = %q, %v; want %q, %q", tt.in, tt.forKey, got, err, tt.want, tt.err)
		}
	}
}

func FuzzRead(f *testing.F) {
	c, _ := newRegistry(f)
	text := `{"type": "record", "name": "P", "fields": [{"name": "s", "type": "string"}]}`
	id, err := c.Register(context.Background(), "p", registry.RegisterRequest{Schema: text}, false)
	if err != nil {
		f.Fatal(err)
	}
	d := New(Options{Registry: c, Logger: testenv.Quiet()})
	f.Add(append(wire.AppendHeader(nil, uint32(id)), 2, 'x'))
	f.Add([]byte(`{"a": {"$date": "2024-01-01T00:00:00Z"}}`))
	f.Add([]byte(`"k"`))
	f.Add([]byte{0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := d.Read(context.Background(), "t", PartValue, data)
		if err == nil && v.IsNil() && len(data) > 0 && string(data) != "null" {
			t.Fatalf("nothing and no error for %q", data)
		}
	})
}
