// Package daemon runs the pipelines of spec files: each on its own, with
// restarts and backoff, graceful shutdown, Prometheus metrics and health
// endpoints.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/internal/retry"
	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/internal/panics"
	"github.com/schemaflow/schemaflow/processor/metrics"
	"github.com/schemaflow/schemaflow/processor/mongosink"
	"github.com/schemaflow/schemaflow/processor/mongosource"
	"github.com/schemaflow/schemaflow/processor/spec"
)

// Options configure a Daemon.
type Options struct {
	// Logger logs pipeline lifecycles. Default slog.Default().
	Logger *slog.Logger
	// Connections opens MongoDB clients; default a new one, closed when
	// Run returns.
	Connections *Connections
	// ShutdownTimeout bounds a graceful stop: pipelines finish the
	// records in hand and save their positions within it. Default 30s.
	// Leaving the consumer groups is given a quarter of it, at most 5s,
	// and the end (closing the MongoDB clients) a fifth, at most 1s;
	// the rest is the drain: sinks write and commit the batch in hand,
	// sources deliver their records and save their resume tokens. A call
	// that runs past the drain is given up (the sink's batch is read
	// again), so the stop ends within the timeout.
	ShutdownTimeout time.Duration
	// StuckAfter is how long one call of a pipeline — a sink's bulk write
	// with its retries, an offset commit; a source's batch waiting for
	// Kafka's acknowledgements, a registry call, a token save — may run
	// before the pipeline is
	// reported stuck in the logs and /readyz. Default the sink's write
	// timeout (30s).
	StuckAfter time.Duration
}

// State is where a pipeline is in its life.
type State string

// The pipeline states.
const (
	StateStarting   State = "starting"
	StateRunning    State = "running"
	StateRestarting State = "restarting" // failed, waiting out its backoff
	StateFailed     State = "failed"     // failed and stays stopped (on_failure stop)
	StateStopped    State = "stopped"
)

// Status is a pipeline's state and counters.
type Status struct {
	Name     string
	Kind     string // "source" or "sink"
	State    State
	Restarts int64
	LastErr  string
	// Stuck names the call a pipeline has been in for longer than
	// Options.StuckAfter, and for how long; "" when it is not stuck.
	Stuck string
	// MongoDB is "mongodb unreachable: URI: error" (the URI without
	// credentials) while the pipeline's deployment cannot be reached;
	// "" otherwise.
	MongoDB string
	Snapshot
}

// Daemon runs pipelines.
type Daemon struct {
	opts      Options
	log       *slog.Logger
	conns     *Connections
	ownsConns bool
	pipelines []*pipeline
	metrics   *metrics.Registry
	batches   *prometheus.HistogramVec
	stopping  atomic.Bool
}

// pipeline is one supervised pipeline.
type pipeline struct {
	name, kind string
	where      string // file:line of its spec
	onFailure  config.OnFailure
	backoff    time.Duration
	maxBackoff time.Duration
	stuckAfter time.Duration
	spec       spec.Pipeline
	run        runner
	kopts      []kgo.Opt // the Kafka client options: id, SASL, TLS

	mu       sync.Mutex
	state    State
	lastErr  string
	restarts int64
	failures map[string]int64 // by class
	exited   atomic.Bool      // its supervisor returned
}

