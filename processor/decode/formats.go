package decode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/wire"
)

// Format says how the bytes of a record's key or value are read, as Kafka
// Connect's key and value converters do.
type Format string

// The formats. The zero value is FormatAuto.
const (
	// FormatAuto reads a Confluent frame when the magic byte is there and
	// the schema id resolves, else JSON, else a UTF-8 string, else bytes.
	FormatAuto Format = "auto"
	// FormatRegistry reads Confluent-framed Avro, Protobuf or JSON Schema
	// records only; anything else is undecodable.
	FormatRegistry Format = "registry"
	// FormatJSON reads any (Extended) JSON value: an object, a string, a
	// number, an array.
	FormatJSON Format = "json"
	// FormatString reads the bytes as one UTF-8 string.
	FormatString Format = "string"
	// FormatBytes reads the bytes as BSON binary data.
	FormatBytes Format = "bytes"
	// FormatIgnore does not read the bytes at all: the record has no key.
	// For keys only.
	FormatIgnore Format = "ignore"
)

// Formats lists the formats a key may have; a value may have all but
// FormatIgnore.
var Formats = []Format{FormatAuto, FormatRegistry, FormatJSON, FormatString, FormatBytes, FormatIgnore}

// ParseFormat checks a format's name; "" is FormatAuto. forKey allows
// FormatIgnore.
func ParseFormat(s string, forKey bool) (Format, error) {
	if s == "" {
		return FormatAuto, nil
	}
	for _, f := range Formats {
		if string(f) == s && (forKey || f != FormatIgnore) {
			return f, nil
		}
	}
	if s == string(FormatIgnore) {
		return "", fmt.Errorf("%q is for keys only: a value is what gets written", s)
	}
	if forKey {
		return "", fmt.Errorf("%q: want auto, registry, json, string, bytes or ignore", s)
	}
	return "", fmt.Errorf("%q: want auto, registry, json, string or bytes", s)
}

// Part is the part of a record being read.
type Part string

// The parts of a record.
const (
	PartKey   Part = "key"
	PartValue Part = "value"
)

// Value is a decoded key or value: a document, or a value that is not one
// (a string, a number, binary data, an array). Both are nil for an absent
// key, a tombstone, or JSON null.
type Value struct {
	// Doc is a document as the decoder wrote it: BSON bytes, never
	// unmarshalled on the way to a write.
	Doc bson.Raw
	// Checked says Doc is known to be well-formed BSON that
	// rawbson.Validate accepts: the Avro decoder wrote it under a schema
	// that bounds its nesting within rawbson.MaxDepth. Readers need not
	// validate it again.
	Checked bool
	Scalar  any
	// Format is how the bytes were read; for FormatAuto, what it chose.
	Format Format
}

// IsNil reports whether there is no key or value.
func (v Value) IsNil() bool { return v.Doc == nil && v.Scalar == nil }

// Document returns the value as a document to write: a document as it
// is, anything else as {value: X}; nil when there is none.
func (v Value) Document() (bson.Raw, error) {
	if v.Doc != nil || v.Scalar == nil {
		return v.Doc, nil
	}
	b, err := bson.Marshal(bson.D{{Key: "value", Value: v.Scalar}})
	if err != nil {
		return nil, &DataError{Class: ClassUndecodable, Err: fmt.Errorf("%T value: %w", v.Scalar, err)}
	}
	return b, nil
}

// D returns Document as a bson.D, for the code that edits documents
// rather than writing them as they are; nil when there is none.
func (v Value) D() (bson.D, error) {
	raw, err := v.Document()
	if err != nil || raw == nil {
		return nil, err
	}
	return unmarshal(raw)
}

// FormatCount is how many records of a topic had their key or value read
// in one format.
type FormatCount struct {
	Topic  string
	Part   Part
	Format Format
	N      int64
}

type formatKey struct {
	topic  string
	part   Part
	format Format
}

// formatStats counts records by topic, part and format, and logs the first
// record of each: what auto chose per topic is then in the logs and the
// metrics.
type formatStats struct {
	m sync.Map // formatKey → *atomic.Int64
	// last is, by part (keys, values), the counter added to last: most
	// records of a run count where the one before did.
	last [2]atomic.Pointer[formatCount]
}

// formatCount is a counter of m with its key.
type formatCount struct {
	k formatKey
	n *atomic.Int64
}

