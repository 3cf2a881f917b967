package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/mongosource"
	"github.com/schemaflow/schemaflow/processor/spec"
)

// SignalTopic is the control topic of snapshot requests: records keyed by
// the pipeline's name, valued by a JSON SnapshotSignal. Each running
// source pipeline watching a database reads it from the time it starts.
const SignalTopic = "schemaflow-signals"

// SnapshotSignal is a snapshot request on SignalTopic.
type SnapshotSignal struct {
	// Collection is the collection of the pipeline's database to
	// snapshot.
	Collection string `json:"collection"`
	// Filter, when set, is a MongoDB Extended JSON query document: only
	// the documents it matches are snapshotted.
	Filter json.RawMessage `json:"filter,omitempty"`
}

// RequestSnapshot asks the source pipeline named pipeline of f, running
// in a daemon, to snapshot a collection of its database (default the
// pipeline's collection), or the part filterJSON (Extended JSON, may be
// empty) matches, by producing a SnapshotSignal to SignalTopic on the
// pipeline's brokers.
func RequestSnapshot(ctx context.Context, f *spec.File, pipeline, collection, filterJSON string) error {
	idx := -1
	for i := range f.Pipelines {
		if f.Effective(i).Name == pipeline {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("snapshot: %s has no pipeline %q", f.Path, pipeline)
	}
	p := f.Effective(idx)
	switch {
	case p.Source == nil:
		return fmt.Errorf("snapshot: pipeline %q is a sink: snapshots are of source pipelines", pipeline)
	case p.MongoDB.Database == "":
		return fmt.Errorf("snapshot: pipeline %q watches a whole deployment: snapshots need a database", pipeline)
	}
	if collection == "" {
		collection = p.MongoDB.Collection
	}
	if collection == "" {
		return fmt.Errorf("snapshot: pipeline %q watches database %s: name the collection", pipeline, p.MongoDB.Database)
	}
	sig := SnapshotSignal{Collection: collection}
	if filterJSON != "" {
		if _, err := parseFilter([]byte(filterJSON)); err != nil {
			return fmt.Errorf("snapshot: filter: %w", err)
		}
		sig.Filter = json.RawMessage(filterJSON)
	}
	value, err := json.Marshal(sig)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	kopts, err := kafkaOptions(f, p.Kafka)
	if err != nil {
		return fmt.Errorf("snapshot: pipeline %q: kafka: %w", pipeline, err)
	}
	cl, err := kgo.NewClient(append(kopts, kgo.SeedBrokers(p.Kafka.Brokers...), kgo.AllowAutoTopicCreation())...)
	if err != nil {
		return fmt.Errorf("snapshot: kafka client: %w", err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: SignalTopic, Key: []byte(pipeline), Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("snapshot: produce to %s: %w", SignalTopic, err)
	}
	return nil
}

// parseFilter reads an Extended JSON query document.
func parseFilter(b []byte) (bson.D, error) {
	var d bson.D
	if err := bson.UnmarshalExtJSON(b, false, &d); err != nil {
		return nil, fmt.Errorf("not an Extended JSON document: %w", err)
	}
	return d, nil
}

// signalled runs a source while reading its snapshot requests from
// SignalTopic: those produced since it started, keyed by its name.
type signalled struct {
	sourceRunner
	name    string
	brokers []string
	opts    []kgo.Opt
	log     *slog.Logger
}

// Run implements runner: the source, and the signal reader beside it; a
// failure of the reader is logged, and the source goes on.
func (r signalled) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.listen(ctx, time.Now()); err != nil && ctx.Err() == nil {
			r.log.Error("daemon: snapshot requests are not read", "topic", SignalTopic, "err", err)
		}
	}()
	err := r.sourceRunner.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

// listen hands the source the snapshot requests for it produced at or
// after since.
func (r signalled) listen(ctx context.Context, since time.Time) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), r.opts...), kgo.SeedBrokers(r.brokers...), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics(SignalTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(since.Add(-time.Second).UnixMilli())))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.Warn("daemon: reading snapshot requests", "topic", topic, "partition", p, "err", err)
			}
		})
		var reqs []mongosource.SnapshotRequest
		fs.EachRecord(func(rec *kgo.Record) {
			if string(rec.Key) != r.name || rec.Timestamp.Before(since) {
				return
			}
			var sig SnapshotSignal
			err := json.Unmarshal(rec.Value, &sig)
			req := mongosource.SnapshotRequest{Collection: sig.Collection}
			if err == nil && len(sig.Filter) > 0 {
				req.Filter, err = parseFilter(sig.Filter)
			}
			if err == nil && sig.Collection == "" {
				err = errors.New("no collection")
			}
			if err != nil {
				r.log.Error("daemon: bad snapshot request ignored", "topic", SignalTopic, "partition", rec.Partition, "offset", rec.Offset, "err", err)
				return
			}
			reqs = append(reqs, req)
		})
		for _, req := range reqs {
			if err := r.Snapshot(ctx, req); err != nil {
				return err
			}
		}
	}
}
