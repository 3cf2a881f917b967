package spec

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/mongosink"
	"github.com/schemaflow/schemaflow/processor/mongosource"
	"github.com/schemaflow/schemaflow/processor/sink"
	"github.com/schemaflow/schemaflow/schemas"
)

// DefaultOffsetsTopic keeps sources' resume tokens unless a spec names
// another.
const DefaultOffsetsTopic = "_schemaflow_offsets"

// SourceConfig is the mongosource.Config of source pipeline p (as
// Effective returns it) of f: every setting the spec holds, defaults left
// to the Config's EnsureDefaults. What only a running daemon has is left
// unset: Watch, Registry, KafkaOptions, the copy's and snapshots'
// readers, Logger, OnBatch and DrainTimeout. Values that do not parse
// (each already a problem of the spec) are left unset and joined into
// the error.
func (f *File) SourceConfig(p Pipeline) (mongosource.Config, error) {
	return sourceConfig(f.Resolve, p)
}

func sourceConfig(resolve func(string) string, p Pipeline) (mongosource.Config, error) {
	s := p.Source
	if s == nil {
		return mongosource.Config{}, fmt.Errorf("pipeline %s is not a source", p.Name)
	}
	cfg := mongosource.Config{
		Name: p.Name, Brokers: p.Kafka.Brokers, Compression: config.Compression(p.Kafka.Compression),
		Namespace: s.Namespace, Subjects: mongosource.SubjectStrategy(s.SubjectStrategy),
		Envelope: s.Publish == "envelope", NoTombstones: s.Tombstones != nil && !*s.Tombstones,
		FullDocument: options.FullDocument(s.FullDocument), FullDocumentBeforeChange: options.FullDocument(s.FullDocumentBeforeChange),
		OnLostResume: mongosource.LostResumePolicy(s.OnLostResume), Heartbeat: s.Heartbeat.Duration,
		Tolerance: config.Tolerance(p.Errors.Tolerance), DeadLetterTopic: p.Errors.DeadLetterTopic,
		MaxBatch: s.MaxBatch, MaxInflightBytes: int64(p.MaxInflightBytes),
		Topics: mongosource.TopicNames{Topic: s.Topic, Map: s.TopicMap, Prefix: s.TopicPrefix, Suffix: s.TopicSuffix},
	}
	if s.FullDocumentBeforeChange == "off" {
		cfg.FullDocumentBeforeChange = ""
	}
	switch {
	case s.Offsets.File != "":
		cfg.OffsetsFile = resolve(s.Offsets.File)
	case s.Offsets.Topic != "":
		cfg.OffsetsTopic = s.Offsets.Topic
	default:
		cfg.OffsetsTopic = DefaultOffsetsTopic
	}
	var errs []error
	if s.Format != "" {
		format, err := schemas.ParseFormat(s.Format)
		errs = append(errs, err)
		cfg.Format = format
	}
	if s.Compatibility != "" {
		level, err := evolution.ParseLevel(s.Compatibility)
		errs = append(errs, err)
		cfg.Level = level
	}
	if s.Numbers != "" {
		numbers, err := schemas.ParseNumbers(s.Numbers)
		errs = append(errs, err)
		cfg.Numbers = numbers
	}
	for _, r := range s.TopicRules {
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.Topics.Rules = append(cfg.Topics.Rules, mongosource.TopicRule{Pattern: re, Replacement: r.Replacement})
	}
	if s.StartAt != "" {
		ts, err := ParseTimestamp(s.StartAt)
		errs = append(errs, err)
		if err == nil {
			cfg.StartAt = &ts
		}
	}
	if s.Startup == "copy_existing" || s.OnLostResume == "copy_existing" {
		cfg.CopyExisting = &mongosource.Copy{Database: p.MongoDB.Database, Collection: p.MongoDB.Collection,
			Parallelism: s.Copy.Parallelism, OnLostResumeOnly: s.Startup != "copy_existing"}
	}
	return cfg, errors.Join(errs...)
}

