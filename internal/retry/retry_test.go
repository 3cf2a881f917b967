package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The waits grow by Multiplier from Initial up to Max, each within the
// jitter of its nominal value, and the retries run out where the policy
// says.
func TestBackoffWaits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  Policy
		nominal []time.Duration // the waits before jitter; then Next says no
	}{
		{"defaults, three retries", Policy{Retries: 3}, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}},
		{"capped", Policy{Initial: time.Second, Max: 3 * time.Second, Retries: 4}, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
		{"max below initial", Policy{Initial: time.Second, Max: time.Millisecond, Retries: 2}, []time.Duration{time.Second, time.Second}},
		{"no retries", Policy{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.policy.Backoff()
			for i, want := range tc.nominal {
				got, ok := b.Next()
				if !ok {
					t.Fatalf("wait %d: no more retries, want %s", i, want)
				}
				lo, hi := time.Duration(float64(want)*(1-Jitter)), time.Duration(float64(want)*(1+Jitter))
				if got < lo || got > hi {
					t.Errorf("wait %d = %s, want %s ± %.0f%% [%s, %s]", i, got, want, Jitter*100, lo, hi)
				}
			}
			if d, ok := b.Next(); ok {
				t.Errorf("after %d retries: another wait %s", len(tc.nominal), d)
			}
			if b.Retries() != len(tc.nominal) {
				t.Errorf("Retries() = %d, want %d", b.Retries(), len(tc.nominal))
			}
			b.Reset()
			if len(tc.nominal) > 0 {
				if got, ok := b.Next(); !ok || got > time.Duration(float64(tc.nominal[0])*(1+Jitter)) {
					t.Errorf("after Reset: %s %v, want the first wait again", got, ok)
				}
			}
		})
	}
}

// Waits are jittered: many backoffs of one policy do not all wait the
// same.
func TestBackoffJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		d, _ := Policy{Initial: time.Second, Retries: 1}.Backoff().Next()
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 first waits took only %d values: %v", len(seen), seen)
	}
}

func TestUnlimited(t *testing.T) {
	b := Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond, Retries: Unlimited}.Backoff()
	for i := range 1000 {
		if _, ok := b.Next(); !ok {
			t.Fatalf("Unlimited stopped after %d retries", i)
		}
	}
}

var errTransient = errors.New("transient")

func TestDo(t *testing.T) {
	errFatal := errors.New("fatal")
	fast := Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond, Retries: 3}
	for _, tc := range []struct {
		name      string
		policy    Policy
		failures  []error // op's errors, in order; then it succeeds
		wantCalls int
		wantErr   error // errors.Is
		wantMsg   string
	}{
		{"first time", fast, nil, 1, nil, ""},
		{"after two failures", fast, []error{errTransient, errTransient}, 3, nil, ""},
		{"retries run out", fast, []error{errTransient, errTransient, errTransient, errTransient, errTransient}, 4, ErrExhausted, "retries exhausted after 3 retries: transient"},
		{"permanent", fast, []error{errTransient, Permanent(errFatal)}, 2, errFatal, "fatal"},
		{"no retries", Policy{}, []error{errTransient}, 1, errTransient, "transient"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, notified := 0, 0
			err := tc.policy.Do(context.Background(), func(context.Context) error {
				calls++
				if calls <= len(tc.failures) {
					return tc.failures[calls-1]
				}
				return nil
			}, func(err error, wait time.Duration) {
				notified++
				if !errors.Is(err, errTransient) || wait <= 0 {
					t.Errorf("notify(%v, %s)", err, wait)
				}
			})
			if calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", calls, tc.wantCalls)
			}
			if notified != calls-1 { // one per wait: every call but the last
				t.Errorf("%d notifications for %d calls", notified, calls)
			}
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("error %v", err)
			case tc.wantErr != nil && (!errors.Is(err, tc.wantErr) || err.Error() != tc.wantMsg):
				t.Errorf("error %v, want %q (is %v)", err, tc.wantMsg, tc.wantErr)
			}
		})
	}
}

// A context that ends during a wait ends Do at once, with the context's
// error and the operation's.
func TestDoContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- Policy{Initial: time.Hour, Retries: Unlimited}.Do(ctx, func(context.Context) error {
			calls++
			return errTransient
		}, func(error, time.Duration) { cancel() })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errTransient) || calls != 1 {
			t.Errorf("error %v after %d calls; want canceled and transient after 1", err, calls)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Do did not return when its context ended")
	}
	// A context already done: the operation's error, no wait.
	err := Policy{Retries: 3}.Do(ctx, func(context.Context) error { return errTransient }, nil)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errTransient) {
		t.Errorf("done context: %v", err)
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a done context: %v", err)
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
}
