package daemon

import (
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/schemaflow/schemaflow/processor/metrics"
	"github.com/schemaflow/schemaflow/processor/mongosource"
)

// The metric families of /metrics, each declared once. Counters and gauges
// are read from the pipelines at scrape time (collect); the batch
// histogram is observed as batches end.
var (
	mRecordsIn       = metrics.Counter("schemaflow_records_in_total", "Records read: change events (sources) or Kafka records (sinks).", "pipeline", "kind")
	mRecordsOut      = metrics.Counter("schemaflow_records_out_total", "Records delivered: acknowledged by Kafka (sources) or written to MongoDB (sinks).", "pipeline", "kind")
	mDeadLettered    = metrics.Counter("schemaflow_records_dead_lettered_total", "Records sent to the dead-letter topic.", "pipeline", "kind")
	mBytes           = metrics.Counter("schemaflow_bytes_total", "Key and value bytes produced (sources) or consumed (sinks).", "pipeline", "kind")
	mConsumerLag     = metrics.Gauge("schemaflow_consumer_lag_records", "Records behind the partitions' high watermarks.", "pipeline")
	mSinkRead        = metrics.Counter("schemaflow_sink_records_read_total", "Record keys and values read, by topic, part and the format they were read in (what auto chose).", "pipeline", "topic", "part", "format")
	mSourceLag       = metrics.Gauge("schemaflow_source_lag_seconds", "Time from the last saved batch's cluster time to its save.", "pipeline")
	mRegistrations   = metrics.Counter("schemaflow_schema_registrations_total", "Schema versions registered.", "pipeline")
	mSourceActive    = metrics.Gauge("schemaflow_source_active", "1 on the daemon that runs the source, 0 on those standing by.", "pipeline")
	mCopied          = metrics.Counter("schemaflow_copy_documents_total", "Existing documents published by copy_existing.", "pipeline")
	mCopyEstimate    = metrics.Gauge("schemaflow_copy_estimated_documents", "The copy's estimated document count; -1 before a copy or when unknown.", "pipeline")
	mSnapshotted     = metrics.Counter("schemaflow_snapshot_documents_total", "Documents published by snapshots (schemaflow snapshot) and acknowledged.", "pipeline")
	mSnapshots       = metrics.Counter("schemaflow_snapshots_total", "Snapshots done: every record acknowledged.", "pipeline")
	mCollCopied      = metrics.Gauge("schemaflow_copy_collection_documents", "Documents of a collection copied and acknowledged, over every run of the copy.", "pipeline", "namespace")
	mCollEstimate    = metrics.Gauge("schemaflow_copy_collection_estimated_documents", "A copied collection's estimated document count; -1 unknown.", "pipeline", "namespace")
	mCollRate        = metrics.Gauge("schemaflow_copy_collection_rate", "Documents per second copied from a collection in this run.", "pipeline", "namespace")
	mCollETA         = metrics.Gauge("schemaflow_copy_collection_eta_seconds", "Estimated time left to copy a collection at the current rate; 0 when done or unknown.", "pipeline", "namespace")
	mSkipped         = metrics.Counter("schemaflow_source_events_skipped_total", "Change events published as nothing, by reason: no_document (collection events), no_full_document (an update whose document was gone or had no post-image), tombstones_off.", "pipeline", "reason")
	mCacheHits       = metrics.Counter("schemaflow_registry_cache_hits_total", "Schema lookups served from the pipeline's cache.", "pipeline", "kind")
	mCacheMisses     = metrics.Counter("schemaflow_registry_cache_misses_total", "Schema lookups that went to the registry.", "pipeline", "kind")
	mErrors          = metrics.Counter("schemaflow_errors_total", "Records dead-lettered and pipeline failures, by error class.", "pipeline", "class")
	mRestarts        = metrics.Counter("schemaflow_pipeline_restarts_total", "Restarts after failures.", "pipeline")
	mUp              = metrics.Gauge("schemaflow_pipeline_up", "1 while the pipeline runs.", "pipeline")
	mSinkBatchSize   = metrics.Gauge("schemaflow_sink_batch_size", "Records the sink's next batch fills up to: the adaptive size, or max_batch when adaptive_batch is false.", "pipeline")
	mSinkSplits      = metrics.Counter("schemaflow_sink_write_splits_total", "Sink bulk writes that ran out of write_timeout and were written again as two halves.", "pipeline")
	mStuck           = metrics.Gauge("schemaflow_pipeline_stuck", "1 while a call of the pipeline (a bulk write with its retries, a commit) has run past its stuck threshold.", "pipeline")
	pipelineFamilies = []*metrics.Family{mRecordsIn, mRecordsOut, mDeadLettered, mBytes, mConsumerLag, mSinkRead, mSourceLag,
		mRegistrations, mSourceActive, mCopied, mCopyEstimate, mSnapshotted, mSnapshots, mCollCopied, mCollEstimate, mCollRate,
		mCollETA, mSkipped, mCacheHits, mCacheMisses, mErrors, mRestarts, mUp, mStuck, mSinkBatchSize, mSinkSplits}
)