// SinkConfig is the mongosink.Config of sink pipeline p (as Effective
// returns it): every setting the spec holds, defaults left to the
// Config's EnsureDefaults. What only a running daemon has is left unset:
// Decoder, Target, KafkaOptions, Mapping and Find, Logger, OnBatch and the
// drain and close timeouts. Post processors whose expressions do not
// compile (each already a problem of the spec) are left out and joined
// into the error.
func (f *File) SinkConfig(p Pipeline) (mongosink.Config, error) { return sinkConfig(p) }

func sinkConfig(p Pipeline) (mongosink.Config, error) {
	s := p.Sink
	if s == nil {
		return mongosink.Config{}, fmt.Errorf("pipeline %s is not a sink", p.Name)
	}
	opts := sink.Options{
		ID: sink.IDStrategy(s.IDStrategy), OverwriteID: s.OverwriteID, UUIDBinary: s.UUIDBinary,
		PartialKey: projection(s.PartialKey), PartialValue: projection(s.PartialValue),
		Write: sink.WriteStrategy(s.WriteStrategy), DeleteOnTombstone: s.DeleteOnTombstone == nil || *s.DeleteOnTombstone,
	}
	var errs []error
	for j, pp := range s.PostProcessors {
		step, err := postProcessor(pp)
		if err != nil {
			errs = append(errs, fmt.Errorf("sink.post_processors[%d]: %w", j, err))
			continue
		}
		opts.PostProcess = append(opts.PostProcess, step)
	}
	group := s.Group
	if group == "" {
		group = "schemaflow-" + p.Name
	}
	cfg := mongosink.Config{
		Brokers: p.Kafka.Brokers, Group: group, Topics: s.Topics,
		Database: p.MongoDB.Database, Collection: p.MongoDB.Collection, NamespaceField: s.NamespaceField,
		Sink: opts, Handler: sink.Handler(s.CDC),
		MaxBatch: s.MaxBatch, MaxWait: s.MaxWait.Duration, Unordered: s.Ordered != nil && !*s.Ordered,
		FixedBatch: s.AdaptiveBatch != nil && !*s.AdaptiveBatch, BatchLatency: s.BatchLatency.Duration,
		Retries: s.Retries, Backoff: s.Backoff.Duration,
		WriteTimeout: s.WriteTimeout.Duration, SlowWrite: s.SlowWrite.Duration,
		Tolerance: config.Tolerance(p.Errors.Tolerance), DeadLetterTopic: p.Errors.DeadLetterTopic,
		MaxInflightBytes: int64(p.MaxInflightBytes),
	}
	for topic, ns := range s.TopicNamespaces {
		db, coll, _ := strings.Cut(ns, ".")
		if cfg.TopicNamespaces == nil {
			cfg.TopicNamespaces = map[string]mongosink.Namespace{}
		}
		cfg.TopicNamespaces[topic] = mongosink.Namespace{Database: db, Collection: coll}
	}
	return cfg, errors.Join(errs...)
}

func projection(p Projection) sink.Projection {
	if len(p.Allow) > 0 {
		return sink.Projection{Allow: true, Paths: p.Allow}
	}
	return sink.Projection{Paths: p.Block}
}

func postProcessor(pp PostProcessor) (sink.PostProcessor, error) {
	switch {
	case len(pp.Allow) > 0:
		return sink.Project(sink.Projection{Allow: true, Paths: pp.Allow}), nil
	case len(pp.Block) > 0:
		return sink.Project(sink.Projection{Paths: pp.Block}), nil
	case len(pp.Rename) > 0:
		renames := make([]sink.Rename, 0, len(pp.Rename))
		for _, r := range pp.Rename {
			renames = append(renames, sink.Rename{Old: r.From, New: r.To})
		}
		return sink.RenameByMapping(renames), nil
	case len(pp.RenameRegex) > 0:
		var renames []sink.RegexpRename
		for _, r := range pp.RenameRegex {
			match, err := regexp.Compile(r.Match)
			if err != nil {
				return nil, err
			}
			pattern, err := regexp.Compile(r.Pattern)
			if err != nil {
				return nil, err
			}
			renames = append(renames, sink.RegexpRename{Match: match, Pattern: pattern, Replace: r.Replace})
		}
		return sink.RenameByRegexp(renames), nil
	case pp.KafkaMetadata:
		return sink.AddKafkaMetadata, nil
	case pp.RemoveNulls:
		return sink.RemoveNulls, nil
	}
	return nil, errors.New("empty post processor")
}

