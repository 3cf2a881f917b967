package mongosource

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
)

// Copy reads the existing documents of a collection, or of every
// collection of a database, in _id ranges read side by side.
type Copy struct {
	// Database names the copied database. Required.
	Database string
	// Collection names the copied collection; empty copies every
	// collection Collections lists.
	Collection string
	// Collections lists the database's collections, for a database-wide
	// copy (Collection empty). Required then.
	Collections func(ctx context.Context) ([]string, error)
	// Find opens a cursor over the documents of coll that filter matches,
	// in ascending _id order. Required.
	Find func(ctx context.Context, coll string, filter bson.D) (Cursor, error)
	// Count estimates the number of documents of coll, for progress.
	Count func(ctx context.Context, coll string) (int64, error)
	// Splits returns up to n-1 _id values, ascending, that split coll
	// into n ranges of about the same size ($bucketAuto, $sample or
	// skipping through the _id index). Nil, or none returned, reads the
	// collection as one range.
	Splits func(ctx context.Context, coll string, n int) ([]bson.RawValue, error)
	// Parallelism is how many ranges are read at once. Default 4; 1 reads
	// the collection in _id order.
	Parallelism int
	// OnLostResumeOnly copies only when the lost-resume policy
	// copy_existing starts the source over; a fresh source starts now.
	OnLostResumeOnly bool
}

func (c *Copy) validate() error {
	var ps config.Problems
	if c.Database == "" {
		ps.Add("Database", "required")
	}
	if c.Find == nil {
		ps.Add("Find", "required")
	}
	if c.Collection == "" && c.Collections == nil {
		ps.Add("Collections", "required for a database-wide copy (no Collection)")
	}
	if c.Parallelism < 0 {
		ps.Add("Parallelism", "must not be negative")
	}
	return ps.Err()
}

func (c *Copy) parallelism() int {
	if c.Parallelism <= 0 {
		return 4
	}
	return c.Parallelism
}

// copyProgress is where a copy got to: its collections, each split into
// ranges with the last _id whose record Kafka acknowledged. It is saved
// with the stream position taken before the copy began, so a source
// stopped or killed mid-copy copies only what is left. The committer
// changes it; planning a collection adds its ranges; mu guards both.
type copyProgress struct {
	mu    sync.Mutex
	colls []*collProgress
}

type collProgress struct {
	name    string
	planned bool // the ranges are set
	ranges  []*copyRange
}

// copyRange is the _ids from lo (inclusive) to hi (exclusive), in the
// order MongoDB sorts values across types; a zero bound is open. after is
// the last _id copied and acknowledged.
type copyRange struct {
	lo, hi, after bson.RawValue
	done          bool
	copied        int64 // acknowledged documents
}

func (c *collProgress) copied() int64 {
	n := int64(0)
	for _, r := range c.ranges {
		n += r.copied
	}
	return n
}

func (c *collProgress) done() bool {
	if !c.planned {
		return false
	}
	for _, r := range c.ranges {
		if !r.done {
			return false
		}
	}
	return true
}

// copyMark is what an acknowledged copy batch finished: the range, the
// last _id it holds, and whether the range is done.
type copyMark struct {
	st    *copyStat
	rng   *copyRange
	last  bson.RawValue
	n     int64
	final bool
	// release frees the reader's slot once the progress is saved.
	release func()
}

// apply records an acknowledged batch; mu is held.
func (m *copyMark) apply() {
	if m.last.Type != 0 {
		m.rng.after = m.last
	}
	m.rng.copied += m.n
	m.rng.done = m.rng.done || m.final
}

// The offsets store holds either a bare resume token (the format of
// earlier versions, still written once no copy is in progress) or this
// document, recognised by its version field.
const offsetsVersionKey = "schemaflowOffsets"

// savedOffsets is a source's saved state.
type savedOffsets struct {
	token bson.Raw      // the resume token; during a copy, the position taken before it
	copy  *copyProgress // nil: no copy in progress
}

