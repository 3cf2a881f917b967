package mongosink

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/relmap"
	"github.com/schemaflow/schemaflow/processor/sink"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Tolerance says what happens to a record that fails for good.
type Tolerance string

// The tolerances, named as in Kafka Connect's errors.tolerance.
const (
	// ToleranceNone stops the pipeline at the first such record (default).
	ToleranceNone Tolerance = "none"
	// ToleranceAll sends it to the dead-letter topic and goes on.
	ToleranceAll Tolerance = "all"
)

// Namespace is a database and collection.
type Namespace struct {
	Database   string
	Collection string
}

// Config configures a Pipeline.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Group is the consumer group. Required.
	Group string
	// Topics are consumed. Required.
	Topics []string
	// KafkaOptions are added to the consumer and producer options.
	KafkaOptions []kgo.Opt

	// Decoder decodes keys and values. Required.
	Decoder *decode.Decoder
	// Target opens collections. Required.
	Target Target

	// Database is the default database. Required.
	Database string
	// Collection is the default collection; default the topic name.
	Collection string
	// TopicNamespaces override the namespace per topic.
	TopicNamespaces map[string]Namespace
	// NamespaceField is a dotted path of the value naming the namespace:
	// a string "coll" or "db.coll", or a document {db, coll} as in MongoDB
	// change events' "ns". It wins over the other settings when present.
	NamespaceField string

	// Sink configures id and write strategies and post processors.
	Sink sink.Options
	// Handler, when set, reads values as change events of that format.
	Handler sink.Handler
	// Mapping, with Handler debezium-rdbms, maps tables to collections,
	// embedded arrays and embedded documents instead of one collection
	// per topic. Its collections are in Database.
	Mapping *relmap.Mapper
	// Find reads documents; required with Mapping.
	Find Finder

	// MaxBatch caps the records of one bulk write. Default 1000.
	MaxBatch int
	// MaxWait is how long a batch waits to fill after its first record.
	// Default 50ms.
	MaxWait time.Duration
	// Unordered makes bulk writes unordered; default ordered.
	Unordered bool

	// Retries is how many times a transient failure (network, primary
	// stepdown, registry unavailable) is retried before the pipeline
	// stops. Default 10.
	Retries int
	// Backoff is the first retry delay; it doubles up to 10s. Default 100ms.
	Backoff time.Duration

	// DrainTimeout bounds how long a stopped pipeline takes to write and
	// commit the batch in hand. Default 10s. When it runs out, the write
	// in progress is given up and the batch is read again by the next run;
	// the log line of the stop says which, with the offsets.
	DrainTimeout time.Duration
	// WriteTimeout bounds each write the pipeline makes: a bulk write
	// attempt, an offset commit, a dead letter. A bulk write that runs out
	// of it is retried like any transient failure; one whose target does
	// not heed its context is left to finish on its own. Default 30s.
	WriteTimeout time.Duration
	// SlowWrite is how long a bulk write attempt may run before a warning
	// names its namespace, record count and time so far, while it still
	// runs. Default 5s.
	SlowWrite time.Duration
	// CloseTimeout bounds leaving the consumer group when the pipeline
	// stops, after the drain. Default 5s.
	CloseTimeout time.Duration

	// Tolerance is errors.tolerance. Default ToleranceNone.
	Tolerance Tolerance
	// DeadLetterTopic receives failed records; required with ToleranceAll.
	DeadLetterTopic string

	// Logger logs retries and dead letters. Default slog.Default().
	Logger *slog.Logger
	// OnBatch, when set, is called after each committed batch with its
	// record count and the time from its first record's poll to commit.
	OnBatch func(records int, took time.Duration)
}

// Validate reports every problem of a Config at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Brokers) == 0 {
		bad("brokers: at least one is required")
	}
	if c.Group == "" {
		bad("group: required")
	}
	if len(c.Topics) == 0 {
		bad("topics: at least one is required")
	}
	if c.Decoder == nil {
		bad("decoder: required")
	}
	if c.Target == nil {
		bad("target: required")
	}
	if c.Database == "" {
		bad("database: required")
	}
	if c.MaxBatch < 0 || c.MaxWait < 0 || c.Retries < 0 || c.Backoff < 0 || c.WriteTimeout < 0 || c.SlowWrite < 0 {
		bad("maxBatch, maxWait, retries, backoff, writeTimeout and slowWrite must not be negative")
	}
	switch c.Tolerance {
	case "", ToleranceNone:
	case ToleranceAll:
		if c.DeadLetterTopic == "" {
			bad("errors.tolerance all needs a dead-letter topic")
		}
	default:
		bad("errors.tolerance %q: want none or all", c.Tolerance)
	}
	switch c.Handler {
	case "", sink.HandlerMongoDB, sink.HandlerDebeziumRDBMS, sink.HandlerDebeziumMongoDB, sink.HandlerDebeziumMongoDBOplog:
	default:
		bad("handler %q: want mongodb, debezium-rdbms, debezium-mongodb or debezium-mongodb-oplog", c.Handler)
	}
	if c.Mapping != nil && (c.Handler != sink.HandlerDebeziumRDBMS || c.Find == nil || c.Unordered) {
		bad("a mapping needs handler debezium-rdbms, a finder and ordered bulk writes")
	}
	for _, t := range c.Topics {
		if t == c.DeadLetterTopic && t != "" {
			bad("topic %q is also the dead-letter topic", t)
		}
	}
	return errors.Join(errs...)
}

// The defaults of Config's timeouts.
const (
	DefaultWriteTimeout = 30 * time.Second
	DefaultSlowWrite    = 5 * time.Second
)