// New builds the pipelines of files. Nothing runs until Run.
func New(ctx context.Context, files []*spec.File, opts Options) (*Daemon, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("daemon: invalid options:\n%w", err)
	}
	d := &Daemon{opts: opts, log: opts.Logger, conns: opts.Connections}
	if d.conns == nil {
		d.conns, d.ownsConns = &Connections{Logger: d.log}, true
	}
	drain, leave, _ := d.stopBudget()
	b := &builder{conns: d.conns, log: d.log, hooks: func(name string) func(int, time.Duration) {
		return func(_ int, took time.Duration) { d.observeBatch(name, took) }
	}, drain: drain, leave: leave}
	var errs []error
	for _, f := range files {
		for i := range f.Pipelines {
			p := f.Effective(i)
			where := f.Line(i)
			r, kopts, err := b.build(ctx, f, i)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: pipeline %s: %w", where, p.Name, err))
				continue
			}
			restart := p.RestartConfig()
			restart.EnsureDefaults()
			pl := &pipeline{name: p.Name, kind: "source", where: where, onFailure: restart.OnFailure, spec: p, run: r, kopts: kopts,
				backoff: restart.Backoff, maxBackoff: restart.MaxBackoff, state: StateStarting}
			if p.Sink != nil {
				pl.kind = "sink"
			}
			pl.stuckAfter = d.opts.StuckAfter
			if pl.stuckAfter <= 0 {
				pl.stuckAfter = mongosink.DefaultWriteTimeout
				if p.Sink != nil && p.Sink.WriteTimeout.Duration > 0 {
					pl.stuckAfter = p.Sink.WriteTimeout.Duration
				}
			}
			d.pipelines = append(d.pipelines, pl)
		}
	}
	if err := d.initMetrics(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		if d.ownsConns {
			_ = d.conns.Close(context.Background())
		}
		return nil, err
	}
	return d, nil
}

// stopBudget splits the shutdown timeout: closing is kept for the end —
// the pipelines' last steps, closing the MongoDB clients, exiting (a
// fifth, at most 1s) —, leave for leaving the consumer groups after the
// drain (a quarter, at most 5s), and drain is the rest. All start when
// the stop does, so they end within it.
func (d *Daemon) stopBudget() (drain, leave, closing time.Duration) {
	t := d.opts.ShutdownTimeout
	closing = min(time.Second, t/5)
	leave = min(5*time.Second, t/4)
	return t - leave - closing, leave, closing
}

// Run runs every pipeline until ctx is done, then stops them gracefully
// within the shutdown timeout and returns nil. It returns an error when a
// pipeline with on_failure exit fails, or the shutdown times out.
func (d *Daemon) Run(ctx context.Context) error {
	var stopDeadline, closeDeadline time.Time // once stopping
	if d.ownsConns {
		defer func() {
			// Closing waits for calls in flight; never past the shutdown
			// timeout.
			closed := make(chan struct{})
			deadline := closeDeadline
			if deadline.IsZero() { // never stopped: Run returned early
				deadline = time.Now().Add(200 * time.Millisecond)
			}
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			go func() { _ = d.conns.Close(ctx); close(closed) }()
			select {
			case <-closed:
			case <-ctx.Done():
				d.log.Warn("schemaflow: MongoDB clients did not close in time")
			}
		}()
	}
	// Topics written by name are created up front when missing.
	for _, p := range d.pipelines {
		if err := p.ensureTopics(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("could not create topics; relying on the brokers' automatic creation", "pipeline", p.name, "err", err)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	exit := make(chan error, len(d.pipelines))
	var wg sync.WaitGroup
	for _, p := range d.pipelines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.exited.Store(true)
			if err := d.supervise(runCtx, p); err != nil {
				exit <- err
				cancel()
			}
		}()
	}
	d.log.Info("schemaflow: running", "pipelines", len(d.pipelines))
	var failure error
	select {
	case <-ctx.Done():
	case failure = <-exit:
	}
	d.stopping.Store(true)
	drain, leave, closing := d.stopBudget()
	// Pipelines stop by stopDeadline, the clients close by closeDeadline,
	// and a quarter of closing is left for the exit.
	stopDeadline = time.Now().Add(d.opts.ShutdownTimeout - closing/2)
	closeDeadline = stopDeadline.Add(closing / 4)
	cancel()
	d.log.Info("schemaflow: stopping", "timeout", d.opts.ShutdownTimeout.String(), "drain", drain.String(), "leave_groups", leave.String())
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(stopDeadline)):
		var names []string
		for _, p := range d.pipelines {
			if p.exited.Load() {
				continue
			}
			names = append(names, p.name)
			if what, since := p.run.busy(); what != "" {
				d.log.Error("pipeline did not stop in time", "pipeline", p.name, "call", what, "for", time.Since(since).Round(time.Millisecond).String())
			} else {
				d.log.Error("pipeline did not stop in time", "pipeline", p.name)
			}
		}
		return errors.Join(failure, fmt.Errorf("shutdown timed out after %s: pipelines %s did not stop; their last batches will be read again", d.opts.ShutdownTimeout, strings.Join(names, ", ")))
	}
	d.log.Info("schemaflow: stopped")
	return failure
}

