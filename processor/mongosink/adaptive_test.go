package mongosink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/processor/sink"
)

// target is a simulated target: the time a bulk write of n documents takes.
type target func(n int) time.Duration

// cost is a target whose bulk writes take overhead + perDoc·n + square·n²
// (in milliseconds): overhead per bulk write, cost per document, and the
// superlinear part of a target that slows down as a bulk write grows.
func cost(overhead, perDoc, square float64) target {
	return func(n int) time.Duration {
		x := float64(n)
		return time.Duration((overhead + perDoc*x + square*x*x) * float64(time.Millisecond))
	}
}

// best is the size in [lo, hi] with the best docs/s whose write time is
// within latency, and its docs/s.
func best(f target, lo, hi int, latency time.Duration) (size int, rate float64) {
	for n := lo; n <= hi; n++ {
		if t := f(n); t <= latency {
			if r := float64(n) / t.Seconds(); r > rate {
				size, rate = n, r
			}
		}
	}
	return size, rate
}

// The sizer finds the batch size of best throughput on simulated targets
// (a pure function of the batch size, noise drawn from a fixed seed), the
// default bounds (start 100, floor 10, ceiling 1000, 500ms): within
// `within` batches it settles at a size within a factor 2 of the best and
// at 90% or more of the best docs/s, and afterwards it moves at most one
// step from there (its probes) and never overruns BatchLatency again.
func TestSizerConverges(t *testing.T) {
	t.Parallel()
	const latency = 500 * time.Millisecond
	for _, tt := range []struct {
		name   string
		target target
		noise  float64 // each write's time × [1-noise, 1+noise]
		within int     // batches
	}{
		// FerretDB-like: upserts cost more per document in larger bulk
		// writes.
		{"superlinear, best at the floor", cost(2, 4, 0.2), 0, 30},
		{"superlinear, best small", cost(20, 4, 0.05), 0, 30},
		{"superlinear, best small, noisy", cost(20, 4, 0.05), 0.1, 40},
		// Per-batch overhead dominant: the larger the better.
		{"overhead dominant, best at the ceiling", cost(50, 0.1, 0), 0, 40},
		{"overhead dominant, noisy", cost(50, 0.1, 0), 0.1, 50},
		// In the middle: the overhead and the superlinear part balance
		// at 200.
		{"best in the middle", cost(40, 0.5, 0.001), 0, 40},
		{"best in the middle, noisy", cost(40, 0.5, 0.001), 0.1, 50},
		// Faster with every size, but BatchLatency caps it at 400.
		{"bounded by BatchLatency", cost(100, 1, 0), 0, 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{MaxBatch: 1000, BatchLatency: latency}
			cfg.EnsureDefaults()
			s := newSizer(cfg)
			opt, optRate := best(tt.target, s.min, s.max, latency)
			rng := rand.New(rand.NewPCG(1, uint64(len(tt.name))))
			const batches = 400
			sizes, bases := make([]int, batches), make([]int, batches)
			overruns := 0
			for i := range sizes {
				n := s.limit()
				sizes[i], bases[i] = n, s.base
				took := tt.target(n)
				if tt.noise > 0 {
					took = time.Duration(float64(took) * (1 + tt.noise*(2*rng.Float64()-1)))
				}
				if i >= tt.within && took > latency {
					overruns++
				}
				s.observe(n, n, took)
			}
			settled := mode(sizes[tt.within:])
			rate := float64(settled) / tt.target(settled).Seconds()
			t.Logf("best %d (%.0f docs/s); settled at %d (%.0f docs/s, %.0f%%); sizes %v", opt, optRate, settled, rate, 100*rate/optRate, compact(sizes))
			if float64(settled) > 2*float64(opt) || 2*float64(settled) < float64(opt) {
				t.Errorf("settled at %d, not within a factor 2 of the best size %d", settled, opt)
			}
			if rate < 0.9*optRate {
				t.Errorf("settled at %d: %.0f docs/s, under 90%% of the best %.0f (at %d)", settled, rate, optRate, opt)
			}
			for i := tt.within; i < batches; i++ {
				// Without noise, the size stays within a step of where it
				// settled; with noise, within a step of the best size
				// known then, which may move between near-equal sizes.
				base := settled
				if tt.noise > 0 {
					base = bases[i]
					if r := float64(base) / tt.target(base).Seconds(); r < 0.9*optRate {
						t.Errorf("batch %d: the best size known, %d, runs at %.0f docs/s, under 90%% of the best", i, base, r)
						break
					}
				}
				if lo, hi := int(float64(base)/adaptStep), int(math.Ceil(float64(base)*adaptStep)); sizes[i] < lo || sizes[i] > hi {
					t.Errorf("batch %d: size %d, more than one step from %d (%d..%d)", i, sizes[i], base, lo, hi)
					break
				}
			}
			if overruns > 0 {
				t.Errorf("%d batches after %d took longer than BatchLatency", overruns, tt.within)
			}
		})
	}
}

