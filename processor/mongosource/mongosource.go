// Package mongosource runs the source path: a MongoDB change stream whose
// events are encoded under a registry subject that evolves with them, and
// produced to Kafka. The stream's resume token is kept in a compacted Kafka
// topic and written only after the records before it are acknowledged, so
// a restart resumes where the last run left off: at least once.
package mongosource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/schemaflow/schemaflow/processor/internal/counters"
	"github.com/schemaflow/schemaflow/processor/subject"
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
	// InflightBytes is what the source holds for Kafka now, counted
	// against Config.MaxInflightBytes: batches encoded and not yet
	// settled, their dead letters not yet produced. PeakInflightBytes is
	// the most it held at once.
	InflightBytes, PeakInflightBytes int64
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
	// budget bounds the bytes in flight (MaxInflightBytes).
	budget byteBudget
	deadBy counters.ByLabel
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

// New fills in cfg's defaults, validates it and returns a Source.
func New(cfg Config) (*Source, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mongosource: invalid config:\n%w", err)
	}
	s := &Source{cfg: cfg, log: cfg.Logger, encoders: encoders{byName: map[string]*subject.Encoder{}}}
	s.routes.Store(&map[string]*route{})
	s.copyEstimate.Store(-1)
	s.budget.reset(cfg.MaxInflightBytes)
	s.snapReqs = make(chan SnapshotRequest, snapshotQueue)
	return s, nil
}

// Stats returns the counters so far.
func (s *Source) Stats() Stats {
	st := Stats{Events: s.events.Load(), Batches: s.batches.Load(), Dead: s.dead.Load(), Copied: s.copied.Load(), CopyEstimate: s.copyEstimate.Load(),
		Snapshotted: s.snapshotted.Load(), Snapshots: s.snapshots.Load(),
		Heartbeats: s.heartbeats.Load(), Bytes: s.bytes.Load(), Lag: time.Duration(s.lag.Load()), DeadByClass: s.deadBy.Snapshot(), Skipped: s.skipped.Snapshot()}
	st.InflightBytes, st.PeakInflightBytes = s.budget.stats()
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
	if c := s.cfg.Compression.Codec(); c != nil {
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
