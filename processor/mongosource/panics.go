package mongosource

import (
	"context"

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