// After the target changes — its best size moves from the ceiling down to
// the floor, or back — the sizer finds the new best within 150 batches
// (the rest of a hold, then the climb).
func TestSizerFollowsTheTarget(t *testing.T) {
	t.Parallel()
	const latency = 500 * time.Millisecond
	large, small := cost(50, 0.1, 0), cost(20, 4, 0.05)
	for _, tt := range []struct {
		name          string
		before, after target
	}{
		{"large to small", large, small},
		{"small to large", small, large},
	} {
		cfg := Config{MaxBatch: 1000, BatchLatency: latency}
		cfg.EnsureDefaults()
		s := newSizer(cfg)
		for range 200 {
			n := s.limit()
			s.observe(n, n, tt.before(n))
		}
		var sizes []int
		for range 400 {
			n := s.limit()
			sizes = append(sizes, n)
			s.observe(n, n, tt.after(n))
		}
		opt, optRate := best(tt.after, s.min, s.max, latency)
		settled := mode(sizes[150:])
		if rate := float64(settled) / tt.after(settled).Seconds(); rate < 0.9*optRate {
			t.Errorf("%s: settled at %d (%.0f docs/s), want near %d (%.0f docs/s); sizes %v", tt.name, settled, rate, opt, optRate, compact(sizes))
		}
	}
}

