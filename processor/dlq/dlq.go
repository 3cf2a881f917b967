// Package dlq reads dead-letter topics and replays dead letters to the
// topics they came from.
//
// Two kinds of dead letter exist. A sink's (package mongosink) is the
// Kafka record that could not be written to MongoDB, with Kafka Connect's
// headers naming the error class and message and the original topic,
// partition and offset: it can be replayed, to its original topic with its
// original key, value and headers. A source's (package mongosource) is a
// change event that never reached Kafka — its key and value are the
// document key and document as Extended JSON, with headers naming the
// class, message and MongoDB namespace —, so it has no original topic and
// is not replayed: fix the cause and snapshot the document
// (`schemaflow snapshot`) instead.
package dlq

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/mongosink"
	"github.com/schemaflow/schemaflow/processor/mongosource"
	"github.com/schemaflow/schemaflow/schemas/wire"
)

// The kinds of dead letter.
const (
	// KindSink is a record a sink could not write; it names its original
	// topic, partition and offset.
	KindSink = "sink"
	// KindSource is a change event a source could not publish; it names
	// its MongoDB namespace.
	KindSource = "source"
	// KindUnknown is a record without the headers of either.
	KindUnknown = "unknown"
)

// DefaultTimeout bounds each Kafka call of Read and Replay when the
// context has no earlier deadline.
const DefaultTimeout = 30 * time.Second

// Letter is one record of a dead-letter topic.
type Letter struct {
	// Topic, Partition and Offset locate the dead letter itself.
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
	// Kind is KindSink, KindSource or KindUnknown.
	Kind string `json:"kind"`
	// Class and Message are the error's class and message.
	Class   string `json:"class"`
	Message string `json:"message"`
	// OriginTopic, OriginPartition and OriginOffset are where a sink's
	// dead letter was read from; OriginTopic is "" for other kinds.
	OriginTopic     string `json:"originTopic,omitempty"`
	OriginPartition int32  `json:"originPartition"`
	OriginOffset    int64  `json:"originOffset"`
	// Namespace is the "db.coll" of a source's dead letter.
	Namespace string `json:"namespace,omitempty"`
	// Key and Value are the record's bytes as the dead-letter topic holds
	// them.
	Key   []byte `json:"-"`
	Value []byte `json:"-"`
	// Headers are every header, the dead-letter ones included, in order.
	Headers []kgo.RecordHeader `json:"-"`
}

// ID names a dead letter within its topic: "PARTITION:OFFSET".
func (l Letter) ID() string { return fmt.Sprintf("%d:%d", l.Partition, l.Offset) }

// ParseID parses an ID.
func ParseID(s string) (partition int32, offset int64, err error) {
	p, o, ok := strings.Cut(s, ":")
	pn, err1 := strconv.ParseInt(p, 10, 32)
	on, err2 := strconv.ParseInt(o, 10, 64)
	if !ok || err1 != nil || err2 != nil || pn < 0 || on < 0 {
		return 0, 0, fmt.Errorf("dlq: %q is not PARTITION:OFFSET", s)
	}
	return int32(pn), on, nil
}

// deadLetterHeaders are the headers the pipelines add; Replay leaves them
// out.
var deadLetterHeaders = map[string]bool{
	mongosink.HeaderTopic: true, mongosink.HeaderPartition: true, mongosink.HeaderOffset: true,
	mongosink.HeaderClass: true, mongosink.HeaderMessage: true,
	mongosource.HeaderClass: true, mongosource.HeaderMessage: true, mongosource.HeaderSource: true, mongosource.HeaderKey: true,
}

// IsDeadLetterHeader reports whether a header is one the pipelines add to
// dead letters.
func IsDeadLetterHeader(key string) bool { return deadLetterHeaders[key] }

