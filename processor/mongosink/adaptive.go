package mongosink

import (
	"math"
	"time"
)

// Adaptive batch sizing. Unless Config.FixedBatch is set, the records a
// batch may hold are chosen by a hill climb on the target's throughput:
//
//   - Each size is measured over adaptWindow full batches: the records they
//     held over the time their bulk writes took (docs/s).
//   - From the best size known (the base) the climb tries the next size up
//     (×adaptStep) or down (÷adaptStep). A neighbour more than adaptGain
//     faster becomes the base and the climb goes on in that direction; one
//     that is not is marked worse and the other direction is tried. When
//     both neighbours are worse, or out of bounds, the size settles at the
//     base for adaptHold windows, measuring it all along, and then probes
//     its neighbours again, so it follows a target whose best size moves.
//   - BatchLatency is a hard ceiling on a batch's writes: a batch whose
//     writes take longer shrinks the next size at once to what would have
//     fit in BatchLatency at the same rate, and the size that
//     overran (when the batch was full) becomes a ceiling the climb stays
//     under; the climb also never steps to a size that the base's rate says
//     would take longer than BatchLatency. A ceiling is relaxed by one step
//     each time a settled size probes again, and dropped when the base's
//     rate says a step above it now fits in BatchLatency.
//   - MaxBatch is the ceiling of every size, MinAdaptiveBatch the floor
//     (MaxBatch when smaller), InitialAdaptiveBatch the start.
//   - A bulk write that timed out, and was split to finish (write), sets
//     the ceiling at its size and halves the size below it.
//
// Batches that are not full (the topic had fewer records waiting, or the
// byte bound closed them) are not of the size being measured, so they
// count only against BatchLatency.
const (
	// adaptStep is the ratio between neighbouring sizes.
	adaptStep = 1.5
	// adaptWindow is how many full batches measure a size.
	adaptWindow = 4
	// adaptGain is how much faster a neighbour must be to become the base.
	adaptGain = 0.05
	// adaptHold is how many windows a settled size holds before probing
	// its neighbours again.
	adaptHold = 16
)

// sizer is the adaptive batch size of a pipeline; its methods run on the
// pipeline's goroutine.
type sizer struct {
	min, max int
	latency  time.Duration

	// size is the next batch's size.
	size int
	// The window measuring size so far: full batches, their records and
	// the time their writes took.
	batches, records int
	took             time.Duration

	// base is the best size known and baseRate its docs/s; base is 0
	// before the first window of a (re)start.
	base     int
	baseRate float64
	// dir is the direction being tried from base: +1 up, -1 down; worse
	// says which of base's neighbours are known worse ([0] down, [1] up).
	dir   int
	worse [2]bool
	// hold is the windows left at a settled base before it probes again;
	// 0 while climbing.
	hold int
	// ceiling is a size known to be too large (it overran BatchLatency or
	// timed out); sizes stay below it. 0 when none is known.
	ceiling int
}

// newSizer makes the sizer of a Config whose defaults are filled in.
func newSizer(cfg Config) *sizer {
	lo := max(1, min(cfg.MinAdaptiveBatch, cfg.MaxBatch))
	s := &sizer{min: lo, max: cfg.MaxBatch, latency: cfg.BatchLatency, dir: 1}
	s.size = max(lo, min(cfg.InitialAdaptiveBatch, cfg.MaxBatch))
	return s
}

// limit is the size of the next batch.
func (s *sizer) limit() int { return s.size }

// observe takes the outcome of a batch: records of it were written, its
// size limit was limit, and its bulk writes took took.
func (s *sizer) observe(records, limit int, took time.Duration) {
	if took > s.latency && records > 0 {
		s.overrun(records, limit, took)
		return
	}
	if records < limit || limit != s.size {
		return // not full, or sized before a timeout changed the size
	}
	s.batches++
	s.records += records
	s.took += took
	if s.batches < adaptWindow {
		return
	}
	rate := float64(s.records) / max(s.took, time.Microsecond).Seconds()
	s.batches, s.records, s.took = 0, 0, 0
	cur := s.size
	switch {
	case s.base == 0:
		s.base, s.baseRate, s.dir, s.worse = cur, rate, 1, [2]bool{}
	case cur == s.base:
		s.baseRate = rate
		if s.hold--; s.hold > 0 {
			return
		}
		// Settled long enough: probe both neighbours again, under a
		// ceiling relaxed by a step.
		s.hold, s.dir, s.worse = 0, 1, [2]bool{}
		if s.ceiling > 0 {
			s.ceiling = s.stepUp(s.ceiling)
			if s.ceiling > s.max {
				s.ceiling = 0
			}
		}
	case rate > s.baseRate*(1+adaptGain):
		// Better: the climb goes on from here; where it came from is
		// worse.
		s.base, s.baseRate, s.worse = cur, rate, [2]bool{}
		s.worse[side(-s.dir)] = true
	default:
		s.worse[side(s.dir)] = true
		s.dir = -s.dir
	}
	s.probe()
}

