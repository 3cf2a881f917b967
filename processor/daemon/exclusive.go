package daemon

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/processor/internal/panics"
)

// LeaseTopic is the one-partition topic whose partition elects, per
// source, the daemon that runs it.
const LeaseTopic = "_schemaflow_leases"

// exclusive runs a source on one daemon at a time, so several daemons can
// run the same specs for high availability. The daemons join the consumer
// group "schemaflow-source-<name>" on LeaseTopic; the member holding its
// partition 0 runs the source, the others stand by. A revoked partition is
// given up only after the source has stopped — records delivered, resume
// token saved — so two daemons never stream one source at once, and the
// next owner resumes where the last one stopped. If the owner dies, the
// group's session timeout hands the source over.
type exclusive struct {
	inner   runner
	brokers []string
	opts    []kgo.Opt
	group   string
	log     *slog.Logger
	// leave bounds leaving the lease group on a stop. Default 5s.
	leave time.Duration

	active atomic.Bool // this daemon runs the source
	joined atomic.Bool // the group has assigned this member at least once
}

func (e *exclusive) snapshot() Snapshot {
	s := e.inner.snapshot()
	s.Standby = !e.active.Load()
	return s
}

func (e *exclusive) busy() (string, time.Time) { return e.inner.busy() }

// ready: standing by is ready; running is ready once the source is.
func (e *exclusive) ready() bool {
	if !e.joined.Load() {
		return false
	}
	return !e.active.Load() || e.inner.ready()
}

// Run takes part in the election until ctx is done (nil) or the source
// fails while this daemon runs it (its error).
func (e *exclusive) Run(ctx context.Context) error {
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var (
		mu       sync.Mutex
		cancel   context.CancelFunc // the running source's; nil when standing by
		done     chan struct{}
		failure  error
		failedMu sync.Mutex
	)
	start := func() { // mu held
		if cancel != nil {
			return
		}
		sctx, c := context.WithCancel(runCtx)
		cancel, done = c, make(chan struct{})
		finished := done
		e.active.Store(true)
		e.log.Info("source elected: running it on this daemon")
		go func() {
			defer close(finished)
			// A panic of the source is its failure, not the process's.
			if err := runSafely(sctx, e.inner); err != nil && (sctx.Err() == nil || isPanic(err)) {
				failedMu.Lock()
				failure = err
				failedMu.Unlock()
				cancelRun() // leave the group: another daemon may do better
			}
		}()
	}
	stop := func() { // mu held; returns once the source has stopped
		if cancel == nil {
			return
		}
		cancel()
		<-done
		cancel, done = nil, nil
		e.active.Store(false)
	}
	holds := func(m map[string][]int32) bool { return slices.Contains(m[LeaseTopic], 0) }
	release := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		if holds(m) {
			mu.Lock()
			stop()
			mu.Unlock()
			e.log.Info("source handed over: standing by")
		}
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(e.brokers...),
		kgo.ConsumerGroup(e.group),
		kgo.ConsumeTopics(LeaseTopic),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(10 * time.Second),
		// Revoking waits for the source to drain; give it the time.
		kgo.RebalanceTimeout(2 * time.Minute),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if holds(m) {
				mu.Lock()
				start()
				mu.Unlock()
			}
			e.joined.Store(true)
		}),
		kgo.OnPartitionsRevoked(release),
		kgo.OnPartitionsLost(release),
	}, e.opts...)...)
	if err != nil {
		return err
	}
	defer func() {
		// Stop the source before leaving, so the next owner starts after.
		mu.Lock()
		stop()
		mu.Unlock()
		// Leaving is bounded, so a stop does not wait on brokers that do
		// not answer; Close then returns at once.
		leave := e.leave
		if leave <= 0 {
			leave = 5 * time.Second
		}
		lctx, cancel := context.WithTimeout(context.Background(), leave)
		if err := cl.LeaveGroupContext(lctx); err != nil {
			e.log.Warn("source election: leaving the lease group", "err", err)
		}
		cancel()
		cl.Close()
		e.joined.Store(false)
	}()
	warn := time.AfterFunc(30*time.Second, func() {
		if !e.joined.Load() {
			e.log.Warn("source election: no answer from the brokers after 30s: check the addresses, the credentials and TLS", "brokers", e.brokers)
		}
	})
	defer warn.Stop()
	for runCtx.Err() == nil {
		// The lease topic carries no records: polling keeps the member in
		// the group and surfaces errors.
		for _, fe := range cl.PollFetches(runCtx).Errors() {
			if !errors.Is(fe.Err, context.Canceled) {
				e.log.Warn("source election", "err", fe.Err)
			}
		}
	}
	failedMu.Lock()
	defer failedMu.Unlock()
	return failure
}

func isPanic(err error) bool {
	var pe *panics.Error
	return errors.As(err, &pe)
}
