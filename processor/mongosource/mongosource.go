// Package mongosource runs the source path: a MongoDB change stream whose
// events are encoded under a registry subject that evolves with them, and
// produced to Kafka. The stream's resume token is kept in a compacted Kafka
// topic and written only after the records before it are acknowledged, so
// a restart resumes where the last run left off: at least once.
package mongosource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/processor/internal/counters"
	"github.com/schemaflow/schemaflow/processor/internal/graceful"
	"github.com/schemaflow/schemaflow/processor/internal/panics"
	"github.com/schemaflow/schemaflow/processor/subject"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
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

// errInvalidated ends a run whose stream was invalidated.
var errInvalidated = errors.New("the change stream was invalidated: the watched collection or database was dropped or renamed")

// historyLost reports whether a watch failed because the resume point is
// no longer in the oplog: ChangeStreamHistoryLost (286), a fatal resume
// failure (280), or lungo's equivalent.
func historyLost(err error) bool {
	var se mongo.ServerError
	if errors.As(err, &se) && (se.HasErrorCode(286) || se.HasErrorCode(280)) {
		return true
	}
	return strings.Contains(err.Error(), "unable to resume change stream")
}

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

// Stats counts what a source did.
type Stats struct {
	Events  int64 // change events produced
	Batches int64 // resume tokens saved
	Dead    int64 // events sent to the dead-letter topic
	Copied  int64 // existing documents published by the copy
	// CopyEstimate is the copy's estimated document count; -1 unknown.
	CopyEstimate int64
	// Snapshotted counts documents published by snapshots and
	// acknowledged; Snapshots counts snapshots whose every record is.
	Snapshotted, Snapshots int64
	// Heartbeats counts idle resume tokens handed over to be saved.
	Heartbeats int64
	// Bytes counts the key and value bytes of acknowledged records.
	Bytes int64
	// Lag is how far behind the oplog the last saved batch was: from its
	// last event's cluster time to the save.
	Lag time.Duration
	// DeadByClass counts dead letters by error class.
	DeadByClass map[string]int64
	// Skipped counts change events published as nothing, by reason (see
	// the Skip* constants).
	Skipped map[string]int64
	// Schema work over all subjects: documents encoded, versions
	// registered, and evolutions (documents the cached version did not
	// fit, which sent the source to the registry).
	Encoded, Registered, Evolutions int64
}

// Source is a change stream to Kafka pipeline.
type Source struct {
	cfg             Config
	log             *slog.Logger
	encoders        encoders
	arenas          arenas
	recSlices       recSlices
	events, batches atomic.Int64
	watching        atomic.Bool
	dead, copied    atomic.Int64
	copyEstimate    atomic.Int64
	snapshotted     atomic.Int64
	snapshots       atomic.Int64
	// snapReqs queues the snapshots asked for, read by the run's reader.
	snapReqs   chan SnapshotRequest
	heartbeats atomic.Int64
	bytes, lag atomic.Int64
	deadBy     counters.ByLabel
	// reading and committing are the calls the two sides of a run are
	// in, for Busy.
	reading, committing busySlot
	skipped             counters.ByLabel

	copyMu sync.Mutex
	copies []*copyStat // the collections of this run's copy

	topicsMu sync.Mutex
	topics   []string // topics produced to so far
	// routes maps the bytes of events' ns documents to their routes; it
	// is replaced, never changed, so lookups take no lock.
	routes atomic.Pointer[map[string]*route]
}

// Watching reports whether the change stream is open: changes made from
// then on are streamed.
func (s *Source) Watching() bool { return s.watching.Load() }

// New validates cfg and returns a Source.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mongosource: invalid config:\n%w", err)
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 500
	}
	if cfg.Format == 0 {
		cfg.Format = schemas.Avro
	}
	if cfg.Subjects == "" {
		cfg.Subjects = SubjectTopic
	}
	s := &Source{cfg: cfg, log: cfg.Logger, encoders: encoders{byName: map[string]*subject.Encoder{}}}
	s.routes.Store(&map[string]*route{})
	if s.log == nil {
		s.log = slog.Default()
	}
	s.copyEstimate.Store(-1)
	s.snapReqs = make(chan SnapshotRequest, snapshotQueue)
	return s, nil
}