// The sizer's bounds and rules, batch by batch: each step is a batch of
// records (of the size then) whose writes took took, and the size wanted
// after it.
func TestSizerSteps(t *testing.T) {
	t.Parallel()
	const latency = 100 * time.Millisecond
	type step struct {
		records int
		took    time.Duration
		want    int
	}
	fast := time.Millisecond
	// window is the adaptWindow full batches that measure a size, and
	// the size wanted after them.
	window := func(records int, took time.Duration, next int) []step {
		steps := make([]step, adaptWindow)
		for i := range steps {
			steps[i] = step{records, took, records}
		}
		steps[adaptWindow-1].want = next
		return steps
	}
	for _, tt := range []struct {
		name          string
		max, min, ini int
		steps         []step
	}{
		{"starts at InitialAdaptiveBatch and measures a window before the first step", 1000, 0, 0,
			window(100, 10*fast, 150)},
		{"grows while docs/s rise", 1000, 0, 0, slices.Concat(
			window(100, 50*fast, 150), // 2,000 docs/s
			window(150, 60*fast, 225), // 2,500: better, on up
		)},
		{"turns back when docs/s fall, and settles when both neighbours are worse", 1000, 0, 0, slices.Concat(
			window(100, 50*fast, 150), // 2,000 docs/s
			window(150, 90*fast, 66),  // 1,667: worse, so down
			window(66, 40*fast, 100),  // 1,650: worse too, so 100 holds
			window(100, 50*fast, 100),
		)},
		{"a batch over BatchLatency shrinks the size at once to what fits in it", 1000, 0, 0,
			[]step{{100, 2 * latency, 50}, {50, 125 * fast, 40}, {40, time.Second, 10}, {10, time.Second, 10}}},
		{"a batch not full is not measured", 1000, 0, 0, slices.Concat(
			[]step{{40, fast, 100}, {99, fast, 100}},
			window(100, fast, 150),
		)},
		{"a batch not full still may not overrun", 1000, 0, 0,
			[]step{{40, 200 * fast, 20}}},
		{"never above what the measured rate writes in BatchLatency", 1000, 0, 0,
			window(100, 80*fast, 125)}, // 1,250 docs/s × 100ms
		{"the size that overran is a ceiling", 1000, 0, 0, slices.Concat(
			[]step{{100, 2 * latency, 50}},
			window(50, 40*fast, 75), // 1,250 docs/s
			window(75, 55*fast, 99), // 1,364: better, on up, under 100
		)},
		{"a ceiling the target outgrew is dropped", 1000, 0, 0, slices.Concat(
			[]step{{100, 2 * latency, 50}},
			window(50, fast, 75),
			window(75, fast, 113),
		)},
		{"a small MaxBatch is the start and the ceiling", 20, 0, 0, slices.Concat(
			window(20, fast, 13),
			[]step{{13, time.Second, 10}, {10, time.Second, 10}},
		)},
		{"MaxBatch below the floor", 4, 0, 0,
			[]step{{4, time.Second, 4}, {4, fast, 4}}},
		{"InitialAdaptiveBatch and MinAdaptiveBatch set", 1000, 30, 40,
			[]step{{40, time.Second, 30}, {30, time.Second, 30}}},
	} {
		cfg := Config{MaxBatch: tt.max, BatchLatency: latency, MinAdaptiveBatch: tt.min, InitialAdaptiveBatch: tt.ini}
		cfg.EnsureDefaults()
		p := &Pipeline{cfg: cfg}
		for i, s := range tt.steps {
			limit := p.batchLimit()
			p.adapt(s.records, limit, s.took)
			if got := p.batchLimit(); got != s.want || p.Stats().BatchSize != s.want {
				t.Errorf("%s: step %d (%d of %d records in %s): next size %d (stats %d), want %d", tt.name, i, s.records, limit, s.took, got, p.Stats().BatchSize, s.want)
				break
			}
		}
	}
	fixed := &Pipeline{cfg: Config{MaxBatch: 500, BatchLatency: latency, FixedBatch: true}}
	fixed.adapt(500, 500, time.Hour)
	if got := fixed.batchLimit(); got != 500 {
		t.Errorf("fixed batch: size %d after a slow write, want 500", got)
	}
}

// mode is the most frequent value of xs (the smallest of a tie).
func mode(xs []int) int {
	count := map[int]int{}
	for _, x := range xs {
		count[x]++
	}
	m := 0
	for x, c := range count {
		if c > count[m] || (c == count[m] && x < m) {
			m = x
		}
	}
	return m
}

// compact writes sizes as runs: "100×3 150×3 ...".
func compact(sizes []int) string {
	var b strings.Builder
	for i := 0; i < len(sizes); {
		j := i
		for j < len(sizes) && sizes[j] == sizes[i] {
			j++
		}
		fmt.Fprintf(&b, "%d×%d ", sizes[i], j-i)
		i = j
	}
	return strings.TrimSpace(b.String())
}

// stalling writes through inner bulk writes of at most k models; a larger
// one blocks until its context ends, after applying its first applied
// models (none when applied is 0), as a target that stalls midway through
// an ordered bulk write. written lists the _ids the target wrote, in order.
type stalling struct {
	inner   Collection
	k       int
	applied int

	mu      sync.Mutex
	written []int64
	stalled int
}

func (s *stalling) BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	if len(models) <= s.k {
		return s.through(ctx, models, opts...)
	}
	if s.applied > 0 {
		_, _ = s.through(ctx, models[:s.applied], opts...) // duplicates, for inserts applied before
	}
	s.mu.Lock()
	s.stalled++
	s.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