func (p *pipeline) ensureTopics(ctx context.Context) error {
	var compacted, lease, plain []string
	if s := p.spec.Source; s != nil {
		lease = append(lease, LeaseTopic)
		if s.Offsets.File == "" {
			t := s.Offsets.Topic
			if t == "" {
				t = DefaultOffsetsTopic
			}
			compacted = append(compacted, t)
		}
		if s.Topic != "" {
			plain = append(plain, s.Topic)
		}
	}
	if p.spec.Errors.DeadLetterTopic != "" {
		plain = append(plain, p.spec.Errors.DeadLetterTopic)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return ensureTopics(ctx, p.spec.Kafka.Brokers, p.kopts, compacted, lease, plain)
}

// supervise runs a pipeline until ctx is done, restarting it after
// failures with jittered exponential backoff (internal/retry). The error,
// if any, stops the daemon.
func (d *Daemon) supervise(ctx context.Context, p *pipeline) error {
	log := d.log.With("pipeline", p.name)
	backoff := retry.Policy{Initial: p.backoff, Max: p.maxBackoff, Retries: retry.Unlimited}.Backoff()
	for {
		p.setState(StateStarting, "")
		started := time.Now()
		watchCtx, stopWatch := context.WithCancel(ctx)
		go d.watch(watchCtx, p, log)
		log.Info("pipeline starting", "kind", p.kind, "spec", p.where)
		err := runSafely(ctx, p.run)
		stopWatch()
		var pe *panics.Error
		if errors.As(err, &pe) {
			log.Error("pipeline panicked", pe.LogArgs()...)
			if ctx.Err() != nil { // while stopping: counted, then stopped
				p.countFailure("panic")
			}
		}
		if ctx.Err() != nil || err == nil {
			if err != nil {
				log.Warn("pipeline stopped with an error", "err", err)
			}
			p.setState(StateStopped, "")
			return nil
		}
		class := errorClass(err)
		p.countFailure(class)
		switch p.onFailure {
		case config.OnFailureExit:
			p.setState(StateFailed, err.Error())
			log.Error("pipeline failed; stopping schemaflow (on_failure: exit)", "class", class, "err", err)
			return fmt.Errorf("pipeline %s (%s): %w", p.name, p.where, err)
		case config.OnFailureStop:
			p.setState(StateFailed, err.Error())
			log.Error("pipeline failed; it stays stopped (on_failure: stop), the others go on", "class", class, "err", err)
			<-ctx.Done()
			return nil
		}
		if time.Since(started) > p.maxBackoff {
			backoff.Reset() // it ran well for a while: start the backoff over
		}
		wait, _ := backoff.Next() // unlimited
		p.mu.Lock()
		p.restarts++
		p.mu.Unlock()
		p.setState(StateRestarting, err.Error())
		log.Error("pipeline failed; restarting", "class", class, "in", wait.Round(time.Millisecond).String(), "err", err)
		if retry.Sleep(ctx, wait) != nil {
			p.setState(StateStopped, err.Error())
			return nil
		}
	}
}

// runSafely runs r, turning a panic into a *panics.Error. Pipelines
// recover their own panics where they know the record; this catches the
// rest, so a panic never ends the process.
func runSafely(ctx context.Context, r runner) (err error) {
	defer panics.Recover(&err)
	return r.Run(ctx)
}

// watch marks a pipeline running once it is ready (a source's stream is
// open, a sink has heard from its brokers), and logs when a call of it has
// run longer than its stuck threshold, and when that call ends.
func (d *Daemon) watch(ctx context.Context, p *pipeline, log *slog.Logger) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("pipeline watcher panicked", panics.New(v).LogArgs()...)
		}
	}()
	var stuck string // the call reported stuck
	var stuckSince time.Time
	for interval := 20 * time.Millisecond; ; {
		if p.run.ready() && p.setStateIf(StateStarting, StateRunning) {
			interval = 100 * time.Millisecond
		}
		what, since := p.run.busy()
		switch {
		case stuck == "" && what != "" && time.Since(since) > p.stuckAfter:
			stuck, stuckSince = what, since
			log.Warn("pipeline stuck: a call has not finished", "call", what, "for", time.Since(since).Round(time.Millisecond).String(), "threshold", p.stuckAfter.String())
		case stuck != "" && (what != stuck || !since.Equal(stuckSince)):
			log.Info("pipeline no longer stuck", "call", stuck, "after", time.Since(stuckSince).Round(time.Millisecond).String())
			stuck = ""
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stuck describes the call p has been in past its threshold, or "".
func (p *pipeline) stuck() string {
	what, since := p.run.busy()
	if what == "" || time.Since(since) <= p.stuckAfter {
		return ""
	}
	return fmt.Sprintf("%s for %s", what, time.Since(since).Round(time.Millisecond))
}

func (p *pipeline) countFailure(class string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures == nil {
		p.failures = map[string]int64{}
	}
	p.failures[class]++
}

// errorClass names the class of a pipeline failure for metrics.
func errorClass(err error) string {
	var srcErr *mongosource.RecordError
	var sinkErr *mongosink.RecordError
	var pe *panics.Error
	switch {
	case errors.As(err, &pe):
		return "panic"
	case errors.As(err, &srcErr):
		return srcErr.Class
	case errors.As(err, &sinkErr):
		return sinkErr.Class
	case errors.Is(err, mongosource.ErrResumeLost):
		return "lost-resume-point"
	}
	return "pipeline"
}

func (p *pipeline) setState(s State, lastErr string) {
	p.mu.Lock()
	p.state = s
	if lastErr != "" {
		p.lastErr = lastErr
	}
	p.mu.Unlock()
}

// setStateIf moves p from one state to another, and reports whether it
// did.
func (p *pipeline) setStateIf(from, to State) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == from {
		p.state = to
		return true
	}
	return false
}

// Status returns every pipeline's state and counters, in spec order.
func (d *Daemon) Status() []Status {
	out := make([]Status, 0, len(d.pipelines))
	for _, p := range d.pipelines {
		p.mu.Lock()
		st := Status{Name: p.name, Kind: p.kind, State: p.state, Restarts: p.restarts, LastErr: p.lastErr}
		p.mu.Unlock()
		st.Stuck = p.stuck()
		st.MongoDB = d.conns.Unreachable(p.spec.MongoDB.URI)
		st.Snapshot = p.run.snapshot()
		out = append(out, st)
	}
	return out
}

// Handler serves /metrics, /healthz (the process is alive) and /readyz
// (every pipeline is running, none is stuck in a call, and every MongoDB
// deployment answers).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		var notReady []string
		for _, s := range d.Status() {
			if s.MongoDB != "" {
				notReady = append(notReady, s.Name+": "+s.MongoDB)
			}
			switch {
			case s.State != StateRunning:
				line := s.Name + ": " + string(s.State)
				if s.LastErr != "" {
					line += ": " + s.LastErr
				}
				notReady = append(notReady, line)
			case s.Stuck != "":
				notReady = append(notReady, s.Name+": stuck: "+s.Stuck)
			}
		}
		if d.stopping.Load() {
			notReady = append([]string{"schemaflow is stopping"}, notReady...)
		}
		if len(notReady) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, strings.Join(notReady, "\n"))
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
