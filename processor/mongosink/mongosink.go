// Package mongosink runs the sink path: a Kafka consumer group whose
// records are decoded through the registry, turned into write models and
// written to MongoDB in bulk. Offsets are committed only after the writes
// they cover have succeeded, so delivery is at least once; the default
// upsert strategies make replays harmless.
package mongosink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/internal/retry"
	"github.com/schemaflow/schemaflow/processor/internal/counters"
	"github.com/schemaflow/schemaflow/processor/internal/graceful"
	"github.com/schemaflow/schemaflow/processor/internal/panics"
	"github.com/schemaflow/schemaflow/processor/kafkaopt/fetchbound"
	"github.com/schemaflow/schemaflow/processor/sink"
)

// Collection is the part of a MongoDB collection the sink writes through;
// *mongo.Collection and lungo's ICollection both have it.
type Collection interface {
	BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error)
}

// Target opens a collection by namespace.
type Target func(database, collection string) Collection

// Error classes written into dead-letter headers, besides decode's.
const (
	ClassInvalidRecord    = "invalid-record"
	ClassDuplicateKey     = "duplicate-key"
	ClassDocumentTooLarge = "document-too-large"
	ClassValidation       = "validation-failed"
	ClassWriteFailed      = "write-failed"
)

// Dead-letter header names. They are Kafka Connect's, so tools that read
// Connect's dead-letter topics read ours.
const (
	HeaderTopic     = "__connect.errors.topic"
	HeaderPartition = "__connect.errors.partition"
	HeaderOffset    = "__connect.errors.offset"
	HeaderClass     = "__connect.errors.exception.class.name"
	HeaderMessage   = "__connect.errors.exception.message"
)

// RecordError stops a pipeline whose tolerance is none: the record named
// could not be processed.
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Class     string
	Err       error
}

