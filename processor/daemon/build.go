package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readconcern"
	"gopkg.in/yaml.v3"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/internal/mongocopy"
	"github.com/schemaflow/schemaflow/processor/mongosink"
	"github.com/schemaflow/schemaflow/processor/mongosource"
	"github.com/schemaflow/schemaflow/processor/relmap"
	"github.com/schemaflow/schemaflow/processor/sink"
	"github.com/schemaflow/schemaflow/processor/spec"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
)

// DefaultOffsetsTopic keeps sources' resume tokens unless a spec names
// another.
const DefaultOffsetsTopic = "_schemaflow_offsets"

// Snapshot is a pipeline's counters at one moment, the same for sources
// and sinks.
type Snapshot struct {
	In, Out, Dead int64 // records read, delivered, dead-lettered
	Bytes         int64 // key and value bytes delivered (source) or read (sink)
	// Lag is records behind (sink) or seconds behind the oplog (source).
	Lag         float64
	DeadByClass map[string]int64
	// Skipped counts a source's change events published as nothing, by
	// reason.
	Skipped map[string]int64
	// Formats counts a sink's records by topic, part and the format they
	// were read in.
	Formats []decode.FormatCount
	// Registrations counts schema versions registered (sources).
	Registrations int64
	// CacheHits and CacheMisses count schema lookups served from the
	// pipeline's cache and those that went to the registry.
	CacheHits, CacheMisses int64
	// Copied counts documents a source's copy_existing published;
	// CopyEstimate is the copy's estimated total, -1 when unknown.
	Copied, CopyEstimate int64
	// Snapshotted counts documents a source's snapshots published;
	// Snapshots counts the snapshots done.
	Snapshotted, Snapshots int64
	// Copies is the progress of each collection a source's copy read or
	// reads in this run.
	Copies []mongosource.CopyStats
	// Standby is set for a source another daemon runs now.
	Standby bool
}

// mongoClient is a MongoDB client: the driver's through lungo's adapter,
// or an embedded lungo engine's.
type mongoClient = lungo.IClient

// runner is a built pipeline.
type runner interface {
	Run(ctx context.Context) error
	snapshot() Snapshot
	// ready reports whether a running pipeline is working: a source's
	// change stream is open, a sink has heard from its brokers.
	ready() bool
	// busy names the call the pipeline is in and when it began; "" when
	// it is in none, or does not tell (sources).
	busy() (what string, since time.Time)
}

type sourceRunner struct{ *mongosource.Source }

func (r sourceRunner) snapshot() Snapshot {
	s := r.Stats()
	return Snapshot{In: s.Events + s.Dead, Out: s.Events, Dead: s.Dead, Bytes: s.Bytes, Lag: s.Lag.Seconds(), DeadByClass: s.DeadByClass,
		Registrations: s.Registered, CacheHits: s.Encoded - s.Evolutions, CacheMisses: s.Evolutions,
		Copied: s.Copied, CopyEstimate: s.CopyEstimate, Copies: r.CopyStats(), Skipped: s.Skipped,
		Snapshotted: s.Snapshotted, Snapshots: s.Snapshots}
}
func (r sourceRunner) ready() bool { return r.Watching() }

func (r sourceRunner) busy() (string, time.Time) { return r.Busy() }

type sinkRunner struct {
	*mongosink.Pipeline
	dec *decode.Decoder
}

func (r sinkRunner) snapshot() Snapshot {
	s, d := r.Stats(), r.dec.Stats()
	return Snapshot{In: s.Written + s.DeadLetter, Out: s.Written, Dead: s.DeadLetter, Bytes: s.Bytes, Lag: float64(s.Lag), DeadByClass: s.DeadByClass,
		CacheHits: d.Hits, CacheMisses: d.Misses, Formats: d.Formats}
}
func (r sinkRunner) ready() bool { return r.Connected() }

func (r sinkRunner) busy() (string, time.Time) { return r.Busy() }

// builder turns specs into runners.
type builder struct {
	conns *Connections
	log   *slog.Logger
	hooks func(name string) func(records int, took time.Duration)
	// drain bounds a stopped pipeline's finishing of the work in hand;
	// leave, its leaving of consumer groups after that.
	drain, leave time.Duration
}

// sourceDeliveryTimeout bounds how long a source's record may wait for
// Kafka's acknowledgement before the source fails (and restarts).
const sourceDeliveryTimeout = 2 * time.Minute