// RestartConfig is how the daemon supervises pipeline p: on_failure and
// restart, defaults left to EnsureDefaults.
func (p Pipeline) RestartConfig() config.Restart {
	return config.Restart{OnFailure: config.OnFailure(p.OnFailure), Backoff: p.Restart.Backoff.Duration, MaxBackoff: p.Restart.MaxBackoff.Duration}
}

// restartFields places the problems of a pipeline's config.Restart.
var restartFields = map[string][]any{
	"OnFailure": p("on_failure"), "Backoff": p("restart", "backoff"), "MaxBackoff": p("restart", "max_backoff"),
}

// sourceFields places the problems of a source's mongosource.Config in
// the spec, by Config field; nil marks fields the spec checks itself, in
// its own words, or that the daemon sets.
var sourceFields = map[string][]any{
	"Heartbeat": p("source", "heartbeat"), "MaxBatch": p("source", "max_batch"), "MaxInflightBytes": p("max_inflight_bytes"),
	"CopyExisting.Parallelism": p("source", "copy", "parallelism"), "OnLostResume": p("source", "on_lost_resume"),
	"FullDocument": p("source", "full_document"), "Tolerance": p("errors", "tolerance"),
	"DeadLetterTopic": p("errors", "dead_letter_topic"), "Subjects": p("source", "subject_strategy"), "Topics.Topic": p("source", "topic"),

	"Name": nil, "Watch": nil, "Brokers": nil, "Registry": nil, "OffsetsTopic": nil, "OffsetsFile": nil, "Compression": nil,
	"Format": nil, "CopyExisting.Database": nil, "CopyExisting.Find": nil, "CopyExisting.Collections": nil,
	"Snapshots.Database": nil, "Snapshots.Find": nil, "Snapshots.ChunkSize": nil,
}

// sinkFields places the problems of a sink's mongosink.Config, as
// sourceFields does; "Topics[i]" is placed at sink.topics[i].
var sinkFields = map[string][]any{
	"Topics": p("sink", "topics"), "MaxBatch": p("sink", "max_batch"), "MaxWait": p("sink", "max_wait"),
	"Retries": p("sink", "retries"), "Backoff": p("sink", "backoff"), "WriteTimeout": p("sink", "write_timeout"),
	"SlowWrite": p("sink", "slow_write"), "Tolerance": p("errors", "tolerance"), "DeadLetterTopic": p("errors", "dead_letter_topic"),
	"Handler": p("sink", "cdc"), "Sink.ID": p("sink", "id_strategy"), "Sink.Write": p("sink", "write_strategy"),
	"MaxInflightBytes": p("max_inflight_bytes"), "BatchLatency": p("sink", "batch_latency"),

	"Brokers": nil, "Group": nil, "Decoder": nil, "Target": nil, "Database": nil, "Mapping": nil,
}

var indexedField = regexp.MustCompile(`^(\w+)\[(\d+)\]$`)

// configProblems reports a Config's Validate problems at their places in
// the spec, as fields says; a field fields does not know is reported at
// the pipeline with its Go name.
func (pc *pipelineChecker) configProblems(err error, fields map[string][]any) {
	var ps config.Problems
	if !errors.As(err, &ps) {
		if err != nil {
			pc.bad(nil, "%v", err)
		}
		return
	}
	for _, pr := range ps {
		at, known := fields[pr.Field]
		if m := indexedField.FindStringSubmatch(pr.Field); !known && m != nil {
			if base := fields[m[1]]; base != nil {
				var i int
				fmt.Sscan(m[2], &i)
				at, known = append(append([]any(nil), base...), i), true
			}
		}
		switch {
		case !known:
			pc.bad(nil, "%s", pr.Error())
		case at != nil:
			pc.bad(at, "%s", pr.Message)
		}
	}
}
