package mongosource

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/schemaflow/schemaflow/processor/subject"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// record turns an event into out, encoding key and value into buf (a
// slice of the batch's arena; appends beyond its capacity move to new
// memory). false means nothing to publish. o gets the event's origin, for
// a dead letter should Kafka refuse the record.
func (s *Source) record(ctx context.Context, event bson.Raw, buf []byte, out *kgo.Record, o *origin) (bool, error) {
	f, err := fieldsOf(event)
	if err != nil {
		return false, fmt.Errorf("mongosource: %s: change event: %w", s.cfg.Name, err)
	}
	op, keyDoc := f.op, f.key
	if keyDoc == nil {
		// drop, rename, invalidate: events about collections, not documents.
		s.skip(SkipNoDocument, "mongosource: skipping an event about a collection, not a document", "operationType", op, "ns", nsString(f.ns))
		return false, nil
	}
	rt, err := s.route(ctx, f.ns)
	if err != nil {
		return false, err
	}
	*o = origin{ns: rt.ns, key: keyDoc}
	where := func() string { return fmt.Sprintf("%s %s", rt.ns, keyJSON(keyDoc)) }
	fail := func(part string, doc bson.Raw, err error) error {
		class := classify(err)
		if class == "" {
			return fmt.Errorf("mongosource: %s: %s: %s: %w", s.cfg.Name, where(), part, err)
		}
		value, _ := bson.MarshalExtJSON(doc, true, false)
		return &RecordError{Class: class, Where: rt.ns, Key: []byte(keyJSON(keyDoc)), Err: fmt.Errorf("%s: %w", part, err), value: value}
	}
	encoded, err := rt.keys.Encode(ctx, buf, keyDoc)
	if err != nil {
		return false, fail("key", keyDoc, err)
	}
	// The value goes after the key, in the rest of the buffer.
	key, rest := encoded[:len(encoded):len(encoded)], encoded[len(encoded):]

	var value bson.Raw
	if s.cfg.Envelope {
		// The resume token is the source's bookkeeping, not data.
		if value, err = without(event, "_id"); err != nil {
			return false, fmt.Errorf("mongosource: %s: %s: %w", s.cfg.Name, where(), err)
		}
	} else {
		switch {
		case f.full != nil:
			value = f.full
		case op == "delete" && s.cfg.NoTombstones:
			// Asked for: counted, logged at debug only.
			s.skipped.Add(SkipTombstonesOff, 1)
			s.log.Debug("mongosource: delete not published: tombstones are off", "source", s.cfg.Name, "document", where())
			return false, nil
		case op == "delete":
			out.Topic, out.Key = rt.topic, key
			return true, nil
		default:
			// An update whose document was deleted before the lookup (a
			// later delete event follows), or whose post-image was not
			// kept (full_document whenAvailable).
			s.skip(SkipNoFullDocument, "mongosource: skipping an event without its full document", "operationType", op, "document", where())
			return false, nil
		}
	}
	v, err := rt.values.Encode(ctx, rest, value)
	if err != nil {
		return false, fail(op+" event", value, err)
	}
	// out is a fresh, zeroed record: set the fields, not the whole struct.
	out.Topic, out.Key, out.Value = rt.topic, key, v
	return true, nil
}

// Reasons a change event is published as nothing, as counted in
// Stats.Skipped.
const (
	// SkipNoDocument: an event about a collection (drop, rename,
	// dropDatabase, invalidate), not about a document.
	SkipNoDocument = "no_document"
	// SkipNoFullDocument: a document-only source got an update without
	// its full document: the lookup found it deleted meanwhile, or the
	// post-image was not available.
	SkipNoFullDocument = "no_full_document"
	// SkipTombstonesOff: a delete, with tombstones turned off.
	SkipTombstonesOff = "tombstones_off"
)

// skip counts an event published as nothing and warns about it.
func (s *Source) skip(reason, msg string, args ...any) {
	s.skipped.Add(reason, 1)
	s.log.Warn(msg, append([]any{"source", s.cfg.Name, "reason", reason}, args...)...)
}