// through writes models to inner and notes the _ids of those written: up
// to the first write error of an ordered bulk write.
func (s *stalling) through(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	res, err := s.inner.BulkWrite(ctx, models, opts...)
	n := len(models)
	var wes mongo.WriteErrors // lungo's
	switch {
	case err == nil:
	case errors.As(err, &wes) && len(wes) > 0:
		n = wes[0].Index
	default:
		n = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range models[:n] {
		s.written = append(s.written, modelID(m))
	}
	return res, err
}

// modelID is the _id a replace or insert model writes; -1 when it has none.
func modelID(m mongo.WriteModel) int64 {
	var doc any
	switch m := m.(type) {
	case *mongo.ReplaceOneModel:
		doc = m.Replacement
	case *mongo.InsertOneModel:
		doc = m.Document
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		return -1
	}
	var v struct {
		ID int64 `bson:"_id"`
	}
	if bson.Unmarshal(raw, &v) != nil {
		return -1
	}
	return v.ID
}

// A bulk write that stalls past WriteTimeout when it holds more than k
// records does not stop the pipeline: its records are written again in
// halves, in order, until the bulk writes are small enough; every record
// is written and committed, a warning and Stats.Splits say so, and the
// adaptive size ends at k or under (a fixed one stays). Replace upserts a
// stalled write partly applied are applied again, harmlessly; inserts it
// applied come back as duplicate keys and are dead-lettered, as after any
// retried write.
func TestSplitOnTimeout(t *testing.T) {
	t.Parallel()
	const n, k = 120, 10
	for _, tt := range []struct {
		name     string
		fixed    bool
		write    sink.WriteStrategy
		applied  int // records a stalled write applies before it stalls
		wantSize int // the batch size at the end; 0: k or under
		wantDead int
	}{
		{"adaptive", false, sink.WriteReplace, 0, 0, 0},
		{"fixed batch", true, sink.WriteReplace, 0, 100, 0},
		{"replace, partly applied before the stall", false, sink.WriteReplace, 3, 0, 0},
		{"insert, partly applied before the stall", false, sink.WriteInsert, 3, 0, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "orders", "dlq")
			recs := make([]*kgo.Record, n)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: "orders", Partition: 0, Value: []byte(fmt.Sprintf(`{"_id": %d}`, i))}
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			err = cl.ProduceSync(context.Background(), recs...).FirstErr()
			cl.Close()
			if err != nil {
				t.Fatal(err)
			}
			target := &stalling{inner: e.target("shop", "orders"), k: k, applied: tt.applied}
			var logs logLines
			cfg := e.config(t)
			cfg.Target = func(string, string) Collection { return target }
			cfg.Logger = logs.logger()
			cfg.MaxBatch, cfg.FixedBatch, cfg.MaxWait = 100, tt.fixed, time.Second
			// Long enough for a healthy write under the race detector.
			cfg.WriteTimeout, cfg.Retries = time.Second, 3
			cfg.Sink.Write, cfg.Sink.ID = tt.write, sink.IDValue
			cfg.Tolerance, cfg.DeadLetterTopic = ToleranceAll, "dlq"
			p, stop := start(t, cfg)
			testenv.WaitFor(t, "every record", func() bool { s := p.Stats(); return s.Written+s.DeadLetter == n })
			testenv.WaitFor(t, "the commit", func() bool { o, ok := e.committedOffset(t, "sink", "orders", 0); return ok && o == n })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			st := p.Stats()
			target.mu.Lock()
			written, stalled := slices.Clone(target.written), target.stalled
			target.mu.Unlock()
			if tt.write == sink.WriteReplace && tt.applied > 0 {
				// The records a stalled write applied are written again.
				if !ordered(written, n) {
					t.Errorf("the target wrote %v: not every _id in order", written)
				}
			} else if want := seq(n); !slices.Equal(written, want) {
				t.Errorf("the target wrote %v, want %v: each _id once, in order", written, want)
			}
			if got := e.count(t, "orders"); got != n {
				t.Errorf("%d documents, want %d", got, n)
			}
			if st.Splits == 0 || int64(stalled) != st.Splits {
				t.Errorf("%d splits counted, %d stalled writes: want as many, at least one", st.Splits, stalled)
			}
			if tt.wantSize == 0 && (st.BatchSize > k || st.BatchSize == 0) {
				t.Errorf("batch size %d at the end, want at most %d", st.BatchSize, k)
			}
			if tt.wantSize != 0 && st.BatchSize != tt.wantSize {
				t.Errorf("batch size %d at the end, want %d", st.BatchSize, tt.wantSize)
			}
			if int(st.DeadLetter) != tt.wantDead || st.DeadByClass[ClassDuplicateKey] != int64(tt.wantDead) {
				t.Errorf("%d dead letters (%v), want %d duplicate keys", st.DeadLetter, st.DeadByClass, tt.wantDead)
			}
			if st.Retries != 0 {
				t.Errorf("%d retries: a split is not a retry", st.Retries)
			}
			w := logs.find("mongosink: a bulk write timed out")
			if w == nil || w["level"] != "WARN" || w["namespace"] != "shop.orders" || w["records"] != float64(100) || w["next_bulk_records"] != float64(50) {
				t.Errorf("no warning naming the first split write (100 records, then 50): %v\n%s", w, logs.String())
			}
		})
	}
}