func (b *builder) registry(f *spec.File, p spec.Pipeline) (*registry.Client, error) {
	if p.Registry.URL == "" {
		return nil, nil
	}
	opts := registry.ClientOptions{Username: p.Registry.Username, Password: p.Registry.Password, BearerToken: p.Registry.Token}
	if p.Registry.TLS != nil {
		cfg, err := tlsConfig(f.Resolve, p.Registry.TLS)
		if err != nil {
			return nil, fmt.Errorf("registry.tls: %w", err)
		}
		opts.TLS = cfg
	}
	return registry.NewClient(p.Registry.URL, opts)
}

// build makes pipeline i of f.
func (b *builder) build(ctx context.Context, f *spec.File, i int) (runner, []kgo.Opt, error) {
	p := f.Effective(i)
	log := b.log.With("pipeline", p.Name)
	kopts, err := kafkaOptions(f, p.Kafka)
	if err != nil {
		return nil, nil, err
	}
	reg, err := b.registry(f, p)
	if err != nil {
		return nil, nil, err
	}
	client, err := b.conns.Client(ctx, p.MongoDB.URI)
	if err != nil {
		return nil, nil, err
	}
	var r runner
	if p.Sink != nil {
		r, err = b.sink(p, kopts, reg, client, log)
	} else {
		r, err = b.source(f, p, kopts, reg, client, log)
	}
	return r, kopts, err
}