// Parse reads a dead-letter record's headers. Headers that do not parse
// (a partition that is not a number) leave their fields zero and the kind
// KindUnknown; nothing is refused.
func Parse(r *kgo.Record) Letter {
	l := Letter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Kind: KindUnknown,
		Key: r.Key, Value: r.Value, Headers: r.Headers, OriginPartition: -1, OriginOffset: -1}
	var partition, offset string
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case mongosink.HeaderTopic:
			l.OriginTopic = v
		case mongosink.HeaderPartition:
			partition = v
		case mongosink.HeaderOffset:
			offset = v
		case mongosink.HeaderClass, mongosource.HeaderClass:
			l.Class = v
		case mongosink.HeaderMessage, mongosource.HeaderMessage:
			l.Message = v
		case mongosource.HeaderSource:
			l.Namespace = v
			l.Kind = KindSource
		}
	}
	if l.OriginTopic != "" {
		p, err1 := strconv.ParseInt(partition, 10, 32)
		o, err2 := strconv.ParseInt(offset, 10, 64)
		if err1 == nil && err2 == nil {
			l.Kind, l.OriginPartition, l.OriginOffset = KindSink, int32(p), o
		} else {
			l.OriginTopic = ""
		}
	}
	return l
}

// NotReplayableError says why a dead letter cannot be replayed.
type NotReplayableError struct {
	Letter Letter
	Reason string
}

// Error implements error.
func (e *NotReplayableError) Error() string {
	return fmt.Sprintf("dlq: %s %s: not replayable: %s", e.Letter.Topic, e.Letter.ID(), e.Reason)
}

// Replayable reports whether l can be replayed; the error is a
// *NotReplayableError saying why not.
func (l Letter) Replayable() error {
	switch l.Kind {
	case KindSink:
		return nil
	case KindSource:
		return &NotReplayableError{Letter: l, Reason: fmt.Sprintf("a source's dead letter (%s never reached Kafka): fix the cause and snapshot the document with schemaflow snapshot", l.Namespace)}
	}
	return &NotReplayableError{Letter: l, Reason: "no " + mongosink.HeaderTopic + " header naming its original topic"}
}

// Record is the record a replay produces: to the original topic, with the
// original key, value and headers, the dead-letter headers left out.
func (l Letter) Record() (*kgo.Record, error) {
	if err := l.Replayable(); err != nil {
		return nil, err
	}
	r := &kgo.Record{Topic: l.OriginTopic, Key: l.Key, Value: l.Value}
	for _, h := range l.Headers {
		if !deadLetterHeaders[h.Key] {
			r.Headers = append(r.Headers, h)
		}
	}
	return r, nil
}

// ErrNoTopic is returned by Read for a topic the brokers do not know.
var ErrNoTopic = errors.New("dlq: no such topic")

// ReadOptions configure Read.
type ReadOptions struct {
	// Limit is how many of the newest records of each partition are read.
	// Default 1000.
	Limit int
}

