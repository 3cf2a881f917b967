// Package decode turns Kafka record keys and values into BSON documents:
// Confluent-framed Avro, Protobuf and JSON Schema records are decoded by
// schema id through the registry, and plain (Extended) JSON is accepted
// when the pipeline allows it.
package decode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
	"github.com/schemaflow/schemaflow/schemas/serde"
	"github.com/schemaflow/schemaflow/schemas/wire"
)

// Error classes of a DataError, written into dead-letter headers.
const (
	ClassUndecodable   = "undecodable"
	ClassUnknownSchema = "unknown-schema"
)

// DataError is a record that can never be decoded: it is not a retryable
// failure of the registry but a property of the bytes.
type DataError struct {
	Class string // ClassUndecodable or ClassUnknownSchema
	Err   error
}

// Error implements error.
func (e *DataError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *DataError) Unwrap() error { return e.Err }

// Registry is the part of the registry client a Decoder uses.
type Registry interface {
	SchemaByID(ctx context.Context, id int) (registry.SchemaString, error)
	Version(ctx context.Context, subject string, version int, deleted bool) (registry.Schema, error)
}

// Options configure a Decoder.
type Options struct {
	// Registry resolves schema ids. Without one, framed records are
	// undecodable.
	Registry Registry
	// PlainJSON lets Decode accept unframed (Extended) JSON objects.
	// Default false: unframed bytes are undecodable.
	PlainJSON bool
	// KeyFormat and ValueFormat say how Read reads keys and values.
	// Default FormatAuto.
	KeyFormat, ValueFormat Format
	// Logger logs the format each topic's keys and values are first read
	// in. Default slog.Default().
	Logger *slog.Logger
}

// Decoder decodes records. It caches one compiled schema per id and is
// safe for concurrent use.
type Decoder struct {
	opts Options

	mu   sync.Mutex
	byID map[uint32]*decoder
	// last is, by part (keys, values), the decoder used last: a topic's
	// records mostly share a schema, so most records need no map lookup
	// or lock.
	last [2]atomic.Pointer[decoder]
	// Schema cache counters: records whose schema was cached, and schemas
	// fetched from the registry.
	hits, misses atomic.Int64
	formats      formatStats
	log          *slog.Logger
}

// Stats counts a Decoder's schema cache use.
type Stats struct {
	Hits   int64 // framed records whose schema was cached
	Misses int64 // schemas fetched from the registry
	// Formats counts the records Read read, by topic, part and format.
	Formats []FormatCount
}

// Stats returns the counters so far.
func (d *Decoder) Stats() Stats {
	return Stats{Hits: d.hits.Load(), Misses: d.misses.Load(), Formats: d.formats.snapshot()}
}

type decoder struct {
	id    uint32
	serde *serde.Serde // nil for JSON Schema
	// checked: what serde decodes is well-formed BSON within
	// rawbson.MaxDepth (Value.Checked).
	checked bool
}

// New returns a Decoder.
func New(opts Options) *Decoder {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Decoder{opts: opts, byID: map[uint32]*decoder{}, log: log}
}

// Decode decodes one key or value. Empty input is a nil document (a
// tombstone or a record without a key).
func (d *Decoder) Decode(ctx context.Context, data []byte) (bson.D, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if framed(data) {
		return d.decodeFramed(ctx, data)
	}
	if !d.opts.PlainJSON {
		return nil, &DataError{Class: ClassUndecodable, Err: fmt.Errorf("not a Confluent-framed record (first byte 0x%02x) and plain JSON is not enabled", data[0])}
	}
	raw, err := extjson.Parse(data)
	if err != nil {
		return nil, &DataError{Class: ClassUndecodable, Err: fmt.Errorf("plain JSON: %w", err)}
	}
	return unmarshal(raw)
}

// decodeFramed decodes a framed record into a bson.D.
func (d *Decoder) decodeFramed(ctx context.Context, data []byte) (bson.D, error) {
	raw, err := d.framed(ctx, data)
	if err != nil {
		return nil, err
	}
	return unmarshal(raw)
}

// framed decodes a Confluent-framed record through its schema into BSON
// bytes: the Avro and Protobuf decoders write BSON directly, and nothing
// is unmarshalled on the way.
func (d *Decoder) framed(ctx context.Context, data []byte) (bson.Raw, error) {
	raw, _, err := d.framedAs(ctx, PartValue, data)
	return raw, err
}