// Error implements error.
func (e *RecordError) Error() string {
	return fmt.Sprintf("mongosink: %s/%d/%d: %s: %v", e.Topic, e.Partition, e.Offset, e.Class, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// Stats counts what a pipeline did.
type Stats struct {
	Written    int64 // records whose writes succeeded (or needed none)
	DeadLetter int64 // records sent to the dead-letter topic
	Batches    int64 // committed batches
	Retries    int64 // transient failures retried
	Bytes      int64 // key and value bytes of committed records
	// Lag is the records behind the partitions' high watermarks, as of
	// each partition's last fetch.
	Lag int64
	// DeadByClass counts dead letters by error class.
	DeadByClass map[string]int64
	// InflightBytes is the bytes held against MaxInflightBytes now, and
	// PeakInflightBytes the most held at once.
	InflightBytes, PeakInflightBytes int64
	// BatchSize is the batch size the next poll fills up to (adaptive
	// unless FixedBatch); 0 before the first batch.
	BatchSize int
	// Splits counts bulk writes that ran out of time and were written
	// again as two halves (adaptive.go).
	Splits int64
}

// Pipeline is a running Kafka → MongoDB sink.
type Pipeline struct {
	cfg Config
	log *slog.Logger
	cl  *kgo.Client

	written, dead, batches, retries, bytes atomic.Int64
	deadBy                                 counters.ByLabel

	firstAt time.Time // when the batch in hand got its first record
	// inflight is the bytes held against MaxInflightBytes (inflight.go).
	inflight gauge
	// fetch keeps the Kafka client's fetch buffer within its half of
	// MaxInflightBytes (inflight.go).
	fetch *fetchbound.Bound
	// carry holds records polled past the byte bound, for the next batch.
	carry []*kgo.Record
	// maxRecord is the largest record seen, for how many to poll.
	maxRecord int64
	// adaptive sizes batches (adaptive.go; nil before the first batch);
	// size publishes its size to Stats, splits the bulk writes split after
	// a timeout; writeTook is how long the last batch's bulk writes took.
	adaptive     *sizer
	size, splits atomic.Int64
	writeTook    time.Duration
	// connected is set once a metadata answer came back: the brokers are
	// reachable and took the login.
	connected atomic.Bool

	lagMu sync.Mutex
	lag   map[string]int64 // by "topic/partition"

	busy atomic.Pointer[call] // the call in progress, nil while polling

	// committed is, by "topic/partition", the next offset this run
	// committed; committedRecords counts the records of those commits.
	committed        map[string]int64
	committedRecords int64
}

// call is work the pipeline is in: a bulk write with its retries, a
// commit, a dead letter, decoding a batch.
type call struct {
	what  string
	since time.Time
}

// begin marks the pipeline busy with what until the returned func is
// called.
func (p *Pipeline) begin(what string) (end func()) {
	c := &call{what: what, since: time.Now()}
	prev := p.busy.Swap(c)
	return func() { p.busy.CompareAndSwap(c, prev) }
}

// Busy names the call the running pipeline is in — a bulk write (with its
// retries), an offset commit, a dead letter, decoding a batch through the
// registry — and when it began; "" while it waits for records. A call
// much older than WriteTimeout means the pipeline is stuck.
func (p *Pipeline) Busy() (what string, since time.Time) {
	if c := p.busy.Load(); c != nil {
		return c.what, c.since
	}
	return "", time.Time{}
}

// New fills in cfg's defaults, validates it and returns a Pipeline.
func New(cfg Config) (*Pipeline, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mongosink: invalid config:\n%w", err)
	}
	p := &Pipeline{cfg: cfg, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p, nil
}

// Connected reports whether the running pipeline has heard from its
// brokers: they are reachable and took the login.
func (p *Pipeline) Connected() bool { return p.connected.Load() }

// metadataHook marks the pipeline connected on its first metadata answer.
type metadataHook struct{ connected *atomic.Bool }

// OnBrokerRead implements kgo.HookBrokerRead.
func (h metadataHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil && key == 3 { // Metadata
		h.connected.Store(true)
	}
}

// Stats returns the counters so far.
func (p *Pipeline) Stats() Stats {
	p.lagMu.Lock()
	lag := int64(0)
	for _, l := range p.lag {
		lag += l
	}
	p.lagMu.Unlock()
	return Stats{Written: p.written.Load(), DeadLetter: p.dead.Load(), Batches: p.batches.Load(), Retries: p.retries.Load(),
		Bytes: p.bytes.Load(), Lag: lag, DeadByClass: p.deadBy.Snapshot(),
		InflightBytes: p.inflight.now.Load(), PeakInflightBytes: p.inflight.peak.Load(), BatchSize: int(p.size.Load()),
		Splits: p.splits.Load()}
}

// Run consumes until ctx is done, which returns nil, or until a record or
// failure stops the pipeline, which returns the error. Records of a batch
// that was not committed are consumed again by the next run. A Pipeline
// runs once at a time; make another for more members of the group.
//
// A panic while processing — in a post processor, a decoder, the MongoDB
// client — is recovered and returned as a *panics.Error naming the record
// when it is known; the pipeline stops as after any failure.
func (p *Pipeline) Run(ctx context.Context) (err error) {
	defer panics.Recover(&err)
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(p.cfg.Brokers...),
		kgo.ConsumerGroup(p.cfg.Group),
		kgo.ConsumeTopics(p.cfg.Topics...),
		kgo.DisableAutoCommit(),
		// A rebalance waits for the batch in hand to be written and
		// committed, so no partition is written by two members at once.
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.WithHooks(metadataHook{&p.connected}),
		// Topics created after the sink starts (a source's new namespace)
		// are picked up within seconds, not franz-go's default 5 minutes.
		kgo.MetadataMaxAge(10 * time.Second),
	}, append(p.fetchLimits(), p.cfg.KafkaOptions...)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("mongosink: kafka client: %w", err)
	}
	p.cl = cl
	p.fetch.Attach(cl)
	defer func() {
		// Also after a panic: a blocked rebalance would hold the leave,
		// and so Close, forever. Leaving is bounded; Close then returns.
		cl.AllowRebalance()
		leave, cancel := context.WithTimeout(context.Background(), p.cfg.CloseTimeout)
		if err := cl.LeaveGroupContext(leave); err != nil {
			p.log.Warn("mongosink: leaving the consumer group", "err", err)
		}
		cancel()
		cl.Close()
		p.connected.Store(false)
		p.busy.Store(nil)
	}()
	// A sink that cannot reach its brokers (down, or a refused login that
	// the broker answers by dropping the connection) says so.
	warn := time.AfterFunc(30*time.Second, func() {
		if !p.connected.Load() {
			p.log.Warn("mongosink: no answer from the brokers after 30s: check the addresses, the credentials and TLS", "brokers", p.cfg.Brokers)
		}
	})
	defer warn.Stop()
	p.lagMu.Lock()
	p.lag = map[string]int64{}
	p.lagMu.Unlock()
	// The batch in hand is written and committed under work, which
	// outlives a stop by the drain timeout: a stopped pipeline finishes
	// what it polled.
	work, cancelWork := graceful.Context(ctx, p.cfg.DrainTimeout)
	defer cancelWork()
	p.committed, p.committedRecords = map[string]int64{}, 0
	for {
		batch, err := p.poll(ctx)
		if err != nil {
			cl.AllowRebalance()
			if ctx.Err() != nil {
				p.logStop(nil, 0, nil)
				return nil
			}
			return err
		}
		if len(batch) > 0 {
			limit := p.batchLimit()
			writtenBefore := p.written.Load()
			p.writeTook = -1 // set by process; else the whole of it
			began := time.Now()
			if err := p.process(work, batch); err != nil {
				cl.AllowRebalance()
				if work.Err() != nil {
					// The drain ran out: the batch is read again.
					p.logStop(batch, p.written.Load()-writtenBefore, err)
					return nil
				}
				return err
			}
			if p.writeTook < 0 {
				p.writeTook = time.Since(began)
			}
			if err := p.commit(work, batch); err != nil {
				cl.AllowRebalance()
				if work.Err() != nil {
					p.logStop(batch, p.written.Load()-writtenBefore, err)
					return nil
				}
				return err
			}
			p.noteCommitted(batch)
			p.committedRecords += int64(len(batch))
			p.batches.Add(1)
			p.inflight.set(0) // the batch is released
			p.adapt(len(batch), limit, p.writeTook)
			n := int64(0)
			for _, r := range batch {
				n += int64(len(r.Key) + len(r.Value))
			}
			p.bytes.Add(n)
			if p.cfg.OnBatch != nil {
				p.cfg.OnBatch(len(batch), time.Since(p.firstAt))
			}
		}
		if len(p.carry) > 0 && ctx.Err() == nil {
			// Records polled past the byte bound are written before the
			// group may move their partitions.
			continue
		}
		cl.AllowRebalance()
		if ctx.Err() != nil {
			p.logStop(nil, 0, nil)
			return nil
		}
	}
}

