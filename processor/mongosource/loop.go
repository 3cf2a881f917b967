package mongosource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/internal/graceful"
	"github.com/schemaflow/schemaflow/processor/internal/panics"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// run is one pass of Run: from the saved token, or, when restart is set
// after a lost resume point, from now (latest) or a new copy.
func (s *Source) run(ctx context.Context, cl *kgo.Client, offsets tokenStore, restart LostResumePolicy) (runErr error) {
	// What a failed run held is not carried over.
	s.budget.reset(s.cfg.MaxInflightBytes)
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
			// produced: its bytes leave the in-flight bound, its arena can
			// serve another batch.
			s.budget.release(b.held.Load())
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
			for b := range inflight { // drain, so the producer side never blocks
				s.budget.release(b.held.Load())
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
	// The batch's bytes count against MaxInflightBytes until the committer
	// settles it: reading waits here while earlier batches fill the bound.
	if err := s.hold(ctx, b, int64(offs[n]), true); err != nil {
		return err
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
			case errors.As(err, &re) && s.cfg.Tolerance == config.ToleranceAll && ctx.Err() == nil:
				dl := s.deadLetter(re, nil)
				// A dead letter carries the document as Extended JSON: its
				// bytes count from now on (without waiting: a batch that
				// holds bytes never waits, so two copy readers cannot wait
				// on each other); the next batch waits for them.
				_ = s.hold(ctx, b, recordSize(dl), false)
				b.mu.Lock()
				b.dead = append(b.dead, dl)
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
	// held is the bytes the batch counts against MaxInflightBytes, given
	// back by the committer once the batch is settled.
	held  atomic.Int64
	mu    sync.Mutex
	first error
	dead  []*kgo.Record // dead letters, produced before the token is saved

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
			if errors.Is(err, kerr.MessageTooLarge) && s.cfg.Tolerance == config.ToleranceAll {
				o := b.originOf(r)
				dl := s.deadLetter(&RecordError{Class: ClassTooLarge, Where: o.ns, Key: []byte(keyJSON(o.key)),
					Err: fmt.Errorf("%d bytes: %w", len(r.Value), err)}, r)
				// Without the refused value: its headers and key are
				// counted at once (a callback must not wait).
				_ = s.hold(ctx, b, recordSize(dl), false)
				b.dead = append(b.dead, dl)
			} else if b.first == nil {
				b.first = fmt.Errorf("mongosource: %s: produce to %s: %w", s.cfg.Name, r.Topic, err)
			}
			b.mu.Unlock()
		}
		b.wg.Done()
	})
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

// hold counts n bytes of batch b against the in-flight bound; with wait,
// it first waits until they fit (or until no other batch holds any, so a
// batch larger than the bound still goes, alone).
func (s *Source) hold(ctx context.Context, b *inflightBatch, n int64, wait bool) error {
	if err := s.budget.acquire(ctx, n, b.held.Load(), wait); err != nil {
		return err
	}
	b.held.Add(n)
	return nil
}

// recordSize is what a record holds in memory: key, value and headers.
func recordSize(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// byteBudget bounds the bytes a source holds in flight.
type byteBudget struct {
	mu    sync.Mutex
	max   int64
	held  int64
	peak  int64
	freed chan struct{} // closed, and replaced, by every release
}

// reset empties the budget for a new run, with max as its bound.
func (bb *byteBudget) reset(max int64) {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	bb.max, bb.held, bb.freed = max, 0, make(chan struct{})
}

// acquire takes n bytes for a batch that already holds own: at once when
// they fit under the bound, or when no other batch holds any; otherwise,
// with wait, once enough are released (false: at once regardless).
func (bb *byteBudget) acquire(ctx context.Context, n, own int64, wait bool) error {
	for {
		bb.mu.Lock()
		if !wait || bb.held+n <= bb.max || bb.held-own == 0 {
			bb.held += n
			bb.peak = max(bb.peak, bb.held)
			bb.mu.Unlock()
			return nil
		}
		freed := bb.freed
		bb.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return fmt.Errorf("mongosource: waiting for room under max_inflight_bytes: %w", ctx.Err())
		}
	}
}

// release gives n bytes back.
func (bb *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	bb.mu.Lock()
	defer bb.mu.Unlock()
	bb.held -= n
	close(bb.freed)
	bb.freed = make(chan struct{})
}

// stats returns the bytes held now and the most held at once.
func (bb *byteBudget) stats() (held, peak int64) {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	return bb.held, bb.peak
}