// parseOffsets reads a saved state: a bare token, or the versioned
// document.
func parseOffsets(b bson.Raw) (savedOffsets, error) {
	if b == nil {
		return savedOffsets{}, nil
	}
	v, err := b.LookupErr(offsetsVersionKey)
	if err != nil {
		return savedOffsets{token: b}, nil // a bare resume token
	}
	if n, ok := v.AsInt64OK(); !ok || n != 2 {
		return savedOffsets{}, fmt.Errorf("saved offsets: %s %s: this version reads version 2", offsetsVersionKey, v)
	}
	var out savedOffsets
	if t, ok := b.Lookup("token").DocumentOK(); ok {
		out.token = append(bson.Raw(nil), t...)
	}
	cp, ok := b.Lookup("copy").DocumentOK()
	if !ok {
		return out, nil
	}
	out.copy = &copyProgress{}
	arr, ok := cp.Lookup("collections").ArrayOK()
	if !ok {
		return savedOffsets{}, errors.New("saved offsets: copy.collections: not an array")
	}
	colls, _ := arr.Values()
	for i, cv := range colls {
		cd, ok := cv.DocumentOK()
		if !ok {
			return savedOffsets{}, fmt.Errorf("saved offsets: copy.collections[%d]: not a document", i)
		}
		c := &collProgress{}
		c.name, _ = cd.Lookup("name").StringValueOK()
		c.planned, _ = cd.Lookup("planned").BooleanOK()
		var ranges []bson.RawValue
		if ra, ok := cd.Lookup("ranges").ArrayOK(); ok {
			ranges, _ = ra.Values()
		}
		for j, rv := range ranges {
			rd, ok := rv.DocumentOK()
			if !ok {
				return savedOffsets{}, fmt.Errorf("saved offsets: copy.collections[%d].ranges[%d]: not a document", i, j)
			}
			r := &copyRange{}
			r.done, _ = rd.Lookup("done").BooleanOK()
			r.copied, _ = rd.Lookup("copied").AsInt64OK()
			for key, dst := range map[string]*bson.RawValue{"lo": &r.lo, "hi": &r.hi, "after": &r.after} {
				if v, err := rd.LookupErr(key); err == nil {
					*dst = v
				}
			}
			c.ranges = append(c.ranges, r)
		}
		if c.name == "" {
			return savedOffsets{}, fmt.Errorf("saved offsets: copy.collections[%d]: no name", i)
		}
		out.copy.colls = append(out.copy.colls, c)
	}
	return out, nil
}

// marshalOffsets encodes a state saved during a copy; p.mu is held.
func marshalOffsets(token bson.Raw, p *copyProgress) (bson.Raw, error) {
	colls := bson.A{}
	for _, c := range p.colls {
		ranges := bson.A{}
		for _, r := range c.ranges {
			d := bson.D{}
			for _, kv := range []struct {
				k string
				v bson.RawValue
			}{{"lo", r.lo}, {"hi", r.hi}, {"after", r.after}} {
				if kv.v.Type != 0 {
					d = append(d, bson.E{Key: kv.k, Value: kv.v})
				}
			}
			d = append(d, bson.E{Key: "done", Value: r.done}, bson.E{Key: "copied", Value: r.copied})
			ranges = append(ranges, d)
		}
		colls = append(colls, bson.D{{Key: "name", Value: c.name}, {Key: "planned", Value: c.planned}, {Key: "ranges", Value: ranges}})
	}
	doc := bson.D{{Key: offsetsVersionKey, Value: int32(2)}}
	if token != nil {
		doc = append(doc, bson.E{Key: "token", Value: token})
	}
	doc = append(doc, bson.E{Key: "copy", Value: bson.D{{Key: "collections", Value: colls}}})
	return bson.Marshal(doc)
}

// The order MongoDB sorts values of different BSON types in, as $type
// aliases: every _id belongs to one of these brackets (arrays cannot be
// _ids).
var typeBrackets = [][]string{
	{"minKey"}, {"null", "undefined"}, {"number"}, {"string", "symbol"}, {"object"}, {"binData"},
	{"objectId"}, {"bool"}, {"date"}, {"timestamp"}, {"regex"}, {"maxKey"},
}