// nsString renders a change event's ns document as "db.coll" (or "db").
func nsString(ns bson.Raw) string {
	if ns == nil {
		return ""
	}
	db, _ := ns.Lookup("db").StringValueOK()
	if coll, ok := ns.Lookup("coll").StringValueOK(); ok {
		return db + "." + coll
	}
	return db
}

// eventFields are the parts of a change event the source reads.
type eventFields struct {
	op            string
	ns, key, full bson.Raw
}

// fieldsOf reads an event's fields in one pass over its elements, without
// allocating; the values are checked by the encoders that read them.
func fieldsOf(event bson.Raw) (eventFields, error) {
	var f eventFields
	if !rawbson.WellFramed(event) {
		return f, errors.New("malformed BSON document")
	}
	for b := event[4 : len(event)-1]; len(b) > 0; {
		key, v, rest, ok := rawbson.Next(b)
		if !ok {
			return f, errors.New("malformed BSON element")
		}
		b = rest
		switch string(key) {
		case "operationType":
			f.op, _ = v.StringValueOK()
		case "documentKey":
			f.key = docOf(v)
		case "fullDocument":
			f.full = docOf(v)
		case "ns":
			f.ns = docOf(v)
		}
	}
	return f, nil
}

func docOf(v bsoncore.Value) bson.Raw {
	if v.Type != bson.TypeEmbeddedDocument || !rawbson.WellFramed(v.Data) {
		return nil
	}
	return bson.Raw(v.Data)
}

// route is where a namespace's events go: its topic and the encoders of
// its key and value subjects.
type route struct {
	ns           string // "db.coll"
	topic        string
	keys, values *subject.Encoder
}

// route returns the namespace's route, made on its first event.
func (s *Source) route(ctx context.Context, nsDoc bson.Raw) (*route, error) {
	// Keyed by the ns document's bytes: the lookup allocates nothing.
	if rt, ok := (*s.routes.Load())[string(nsDoc)]; ok {
		return rt, nil
	}
	db, _ := nsDoc.Lookup("db").StringValueOK()
	coll, _ := nsDoc.Lookup("coll").StringValueOK()
	ns := db + "." + coll
	topic := s.cfg.Topics.name(db, coll)
	name := infer.MessageName(coll)
	if name == "" {
		name = "Document"
	}
	keys, err := s.encoders.get(ctx, s.cfg, s.subject(topic, name+"Key", "key"), name+"Key")
	if err != nil {
		return nil, err
	}
	if s.cfg.Envelope {
		name += "Event"
	}
	values, err := s.encoders.get(ctx, s.cfg, s.subject(topic, name, "value"), name)
	if err != nil {
		return nil, err
	}
	rt := &route{ns: ns, topic: topic, keys: keys, values: values}
	s.topicsMu.Lock()
	// Copy on write: readers load the map without a lock.
	routes := maps.Clone(*s.routes.Load())
	routes[string(nsDoc)] = rt
	s.routes.Store(&routes)
	s.noteTopic(topic)
	s.topicsMu.Unlock()
	return rt, nil
}

// noteTopic records a topic for purging on stop; topicsMu is held.
func (s *Source) noteTopic(topic string) {
	for _, t := range s.topics {
		if t == topic {
			return
		}
	}
	s.topics = append(s.topics, topic)
}

// subject names the subject of a topic's keys or values (part "key" or
// "value") whose record is named name.
func (s *Source) subject(topic, name, part string) string {
	full := name
	if s.cfg.Namespace != "" {
		full = s.cfg.Namespace + "." + name
	}
	switch s.cfg.Subjects {
	case SubjectRecord:
		return full
	case SubjectTopicRecord:
		return topic + "-" + full
	}
	return topic + "-" + part
}

func keyJSON(key bson.Raw) string {
	b, err := bson.MarshalExtJSON(key, false, false)
	if err != nil {
		return key.String()
	}
	return string(b)
}

// without copies doc without one top-level key, element bytes as they
// are: no decoding on the per-event path.
func without(doc bson.Raw, key string) (bson.Raw, error) {
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	idx, out := bsoncore.AppendDocumentStart(make([]byte, 0, len(doc)))
	for _, e := range elems {
		if e.Key() != key {
			out = append(out, e...)
		}
	}
	out, err = bsoncore.AppendDocumentEnd(out, idx)
	return out, err
}
