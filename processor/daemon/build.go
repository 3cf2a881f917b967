package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/internal/mongocopy"
	"github.com/schemaflow/schemaflow/processor/mongosink"
	"github.com/schemaflow/schemaflow/processor/mongosource"
	"github.com/schemaflow/schemaflow/processor/relmap"
	"github.com/schemaflow/schemaflow/processor/spec"
	"github.com/schemaflow/schemaflow/registry"
)

// DefaultOffsetsTopic keeps sources' resume tokens unless a spec names
// another.
const DefaultOffsetsTopic = spec.DefaultOffsetsTopic

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
	// BatchSize is the records a sink's next batch fills up to; Splits
	// counts its bulk writes split after a timeout.
	BatchSize int
	Splits    int64
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
		CacheHits: d.Hits, CacheMisses: d.Misses, Formats: d.Formats, BatchSize: s.BatchSize, Splits: s.Splits}
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
		r, err = b.sink(f, p, kopts, reg, client, log)
	} else {
		r, err = b.source(f, p, kopts, reg, client, log)
	}
	return r, kopts, err
}

func (b *builder) source(f *spec.File, p spec.Pipeline, kopts []kgo.Opt, reg *registry.Client, client mongoClient, log *slog.Logger) (runner, error) {
	s := p.Source
	// The spec's settings; what only a running daemon has is added here.
	cfg, err := f.SourceConfig(p)
	if err != nil {
		return nil, err
	}
	// Every produce has a deadline: records, resume tokens, dead letters.
	cfg.KafkaOptions = append(slices.Clip(kopts), kgo.RecordDeliveryTimeout(sourceDeliveryTimeout))
	cfg.DrainTimeout, cfg.Registry, cfg.Logger, cfg.OnBatch = b.drain, reg, log, b.hooks(p.Name)
	if s.Filter.Kind != 0 {
		stages, err := filterStages(&s.Filter)
		if err != nil {
			return nil, fmt.Errorf("source.filter: %w", err)
		}
		cfg.Pipeline = stages
	}
	db, coll := p.MongoDB.Database, p.MongoDB.Collection
	embedded := strings.HasPrefix(p.MongoDB.URI, "lungo:")
	// The dev stack serves its engine under a mongodb:// URI too.
	_, engine := client.(*lungo.Client)
	copying := db != "" && cfg.CopyExisting != nil
	if copying {
		d := client.Database(db)
		cp := cfg.CopyExisting
		cp.Collections = func(ctx context.Context) ([]string, error) { return mongocopy.Collections(ctx, d) }
		cp.Find = func(ctx context.Context, c string, filter bson.D) (mongosource.Cursor, error) {
			return mongocopy.Find(ctx, d.Collection(c), filter)
		}
		cp.Count = func(ctx context.Context, c string) (int64, error) { return d.Collection(c).EstimatedDocumentCount(ctx) }
		cp.Splits = func(ctx context.Context, c string, n int) ([]bson.RawValue, error) {
			return mongocopy.Splits(ctx, d.Collection(c), n, !engine)
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

func (b *builder) sink(f *spec.File, p spec.Pipeline, kopts []kgo.Opt, reg *registry.Client, client mongoClient, log *slog.Logger) (runner, error) {
	s := p.Sink
	var dreg decode.Registry
	if reg != nil {
		dreg = reg
	}
	keyFormat, valueFormat := s.Formats()
	dec := decode.New(decode.Options{Registry: dreg, KeyFormat: decode.Format(keyFormat), ValueFormat: decode.Format(valueFormat),
		Logger: b.log.With("pipeline", p.Name)})
	// The spec's settings; what only a running daemon has is added here.
	cfg, err := f.SinkConfig(p)
	if err != nil {
		return nil, err
	}
	cfg.KafkaOptions, cfg.Decoder = kopts, dec
	cfg.Target = func(db, coll string) mongosink.Collection {
		return client.Database(db).Collection(coll)
	}
	cfg.DrainTimeout, cfg.CloseTimeout, cfg.Logger, cfg.OnBatch = b.drain, b.leave, log, b.hooks(p.Name)
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