func (s *formatStats) add(log *slog.Logger, topic string, part Part, asked, f Format) {
	k := formatKey{topic, part, f}
	last := &s.last[0]
	if part == PartKey {
		last = &s.last[1]
	}
	if c := last.Load(); c != nil && c.k == k {
		c.n.Add(1)
		return
	}
	if n, ok := s.m.Load(k); ok {
		n.(*atomic.Int64).Add(1)
		last.Store(&formatCount{k, n.(*atomic.Int64)})
		return
	}
	n, loaded := s.m.LoadOrStore(k, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	last.Store(&formatCount{k, n.(*atomic.Int64)})
	if !loaded {
		log.Info("decode: reading records", "topic", topic, "part", string(part), "format", string(f), "configured", string(asked))
	}
}

func (s *formatStats) snapshot() []FormatCount {
	var out []FormatCount
	s.m.Range(func(k, v any) bool {
		fk := k.(formatKey)
		out = append(out, FormatCount{Topic: fk.topic, Part: fk.part, Format: fk.format, N: v.(*atomic.Int64).Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Part != b.Part {
			return a.Part < b.Part
		}
		return a.Format < b.Format
	})
	return out
}

// Read decodes a record's key or value of topic in the Decoder's format
// for that part. Empty bytes are an absent key or a tombstone.
func (d *Decoder) Read(ctx context.Context, topic string, part Part, data []byte) (Value, error) {
	asked := d.opts.ValueFormat
	if part == PartKey {
		asked = d.opts.KeyFormat
	}
	if asked == "" {
		asked = FormatAuto
	}
	if asked == FormatIgnore || len(data) == 0 {
		return Value{Format: asked}, nil
	}
	v, err := d.read(ctx, part, asked, data)
	if err != nil {
		return Value{}, err
	}
	d.formats.add(d.log, topic, part, asked, v.Format)
	return v, nil
}

func (d *Decoder) read(ctx context.Context, part Part, f Format, data []byte) (Value, error) {
	switch f {
	case FormatRegistry:
		if !framed(data) {
			return Value{}, &DataError{Class: ClassUndecodable, Err: fmt.Errorf("not a Confluent-framed record (first byte 0x%02x); set the format to auto, json, string or bytes to read plain records", data[0])}
		}
		doc, checked, err := d.framedAs(ctx, part, data)
		return Value{Doc: doc, Checked: checked, Format: FormatRegistry}, err
	case FormatJSON:
		if !json.Valid(data) {
			return Value{}, &DataError{Class: ClassUndecodable, Err: fmt.Errorf("JSON: not one valid JSON value (%d bytes)", len(data))}
		}
		v, err := parseJSON(data)
		if err != nil {
			return Value{}, &DataError{Class: ClassUndecodable, Err: fmt.Errorf("JSON: %w", err)}
		}
		return v, nil
	case FormatString:
		if !utf8.Valid(data) {
			return Value{}, &DataError{Class: ClassUndecodable, Err: fmt.Errorf("string: not valid UTF-8 (%d bytes); use the bytes format for binary data", len(data))}
		}
		return Value{Scalar: string(data), Format: FormatString}, nil
	case FormatBytes:
		return Value{Scalar: primitive.Binary{Data: append([]byte(nil), data...)}, Format: FormatBytes}, nil
	}
	// auto: a frame whose schema the registry has, else JSON, else a
	// string, else bytes. A frame whose schema resolves but whose payload
	// does not decode is undecodable, not guessed at; a registry that does
	// not answer is the pipeline's failure, retried.
	if framed(data) {
		if d.opts.Registry == nil {
			return Value{}, &DataError{Class: ClassUnknownSchema, Err: errors.New("a Confluent-framed record and no registry is configured")}
		}
		doc, checked, err := d.framedAs(ctx, part, data)
		if err == nil || !isUnknownSchema(err) {
			return Value{Doc: doc, Checked: checked, Format: FormatRegistry}, err
		}
	}
	if json.Valid(data) {
		if v, err := parseJSON(data); err == nil {
			return v, nil
		}
	}
	if utf8.Valid(data) {
		return Value{Scalar: string(data), Format: FormatString}, nil
	}
	return Value{Scalar: primitive.Binary{Data: append([]byte(nil), data...)}, Format: FormatBytes}, nil
}

func framed(data []byte) bool { return len(data) >= wire.HeaderSize && data[0] == wire.MagicByte }

// isUnknownSchema reports whether the registry has no schema of a frame's
// id: then auto does not take the bytes for a frame. A schema that exists
// but does not compile is not this: such records are undecodable.
func isUnknownSchema(err error) bool {
	var re *registry.Error
	return errors.As(err, &re) && re.Status == 404
}

// parseJSON reads any Extended JSON value. It is parsed as the value of a
// one-field document, so {"$oid": ...} and the like become BSON types.
func parseJSON(data []byte) (Value, error) {
	wrapped := make([]byte, 0, len(data)+6)
	wrapped = append(wrapped, `{"v":`...)
	wrapped = append(wrapped, data...)
	wrapped = append(wrapped, '}')
	raw, err := extjson.Parse(wrapped)
	if err != nil {
		return Value{}, err
	}
	var doc struct {
		V bson.RawValue `bson:"v"`
	}
	if err := bson.Unmarshal(raw, &doc); err != nil {
		return Value{}, err
	}
	switch doc.V.Type {
	case bson.TypeNull:
		return Value{Format: FormatJSON}, nil
	case bson.TypeEmbeddedDocument:
		return Value{Doc: bson.Raw(doc.V.Value), Format: FormatJSON}, nil
	}
	var v any
	if err := doc.V.Unmarshal(&v); err != nil {
		return Value{}, err
	}
	if a, ok := v.(bson.A); ok && a == nil {
		v = bson.A{}
	}
	return Value{Scalar: v, Format: FormatJSON}, nil
}
