package mongosource

import (
	"context"
	"fmt"
	"regexp"
	"sync"

	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/subject"
	"github.com/schemaflow/schemaflow/schemas/infer"
)

// SubjectStrategy names registry subjects, as Confluent's serializers do.
type SubjectStrategy string

// The subject naming strategies.
const (
	// SubjectTopic is "<topic>-key" and "<topic>-value" (TopicNameStrategy).
	SubjectTopic SubjectStrategy = "topic"
	// SubjectRecord is the record's full name (RecordNameStrategy).
	SubjectRecord SubjectStrategy = "record"
	// SubjectTopicRecord is "<topic>-<record full name>"
	// (TopicRecordNameStrategy).
	SubjectTopicRecord SubjectStrategy = "topic-record"
)

// TopicNames maps a namespace to its topic. The first rule that applies
// wins: Topic, then Map, then Rules; else "db.coll". Prefix and Suffix are
// added to every name but Topic's.
type TopicNames struct {
	// Topic sends every event to one topic.
	Topic string
	// Map maps "db.coll" or "db" to a topic name.
	Map map[string]string
	// Rules rewrite "db.coll" by regular expression; the first that
	// matches is used, with $1-style references in Replacement.
	Rules []TopicRule
	// Prefix and Suffix wrap the name, joined with a dot.
	Prefix, Suffix string
}

// TopicRule is a regular-expression topic mapping.
type TopicRule struct {
	Pattern     *regexp.Regexp
	Replacement string
}

func (t TopicNames) validate(ps *config.Problems) {
	for i, r := range t.Rules {
		if r.Pattern == nil {
			ps.Add(fmt.Sprintf("Topics.Rules[%d].Pattern", i), "required")
		}
	}
}

func (t TopicNames) name(db, coll string) string {
	if t.Topic != "" {
		return t.Topic
	}
	ns := db + "." + coll
	name := ns
	if m, ok := t.Map[ns]; ok {
		name = m
	} else if m, ok := t.Map[db]; ok {
		name = m
	} else {
		for _, r := range t.Rules {
			if r.Pattern.MatchString(ns) {
				name = r.Pattern.ReplaceAllString(ns, r.Replacement)
				break
			}
		}
	}
	if t.Prefix != "" {
		name = t.Prefix + "." + name
	}
	if t.Suffix != "" {
		name += "." + t.Suffix
	}
	return name
}

// encoders holds one subject.Encoder per subject, made on first use: the
// registry is read once per subject, then only when a shape changes.
type encoders struct {
	mu     sync.Mutex
	byName map[string]*subject.Encoder
}

func (e *encoders) get(ctx context.Context, cfg Config, name, record string) (*subject.Encoder, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if enc, ok := e.byName[name]; ok {
		return enc, nil
	}
	enc, err := subject.New(ctx, subject.Options{
		Registry: cfg.Registry, Subject: name, Format: cfg.Format, Level: cfg.Level,
		Infer: infer.Options{Name: record, Namespace: cfg.Namespace}, Numbers: cfg.Numbers,
	})
	if err != nil {
		return nil, fmt.Errorf("mongosource: %s: %w", cfg.Name, err)
	}
	e.byName[name] = enc
	return enc, nil
}
