// Package sink turns decoded Kafka records into MongoDB write models, with
// the id strategies, write strategies, post processors and change-data-
// capture handlers that MongoDB Kafka Connector users rely on.
//
// It is pure: it reads documents and returns mongo.WriteModel values. The
// pipeline that consumes Kafka, decodes through the registry, batches bulk
// writes and commits offsets builds on it.
package sink

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// Record is a decoded Kafka record.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	// Key is the decoded key document, or nil when the record has none or
	// its key is not a document.
	Key bson.D
	// KeyScalar is the key when it is not a document: a string, a number,
	// binary data (keys read as json, string or bytes). Nil otherwise.
	KeyScalar any
	// Value is the decoded value document, or nil for a tombstone or when
	// RawValue holds it.
	Value bson.D
	// RawValue is the value document as BSON bytes, as the decoders write
	// it, when Value is nil. Strategies that write the document as it is
	// write these bytes; the others unmarshal them (ValueD).
	RawValue bson.Raw
	// RawValueChecked says RawValue is known to be well-formed BSON within
	// rawbson.MaxDepth (a decoder that guarantees it wrote it:
	// decode.Value.Checked), so it is not validated again.
	RawValueChecked bool
}

// hasKey reports whether the record has a key of any kind.
func (r Record) hasKey() bool { return r.Key != nil || r.KeyScalar != nil }

// keyKind names a scalar key's type for messages.
func (r Record) keyKind() string {
	switch r.KeyScalar.(type) {
	case string:
		return "a string"
	case primitive.Binary:
		return "binary data"
	case bson.A:
		return "an array"
	case int32, int64, float64, primitive.Decimal128:
		return "a number"
	}
	return fmt.Sprintf("a %T", r.KeyScalar)
}

// Where names a record for messages: topic/partition/offset.
func (r Record) Where() string {
	return fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
}

// DataError is a record that cannot be written as it is: it goes to the
// dead-letter topic or stops the pipeline, as configured.
type DataError struct {
	Where string // topic/partition/offset
	Msg   string
}

// Error implements error.
func (e *DataError) Error() string { return fmt.Sprintf("sink: %s: %s", e.Where, e.Msg) }

func dataErr(r Record, format string, args ...any) error {
	return &DataError{Where: r.Where(), Msg: fmt.Sprintf(format, args...)}
}

// IsDataError reports whether err is a *DataError.
func IsDataError(err error) bool {
	var de *DataError
	return errors.As(err, &de)
}

// lookup returns the value at a dotted path of a document.
func lookup(d bson.D, path []string) (any, bool) {
	for i, p := range path {
		var v any
		found := false
		for _, e := range d {
			if e.Key == p {
				v, found = e.Value, true
				break
			}
		}
		if !found {
			return nil, false
		}
		if i == len(path)-1 {
			return v, true
		}
		sub, ok := v.(bson.D)
		if !ok {
			return nil, false
		}
		d = sub
	}
	return nil, false
}

func get(d bson.D, key string) (any, bool) { return lookup(d, []string{key}) }

// Lookup returns the value at a dotted path ("a.b.c") of a document.
func Lookup(d bson.D, path string) (any, bool) { return lookup(d, strings.Split(path, ".")) }

func without(d bson.D, keys ...string) bson.D {
	out := make(bson.D, 0, len(d))
	for _, e := range d {
		skip := false
		for _, k := range keys {
			skip = skip || e.Key == k
		}
		if !skip {
			out = append(out, e)
		}
	}
	return out
}

func set(d bson.D, key string, v any) bson.D {
	for i, e := range d {
		if e.Key == key {
			d[i].Value = v
			return d
		}
	}
	return append(d, bson.E{Key: key, Value: v})
}
