package graceful

import (
	"context"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Duration
		err      string
	}{
		{0, DefaultDrain, ""},
		{time.Second, time.Second, ""},
		{-time.Second, -time.Second, "Drain: must not be negative"},
	} {
		c := Config{Drain: tc.in}
		c.EnsureDefaults()
		if c.Drain != tc.want {
			t.Errorf("EnsureDefaults(%v) = %v, want %v", tc.in, c.Drain, tc.want)
		}
		got := ""
		if err := c.Validate(); err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("Validate(%v) = %q, want %q", tc.in, got, tc.err)
		}
	}
}

// The context outlives its parent by the drain, no more; cancel ends it
// at once.
func TestContext(t *testing.T) {
	parent, stop := context.WithCancel(context.Background())
	ctx, cancel := Context(parent, 20*time.Millisecond)
	defer cancel()
	stop()
	stopped := time.Now()
	if ctx.Err() != nil {
		t.Fatal("ended with its parent, before the drain")
	}
	select {
	case <-ctx.Done():
		if d := time.Since(stopped); d < 20*time.Millisecond {
			t.Fatalf("ended %v after the stop, before the drain", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not end after the drain")
	}

	ctx, cancel = Context(context.Background(), time.Hour)
	cancel()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("cancel did not end it")
	}
}
