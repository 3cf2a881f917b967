package mongosource

import (
	"context"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/internal/panics"
)

// recoverEvent, deferred directly by the code encoding event, turns a
// panic there — ours or a library's — into *errp, a *panics.Error naming
// the event's namespace and document key, which stops the source.
func recoverEvent(event bson.Raw, errp *error) {
	if v := recover(); v != nil {
		*errp = panics.New(v, eventArgs(event)...)
	}
}

// eventArgs names a change event for logs: its namespace and document key.
func eventArgs(event bson.Raw) []any {
	var args []any
	if ns, ok := event.Lookup("ns").DocumentOK(); ok {
		args = append(args, "namespace", nsString(ns))
	}
	if key, ok := event.Lookup("documentKey").DocumentOK(); ok {
		args = append(args, "key", keyJSON(key))
	}
	return args
}

// recoverCommitter, deferred directly by the committer goroutine, turns its
// panic into the run's failure, as a failed save would: it reports it,
// cancels the run and the work in hand, and drains inflight so the
// producing side never blocks.
func recoverCommitter(failed chan<- error, inflight <-chan *inflightBatch, cancelRun, cancelWork context.CancelFunc) {
	v := recover()
	if v == nil {
		return
	}
	select {
	case failed <- panics.New(v):
	default:
	}
	cancelRun()
	cancelWork()
	for range inflight {
	}
}

// busySlot holds the call one goroutine of the source is in.
type busySlot struct{ p atomic.Pointer[call] }

// call is work a source is in, and when it began.
type call struct {
	what  string
	since time.Time
}

// begin marks the slot busy with what until the returned func is called.
func (b *busySlot) begin(what string) (end func()) { return b.beginAt(what, time.Now()) }

// beginAt is begin for work that began at since.
func (b *busySlot) beginAt(what string, since time.Time) (end func()) {
	if since.IsZero() {
		since = time.Now()
	}
	c := &call{what: what, since: since}
	b.p.Store(c)
	return func() { b.p.CompareAndSwap(c, nil) }
}

// Busy names the oldest call the running source is in — opening the
// change stream, encoding and producing a batch (registry calls
// included), waiting for Kafka's acknowledgements, producing dead
// letters, saving the resume token — and when it began; "" while it waits
// for change events. A call much older than the delivery timeout means
// the source is stuck.
func (s *Source) Busy() (what string, since time.Time) {
	for _, slot := range []*busySlot{&s.reading, &s.committing} {
		if c := slot.p.Load(); c != nil && (what == "" || c.since.Before(since)) {
			what, since = c.what, c.since
		}
	}
	return what, since
}