// Stats returns the counters so far.
func (s *Source) Stats() Stats {
	st := Stats{Events: s.events.Load(), Batches: s.batches.Load(), Dead: s.dead.Load(), Copied: s.copied.Load(), CopyEstimate: s.copyEstimate.Load(),
		Snapshotted: s.snapshotted.Load(), Snapshots: s.snapshots.Load(),
		Heartbeats: s.heartbeats.Load(), Bytes: s.bytes.Load(), Lag: time.Duration(s.lag.Load()), DeadByClass: s.deadBy.Snapshot(), Skipped: s.skipped.Snapshot()}
	s.encoders.mu.Lock()
	for _, e := range s.encoders.byName {
		es := e.Stats()
		st.Encoded += es.Encoded
		st.Registered += es.Registered
		st.Evolutions += es.Evolutions
	}
	s.encoders.mu.Unlock()
	return st
}

// Run streams until ctx is done (nil) or a failure stops it (the error).
// A Source runs once at a time: its resume token has one writer.
func (s *Source) Run(ctx context.Context) error {
	kopts := []kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		// Topics named after namespaces appear as collections do; brokers
		// that allow it create them (auto.create.topics.enable).
		kgo.AllowAutoTopicCreation(),
	}
	if c := compression(s.cfg.Compression); c != nil {
		kopts = append(kopts, kgo.ProducerBatchCompression(*c))
	}
	cl, err := kgo.NewClient(append(kopts, s.cfg.KafkaOptions...)...)
	if err != nil {
		return fmt.Errorf("mongosource: kafka client: %w", err)
	}
	defer cl.Close()
	var offsets tokenStore = &topicTokens{s: s, cl: cl}
	if s.cfg.OffsetsFile != "" {
		offsets = fileTokens(s.cfg.OffsetsFile)
	}
	restart := LostResumePolicy("")
	for {
		err := s.run(ctx, cl, offsets, restart)
		var lost *lostError
		if !errors.As(err, &lost) {
			return err
		}
		restart = s.cfg.OnLostResume
		what := "continuing from now: changes made meanwhile are skipped"
		if restart == LostResumeCopy {
			what = "copying the existing documents again, then streaming"
		}
		s.log.Error("mongosource: RESUME POINT LOST: "+what, "source", s.cfg.Name, "err", lost.err)
	}
}

// lostError ends a run whose resume point is gone, under a policy that
// starts over.
type lostError struct{ err error }

// Error implements error.
func (e *lostError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e *lostError) Unwrap() error { return e.err }

// lost is the error of a lost resume point: fatal under LostResumeFail,
// else a lostError that makes Run start over.
func (s *Source) lost(err error) error {
	if s.cfg.OnLostResume == LostResumeLatest || s.cfg.OnLostResume == LostResumeCopy {
		return &lostError{err}
	}
	return &resumeLostError{fmt.Errorf("mongosource: %s: %w; changes since were lost to this source. Set the lost-resume policy to latest or copy_existing to start over", s.cfg.Name, err)}
}

// ErrResumeLost matches (errors.Is) the error of a source stopped because
// its resume point is gone: out of the oplog, or past an invalidate.
var ErrResumeLost = errors.New("mongosource: resume point lost")

// resumeLostError is a lost resume point under LostResumeFail.
type resumeLostError struct{ err error }

// Error implements error.
func (e *resumeLostError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e *resumeLostError) Unwrap() error { return e.err }

// Is makes the error match ErrResumeLost.
func (e *resumeLostError) Is(target error) bool { return target == ErrResumeLost }