// withDeadline bounds ctx by DefaultTimeout unless it ends sooner.
func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= DefaultTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// Read reads a dead-letter topic as it is when called: up to the limit of
// the newest records of each partition, ordered by partition and offset.
// opts are the client options: seed brokers, SASL, TLS. Every call has a
// deadline (the context's, or DefaultTimeout).
func Read(ctx context.Context, opts []kgo.Opt, topic string, ro ReadOptions) ([]Letter, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	if ro.Limit <= 0 {
		ro.Limit = 1000
	}
	admin, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("dlq: kafka client: %w", err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("%w: %s", ErrNoTopic, topic)
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: %s: start offsets: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: %s: end offsets: %w", topic, err)
	}
	from := map[int32]kgo.Offset{}
	until := map[int32]int64{} // exclusive
	ends.Each(func(o kadm.ListedOffset) {
		start := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			start = s.Offset
		}
		if o.Offset <= start {
			return
		}
		first := max(start, o.Offset-int64(ro.Limit))
		from[o.Partition] = kgo.NewOffset().At(first)
		until[o.Partition] = o.Offset
	})
	if len(from) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))...)
	if err != nil {
		return nil, fmt.Errorf("dlq: kafka client: %w", err)
	}
	defer cl.Close()
	var out []Letter
	for len(until) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("dlq: reading %s: %w", topic, err)
		}
		var ferr error
		fetches.EachError(func(_ string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("partition %d: %w", p, err))
		})
		if ferr != nil {
			return nil, fmt.Errorf("dlq: reading %s: %w", topic, ferr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := until[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			out = append(out, Parse(r))
			if r.Offset >= end-1 {
				delete(until, r.Partition)
			}
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

// Filter returns the letters of an error class; "" keeps them all.
func Filter(letters []Letter, class string) []Letter {
	if class == "" {
		return letters
	}
	var out []Letter
	for _, l := range letters {
		if l.Class == class {
			out = append(out, l)
		}
	}
	return out
}

// Result is the outcome of replaying one letter.
type Result struct {
	Letter Letter
	// Partition and Offset are where the record landed in its original
	// topic; valid when Err is nil.
	Partition int32
	Offset    int64
	// Err is a *NotReplayableError, or the produce error.
	Err error
}

// Replay produces each replayable letter to its original topic with cl,
// in order, and waits for the acknowledgements, within the context's
// deadline or DefaultTimeout. Letters that cannot be replayed get a
// *NotReplayableError and are not produced. The results follow letters'
// order.
func Replay(ctx context.Context, cl *kgo.Client, letters []Letter) []Result {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	out := make([]Result, len(letters))
	var recs []*kgo.Record
	idx := map[*kgo.Record]int{} // ProduceSync answers in completion order
	for i, l := range letters {
		out[i].Letter = l
		r, err := l.Record()
		if err != nil {
			out[i].Err = err
			continue
		}
		recs = append(recs, r)
		idx[r] = i
	}
	if len(recs) == 0 {
		return out
	}
	res := cl.ProduceSync(ctx, recs...)
	for _, pr := range res {
		i := idx[pr.Record]
		if pr.Err != nil {
			out[i].Err = fmt.Errorf("dlq: replaying %s %s to %s: %w", letters[i].Topic, letters[i].ID(), letters[i].OriginTopic, pr.Err)
			continue
		}
		out[i].Partition, out[i].Offset = pr.Record.Partition, pr.Record.Offset
	}
	return out
}

// Shown is a key or value as the console and the command show it.
type Shown struct {
	// JSON is the value decoded through the registry as relaxed Extended
	// JSON, or the bytes themselves when they are JSON; nil otherwise.
	JSON json.RawMessage `json:"json,omitempty"`
	// SchemaID is the registry id of a Confluent-framed value; 0 if none.
	SchemaID uint32 `json:"schemaId,omitempty"`
	// Hex is the bytes in hexadecimal when they are not JSON.
	Hex string `json:"hex,omitempty"`
	// Error says why framed bytes did not decode.
	Error string `json:"error,omitempty"`
	// Null is set for a missing key or value.
	Null bool `json:"null,omitempty"`
}

// Show decodes b through dec (which may have no registry): framed records
// become Extended JSON, JSON stays as it is, anything else is hex.
func Show(ctx context.Context, dec *decode.Decoder, b []byte) Shown {
	if b == nil {
		return Shown{Null: true}
	}
	var s Shown
	if id, _, err := wire.ParseHeader(b); err == nil && len(b) > 0 && b[0] == 0 {
		s.SchemaID = id
		ctx, cancel := withDeadline(ctx)
		defer cancel()
		doc, err := dec.Decode(ctx, b)
		if err == nil {
			if text, err := bson.MarshalExtJSON(doc, false, false); err == nil {
				s.JSON = text
				return s
			}
		}
		if err != nil {
			s.Error = err.Error()
		}
	}
	if s.SchemaID == 0 && json.Valid(b) {
		s.JSON = append(json.RawMessage(nil), b...)
		return s
	}
	s.Hex = hex.EncodeToString(b)
	return s
}

// String renders a Shown on one line: the JSON, or "hex:..." (with the
// decode error).
func (s Shown) String() string {
	switch {
	case s.Null:
		return "null"
	case s.JSON != nil:
		return string(s.JSON)
	case s.Error != "":
		return "hex:" + s.Hex + " (" + s.Error + ")"
	}
	return "hex:" + s.Hex
}
