package mongosource

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
)

// origin is the namespace and document key of a produced record.
type origin struct {
	ns  string
	key bson.Raw
}

// Dead-letter classes and headers.
const (
	ClassEvolution = "schema-evolution"
	ClassEncode    = "encode"
	ClassTooLarge  = "record-too-large"

	HeaderClass   = "__schemaflow.error.class"
	HeaderMessage = "__schemaflow.error.message"
	HeaderSource  = "__schemaflow.source.namespace"
	HeaderKey     = "__schemaflow.source.key"
)

// RecordError is an event that cannot be published: it goes to the
// dead-letter topic or stops the source.
type RecordError struct {
	Class string
	Where string // "db.coll"
	Key   []byte // the document key as Extended JSON
	Err   error
	value []byte // the document as Extended JSON, for the dead letter
}

// Error implements error.
func (e *RecordError) Error() string {
	return fmt.Sprintf("mongosource: %s %s: %s: %v", e.Where, e.Key, e.Class, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// deadLetter makes the dead-letter record of a failed event; orig, when
// set, is the record that was too large, whose value is left out.
func (s *Source) deadLetter(re *RecordError, orig *kgo.Record) *kgo.Record {
	dl := &kgo.Record{Topic: s.cfg.DeadLetterTopic, Key: re.Key, Value: re.value, Headers: []kgo.RecordHeader{
		{Key: HeaderClass, Value: []byte(re.Class)},
		{Key: HeaderMessage, Value: []byte(re.Err.Error())},
		{Key: HeaderSource, Value: []byte(re.Where)},
		{Key: HeaderKey, Value: re.Key},
	}}
	if orig != nil {
		dl.Key = orig.Key // the framed key
	}
	return dl
}

// classify names the class of an encoding failure caused by the document,
// or "" for a failure of the registry, which stops the source.
func classify(err error) string {
	var ee *evolution.EvolveError
	var re *registry.Error
	switch {
	case errors.As(err, &ee):
		return ClassEvolution
	case errors.As(err, &re) && re.Code == registry.CodeIncompatible:
		return ClassEvolution
	case errors.As(err, &re):
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	return ClassEncode
}
