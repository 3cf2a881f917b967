package mongosource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/processor/subject"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// ChangeStream is the part of a change stream the source reads; the
// driver's *mongo.ChangeStream and lungo's IChangeStream both have it.
type ChangeStream interface {
	Next(ctx context.Context) bool
	TryNext(ctx context.Context) bool
	Decode(out any) error
	ResumeToken() bson.Raw
	Err() error
	Close(ctx context.Context) error
}

// Watch opens a change stream (on a collection, a database or a whole
// deployment) with the given options.
type Watch func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (ChangeStream, error)

// Config configures a Source.
type Config struct {
	// Name identifies the source's resume token. Required.
	Name string
	// Watch opens the change stream. Required.
	Watch Watch
	// Pipeline is an optional aggregation pipeline filtering the events.
	Pipeline []bson.D
	// FullDocument is the change stream's fullDocument option, e.g.
	// "updateLookup". Default the server's.
	FullDocument options.FullDocument
	// FullDocumentBeforeChange asks for pre-images ("whenAvailable" or
	// "required"; MongoDB 6.0+ with changeStreamPreAndPostImages on the
	// collection). They appear in the envelope's fullDocumentBeforeChange.
	FullDocumentBeforeChange options.FullDocument

	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// OffsetsTopic is the compacted topic holding resume tokens. One of
	// OffsetsTopic and OffsetsFile is required.
	OffsetsTopic string
	// OffsetsFile keeps the resume token in a local file instead, for
	// development: written to a temporary file, synced and renamed over.
	OffsetsFile string
	// Compression of produced batches: none, gzip, snappy (default), lz4
	// or zstd.
	Compression string
	// KafkaOptions are added to the producer's options.
	KafkaOptions []kgo.Opt

	// Topics names each event's topic; the default is "db.coll".
	Topics TopicNames

	// Registry holds the key and value subjects. Required.
	Registry subject.Registry
	// Format of the schemas: schemas.Avro (default) or schemas.Protobuf.
	Format schemas.Format
	// Level of new versions; 0 means each subject's level in the registry.
	Level evolution.Level
	// Subjects is the subject naming strategy. Default SubjectTopic.
	Subjects SubjectStrategy
	// Namespace is the Avro namespace or Protobuf package of inferred
	// schemas. Default none.
	Namespace string
	// Numbers says how a field holding several BSON number types is
	// typed: schemas.NumbersWiden (the default) widens it to one number
	// type; schemas.NumbersExact keeps a union or oneof of the types seen,
	// so each value reaches consumers, and a sink's replica, with its own
	// BSON type.
	Numbers schemas.Numbers

	// Envelope publishes the whole change event instead of the full
	// document (the default).
	Envelope bool
	// NoTombstones makes deletes publish nothing; by default a delete is a
	// tombstone (a key and no value) when full documents are published.
	NoTombstones bool

	// CopyExisting, for a fresh source (no saved token), publishes the
	// collection's documents as inserts before streaming, from a stream
	// position taken before the copy began: there is no gap, and changes
	// made during the copy may arrive twice (at least once).
	CopyExisting *Copy
	// Snapshots, when set, lets Snapshot ask the running source to
	// publish a collection's documents between its change events (see
	// Snapshots). Default off.
	Snapshots *Snapshots

	// StartAt starts a fresh source (one with no saved token) at this
	// operation time instead of now.
	StartAt *primitive.Timestamp
	// OnLostResume is what happens when the saved resume point is gone
	// from the oplog, or the stream is invalidated (the watched collection
	// was dropped or renamed): LostResumeFail (default) stops with an
	// error; LostResumeLatest logs loudly and continues from now;
	// LostResumeCopy logs loudly and starts over with CopyExisting.
	OnLostResume LostResumePolicy

	// Heartbeat, when positive, saves an idle stream's resume token at this
	// interval, so a quiet collection's resume point does not fall out of
	// the oplog. Default off.
	Heartbeat time.Duration

	// Tolerance is what happens to an event that cannot be published: a
	// document no compatible schema version can carry, or a record larger
	// than the topic accepts. "none" (default) stops the source; "all"
	// sends it to DeadLetterTopic and goes on.
	Tolerance string
	// DeadLetterTopic receives such events; required with tolerance all.
	DeadLetterTopic string

	// DrainTimeout bounds how long a stopped source waits for the records
	// in flight to be acknowledged and their resume token saved. Default
	// 10s.
	DrainTimeout time.Duration

	// MaxBatch caps the events produced before a resume token is saved.
	// Default 500.
	MaxBatch int
	// Logger logs progress. Default slog.Default().
	Logger *slog.Logger
	// OnBatch, when set, is called after each batch's resume token is
	// saved, with its record count and the time from the batch's first
	// event read to the save.
	OnBatch func(records int, took time.Duration)
}