// overrun shrinks the size after a batch of records (of limit) whose
// writes took took, longer than BatchLatency, to what would have fit in
// it at the same rate, and restarts the climb there; a full batch's size
// becomes the ceiling.
func (s *sizer) overrun(records, limit int, took time.Duration) {
	if records >= limit && (s.ceiling == 0 || limit < s.ceiling) {
		s.ceiling = limit
	}
	fit := int(float64(records) * s.latency.Seconds() / took.Seconds())
	s.restart(max(s.min, min(s.size, fit)))
}

// timedOut takes a bulk write of n models that ran out of WriteTimeout:
// sizes from n up are too large, and the size halves below it.
func (s *sizer) timedOut(n int) {
	if s.ceiling == 0 || n < s.ceiling {
		s.ceiling = max(s.min, n)
	}
	s.restart(max(s.min, min(s.size, n/2)))
}

// restart starts the climb again from size.
func (s *sizer) restart(size int) {
	s.size, s.base, s.baseRate, s.hold, s.dir, s.worse = size, 0, 0, 0, 1, [2]bool{}
	s.batches, s.records, s.took = 0, 0, 0
}

// probe moves to base's neighbour in dir, or the other one, unless it is
// known worse or out of bounds; with neither, the size settles at base.
func (s *sizer) probe() {
	for range 2 {
		if !s.worse[side(s.dir)] {
			if n, ok := s.neighbour(s.dir); ok {
				s.size = n
				return
			}
			s.worse[side(s.dir)] = true
		}
		s.dir = -s.dir
	}
	s.size, s.hold = s.base, adaptHold
}

// neighbour is base's next size in dir within the bounds: up, below the
// ceiling and no larger than what base's rate writes in BatchLatency. A
// ceiling that base's rate would write a step above of in BatchLatency
// is dropped: the target got faster since.
func (s *sizer) neighbour(dir int) (int, bool) {
	if dir < 0 {
		n := max(s.min, int(float64(s.base)/adaptStep))
		return n, n < s.base
	}
	if s.ceiling > 0 && s.baseRate*s.latency.Seconds() >= adaptStep*float64(s.ceiling) {
		s.ceiling = 0
	}
	n := min(s.stepUp(s.base), s.max)
	if s.ceiling > 0 {
		n = min(n, s.ceiling-1)
	}
	if s.baseRate > 0 && !math.IsInf(s.baseRate, 0) {
		n = min(n, int(s.baseRate*s.latency.Seconds()))
	}
	return n, n > s.base
}

// stepUp is the size a step above n.
func (s *sizer) stepUp(n int) int { return max(n+1, int(math.Ceil(float64(n)*adaptStep))) }

// side indexes worse by direction.
func side(dir int) int {
	if dir < 0 {
		return 0
	}
	return 1
}

// batchLimit is the records the next batch may hold: the adaptive size, or
// MaxBatch when FixedBatch is set.
func (p *Pipeline) batchLimit() int {
	if p.cfg.FixedBatch {
		p.size.Store(int64(p.cfg.MaxBatch))
		return p.cfg.MaxBatch
	}
	return p.sizer().limit()
}

// adapt sizes the next batch by the last one: records of it written (of
// limit) and the time its bulk writes took.
func (p *Pipeline) adapt(records, limit int, took time.Duration) {
	if p.cfg.FixedBatch {
		return
	}
	s := p.sizer()
	s.observe(records, limit, took)
	p.size.Store(int64(s.limit()))
}

// sizer is the pipeline's sizer, made on first use.
func (p *Pipeline) sizer() *sizer {
	if p.adaptive == nil {
		p.adaptive = newSizer(p.cfg)
		p.size.Store(int64(p.adaptive.limit()))
	}
	return p.adaptive
}

// splitWrite takes a bulk write of n records that ran out of time (its
// WriteTimeout, or the client's): its records are written again, in
// order, in bulk writes of half as many, and the adaptive size falls below
// n. The records the timed-out write did apply are applied again: replace
// and update upserts are idempotent, while an insert already applied fails
// as a duplicate key, as after any retried write. It returns the records
// of the next bulk writes.
func (p *Pipeline) splitWrite(ns Namespace, n int, err error) int {
	half := (n + 1) / 2
	p.splits.Add(1)
	p.log.Warn("mongosink: a bulk write timed out; writing its records again in smaller bulk writes",
		"namespace", ns.Database+"."+ns.Collection, "records", n, "next_bulk_records", half, "err", err)
	if !p.cfg.FixedBatch {
		s := p.sizer()
		s.timedOut(n)
		p.size.Store(int64(s.limit()))
	}
	return half
}
