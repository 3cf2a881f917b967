// Package retry is schemaflow's one retry policy, on
// github.com/cenkalti/backoff/v4: exponential backoff with jitter, bounded
// by a context.
//
// Every retry loop of schemaflow (the registry client's calls, the
// daemon's pipeline restarts, the MongoDB sink's writes) takes its waits
// from here, so the growth ([Multiplier]) and the jitter ([Jitter]) are set
// in this file only; callers choose the first and the longest wait and how
// many retries.
package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Multiplier is how much each wait grows over the one before.
const Multiplier = 2

// Jitter is the randomization of each wait: a wait of d is drawn uniformly
// from [d·(1-Jitter), d·(1+Jitter)], so that clients that failed together
// do not retry together.
const Jitter = 0.2

// Unlimited as Policy.Retries retries until the context ends.
const Unlimited = -1

// The defaults of a Policy's zero fields.
const (
	DefaultInitial = 100 * time.Millisecond
	DefaultMax     = 10 * time.Second
)

// Policy is how an operation is retried. The zero value retries nothing,
// with the default waits.
type Policy struct {
	// Initial is the first wait, before jitter. Default DefaultInitial
	// (100ms).
	Initial time.Duration
	// Max caps a wait, before jitter. Default DefaultMax (10s); raised to
	// Initial when below it.
	Max time.Duration
	// Retries is how many times an operation is tried again after its
	// first failure: 0 never, Unlimited until the context ends.
	Retries int
}

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = DefaultInitial
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	p.Max = max(p.Max, p.Initial)
	return p
}

// Backoff is the sequence of waits of one operation, for loops that
// decide themselves when to retry. It is not safe for concurrent use.
type Backoff struct {
	exp     *backoff.ExponentialBackOff
	retries int // the policy's
	taken   int
}

// Backoff starts a sequence of waits.
func (p Policy) Backoff() *Backoff {
	p = p.withDefaults()
	exp := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.Initial),
		backoff.WithMaxInterval(p.Max),
		backoff.WithMultiplier(Multiplier),
		backoff.WithRandomizationFactor(Jitter),
		backoff.WithMaxElapsedTime(0), // bounded by Retries and the context
	)
	return &Backoff{exp: exp, retries: p.Retries}
}

// Next returns the next wait, and false when the policy's retries are
// used up.
func (b *Backoff) Next() (time.Duration, bool) {
	if b.retries != Unlimited && b.taken >= b.retries {
		return 0, false
	}
	b.taken++
	return b.exp.NextBackOff(), true
}

// Retries is how many waits Next has given since the start or the last
// Reset.
func (b *Backoff) Retries() int { return b.taken }

// Reset starts the sequence over, from the first wait and with every
// retry available: after an operation went well for a while.
func (b *Backoff) Reset() {
	b.exp.Reset()
	b.taken = 0
}

// Sleep waits d, or until ctx is done, and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ErrExhausted is wrapped by the error of Do when the retries ran out.
var ErrExhausted = errors.New("retries exhausted")

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent marks err as one that retrying cannot fix: Do returns it at
// once (unwrapped). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// Do runs op until it succeeds, returns a Permanent error, the retries run
// out or ctx is done. Before each wait it calls notify (when not nil) with
// op's error and the wait. It returns nil, the permanent error, the last
// error wrapped with ErrExhausted, or, when ctx ends, op's last error
// wrapped with ctx's.
func (p Policy) Do(ctx context.Context, op func(context.Context) error, notify func(err error, wait time.Duration)) error {
	b := p.Backoff()
	for {
		err := op(ctx)
		if err == nil {
			return nil
		}
		var perm *permanent
		if errors.As(err, &perm) {
			return perm.err
		}
		if ctx.Err() != nil {
			return withContext(ctx.Err(), err)
		}
		wait, ok := b.Next()
		if !ok {
			if b.retries == 0 {
				return err
			}
			return fmt.Errorf("%w after %d retries: %w", ErrExhausted, b.retries, err)
		}
		if notify != nil {
			notify(err, wait)
		}
		if serr := Sleep(ctx, wait); serr != nil {
			return withContext(serr, err)
		}
	}
}

// withContext is err, which ended because ctx did with ctxErr: err when it
// says so already, else both.
func withContext(ctxErr, err error) error {
	if errors.Is(err, ctxErr) {
		return err
	}
	return fmt.Errorf("%w: %w", ctxErr, err)
}