func bracketOf(v bson.RawValue) int {
	alias := map[bsontype.Type]string{
		bson.TypeMinKey: "minKey", bson.TypeNull: "null", bson.TypeUndefined: "undefined",
		bson.TypeInt32: "number", bson.TypeInt64: "number", bson.TypeDouble: "number", bson.TypeDecimal128: "number",
		bson.TypeString: "string", bson.TypeSymbol: "string", bson.TypeEmbeddedDocument: "object", bson.TypeBinary: "binData",
		bson.TypeObjectID: "objectId", bson.TypeBoolean: "bool", bson.TypeDateTime: "date", bson.TypeTimestamp: "timestamp",
		bson.TypeRegex: "regex", bson.TypeMaxKey: "maxKey",
	}[v.Type]
	for i, b := range typeBrackets {
		if b[0] == alias {
			return i
		}
	}
	return -1
}

// rangeFilter matches the _ids of a range after its last copied one, in
// MongoDB's order across types: comparisons match only their own type's
// bracket, so the brackets in between are matched by $type.
func rangeFilter(r *copyRange) bson.D {
	lo, loOp := r.lo, "$gte"
	if r.after.Type != 0 {
		lo, loOp = r.after, "$gt"
	}
	loB, hiB := -1, len(typeBrackets)
	if lo.Type != 0 {
		loB = bracketOf(lo)
	}
	if r.hi.Type != 0 {
		hiB = bracketOf(r.hi)
	}
	if lo.Type == 0 && r.hi.Type == 0 {
		return bson.D{}
	}
	if lo.Type != 0 && r.hi.Type != 0 && loB == hiB {
		return bson.D{{Key: "_id", Value: bson.D{{Key: loOp, Value: lo}, {Key: "$lt", Value: r.hi}}}}
	}
	var or bson.A
	if lo.Type != 0 {
		or = append(or, bson.D{{Key: "_id", Value: bson.D{{Key: loOp, Value: lo}}}})
	}
	if r.hi.Type != 0 {
		or = append(or, bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: r.hi}}}})
	}
	for b := loB + 1; b < hiB && b < len(typeBrackets); b++ {
		for _, alias := range typeBrackets[b] {
			or = append(or, bson.D{{Key: "_id", Value: bson.D{{Key: "$type", Value: alias}}}})
		}
	}
	return bson.D{{Key: "$or", Value: or}}
}

// CopyStats is the progress of one collection's copy.
type CopyStats struct {
	Namespace string // "db.coll"
	// Copied counts documents copied and acknowledged, over every run of
	// the copy; Estimated is the collection's estimated size, -1 unknown.
	Copied, Estimated int64
	// Rate is documents per second in this run; ETA the time left at
	// that rate, 0 when unknown or done.
	Rate float64
	ETA  time.Duration
	Done bool
}

// copyStat tracks a collection's copy for Stats.
type copyStat struct {
	ns        string
	estimated int64
	base      int64        // acknowledged before this run
	copied    atomic.Int64 // acknowledged in this run
	read      atomic.Int64 // read in this run
	started   time.Time
	done      atomic.Bool
}

func (c *copyStat) stats() CopyStats {
	st := CopyStats{Namespace: c.ns, Copied: c.base + c.copied.Load(), Estimated: c.estimated, Done: c.done.Load()}
	if el := time.Since(c.started).Seconds(); el > 0 {
		st.Rate = float64(c.copied.Load()) / el
	}
	if !st.Done && st.Rate > 0 && st.Estimated > st.Copied {
		st.ETA = time.Duration(float64(st.Estimated-st.Copied) / st.Rate * float64(time.Second)).Round(time.Second)
	}
	return st
}

// CopyStats returns the progress of each collection copied or being
// copied in this run, in copy order.
func (s *Source) CopyStats() []CopyStats {
	s.copyMu.Lock()
	defer s.copyMu.Unlock()
	out := make([]CopyStats, 0, len(s.copies))
	for _, c := range s.copies {
		out = append(out, c.stats())
	}
	return out
}