// logStop says, when a stopped pipeline returns, what it committed — the
// next offset of each partition this run committed, and how many records
// — and what the next run reads again: the batch in hand, when the drain
// ran out before it was committed (lost is that batch, written how many
// of its records were written, err what cut it short), from its first
// offset in each partition.
func (p *Pipeline) logStop(lost []*kgo.Record, written int64, err error) {
	args := []any{"committed", offsetList(p.committed), "records_committed", p.committedRecords}
	if len(lost) == 0 {
		p.log.Info("mongosink: stopped; nothing uncommitted to read again", append(args, "read_again", "none")...)
		return
	}
	from := map[string]int64{}
	count := map[string]int{}
	for _, r := range lost {
		k := r.Topic + "/" + strconv.Itoa(int(r.Partition))
		if o, ok := from[k]; !ok || r.Offset < o {
			from[k] = r.Offset
		}
		count[k]++
	}
	again := make([]string, 0, len(from))
	for _, k := range sortedKeys(from) {
		again = append(again, fmt.Sprintf("%s from %d (%d records)", k, from[k], count[k]))
	}
	p.log.Warn("mongosink: stopped before the batch in hand was committed: the drain timeout ran out; it will be read again on the next start",
		append(args, "read_again", strings.Join(again, ", "), "records", len(lost), "written_before_stop", written, "drain_timeout", p.cfg.DrainTimeout.String(), "err", err)...)
}