func (b *builder) source(f *spec.File, p spec.Pipeline, kopts []kgo.Opt, reg *registry.Client, client mongoClient, log *slog.Logger) (runner, error) {
	s := p.Source
	cfg := mongosource.Config{
		Name: p.Name, Brokers: p.Kafka.Brokers, Compression: config.Compression(p.Kafka.Compression),
		// Every produce has a deadline: records, resume tokens, dead letters.
		KafkaOptions: append(slices.Clip(kopts), kgo.RecordDeliveryTimeout(sourceDeliveryTimeout)), DrainTimeout: b.drain,
		Registry: reg, Namespace: s.Namespace, Subjects: mongosource.SubjectStrategy(s.SubjectStrategy),
		Envelope: s.Publish == "envelope", NoTombstones: s.Tombstones != nil && !*s.Tombstones,
		FullDocument: options.FullDocument(s.FullDocument), FullDocumentBeforeChange: options.FullDocument(s.FullDocumentBeforeChange),
		OnLostResume: mongosource.LostResumePolicy(s.OnLostResume), Heartbeat: s.Heartbeat.Duration,
		Tolerance: config.Tolerance(p.Errors.Tolerance), DeadLetterTopic: p.Errors.DeadLetterTopic, MaxBatch: s.MaxBatch, MaxInflightBytes: int64(p.MaxInflightBytes),
		Topics: mongosource.TopicNames{Topic: s.Topic, Map: s.TopicMap, Prefix: s.TopicPrefix, Suffix: s.TopicSuffix},
		Logger: log, OnBatch: b.hooks(p.Name),
	}
	if s.FullDocumentBeforeChange == "off" {
		cfg.FullDocumentBeforeChange = ""
	}
	switch {
	case s.Offsets.File != "":
		cfg.OffsetsFile = f.Resolve(s.Offsets.File)
	case s.Offsets.Topic != "":
		cfg.OffsetsTopic = s.Offsets.Topic
	default:
		cfg.OffsetsTopic = DefaultOffsetsTopic
	}
	if s.Format != "" {
		format, err := schemas.ParseFormat(s.Format)
		if err != nil {
			return nil, err
		}
		cfg.Format = format
	}
	if s.Compatibility != "" {
		level, err := evolution.ParseLevel(s.Compatibility)
		if err != nil {
			return nil, err
		}
		cfg.Level = level
	}
	if s.Numbers != "" {
		numbers, err := schemas.ParseNumbers(s.Numbers)
		if err != nil {
			return nil, err
		}
		cfg.Numbers = numbers
	}
	for _, r := range s.TopicRules {
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, err
		}
		cfg.Topics.Rules = append(cfg.Topics.Rules, mongosource.TopicRule{Pattern: re, Replacement: r.Replacement})
	}
	if s.Filter.Kind != 0 {
		stages, err := filterStages(&s.Filter)
		if err != nil {
			return nil, fmt.Errorf("source.filter: %w", err)
		}
		cfg.Pipeline = stages
	}
	if s.StartAt != "" {
		ts, err := spec.ParseTimestamp(s.StartAt)
		if err != nil {
			return nil, err
		}
		cfg.StartAt = &ts
	}
	db, coll := p.MongoDB.Database, p.MongoDB.Collection
	embedded := strings.HasPrefix(p.MongoDB.URI, "lungo:")
	// The dev stack serves its engine under a mongodb:// URI too.
	_, engine := client.(*lungo.Client)
	copying := db != "" && (s.Startup == "copy_existing" || s.OnLostResume == "copy_existing")
	if copying {
		d := client.Database(db)
		cfg.CopyExisting = &mongosource.Copy{Database: db, Collection: coll, Parallelism: s.Copy.Parallelism,
			Collections: func(ctx context.Context) ([]string, error) { return mongocopy.Collections(ctx, d) },
			Find: func(ctx context.Context, c string, filter bson.D) (mongosource.Cursor, error) {
				return mongocopy.Find(ctx, d.Collection(c), filter)
			},
			Count: func(ctx context.Context, c string) (int64, error) { return d.Collection(c).EstimatedDocumentCount(ctx) },
			Splits: func(ctx context.Context, c string, n int) ([]bson.RawValue, error) {
				return mongocopy.Splits(ctx, d.Collection(c), n, !engine)
			},
			OnLostResumeOnly: s.Startup != "copy_existing",
		}
	}
	switch {
	case coll != "":
		c := client.Database(db).Collection(coll)
		cfg.Watch = func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (mongosource.ChangeStream, error) {
			return c.Watch(ctx, pipeline, opts)
		}
	case db != "":
		d := client.Database(db)
		cfg.Watch = func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (mongosource.ChangeStream, error) {
			return d.Watch(ctx, pipeline, opts)
		}
	default:
		cfg.Watch = func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (mongosource.ChangeStream, error) {
			return client.Watch(ctx, pipeline, opts)
		}
	}
	if engine && copying {
		// lungo's streams have no position before their first event: this
		// one starts after the oplog's last, so a copy can save where it began.
		watch := cfg.Watch
		cfg.Watch = func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (mongosource.ChangeStream, error) {
			return mongocopy.Watch(ctx, client, func(ctx context.Context, opts *options.ChangeStreamOptions) (lungo.IChangeStream, error) {
				cs, err := watch(ctx, pipeline, opts)
				if err != nil {
					return nil, err
				}
				ls, ok := cs.(lungo.IChangeStream)
				if !ok {
					cs.Close(context.Background())
					return nil, fmt.Errorf("change stream %T is not lungo's", cs)
				}
				return ls, nil
			}, opts)
		}
	}
	if embedded && len(cfg.Pipeline) > 0 {
		// lungo ignores change-stream pipelines: the filter runs here.
		queries, err := matchStages(cfg.Pipeline)
		if err != nil {
			return nil, err
		}
		watch := cfg.Watch
		cfg.Watch = func(ctx context.Context, pipeline any, opts *options.ChangeStreamOptions) (mongosource.ChangeStream, error) {
			cs, err := watch(ctx, pipeline, opts)
			if err != nil {
				return nil, err
			}
			return &filteredStream{ChangeStream: cs, queries: queries}, nil
		}
	}
	if db != "" {
		// Snapshots on request (schemaflow snapshot, through SignalTopic).
		// Chunks read majority-committed data, as change streams return:
		// a change a chunk saw is in the stream by the high watermark.
		d := client.Database(db, options.Database().SetReadConcern(readconcern.Majority()))
		cfg.Snapshots = &mongosource.Snapshots{Database: db, Find: func(ctx context.Context, c string, filter bson.D) (mongosource.Cursor, error) {
			return mongocopy.Find(ctx, d.Collection(c), filter)
		}}
	}
	src, err := mongosource.New(cfg)
	if err != nil {
		return nil, err
	}
	var inner runner = sourceRunner{src}
	if cfg.Snapshots != nil {
		inner = signalled{sourceRunner: sourceRunner{src}, name: p.Name, brokers: p.Kafka.Brokers, opts: slices.Clip(kopts), log: log}
	}
	return &exclusive{inner: inner, brokers: p.Kafka.Brokers, opts: kopts,
		group: "schemaflow-source-" + p.Name, log: log, leave: b.leave}, nil
}