// run is one pass of Run: from the saved token, or, when restart is set
// after a lost resume point, from now (latest) or a new copy.
func (s *Source) run(ctx context.Context, cl *kgo.Client, offsets tokenStore, restart LostResumePolicy) (runErr error) {
	raw, err := offsets.load(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	state, err := parseOffsets(raw)
	if err != nil {
		return fmt.Errorf("mongosource: %s: %w", s.cfg.Name, err)
	}
	token, prog := state.token, state.copy
	if restart != "" {
		token, prog = nil, nil
	}
	if prog != nil && s.cfg.CopyExisting == nil {
		s.log.Warn("mongosource: a copy was in progress, but copy_existing is no longer configured: streaming from the position taken before the copy",
			"source", s.cfg.Name)
		prog = nil
	}
	opts := options.ChangeStream()
	switch {
	case s.cfg.FullDocument != "":
		opts.SetFullDocument(s.cfg.FullDocument)
	case !s.cfg.Envelope:
		// Updates carry only their changes unless the document is looked up.
		opts.SetFullDocument(options.UpdateLookup)
	}
	if s.cfg.FullDocumentBeforeChange != "" {
		opts.SetFullDocumentBeforeChange(s.cfg.FullDocumentBeforeChange)
	}
	switch {
	case token != nil:
		opts.SetResumeAfter(token)
	case s.cfg.StartAt != nil:
		opts.SetStartAtOperationTime(s.cfg.StartAt)
	}
	var pipeline any = s.cfg.Pipeline
	if s.cfg.Pipeline == nil {
		pipeline = []bson.D{}
	}
	endWatch := s.reading.begin("opening the change stream")
	stream, err := s.cfg.Watch(ctx, pipeline, opts)
	endWatch()
	if err != nil && token != nil && historyLost(err) {
		return s.lost(fmt.Errorf("the saved resume point is no longer in the oplog: %w", err))
	}
	if err != nil && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mongosource: %s: watch: %w", s.cfg.Name, err)
	}
	defer stream.Close(context.Background())
	copying := prog != nil || token == nil && s.cfg.CopyExisting != nil && restart != LostResumeLatest &&
		(restart == LostResumeCopy || !s.cfg.CopyExisting.OnLostResumeOnly)
	// A copy saves its progress with the stream position taken before it
	// began (the saved one, for a copy resumed).
	preCopy := token
	if copying {
		if preCopy == nil {
			preCopy = append(bson.Raw(nil), stream.ResumeToken()...)
			if len(preCopy) == 0 {
				preCopy = nil
				s.log.Warn("mongosource: the change stream gives no position before its first event: a copy resumed after a stop streams from the restart, not from before the copy",
					"source", s.cfg.Name)
			}
		}
		if prog == nil {
			if prog, err = s.newCopyProgress(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
	if token == nil && !copying {
		// A fresh source saves where it starts at once (drivers give a
		// post-batch token before any event), so a restart before the first
		// event does not skip what happened meanwhile.
		if tok := stream.ResumeToken(); tok != nil {
			if err := offsets.save(ctx, tok); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
	s.watching.Store(true)
	defer s.watching.Store(false)

	// Batches are produced asynchronously, so the next batch is encoded
	// while this one is in flight; a committer saves each batch's token, in
	// order, once all its records are acknowledged.
	// A failing committer cancels the run, so a source idle in Next
	// notices at once. Records are produced and tokens saved under work,
	// which outlives a stop by the drain timeout: a stopped source
	// delivers what it read and saves where it got to.
	parent := ctx
	ctx, cancelRun := context.WithCancel(parent)
	defer cancelRun()
	work, cancelWork := graceful.Context(parent, s.cfg.DrainTimeout)
	defer cancelWork()
	inflight := make(chan *inflightBatch, cap8)
	failed := make(chan error, 1)
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		defer recoverCommitter(failed, inflight, cancelRun, cancelWork)
		for b := range inflight {
			end := s.committing.beginAt(fmt.Sprintf("waiting for Kafka to acknowledge %d records", b.n), b.started)
			b.wg.Wait()
			end()
			err := b.err()
			if err == nil && len(b.dead) > 0 {
				// A dead letter counts once Kafka has it; one it refused
				// stops the source, and the batch's token is not saved.
				end := s.committing.begin(fmt.Sprintf("producing %d dead letters to %s", len(b.dead), s.cfg.DeadLetterTopic))
				err = cl.ProduceSync(work, b.dead...).FirstErr()
				end()
				if err != nil {
					err = fmt.Errorf("mongosource: %s: dead-letter topic %s: %w", s.cfg.Name, s.cfg.DeadLetterTopic, err)
				} else {
					s.dead.Add(int64(len(b.dead)))
					for _, dl := range b.dead {
						s.deadBy.Add(string(dl.Headers[0].Value), 1)
					}
				}
			}
			// Every record of the batch is settled and its dead letters
			// produced: its arena can serve another batch.
			s.arenas.put(b.arena)
			s.recSlices.put(b.recs)
			b.arena, b.recs = nil, nil
			if err == nil {
				s.bytes.Add(b.bytes.Load())
				s.snapshotted.Add(b.snapshotted)
				if b.snapshotEnd {
					s.snapshots.Add(1)
				}
			}
			if err == nil && b.mark != nil {
				// A copy batch: its range's progress is saved with the
				// position taken before the copy.
				prog.mu.Lock()
				b.mark.apply()
				doc, merr := marshalOffsets(preCopy, prog)
				prog.mu.Unlock()
				end := s.committing.begin("saving the copy's progress")
				err = merr
				if err == nil {
					err = offsets.save(work, doc)
				}
				end()
				if err == nil {
					b.mark.st.copied.Add(b.mark.n)
				}
				b.mark.release()
			}
			if err == nil && b.token == nil {
				// A copy batch, or the events before an invalidate.
				s.events.Add(int64(b.n))
				if b.copy {
					s.copied.Add(int64(b.n))
				}
				continue
			}
			if err == nil {
				end := s.committing.begin("saving the resume token")
				err = offsets.save(work, b.token)
				end()
				if err == nil {
					s.events.Add(int64(b.n))
					s.batches.Add(1)
					if b.clusterTime > 0 {
						s.lag.Store(int64(time.Since(time.Unix(int64(b.clusterTime), 0))))
					}
					if s.cfg.OnBatch != nil && b.n > 0 {
						s.cfg.OnBatch(b.n, time.Since(b.started))
					}
					continue
				}
			}
			failed <- err
			cancelRun()
			cancelWork()
			for range inflight { // drain, so the producer side never blocks
			}
			return
		}
	}()
	stopped := false
	stop := func(err error) error {
		stopped = true
		close(inflight)
		// After a stop or an invalidate, the records read are delivered;
		// after a failure, they are dropped, to be read again.
		if err != nil && !errors.Is(err, errInvalidated) {
			cancelWork()
			cl.PurgeTopicsFromClient(s.topicsInUse()...)
		}
		<-committed
		if parent.Err() != nil {
			return nil // stopped: unsaved batches are streamed again next run
		}
		var lost *lostError
		if err == nil || errors.As(err, &lost) {
			select {
			case ferr := <-failed:
				err = ferr
			default:
			}
		}
		return err
	}
	// A panic of the reading side (ours or a library's) fails the run like
	// any error: the committer is stopped too rather than left waiting.
	defer func() {
		if v := recover(); v != nil {
			runErr = panics.New(v)
			if !stopped {
				stop(runErr)
			}
		}
	}()

	if copying {
		if err := s.copyExisting(ctx, work, cl, inflight, failed, prog); err != nil {
			return stop(err)
		}
		if ctx.Err() != nil {
			return stop(nil)
		}
		// The copy is done once every copied record is acked: then the
		// position the stream took before the copy began is saved.
		if tok := stream.ResumeToken(); tok != nil {
			select {
			case inflight <- &inflightBatch{token: tok}:
			case err := <-failed:
				return stop(err)
			case <-ctx.Done():
				return stop(nil)
			}
		}
	}

	var saved bson.Raw // the last token handed to the committer by a heartbeat
	next := func() bool {
		if s.cfg.Heartbeat <= 0 && s.cfg.Snapshots == nil {
			return stream.Next(ctx)
		}
		poll := snapshotPoll
		if s.cfg.Heartbeat > 0 {
			poll = min(s.cfg.Heartbeat/4, poll)
		}
		last := time.Now()
		for {
			if stream.TryNext(ctx) {
				return true
			}
			if stream.Err() != nil || ctx.Err() != nil {
				return false
			}
			if len(s.snapReqs) > 0 && s.cfg.Snapshots != nil {
				return false // a snapshot asked for: the caller takes it
			}
			if s.cfg.Heartbeat > 0 && time.Since(last) >= s.cfg.Heartbeat {
				last = time.Now()
				// An idle stream's position still moves (the server's
				// post-batch token): saving it keeps the resume point
				// inside the oplog window.
				if tok := stream.ResumeToken(); tok != nil && !bytes.Equal(tok, saved) {
					saved = append(bson.Raw(nil), tok...)
					select {
					case inflight <- &inflightBatch{token: saved}:
						s.heartbeats.Add(1)
					case <-ctx.Done():
						return false
					}
				}
			}
			if sleep(ctx, poll) != nil {
				return false
			}
		}
	}

	// touched, during a snapshot chunk, holds the keys of the events read
	// since the chunk's low watermark.
	var touched map[string]struct{}
	// handle reads the events from the current one on, up to a batch,
	// and hands them over; end says the run ends with err.
	handle := func() (bool, error) {
		b := &inflightBatch{started: time.Now()}
		var events []bson.Raw
		invalidated := false
		for {
			var event bson.Raw
			if err := stream.Decode(&event); err != nil {
				return true, fmt.Errorf("mongosource: %s: decode change event: %w", s.cfg.Name, err)
			}
			if op, _ := event.Lookup("operationType").StringValueOK(); op == "invalidate" {
				invalidated = true
				break
			}
			if touched != nil {
				touched[eventKey(event)] = struct{}{}
			}
			events = append(events, event)
			if len(events) >= s.cfg.MaxBatch || !stream.TryNext(ctx) {
				break
			}
		}
		end := s.reading.begin(fmt.Sprintf("encoding and producing %d events", len(events)))
		err := s.produce(work, cl, b, events)
		end()
		if err != nil {
			return true, err
		}
		if len(events) > 0 {
			if t, _, ok := events[len(events)-1].Lookup("clusterTime").TimestampOK(); ok {
				b.clusterTime = t
			}
		}
		if invalidated {
			// The events before it are published, but no token is saved:
			// a stream cannot resume past an invalidate.
			select {
			case inflight <- b:
			case <-work.Done():
				return true, nil
			}
			return true, s.lost(errInvalidated)
		}
		if err := stream.Err(); err != nil && ctx.Err() == nil {
			return true, fmt.Errorf("mongosource: %s: change stream: %w", s.cfg.Name, err)
		}
		// The token is saved only after every record before it is acked.
		b.token = stream.ResumeToken()
		select {
		case inflight <- b:
		case err := <-failed:
			return true, err
		case <-work.Done():
			return true, nil
		}
		return false, nil
	}

	for {
		if !next() {
			if ctx.Err() != nil {
				return stop(nil)
			}
			if stream.Err() == nil && s.cfg.Snapshots != nil && len(s.snapReqs) > 0 {
				if end, err := s.snapshot(ctx, work, cl, stream, inflight, failed, <-s.snapReqs, &touched, handle); end {
					return stop(err)
				}
				continue
			}
			return stop(fmt.Errorf("mongosource: %s: change stream: %w", s.cfg.Name, stream.Err()))
		}
		if end, err := handle(); end {
			return stop(err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// produce turns events into records, encoding them in parallel into the
// batch's arena, and produces them into b in event order, so each key's
// order is kept. Events that fail for good become dead letters under
// tolerance all.
func (s *Source) produce(ctx context.Context, cl *kgo.Client, b *inflightBatch, events []bson.Raw) error {
	n := len(events)
	// Each event gets a slice of one arena, sized by its BSON: Avro and
	// Protobuf are rarely larger. The arena is reused once the batch is
	// acknowledged, so encoding allocates next to nothing.
	offs := make([]int, n+1)
	for i, ev := range events {
		offs[i+1] = offs[i] + len(ev) + 32
	}
	b.arena = s.arenas.get(offs[n])
	arena := *b.arena
	b.recs, b.origins = s.recSlices.get(n), make([]origin, n)
	ok, errs := make([]bool, n), make([]error, n)
	encode := func(i int) {
		defer recoverEvent(events[i], &errs[i])
		ok[i], errs[i] = s.record(ctx, events[i], arena[offs[i]:offs[i]:offs[i+1]], &b.recs[i], &b.origins[i])
	}
	// Workers encode chunks of events; this goroutine hands each chunk to
	// the producer as soon as it is done, in order, so producing overlaps
	// encoding.
	const chunk = 32
	chunks := (n + chunk - 1) / chunk
	done := make([]chan struct{}, chunks)
	for c := range done {
		done[c] = make(chan struct{})
	}
	var next atomic.Int64
	for range min(runtime.GOMAXPROCS(0), chunks) {
		go func() {
			for c := int(next.Add(1) - 1); c < chunks; c = int(next.Add(1) - 1) {
				for i := c * chunk; i < min(n, (c+1)*chunk); i++ {
					encode(i)
				}
				close(done[c])
			}
		}()
	}
	var failed error
	for c := range chunks {
		<-done[c]
		for i := c * chunk; i < min(n, (c+1)*chunk) && failed == nil; i++ {
			err := errs[i]
			var re *RecordError
			switch {
			case errors.As(err, &re) && s.cfg.Tolerance == "all" && ctx.Err() == nil:
				b.mu.Lock()
				b.dead = append(b.dead, s.deadLetter(re, nil))
				b.mu.Unlock()
			case err != nil:
				failed = err // the rest of the batch is not produced
			case ok[i]:
				b.add(ctx, cl, &b.recs[i], s)
			}
		}
	}
	return failed
}

// recSlices recycles batches' record slices: fresh memory for every batch
// costs more than clearing used memory.
type recSlices struct{ pool sync.Pool }

func (r *recSlices) get(n int) []kgo.Record {
	if p, ok := r.pool.Get().(*[]kgo.Record); ok && cap(*p) >= n {
		recs := (*p)[:n]
		clear(recs)
		return recs
	}
	return make([]kgo.Record, n)
}

func (r *recSlices) put(recs []kgo.Record) {
	if recs != nil {
		r.pool.Put(&recs)
	}
}

// arenas recycles the byte arenas batches encode into.
type arenas struct{ pool sync.Pool }

func (a *arenas) get(size int) *[]byte {
	if p, ok := a.pool.Get().(*[]byte); ok && cap(*p) >= size {
		*p = (*p)[:size]
		return p
	}
	buf := make([]byte, size)
	return &buf
}

func (a *arenas) put(p *[]byte) {
	if p != nil {
		a.pool.Put(p)
	}
}

// inflightBatch is a batch being produced.
type inflightBatch struct {
	wg    sync.WaitGroup
	n     int
	bytes atomic.Int64
	// started is when the batch's first event was read; clusterTime is
	// its last event's (seconds), 0 if unknown.
	started     time.Time
	clusterTime uint32
	copy        bool // a batch of copied documents
	// snapshotted counts a snapshot chunk's records; snapshotEnd marks
	// a snapshot's last chunk.
	snapshotted int64
	snapshotEnd bool
	mark        *copyMark // a copy batch's progress, saved once it is acked
	token       bson.Raw
	mu          sync.Mutex
	first       error
	dead        []*kgo.Record // dead letters, produced before the token is saved

	arena   *[]byte      // the records' bytes, reused once they are acked
	recs    []kgo.Record // the records, in event order
	origins []origin     // each record's origin, for dead letters
}

// originOf finds a produced record's origin; only failures need it.
func (b *inflightBatch) originOf(r *kgo.Record) origin {
	for i := range b.recs {
		if &b.recs[i] == r {
			return b.origins[i]
		}
	}
	return origin{}
}

func (b *inflightBatch) add(ctx context.Context, cl *kgo.Client, rec *kgo.Record, s *Source) {
	b.n++
	b.wg.Add(1)
	cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
		if err == nil {
			b.bytes.Add(int64(len(r.Key) + len(r.Value)))
		}
		if err != nil {
			b.mu.Lock()
			if errors.Is(err, kerr.MessageTooLarge) && s.cfg.Tolerance == "all" {
				o := b.originOf(r)
				b.dead = append(b.dead, s.deadLetter(&RecordError{Class: ClassTooLarge, Where: o.ns, Key: []byte(keyJSON(o.key)),
					Err: fmt.Errorf("%d bytes: %w", len(r.Value), err)}, r))
			} else if b.first == nil {
				b.first = fmt.Errorf("mongosource: %s: produce to %s: %w", s.cfg.Name, r.Topic, err)
			}
			b.mu.Unlock()
		}
		b.wg.Done()
	})
}

// origin is the namespace and document key of a produced record.
type origin struct {
	ns  string
	key bson.Raw
}

// Dead-letter classes and headers.
const (
	ClassEvolution = "schema-evolution"
	ClassEncode    = "encode"
	ClassTooLarge  = "record-too-large"

	HeaderClass   = "__schemaflow.error.class"
	HeaderMessage = "__schemaflow.error.message"
	HeaderSource  = "__schemaflow.source.namespace"
	HeaderKey     = "__schemaflow.source.key"
)

// RecordError is an event that cannot be published: it goes to the
// dead-letter topic or stops the source.
type RecordError struct {
	Class string
	Where string // "db.coll"
	Key   []byte // the document key as Extended JSON
	Err   error
	value []byte // the document as Extended JSON, for the dead letter
}

// Error implements error.
func (e *RecordError) Error() string {
	return fmt.Sprintf("mongosource: %s %s: %s: %v", e.Where, e.Key, e.Class, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// deadLetter makes the dead-letter record of a failed event; orig, when
// set, is the record that was too large, whose value is left out.
func (s *Source) deadLetter(re *RecordError, orig *kgo.Record) *kgo.Record {
	dl := &kgo.Record{Topic: s.cfg.DeadLetterTopic, Key: re.Key, Value: re.value, Headers: []kgo.RecordHeader{
		{Key: HeaderClass, Value: []byte(re.Class)},
		{Key: HeaderMessage, Value: []byte(re.Err.Error())},
		{Key: HeaderSource, Value: []byte(re.Where)},
		{Key: HeaderKey, Value: re.Key},
	}}
	if orig != nil {
		dl.Key = orig.Key // the framed key
	}
	return dl
}

func (b *inflightBatch) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.first
}

// topicsInUse lists the topics records may be buffered for.
func (s *Source) topicsInUse() []string {
	s.topicsMu.Lock()
	defer s.topicsMu.Unlock()
	return append([]string(nil), s.topics...)
}

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

// classify names the class of an encoding failure caused by the document,
// or "" for a failure of the registry, which stops the source.
func classify(err error) string {
	var ee *evolution.EvolveError
	var re *registry.Error
	switch {
	case errors.As(err, &ee):
		return ClassEvolution
	case errors.As(err, &re) && re.Code == registry.CodeIncompatible:
		return ClassEvolution
	case errors.As(err, &re):
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	return ClassEncode
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

// endOffsets lists the end offset of each partition of topic; partitions
// already empty are left out.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("mongosource: end offsets of %s: %w", topic, err)
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			ends[o.Partition] = o.Offset
		}
	})
	return ends, nil
}

func reached(ends map[int32]int64) bool {
	for _, e := range ends {
		if e >= 0 {
			return false
		}
	}
	return true
}