// Cursor is the part of a cursor a copy reads; the driver's and lungo's
// both have it.
type Cursor interface {
	Next(ctx context.Context) bool
	Decode(out any) error
	Err() error
	Close(ctx context.Context) error
}

// LostResumePolicy is what a source does when its resume point is lost.
type LostResumePolicy string

// The lost-resume policies.
const (
	LostResumeFail   LostResumePolicy = "fail"
	LostResumeLatest LostResumePolicy = "latest"
	LostResumeCopy   LostResumePolicy = "copy_existing"
)

// Validate reports every problem of a Config at once.
func (c *Config) Validate() error {
	var errs []error
	req := func(ok bool, what string) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s: required", what))
		}
	}
	req(c.Name != "", "name")
	req(c.Watch != nil, "watch")
	req(len(c.Brokers) > 0, "brokers")
	switch {
	case c.OffsetsTopic == "" && c.OffsetsFile == "":
		errs = append(errs, errors.New("offsetsTopic or offsetsFile: required"))
	case c.OffsetsTopic != "" && c.OffsetsFile != "":
		errs = append(errs, errors.New("offsetsTopic and offsetsFile: set only one"))
	}
	switch c.Compression {
	case "", "none", "gzip", "snappy", "lz4", "zstd":
	default:
		errs = append(errs, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", c.Compression))
	}
	req(c.Registry != nil, "registry")
	if c.Heartbeat < 0 {
		errs = append(errs, errors.New("heartbeat must not be negative"))
	}
	if c.MaxBatch < 0 {
		errs = append(errs, errors.New("maxBatch must not be negative"))
	}
	switch c.Format {
	case 0, schemas.Avro, schemas.Protobuf:
	default:
		errs = append(errs, fmt.Errorf("format %s: want avro or protobuf", c.Format))
	}
	if cp := c.CopyExisting; cp != nil {
		if err := cp.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if sn := c.Snapshots; sn != nil {
		if err := sn.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.OnLostResume {
	case "", LostResumeFail, LostResumeLatest:
	case LostResumeCopy:
		if c.CopyExisting == nil {
			errs = append(errs, errors.New("lost-resume policy copy_existing needs copyExisting"))
		}
	default:
		errs = append(errs, fmt.Errorf("lost-resume policy %q: want fail, latest or copy_existing", c.OnLostResume))
	}
	if !c.Envelope && c.FullDocument == options.Default {
		errs = append(errs, errors.New("full document \"default\" sends updates without their document, which a document-only source cannot publish: use updateLookup, whenAvailable or required, or the envelope"))
	}
	switch c.Tolerance {
	case "", "none":
	case "all":
		if c.DeadLetterTopic == "" {
			errs = append(errs, errors.New("errors.tolerance all needs a dead-letter topic"))
		}
	default:
		errs = append(errs, fmt.Errorf("errors.tolerance %q: want none or all", c.Tolerance))
	}
	switch c.Subjects {
	case "", SubjectTopic, SubjectRecord, SubjectTopicRecord:
	default:
		errs = append(errs, fmt.Errorf("subject strategy %q: want topic, record or topic-record", c.Subjects))
	}
	errs = append(errs, c.Topics.validate()...)
	if c.Topics.Topic != "" && c.Topics.Topic == c.OffsetsTopic {
		errs = append(errs, fmt.Errorf("topic %q is also the offsets topic", c.Topics.Topic))
	}
	return errors.Join(errs...)
}
