package mongosource

import (
	"context"
	"log/slog"
	"time"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/internal/graceful"
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
	Compression config.Compression
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
	Tolerance config.Tolerance
	// DeadLetterTopic receives such events; required with tolerance all.
	DeadLetterTopic string

	// DrainTimeout bounds how long a stopped source waits for the records
	// in flight to be acknowledged and their resume token saved. Default
	// 10s.
	DrainTimeout time.Duration

	// MaxBatch caps the events produced before a resume token is saved.
	// Default DefaultMaxBatch (500).
	MaxBatch int
	// MaxInflightBytes bounds the bytes the source holds for Kafka: the
	// records of the batches encoded and not yet acknowledged, and their
	// dead letters not yet produced. Reading waits while a new batch would
	// pass it (a batch larger than the bound alone is still produced,
	// alone). Default DefaultMaxInflightBytes (4 MiB).
	MaxInflightBytes int64
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

// The defaults EnsureDefaults fills in.
const (
	// DefaultMaxBatch caps the events produced per saved resume token.
	DefaultMaxBatch = 500
	// DefaultMaxInflightBytes bounds the bytes of records in flight.
	DefaultMaxInflightBytes = config.DefaultMaxInflightBytes
)

// LostResumePolicies lists the lost-resume policies.
var LostResumePolicies = []LostResumePolicy{LostResumeFail, LostResumeLatest, LostResumeCopy}

// SubjectStrategies lists the subject naming strategies.
var SubjectStrategies = []SubjectStrategy{SubjectTopic, SubjectRecord, SubjectTopicRecord}

// EnsureDefaults fills in the default of every field left unset; New
// calls it.
func (c *Config) EnsureDefaults() {
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if c.Format == 0 {
		c.Format = schemas.Avro
	}
	if c.Subjects == "" {
		c.Subjects = SubjectTopic
	}
	if c.Compression == "" {
		c.Compression = config.DefaultCompression
	}
	if c.Tolerance == "" {
		c.Tolerance = config.ToleranceNone
	}
	if c.OnLostResume == "" {
		c.OnLostResume = LostResumeFail
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = graceful.DefaultDrain
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem of a Config at once, as config.Problems
// naming each field.
func (c *Config) Validate() error {
	var ps config.Problems
	req := func(ok bool, field string) {
		if !ok {
			ps.Add(field, "required")
		}
	}
	req(c.Name != "", "Name")
	req(c.Watch != nil, "Watch")
	req(len(c.Brokers) > 0, "Brokers")
	switch {
	case c.OffsetsTopic == "" && c.OffsetsFile == "":
		ps.Add("OffsetsTopic", "OffsetsTopic or OffsetsFile is required")
	case c.OffsetsTopic != "" && c.OffsetsFile != "":
		ps.Add("OffsetsFile", "set OffsetsTopic or OffsetsFile, not both")
	}
	config.CheckEnum(&ps, "Compression", c.Compression, config.Compressions)
	req(c.Registry != nil, "Registry")
	if c.Heartbeat < 0 {
		ps.Add("Heartbeat", "must not be negative")
	}
	if c.MaxBatch < 0 {
		ps.Add("MaxBatch", "must not be negative")
	}
	if c.MaxInflightBytes < 0 {
		ps.Add("MaxInflightBytes", "must not be negative")
	}
	switch c.Format {
	case 0, schemas.Avro, schemas.Protobuf:
	default:
		ps.Add("Format", "%s: want avro or protobuf", c.Format)
	}
	if cp := c.CopyExisting; cp != nil {
		ps.Nest("CopyExisting", cp.validate())
	}
	if sn := c.Snapshots; sn != nil {
		ps.Nest("Snapshots", sn.validate())
	}
	config.CheckEnum(&ps, "OnLostResume", c.OnLostResume, LostResumePolicies)
	if c.OnLostResume == LostResumeCopy && c.CopyExisting == nil {
		ps.Add("OnLostResume", "copy_existing needs CopyExisting")
	}
	if !c.Envelope && c.FullDocument == options.Default {
		ps.Add("FullDocument", "\"default\" sends updates without their document, which publish: document cannot publish: use updateLookup (the default), whenAvailable or required, or publish: envelope")
	}
	config.CheckEnum(&ps, "Tolerance", c.Tolerance, config.Tolerances)
	if c.Tolerance == config.ToleranceAll && c.DeadLetterTopic == "" {
		ps.Add("DeadLetterTopic", "required with tolerance all")
	}
	config.CheckEnum(&ps, "Subjects", c.Subjects, SubjectStrategies)
	c.Topics.validate(&ps)
	if c.Topics.Topic != "" && c.Topics.Topic == c.OffsetsTopic {
		ps.Add("Topics.Topic", "%q is also the offsets topic", c.Topics.Topic)
	}
	if c.DeadLetterTopic != "" && c.DeadLetterTopic == c.Topics.Topic {
		ps.Add("DeadLetterTopic", "%q is also the source's topic", c.DeadLetterTopic)
	}
	return ps.Err()
}