// batchBuckets are the upper bounds of schemaflow_batch_duration_seconds.
var batchBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// initMetrics makes the daemon's registry: the pipelines' families, the
// batch histogram, the Go runtime and process collectors.
func (d *Daemon) initMetrics() error {
	d.metrics = metrics.New()
	batches, err := d.metrics.Histogram("schemaflow_batch_duration_seconds",
		"Time from a batch's first record to its commit (sink) or saved resume token (source).", batchBuckets, "pipeline")
	if err != nil {
		return err
	}
	d.batches = batches
	if err := d.metrics.Register(metrics.NewCollector(d.collect, pipelineFamilies...)); err != nil {
		return fmt.Errorf("pipeline metrics: %w", err)
	}
	return nil
}

// observeBatch records a batch of the named pipeline that took took.
func (d *Daemon) observeBatch(pipeline string, took time.Duration) {
	d.batches.With(prometheus.Labels{"pipeline": pipeline}).Observe(took.Seconds())
}

// collect writes the pipelines' counters and gauges for a scrape.
func (d *Daemon) collect(w *metrics.Writer) {
	for _, p := range d.pipelines {
		p.mu.Lock()
		state, restarts := p.state, p.restarts
		failures := make(map[string]int64, len(p.failures))
		for k, v := range p.failures {
			failures[k] = v
		}
		p.mu.Unlock()
		s := p.run.snapshot()
		w.Write(mRecordsIn, float64(s.In), p.name, p.kind)
		w.Write(mRecordsOut, float64(s.Out), p.name, p.kind)
		w.Write(mDeadLettered, float64(s.Dead), p.name, p.kind)
		w.Write(mBytes, float64(s.Bytes), p.name, p.kind)
		if p.kind == "sink" {
			w.Write(mConsumerLag, s.Lag, p.name)
			w.Write(mSinkBatchSize, float64(s.BatchSize), p.name)
			w.Write(mSinkSplits, float64(s.Splits), p.name)
			for _, f := range s.Formats {
				w.Write(mSinkRead, float64(f.N), p.name, f.Topic, string(f.Part), string(f.Format))
			}
		} else {
			w.Write(mSourceLag, s.Lag, p.name)
			w.Write(mRegistrations, float64(s.Registrations), p.name)
			active := 1.0
			if s.Standby {
				active = 0
			}
			w.Write(mSourceActive, active, p.name)
			w.Write(mCopied, float64(s.Copied), p.name)
			w.Write(mCopyEstimate, float64(s.CopyEstimate), p.name)
			w.Write(mSnapshotted, float64(s.Snapshotted), p.name)
			w.Write(mSnapshots, float64(s.Snapshots), p.name)
			for _, c := range s.Copies {
				w.Write(mCollCopied, float64(c.Copied), p.name, c.Namespace)
				w.Write(mCollEstimate, float64(c.Estimated), p.name, c.Namespace)
				w.Write(mCollRate, c.Rate, p.name, c.Namespace)
				w.Write(mCollETA, c.ETA.Seconds(), p.name, c.Namespace)
			}
			// Every reason is shown from the start, so an alert can watch
			// for any increase.
			for _, r := range []string{mongosource.SkipNoDocument, mongosource.SkipNoFullDocument, mongosource.SkipTombstonesOff} {
				w.Write(mSkipped, float64(s.Skipped[r]), p.name, r)
			}
		}
		w.Write(mCacheHits, float64(s.CacheHits), p.name, p.kind)
		w.Write(mCacheMisses, float64(s.CacheMisses), p.name, p.kind)
		classes := map[string]int64{}
		for c, n := range s.DeadByClass {
			classes[c] += n
		}
		for c, n := range failures {
			classes[c] += n
		}
		names := make([]string, 0, len(classes))
		for c := range classes {
			names = append(names, c)
		}
		sort.Strings(names)
		for _, c := range names {
			w.Write(mErrors, float64(classes[c]), p.name, c)
		}
		w.Write(mRestarts, float64(restarts), p.name)
		up := 0.0
		if state == StateRunning {
			up = 1
		}
		w.Write(mUp, up, p.name)
		stuck := 0.0
		if p.stuck() != "" {
			stuck = 1
		}
		w.Write(mStuck, stuck, p.name)
	}
}