// framedAs is framed for a key or a value: each part remembers the
// decoder it used last. checked says the document is known well-formed
// (Value.Checked).
func (d *Decoder) framedAs(ctx context.Context, part Part, data []byte) (_ bson.Raw, checked bool, _ error) {
	id, payload, err := wire.ParseHeader(data)
	if err != nil {
		return nil, false, &DataError{Class: ClassUndecodable, Err: err}
	}
	last := &d.last[0]
	if part == PartKey {
		last = &d.last[1]
	}
	dec := last.Load()
	if dec != nil && dec.id == id {
		d.hits.Add(1)
	} else {
		if dec, err = d.decoder(ctx, id); err != nil {
			return nil, false, err
		}
		last.Store(dec)
	}
	var raw bson.Raw
	if dec.serde == nil {
		raw, err = extjson.Parse(payload)
	} else {
		raw, _, err = dec.serde.Decode(data)
	}
	if err != nil {
		return nil, false, &DataError{Class: ClassUndecodable, Err: fmt.Errorf("schema id %d: %w", id, err)}
	}
	return raw, dec.checked, nil
}

func unmarshal(raw bson.Raw) (bson.D, error) {
	var doc bson.D
	if err := bson.Unmarshal(raw, &doc); err != nil {
		return nil, &DataError{Class: ClassUndecodable, Err: err}
	}
	if doc == nil {
		doc = bson.D{}
	}
	return doc, nil
}

// decoder returns the cached decoder of a schema id, fetching and
// compiling the schema on first use.
func (d *Decoder) decoder(ctx context.Context, id uint32) (*decoder, error) {
	d.mu.Lock()
	dec, ok := d.byID[id]
	d.mu.Unlock()
	if ok {
		d.hits.Add(1)
		return dec, nil
	}
	d.misses.Add(1)
	if d.opts.Registry == nil {
		return nil, &DataError{Class: ClassUnknownSchema, Err: fmt.Errorf("schema id %d: no registry is configured", id)}
	}
	s, err := d.opts.Registry.SchemaByID(ctx, int(id))
	if err != nil {
		return nil, classify(id, err)
	}
	dec = &decoder{id: id}
	switch s.SchemaType {
	case "", registry.TypeAvro:
		dec.serde, err = serde.New([]byte(s.Schema), serde.Options{Format: schemas.Avro, ID: id})
	case registry.TypeProtobuf:
		sources := map[string]string{}
		if err := d.references(ctx, id, s.References, sources); err != nil {
			return nil, err
		}
		dec.serde, err = serde.New([]byte(s.Schema), serde.Options{
			Format: schemas.Protobuf, ID: id, Proto: protobuf.Options{Sources: sources},
		})
	case registry.TypeJSON:
		// JSON Schema payloads are JSON text: the schema validates, the
		// text carries the document.
	default:
		err = fmt.Errorf("schema type %q is not supported", s.SchemaType)
	}
	if err != nil {
		return nil, &DataError{Class: ClassUnknownSchema, Err: fmt.Errorf("schema id %d: %w", id, err)}
	}
	if dec.serde != nil && dec.serde.Format() == schemas.Avro {
		// The Avro decoder writes well-formed BSON (UTF-8 strings and keys,
		// no NUL in keys, checked scopes); what it cannot promise is the
		// nesting, which the schema bounds or not.
		depth, bounded := dec.serde.Nesting()
		dec.checked = bounded && depth <= rawbson.MaxDepth
	}
	d.mu.Lock()
	d.byID[id] = dec
	d.mu.Unlock()
	return dec, nil
}

// references fetches a Protobuf schema's imports, transitively, into
// sources by import name.
func (d *Decoder) references(ctx context.Context, id uint32, refs []registry.Reference, sources map[string]string) error {
	for _, ref := range refs {
		if _, done := sources[ref.Name]; done {
			continue
		}
		s, err := d.opts.Registry.Version(ctx, ref.Subject, ref.Version, false)
		if err != nil {
			return classify(id, fmt.Errorf("reference %q (subject %q version %d): %w", ref.Name, ref.Subject, ref.Version, err))
		}
		sources[ref.Name] = s.Schema
		if err := d.references(ctx, id, s.References, sources); err != nil {
			return err
		}
	}
	return nil
}

// classify tells an id the registry does not have (a data error) from a
// registry that cannot answer (retryable by the caller).
func classify(id uint32, err error) error {
	var re *registry.Error
	if errors.As(err, &re) && re.Status == 404 {
		return &DataError{Class: ClassUnknownSchema, Err: fmt.Errorf("schema id %d: %w", id, err)}
	}
	return fmt.Errorf("schema id %d: %w", id, err)
}