// newCopyProgress plans a fresh copy: the collection, or the database's
// collections, each to be split when its turn comes.
func (s *Source) newCopyProgress(ctx context.Context) (*copyProgress, error) {
	c := s.cfg.CopyExisting
	names := []string{c.Collection}
	if c.Collection == "" {
		var err error
		if names, err = c.Collections(ctx); err != nil {
			return nil, fmt.Errorf("mongosource: %s: list the collections of %s: %w", s.cfg.Name, c.Database, err)
		}
	}
	p := &copyProgress{}
	for _, n := range names {
		p.colls = append(p.colls, &collProgress{name: n})
	}
	return p, nil
}

// plan splits a collection into ranges.
func (s *Source) plan(ctx context.Context, p *copyProgress, c *collProgress) {
	cp := s.cfg.CopyExisting
	var splits []bson.RawValue
	if n := cp.parallelism(); n > 1 && cp.Splits != nil {
		var err error
		splits, err = cp.Splits(ctx, c.name, n)
		if err != nil {
			s.log.Warn("mongosource: could not split the collection for a parallel copy: reading it as one range", "source", s.cfg.Name,
				"namespace", cp.Database+"."+c.name, "err", err)
			splits = nil
		}
	}
	ranges := make([]*copyRange, 0, len(splits)+1)
	var lo bson.RawValue
	for _, sp := range splits {
		ranges = append(ranges, &copyRange{lo: lo, hi: sp})
		lo = sp
	}
	ranges = append(ranges, &copyRange{lo: lo})
	p.mu.Lock()
	c.ranges, c.planned = ranges, true
	p.mu.Unlock()
}

// copyExisting publishes the existing documents as inserts: collection by
// collection, each in ranges read by parallel readers, batch by batch. The
// committer saves each batch's range progress once Kafka acknowledges it,
// so a source stopped mid-copy copies only the rest.
func (s *Source) copyExisting(ctx, work context.Context, cl *kgo.Client, inflight chan<- *inflightBatch, failed <-chan error, p *copyProgress) error {
	cp := s.cfg.CopyExisting
	for _, c := range p.colls {
		ns := cp.Database + "." + c.name
		p.mu.Lock()
		done, planned, base := c.done(), c.planned, c.copied()
		p.mu.Unlock()
		st := &copyStat{ns: ns, estimated: -1, base: base, started: time.Now()}
		if cp.Count != nil {
			if n, err := cp.Count(ctx, c.name); err == nil {
				st.estimated = n
			}
		}
		s.copyMu.Lock()
		s.copies = append(s.copies, st)
		s.copyMu.Unlock()
		if st.estimated >= 0 {
			s.copyEstimate.Store(max(s.copyEstimate.Load(), 0) + st.estimated)
		}
		if done {
			st.done.Store(true)
			continue
		}
		if !planned {
			s.plan(ctx, p, c)
		}
		var todo []*copyRange
		p.mu.Lock()
		for _, r := range c.ranges {
			if !r.done {
				todo = append(todo, r)
			}
		}
		p.mu.Unlock()
		if base > 0 {
			s.log.Info("mongosource: resuming the copy: documents already acknowledged are not copied again; those of the batches in flight at the stop are",
				"source", s.cfg.Name, "namespace", ns, "acknowledged", base, "estimated", st.estimated,
				"ranges_left", len(todo), "copied_again_at_most", s.inflightBound(len(todo)))
		} else {
			s.log.Info("mongosource: copying existing documents", "source", s.cfg.Name, "namespace", ns, "estimated", st.estimated,
				"ranges", len(todo), "parallelism", min(cp.parallelism(), len(todo)))
		}
		if err := s.copyRanges(ctx, work, cl, inflight, failed, c, todo, st); err != nil || ctx.Err() != nil {
			return err
		}
		st.done.Store(true)
		s.log.Info("mongosource: copy read", "source", s.cfg.Name, "namespace", ns, "documents", st.read.Load(),
			"took", time.Since(st.started).Round(time.Millisecond).String())
	}
	return nil
}

// inflightBound is the most documents a stop can leave produced but their
// progress not saved, hence copied again: the copy's read-ahead.
func (s *Source) inflightBound(readers int) int {
	return copyAhead * min(readers, s.cfg.CopyExisting.parallelism()) * s.cfg.MaxBatch
}