// offsetList writes offsets as "topic/partition=offset, ...", sorted;
// "none" when empty.
func offsetList(offsets map[string]int64) string {
	if len(offsets) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(offsets))
	for _, k := range sortedKeys(offsets) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, offsets[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// commit commits the offsets of a written batch, within WriteTimeout.
func (p *Pipeline) commit(ctx context.Context, batch []*kgo.Record) error {
	defer p.begin("committing offsets")()
	cctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
	defer cancel()
	if err := p.cl.CommitRecords(cctx, batch...); err != nil {
		if ctx.Err() == nil && cctx.Err() != nil {
			return fmt.Errorf("mongosink: commit offsets: no answer within %s: %w", p.cfg.WriteTimeout, err)
		}
		return fmt.Errorf("mongosink: commit offsets: %w", err)
	}
	return nil
}

// poll collects up to the batch limit (batchLimit) of records, waiting at
// most MaxWait after the first one for the batch to fill, and no more
// bytes than the batch budget. Each poll asks for as many records as fit
// the room left at the size of the largest record seen, and at most as
// many as the batch holds; records of a poll that do not fit wait in
// carry, still in the Kafka client's fetch buffer they point into, for
// the next batch. A record larger than the budget is a batch alone.
func (p *Pipeline) poll(ctx context.Context) ([]*kgo.Record, error) {
	limit, budget := p.batchLimit(), p.batchBudget()
	var batch []*kgo.Record
	var held int64
	var deadline time.Time
	take := func(recs []*kgo.Record) {
		for i, r := range recs {
			n := recordBytes(r)
			p.maxRecord = max(p.maxRecord, n)
			if len(batch) >= limit || (len(batch) > 0 && held+n > budget) {
				p.carry = append(p.carry, recs[i:]...)
				return
			}
			batch, held = append(batch, r), held+n
		}
	}
	if carried := p.carry; len(carried) > 0 {
		p.carry = nil
		take(carried)
		p.firstAt = time.Now()
		deadline = p.firstAt.Add(p.cfg.MaxWait)
	}
	for len(batch) < limit && len(p.carry) == 0 {
		n, room := limit-len(batch), budget-held
		switch {
		case p.maxRecord == 0:
			n = 1 // nothing known of the records' size yet
		case len(batch) > 0 && room < p.maxRecord:
			n = 0 // the next record may not fit
		default:
			n = min(n, max(1, int(room/p.maxRecord)))
			if len(batch) > 0 {
				n = min(n, 2*len(batch)) // a poll at most doubles the batch
			}
		}
		if n == 0 {
			break
		}
		pctx := ctx
		cancel := func() {}
		if batch != nil {
			if time.Now().After(deadline) {
				break
			}
			pctx, cancel = context.WithDeadline(ctx, deadline)
		}
		fetches := p.cl.PollRecords(pctx, n)
		cancel()
		if fetches.IsClientClosed() {
			return nil, errors.New("mongosink: kafka client closed")
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
				continue
			}
			if fatalKafka(fe.Err) {
				// Retrying cannot fix a refused login or a missing
				// permission: fail, so the operator sees it.
				return nil, fmt.Errorf("mongosink: kafka: %w", fe.Err)
			}
			p.log.Warn("mongosink: fetch", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if n := len(fp.Records); n > 0 {
				p.lagMu.Lock()
				p.lag[fp.Topic+"/"+strconv.Itoa(int(fp.Partition))] = max(0, fp.HighWatermark-fp.Records[n-1].Offset-1)
				p.lagMu.Unlock()
			}
		})
		recs := fetches.Records()
		if batch == nil && len(recs) > 0 {
			p.firstAt = time.Now()
			deadline = p.firstAt.Add(p.cfg.MaxWait)
		}
		take(recs)
		if ctx.Err() != nil || (pctx != ctx && len(recs) == 0) {
			break // stopped, or MaxWait passed with no more records
		}
	}
	p.inflight.set(held)
	return batch, nil
}