func (b *builder) sink(p spec.Pipeline, kopts []kgo.Opt, reg *registry.Client, client mongoClient, log *slog.Logger) (runner, error) {
	s := p.Sink
	var dreg decode.Registry
	if reg != nil {
		dreg = reg
	}
	keyFormat, valueFormat := s.Formats()
	dec := decode.New(decode.Options{Registry: dreg, KeyFormat: decode.Format(keyFormat), ValueFormat: decode.Format(valueFormat),
		Logger: b.log.With("pipeline", p.Name)})
	opts := sink.Options{
		ID: sink.IDStrategy(s.IDStrategy), OverwriteID: s.OverwriteID, UUIDBinary: s.UUIDBinary,
		PartialKey: projection(s.PartialKey), PartialValue: projection(s.PartialValue),
		Write: sink.WriteStrategy(s.WriteStrategy), DeleteOnTombstone: s.DeleteOnTombstone == nil || *s.DeleteOnTombstone,
	}
	for _, pp := range s.PostProcessors {
		step, err := postProcessor(pp)
		if err != nil {
			return nil, err
		}
		opts.PostProcess = append(opts.PostProcess, step)
	}
	group := s.Group
	if group == "" {
		group = "schemaflow-" + p.Name
	}
	cfg := mongosink.Config{
		Brokers: p.Kafka.Brokers, Group: group, Topics: s.Topics, KafkaOptions: kopts,
		Decoder: dec,
		Target: func(db, coll string) mongosink.Collection {
			return client.Database(db).Collection(coll)
		},
		Database: p.MongoDB.Database, Collection: p.MongoDB.Collection, NamespaceField: s.NamespaceField,
		Sink: opts, Handler: sink.Handler(s.CDC),
		MaxBatch: s.MaxBatch, MaxWait: s.MaxWait.Duration, Unordered: s.Ordered != nil && !*s.Ordered,
		Retries: s.Retries, Backoff: s.Backoff.Duration,
		WriteTimeout: s.WriteTimeout.Duration, SlowWrite: s.SlowWrite.Duration, DrainTimeout: b.drain, CloseTimeout: b.leave,
		Tolerance: mongosink.Tolerance(p.Errors.Tolerance), DeadLetterTopic: p.Errors.DeadLetterTopic,
		Logger: log, OnBatch: b.hooks(p.Name),
	}
	for topic, ns := range s.TopicNamespaces {
		db, coll, _ := strings.Cut(ns, ".")
		if cfg.TopicNamespaces == nil {
			cfg.TopicNamespaces = map[string]mongosink.Namespace{}
		}
		cfg.TopicNamespaces[topic] = mongosink.Namespace{Database: db, Collection: coll}
	}
	if s.Mapping != nil {
		mcfg, err := s.Mapping.Config()
		if err != nil {
			return nil, fmt.Errorf("sink.mapping: %w", err)
		}
		if cfg.Mapping, err = relmap.New(mcfg, s.Topics); err != nil {
			return nil, err
		}
		cfg.Find = func(ctx context.Context, ns mongosink.Namespace, filter bson.D) ([]bson.D, error) {
			cur, err := client.Database(ns.Database).Collection(ns.Collection).Find(ctx, filter)
			if err != nil {
				return nil, err
			}
			var docs []bson.D
			err = cur.All(ctx, &docs)
			return docs, err
		}
	}
	pl, err := mongosink.New(cfg)
	if err != nil {
		return nil, err
	}
	return sinkRunner{pl, dec}, nil
}

func projection(p spec.Projection) sink.Projection {
	if len(p.Allow) > 0 {
		return sink.Projection{Allow: true, Paths: p.Allow}
	}
	return sink.Projection{Paths: p.Block}
}

func postProcessor(pp spec.PostProcessor) (sink.PostProcessor, error) {
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

// filterStages turns the YAML aggregation pipeline into BSON stages, key
// order kept; Extended JSON forms such as {$date: ...} are understood.
func filterStages(n *yaml.Node) ([]bson.D, error) {
	var stages []bson.D
	for _, st := range n.Content {
		v, err := spec.BSONValue(st)
		if err != nil {
			return nil, err
		}
		d, ok := v.(bson.D)
		if !ok {
			return nil, fmt.Errorf("line %d: a stage must be a mapping", st.Line)
		}
		stages = append(stages, d)
	}
	return stages, nil
}

// ensureTopics creates the topics a pipeline uses by name — the offsets
// topic (compacted), the lease topic (one partition), a fixed output topic
// and the dead-letter topic — when they are missing; others rely on the
// brokers' automatic creation.
func ensureTopics(ctx context.Context, brokers []string, opts []kgo.Opt, compacted, lease, plain []string) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	create := func(partitions int32, topics []string, configs map[string]*string) error {
		if len(topics) == 0 {
			return nil
		}
		res, err := adm.CreateTopics(ctx, partitions, -1, configs, topics...)
		if err != nil {
			return err
		}
		for _, r := range res.Sorted() {
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
			}
		}
		return nil
	}
	compact := "compact"
	if err := create(-1, compacted, map[string]*string{"cleanup.policy": &compact}); err != nil {
		return err
	}
	if err := create(1, lease, nil); err != nil {
		return err
	}
	return create(-1, plain, nil)
}