// copyAhead is how many batches each copy reader may have produced before
// their progress is saved: enough to keep Kafka and the saves busy, few
// enough that a killed copy copies little again.
const copyAhead = 2

// cap8 is the committer queue's capacity.
const cap8 = 8

// copyRanges reads the ranges with the copy's readers.
func (s *Source) copyRanges(ctx, work context.Context, cl *kgo.Client, inflight chan<- *inflightBatch, failed <-chan error,
	c *collProgress, todo []*copyRange, st *copyStat) error {
	cp := s.cfg.CopyExisting
	queue := make(chan *copyRange, len(todo))
	for _, r := range todo {
		queue <- r
	}
	close(queue)
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	readers := min(cp.parallelism(), len(todo))
	slots := make(chan struct{}, copyAhead*readers)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sendMu   sync.Mutex // one reader hands a batch over at a time
		lastLog  = time.Now()
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					fail(fmt.Errorf("mongosource: %s: copy %s: panic: %v", s.cfg.Name, st.ns, v))
				}
			}()
			for r := range queue {
				if readCtx.Err() != nil {
					return
				}
				err := s.copyRange(readCtx, work, cl, c, r, st, slots, func(b *inflightBatch) error {
					sendMu.Lock()
					defer sendMu.Unlock()
					select {
					case inflight <- b:
					case err := <-failed:
						return err
					case <-readCtx.Done():
						return readCtx.Err()
					}
					if time.Since(lastLog) >= 5*time.Second {
						lastLog = time.Now()
						cs := st.stats()
						s.log.Info("mongosource: copy progress", "source", s.cfg.Name, "namespace", st.ns, "copied", cs.Copied,
							"estimated", cs.Estimated, "rate", fmt.Sprintf("%.0f/s", cs.Rate), "eta", cs.ETA.String())
					}
					return nil
				})
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// copyRange reads one range in _id order, handing each batch to send.
func (s *Source) copyRange(ctx, work context.Context, cl *kgo.Client, c *collProgress, r *copyRange, st *copyStat,
	slots chan struct{}, send func(*inflightBatch) error) error {
	cp := s.cfg.CopyExisting
	wrap := func(err error) error { return fmt.Errorf("mongosource: %s: copy %s: %w", s.cfg.Name, st.ns, err) }
	cur, err := cp.Find(ctx, c.name, rangeFilter(r))
	if err != nil {
		return wrap(err)
	}
	defer cur.Close(context.Background())
	ns := bson.D{{Key: "db", Value: cp.Database}, {Key: "coll", Value: c.name}}
	more := cur.Next(ctx)
	for {
		b := &inflightBatch{copy: true, started: time.Now()}
		var events []bson.Raw
		var last bson.RawValue
		for ; more && len(events) < s.cfg.MaxBatch; more = cur.Next(ctx) {
			var doc bson.Raw
			if err := cur.Decode(&doc); err != nil {
				return wrap(err)
			}
			last = doc.Lookup("_id")
			event, err := bson.Marshal(bson.D{
				{Key: "operationType", Value: "insert"}, {Key: "ns", Value: ns},
				{Key: "documentKey", Value: bson.D{{Key: "_id", Value: last}}},
				{Key: "fullDocument", Value: doc}, {Key: "copyExisting", Value: true},
			})
			if err != nil {
				return wrap(err)
			}
			events = append(events, event)
		}
		if !more {
			if err := cur.Err(); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return wrap(err)
			}
			if ctx.Err() != nil {
				return ctx.Err() // a cursor cut short by a stop is not the range's end
			}
		}
		// A slot bounds the batches produced whose progress is not saved
		// yet: what a kill makes the next run copy again.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		var once sync.Once
		release := func() { once.Do(func() { <-slots }) }
		if err := s.produce(work, cl, b, events); err != nil {
			release()
			return err
		}
		st.read.Add(int64(len(events)))
		b.mark = &copyMark{st: st, rng: r, last: last, n: int64(len(events)), final: !more, release: release}
		if err := send(b); err != nil {
			release()
			return err
		}
		if !more {
			return nil
		}
	}
}