// item is one record on its way to a collection.
type item struct {
	rec   *kgo.Record
	model mongo.WriteModel
}

// process writes a batch: each record becomes a write model, the models
// are grouped by namespace in record order, and each group is written.
func (p *Pipeline) process(ctx context.Context, batch []*kgo.Record) error {
	if p.cfg.Mapping != nil {
		return p.processMapped(ctx, batch)
	}
	groups := map[Namespace][]item{}
	var order []Namespace
	decoded := p.begin(fmt.Sprintf("decoding %d records (registry lookups)", len(batch)))
	defer decoded()
	prepared := p.prepareAll(ctx, batch)
	for i, rec := range batch {
		ns, model, class, err := prepared[i].ns, prepared[i].model, prepared[i].class, prepared[i].err
		if err != nil {
			if class == "" {
				return rootCause(prepared) // not the record's fault: stop
			}
			if err := p.fail(ctx, rec, class, err); err != nil {
				return err
			}
			continue
		}
		if model == nil {
			p.written.Add(1)
			continue
		}
		if _, ok := groups[ns]; !ok {
			order = append(order, ns)
		}
		groups[ns] = append(groups[ns], item{rec: rec, model: model})
	}
	decoded()
	began := time.Now()
	defer func() { p.writeTook = time.Since(began) }()
	for _, ns := range order {
		if err := p.write(ctx, ns, groups[ns]); err != nil {
			return err
		}
	}
	return nil
}

// namespace picks the collection of a record.
func (p *Pipeline) namespace(r sink.Record) (Namespace, error) {
	ns := Namespace{Database: p.cfg.Database, Collection: p.cfg.Collection}
	if ns.Collection == "" {
		ns.Collection = r.Topic
	}
	if t, ok := p.cfg.TopicNamespaces[r.Topic]; ok {
		if t.Database != "" {
			ns.Database = t.Database
		}
		if t.Collection != "" {
			ns.Collection = t.Collection
		}
	}
	if p.cfg.NamespaceField == "" || (r.Value == nil && r.RawValue == nil) {
		return ns, nil
	}
	v, ok := r.LookupValue(strings.Split(p.cfg.NamespaceField, ".")...)
	if !ok {
		return ns, nil
	}
	switch v := v.(type) {
	case string:
		if db, coll, dotted := strings.Cut(v, "."); dotted {
			ns.Database, ns.Collection = db, coll
		} else {
			ns.Collection = v
		}
	case bson.D:
		if db, ok := sink.Lookup(v, "db"); ok {
			s, isString := db.(string)
			if !isString {
				return ns, fmt.Errorf("namespace field %q: db is %T, want a string", p.cfg.NamespaceField, db)
			}
			ns.Database = s
		}
		if coll, ok := sink.Lookup(v, "coll"); ok {
			s, isString := coll.(string)
			if !isString {
				return ns, fmt.Errorf("namespace field %q: coll is %T, want a string", p.cfg.NamespaceField, coll)
			}
			ns.Collection = s
		}
	default:
		return ns, fmt.Errorf("namespace field %q is %T, want a string or a {db, coll} document", p.cfg.NamespaceField, v)
	}
	if ns.Database == "" || ns.Collection == "" || strings.ContainsAny(ns.Database, "/\\. \"$") || strings.Contains(ns.Collection, "$") {
		return ns, fmt.Errorf("namespace field %q names an invalid namespace %q.%q", p.cfg.NamespaceField, ns.Database, ns.Collection)
	}
	return ns, nil
}