// seq is 0..n-1.
func seq(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i)
	}
	return s
}

// ordered reports whether every _id of 0..n-1 is in ids, the first write
// of each after the first write of the one before; an _id may be written
// again later (a stalled write applied it).
func ordered(ids []int64, n int) bool {
	next := int64(0)
	for _, id := range ids {
		switch {
		case id == next:
			next++
		case id > next:
			return false
		}
	}
	return next == int64(n)
}

// Whatever the batches and their write times, the size stays within its
// bounds, and a batch over BatchLatency never leaves the size larger.
func FuzzSizerBounds(f *testing.F) {
	f.Add([]byte{0, 10, 200, 3, 255, 255, 1, 1, 7, 9})
	f.Add([]byte{255, 0, 255, 0, 255, 0, 255, 0})
	f.Fuzz(func(t *testing.T, steps []byte) {
		cfg := Config{MaxBatch: 1 + int(len(steps)%7)*150, BatchLatency: 100 * time.Millisecond}
		cfg.EnsureDefaults()
		s := newSizer(cfg)
		lo := min(cfg.MinAdaptiveBatch, cfg.MaxBatch)
		for i := 0; i+1 < len(steps); i += 2 {
			limit := s.limit()
			records := limit
			if steps[i]&1 == 1 { // a batch not full
				records = limit * int(steps[i]) / 256
			}
			took := time.Duration(steps[i+1]) * time.Millisecond
			if i%3 == 0 {
				s.timedOut(max(1, records))
			}
			before := s.limit()
			s.observe(records, limit, took)
			if n := s.limit(); n < lo || n > cfg.MaxBatch {
				t.Fatalf("step %d: size %d outside %d..%d", i/2, n, lo, cfg.MaxBatch)
			}
			if took > cfg.BatchLatency && records > 0 && s.limit() > before {
				t.Fatalf("step %d: size grew from %d to %d after a batch over BatchLatency", i/2, before, s.limit())
			}
		}
	})
}

// End to end: writes that always take longer than the (tiny) latency bound
// shrink the batches to the floor; a target that answers at once, where
// larger bulk writes mean more docs/s, lets them grow past the start.
func TestAdaptiveEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		latency time.Duration
		target  func(e *env) Collection
		records int
		done    func(size int) bool
	}{
		{"slow target", time.Nanosecond, func(e *env) Collection { return e.target("shop", "orders") }, 300,
			func(size int) bool { return size == DefaultMinAdaptiveBatch }},
		{"fast target", time.Hour, func(*env) Collection { return discard{} }, 6000,
			func(size int) bool { return size > DefaultInitialAdaptiveBatch }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "orders")
			recs := make([]*kgo.Record, tt.records)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: "orders", Value: []byte(fmt.Sprintf(`{"_id": %d}`, i))}
			}
			e.produce(t, recs...)
			cfg := e.config(t)
			target := tt.target(e)
			cfg.Target = func(string, string) Collection { return target }
			cfg.MaxBatch, cfg.BatchLatency, cfg.MaxWait = 400, tt.latency, time.Second
			p, stop := start(t, cfg)
			testenv.WaitFor(t, "the batch size", func() bool { return tt.done(p.Stats().BatchSize) })
			testenv.WaitFor(t, "every record", func() bool { return p.Stats().Written == int64(tt.records) })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
