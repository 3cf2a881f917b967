package mongosink

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/internal/graceful"
	"github.com/schemaflow/schemaflow/processor/relmap"
	"github.com/schemaflow/schemaflow/processor/sink"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Tolerance says what happens to a record that fails for good; sources
// share the type (config.Tolerance).
type Tolerance = config.Tolerance

// The tolerances, named as in Kafka Connect's errors.tolerance.
const (
	// ToleranceNone stops the pipeline at the first such record (default).
	ToleranceNone = config.ToleranceNone
	// ToleranceAll sends it to the dead-letter topic and goes on.
	ToleranceAll = config.ToleranceAll
)

// Handlers lists the CDC handlers a Config accepts.
var Handlers = []sink.Handler{sink.HandlerMongoDB, sink.HandlerDebeziumRDBMS, sink.HandlerDebeziumMongoDB, sink.HandlerDebeziumMongoDBOplog}

// IDStrategies lists the id strategies of Sink.ID.
var IDStrategies = []sink.IDStrategy{sink.IDObjectID, sink.IDUUID, sink.IDFullKey, sink.IDPartialKey, sink.IDPartialValue, sink.IDKey, sink.IDValue, sink.IDKafka}

// WriteStrategies lists the write strategies of Sink.Write.
var WriteStrategies = []sink.WriteStrategy{sink.WriteReplace, sink.WriteUpdate, sink.WriteInsert, sink.WriteUpdateTimestamps, sink.WriteReplaceBusinessKey, sink.WriteUpdateBusinessKeyTimestamps}

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

	// MaxBatch caps the records of one bulk write. Default 1000. Unless
	// FixedBatch is set, it is the ceiling of the adaptive batch size.
	MaxBatch int
	// BatchLatency is the hard ceiling on a batch's bulk write time for
	// the adaptive batch size, which otherwise climbs to the size of best
	// throughput (adaptive.go): a batch whose writes take longer shrinks
	// the next to what would have fit in it, and the size never grows to
	// what its measured rate would write in longer than this. Default
	// DefaultBatchLatency (500ms).
	BatchLatency time.Duration
	// InitialAdaptiveBatch is the adaptive batch size's start (MaxBatch
	// when smaller). Default DefaultInitialAdaptiveBatch (100).
	InitialAdaptiveBatch int
	// MinAdaptiveBatch is the adaptive batch size's floor (MaxBatch when
	// smaller). Default DefaultMinAdaptiveBatch (10).
	MinAdaptiveBatch int
	// FixedBatch turns the adaptive batch size off: every batch fills up
	// to MaxBatch records.
	FixedBatch bool
	// MaxInflightBytes bounds the bytes of records the pipeline holds,
	// in two halves: the batch being decoded, written and committed, with
	// the headers of its dead letters, and the Kafka client's fetch
	// buffer, decompressed (inflight.go). A batch closes when the next
	// record would pass its half; a single record larger than that is
	// taken alone. Default config.DefaultMaxInflightBytes (4 MiB).
	MaxInflightBytes int64
	// MaxWait is how long a batch waits to fill after its first record.
	// Default 50ms.
	MaxWait time.Duration
	// Unordered makes bulk writes unordered; default ordered.
	Unordered bool

	// Retries is how many times a transient failure (network, primary
	// stepdown, registry unavailable) is retried before the pipeline
	// stops. Default 10.
	Retries int
	// Backoff is the first retry delay; it doubles up to 10s, each wait
	// drawn within ±20% (internal/retry). Default 100ms.
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
	// runs. Default 5s, or half of WriteTimeout when that is shorter.
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

// EnsureDefaults fills in the default of every field left unset; New
// calls it.
func (c *Config) EnsureDefaults() {
	if c.Tolerance == "" {
		c.Tolerance = ToleranceNone
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.BatchLatency == 0 {
		c.BatchLatency = DefaultBatchLatency
	}
	if c.InitialAdaptiveBatch == 0 {
		c.InitialAdaptiveBatch = DefaultInitialAdaptiveBatch
	}
	if c.MinAdaptiveBatch == 0 {
		c.MinAdaptiveBatch = DefaultMinAdaptiveBatch
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = config.DefaultMaxInflightBytes
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.SlowWrite <= 0 {
		// Half the write timeout when that is shorter, so the warning
		// still comes before the write gives up.
		c.SlowWrite = min(DefaultSlowWrite, c.WriteTimeout/2)
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
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
	if len(c.Brokers) == 0 {
		ps.Add("Brokers", "at least one is required")
	}
	if c.Group == "" {
		ps.Add("Group", "required")
	}
	if len(c.Topics) == 0 {
		ps.Add("Topics", "at least one topic is required")
	}
	if c.Decoder == nil {
		ps.Add("Decoder", "required")
	}
	if c.Target == nil {
		ps.Add("Target", "required")
	}
	if c.Database == "" {
		ps.Add("Database", "required")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"MaxBatch", int64(c.MaxBatch)}, {"MaxWait", int64(c.MaxWait)}, {"Retries", int64(c.Retries)}, {"Backoff", int64(c.Backoff)},
		{"WriteTimeout", int64(c.WriteTimeout)}, {"SlowWrite", int64(c.SlowWrite)},
		{"BatchLatency", int64(c.BatchLatency)}, {"InitialAdaptiveBatch", int64(c.InitialAdaptiveBatch)},
		{"MinAdaptiveBatch", int64(c.MinAdaptiveBatch)}, {"MaxInflightBytes", c.MaxInflightBytes}} {
		if f.v < 0 {
			ps.Add(f.name, "must not be negative")
		}
	}
	if writeTimeout := cmp.Or(c.WriteTimeout, DefaultWriteTimeout); c.SlowWrite >= writeTimeout {
		ps.Add("SlowWrite", "%s is not shorter than write_timeout (%s): the warning would never come", c.SlowWrite, writeTimeout)
	}
	config.CheckEnum(&ps, "Tolerance", c.Tolerance, config.Tolerances)
	if c.Tolerance == ToleranceAll && c.DeadLetterTopic == "" {
		ps.Add("DeadLetterTopic", "required with tolerance all")
	}
	config.CheckEnum(&ps, "Handler", c.Handler, Handlers)
	config.CheckEnum(&ps, "Sink.ID", c.Sink.ID, IDStrategies)
	config.CheckEnum(&ps, "Sink.Write", c.Sink.Write, WriteStrategies)
	if c.Mapping != nil && (c.Handler != sink.HandlerDebeziumRDBMS || c.Find == nil || c.Unordered) {
		ps.Add("Mapping", "a mapping needs handler debezium-rdbms, a finder and ordered bulk writes")
	}
	for i, t := range c.Topics {
		if t == "" {
			ps.Add(fmt.Sprintf("Topics[%d]", i), "empty topic name")
		}
		if t == c.DeadLetterTopic && t != "" {
			ps.Add(fmt.Sprintf("Topics[%d]", i), "%q is also the dead-letter topic", t)
		}
	}
	return ps.Err()
}

// The defaults EnsureDefaults fills in.
const (
	DefaultMaxBatch     = 1000
	DefaultMaxWait      = 50 * time.Millisecond
	DefaultRetries      = 10
	DefaultBackoff      = 100 * time.Millisecond
	DefaultWriteTimeout = 30 * time.Second
	DefaultSlowWrite    = 5 * time.Second
	DefaultCloseTimeout = 5 * time.Second
	DefaultBatchLatency = 500 * time.Millisecond
)

// The adaptive batch size's start and floor by default.
const (
	DefaultInitialAdaptiveBatch = 100
	DefaultMinAdaptiveBatch     = 10
)