// recordArgs names a record for logs and panics.
func recordArgs(rec *kgo.Record) []any {
	return []any{"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset}
}

// bulkWrite makes one bulk write attempt within WriteTimeout. A panic in
// the client becomes a *panics.Error that names no record yet.
//
// A write still running after SlowWrite is logged as a warning then, and
// again when it ends. A target that does not heed the context (an
// embedded engine busy writing its file) is not waited for past it: the
// attempt returns the context's error and the write finishes on its own.
func (p *Pipeline) bulkWrite(ctx context.Context, ns Namespace, coll Collection, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (err error) {
	wctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
	defer cancel()
	began := time.Now()
	var slow atomic.Bool
	timer := time.AfterFunc(p.cfg.SlowWrite, func() {
		slow.Store(true)
		p.log.Warn("mongosink: slow write: a bulk write is still running", "namespace", ns.Database+"."+ns.Collection,
			"records", len(models), "elapsed", time.Since(began).Round(time.Millisecond).String(), "slow_write", p.cfg.SlowWrite.String(), "write_timeout", p.cfg.WriteTimeout.String())
	})
	done := make(chan error, 1)
	go func() {
		var err error
		defer func() { done <- err }()
		defer panics.Recover(&err)
		_, err = coll.BulkWrite(wctx, models, opts...)
	}()
	select {
	case err = <-done:
	case <-wctx.Done():
		// Not a moment more: the drain's end is the stop's budget.
		err = fmt.Errorf("bulk write given up: %w", wctx.Err())
	}
	if !timer.Stop() && slow.Load() {
		p.log.Info("mongosink: slow write ended", "namespace", ns.Database+"."+ns.Collection, "records", len(models),
			"took", time.Since(began).Round(time.Millisecond).String(), "err", err)
	}
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		// A timeout: transient (mongo.IsTimeout), so it is retried.
		return fmt.Errorf("bulk write to %s.%s: no answer within %s: %w", ns.Database, ns.Collection, p.cfg.WriteTimeout, err)
	}
	return err
}

// write bulk-writes the items of one namespace. Records the server refuses
// for good are failed one by one; transient failures are retried. A bulk
// write of several records that times out is written again as two halves,
// in order (splitWrite). A bulk write that panics is written again one
// record at a time, to name the record that makes it panic.
func (p *Pipeline) write(ctx context.Context, ns Namespace, items []item) error {
	defer p.begin(fmt.Sprintf("bulk write of %d records to %s.%s", len(items), ns.Database, ns.Collection))()
	coll := p.cfg.Target(ns.Database, ns.Collection)
	opts := options.BulkWrite().SetOrdered(!p.cfg.Unordered)
	pending := items
	chunk := len(items) // the records of one bulk write
	backoff := p.policy().Backoff()
	for len(pending) > 0 {
		part := pending[:min(chunk, len(pending))]
		models := make([]mongo.WriteModel, len(part))
		for i, it := range part {
			models[i] = it.model
		}
		err := p.bulkWrite(ctx, ns, coll, models, opts)
		if err == nil {
			p.written.Add(int64(len(part)))
			pending = pending[len(part):]
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(part) > 1 && mongo.IsTimeout(err) {
			chunk = p.splitWrite(ns, len(part), err)
			continue
		}
		var pe *panics.Error
		if errors.As(err, &pe) {
			p.log.Warn("mongosink: a bulk write panicked; writing its records one at a time to find the one that panics",
				"namespace", ns.Database+"."+ns.Collection, "records", len(pending), "panic", fmt.Sprint(pe.Value))
			return p.writeEach(ctx, ns, coll, pending)
		}
		next, failed, transient, ok := p.split(part, err)
		if !ok {
			// The error names no record: write one at a time to find it.
			return p.writeEach(ctx, ns, coll, pending)
		}
		for _, f := range failed {
			if err := p.fail(ctx, f.it.rec, f.class, f.err); err != nil {
				return err
			}
		}
		if transient {
			wait, ok := backoff.Next()
			if !ok {
				return fmt.Errorf("mongosink: write %s.%s: giving up after %d retries: %w", ns.Database, ns.Collection, p.cfg.Retries, err)
			}
			p.retries.Add(1)
			p.log.Warn("mongosink: retrying write", "namespace", ns.Database+"."+ns.Collection, "attempt", backoff.Retries(), "wait", wait.String(), "err", err)
			if err := retry.Sleep(ctx, wait); err != nil {
				return err
			}
		}
		p.written.Add(int64(len(part) - len(next) - len(failed)))
		pending = append(next, pending[len(part):]...)
	}
	return nil
}

type failure struct {
	it    item
	class string
	err   error
}

// split reads a bulk write error. It returns the items still to write,
// those that failed for good, whether a transient failure calls for a
// pause, and false when the error cannot be tied to records.
func (p *Pipeline) split(pending []item, err error) (next []item, failed []failure, transient, ok bool) {
	var bwe mongo.BulkWriteException
	var wes mongo.WriteErrors // what embedded engines such as lungo return
	if errors.As(err, &wes) && !errors.As(err, &bwe) {
		for _, we := range wes {
			bwe.WriteErrors = append(bwe.WriteErrors, mongo.BulkWriteError{WriteError: we})
		}
	}
	if bwe.WriteErrors == nil && !errors.As(err, &bwe) {
		if isTransient(err) {
			return pending, nil, true, true
		}
		return nil, nil, false, false
	}
	if bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		// Every model was tried; the write concern was not met. Upserts
		// make writing them again harmless.
		return pending, nil, true, true
	}
	byIndex := map[int]mongo.BulkWriteError{}
	last := 0
	for _, we := range bwe.WriteErrors {
		byIndex[we.Index] = we
		last = max(last, we.Index)
	}
	for i, it := range pending {
		we, bad := byIndex[i]
		switch {
		case bad && transientCode(we.Code):
			next, transient = append(next, it), true
		case bad:
			failed = append(failed, failure{it: it, class: writeClass(we.Code, we.Message), err: fmt.Errorf("write error %d: %s", we.Code, we.Message)})
		case !p.cfg.Unordered && i > last:
			// An ordered bulk write stops at its first error.
			next = append(next, it)
		}
	}
	return next, failed, transient, true
}

// writeEach writes items one by one, so an error that names no record is
// tied to the record that caused it.
func (p *Pipeline) writeEach(ctx context.Context, ns Namespace, coll Collection, items []item) error {
	for _, it := range items {
		err := p.retry(ctx, "write "+ns.Database+"."+ns.Collection, func() (bool, error) {
			err := p.bulkWrite(ctx, ns, coll, []mongo.WriteModel{it.model})
			return err != nil && isTransient(err), err
		})
		var pe *panics.Error
		switch {
		case err == nil:
			p.written.Add(1)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &pe):
			return pe.WithRecord(recordArgs(it.rec)...) // not the record's fault alone: stop
		case isTransient(err):
			return fmt.Errorf("mongosink: write %s.%s: %w", ns.Database, ns.Collection, err)
		default:
			class := ClassWriteFailed
			var bwe mongo.BulkWriteException
			if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
				class = writeClass(bwe.WriteErrors[0].Code, bwe.WriteErrors[0].Message)
			} else {
				class = writeClass(0, err.Error())
			}
			if err := p.fail(ctx, it.rec, class, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// retry runs f until it succeeds, fails for good (f returns false) or the
// retries run out, waiting as policy says between tries.
func (p *Pipeline) retry(ctx context.Context, what string, f func() (transient bool, err error)) error {
	backoff := p.policy().Backoff()
	for {
		transient, err := f()
		if err == nil || !transient {
			return err
		}
		wait, ok := backoff.Next()
		if !ok {
			return fmt.Errorf("mongosink: %s: giving up after %d retries: %w", what, p.cfg.Retries, err)
		}
		p.retries.Add(1)
		p.log.Warn("mongosink: retrying", "what", what, "attempt", backoff.Retries(), "wait", wait.String(), "err", err)
		if err := retry.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// policy is the pipeline's retry policy: Retries retries, waits from
// Backoff doubling up to 10s, with schemaflow's jitter (internal/retry).
func (p *Pipeline) policy() retry.Policy {
	return retry.Policy{Initial: p.cfg.Backoff, Max: 10 * time.Second, Retries: p.cfg.Retries}
}

// fail handles a record that failed for good: to the dead-letter topic
// with tolerance all, else a RecordError that stops the pipeline.
func (p *Pipeline) fail(ctx context.Context, rec *kgo.Record, class string, cause error) error {
	if p.cfg.Tolerance != ToleranceAll {
		return &RecordError{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Class: class, Err: cause}
	}
	dl := &kgo.Record{
		Topic: p.cfg.DeadLetterTopic,
		Key:   rec.Key,
		Value: rec.Value,
		Headers: append(append([]kgo.RecordHeader(nil), rec.Headers...),
			kgo.RecordHeader{Key: HeaderTopic, Value: []byte(rec.Topic)},
			kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(rec.Partition)))},
			kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(rec.Offset, 10))},
			kgo.RecordHeader{Key: HeaderClass, Value: []byte(class)},
			kgo.RecordHeader{Key: HeaderMessage, Value: []byte(cause.Error())},
		),
	}
	defer p.begin("producing a dead letter to " + p.cfg.DeadLetterTopic)()
	// The headers are the dead letter's own bytes; key and value are the
	// record's, counted with its batch.
	extra := int64(0)
	for _, h := range dl.Headers[len(rec.Headers):] {
		extra += int64(len(h.Key) + len(h.Value))
	}
	p.inflight.add(extra)
	defer p.inflight.add(-extra)
	err := p.retry(ctx, "dead-letter topic "+p.cfg.DeadLetterTopic, func() (bool, error) {
		pctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
		defer cancel()
		err := p.cl.ProduceSync(pctx, dl).FirstErr()
		return err != nil, err
	})
	if err != nil {
		return fmt.Errorf("mongosink: %s/%d/%d: dead letter: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	p.dead.Add(1)
	p.deadBy.Add(class, 1)
	p.log.Warn("mongosink: dead letter", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "class", class, "err", cause)
	return nil
}

// fatalKafka reports whether a Kafka error needs an operator: a refused
// login or a missing permission.
func fatalKafka(err error) bool {
	for _, e := range []error{kerr.SaslAuthenticationFailed, kerr.IllegalSaslState, kerr.UnsupportedSaslMechanism,
		kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Server error codes that a retry can outlive: stepdowns, shutdowns,
// network trouble and write conflicts.
var transientCodes = map[int]bool{
	6: true, 7: true, 89: true, 91: true, 112: true, 189: true, 262: true,
	9001: true, 10107: true, 11600: true, 11602: true, 13435: true, 13436: true,
}

func transientCode(code int) bool { return transientCodes[code] }

func isTransient(err error) bool {
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		if se.HasErrorLabel("RetryableWriteError") || se.HasErrorLabel("TransientTransactionError") {
			return true
		}
		for code := range transientCodes {
			if se.HasErrorCode(code) {
				return true
			}
		}
	}
	return false
}

// writeClass names a permanent write error for dead-letter headers.
func writeClass(code int, msg string) string {
	switch {
	case code == 11000 || code == 11001 || strings.Contains(msg, "duplicate key") || strings.Contains(msg, "duplicate document"):
		return ClassDuplicateKey
	case code == 10334 || code == 17419 || code == 10003 || strings.Contains(msg, "too large"):
		return ClassDocumentTooLarge
	case code == 121:
		return ClassValidation
	}
	return ClassWriteFailed
}
