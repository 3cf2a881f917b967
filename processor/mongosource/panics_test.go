package mongosource

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/internal/panics"
	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// A panic while encoding an event becomes the event's error, a
// *panics.Error naming its namespace and document key.
func TestRecoverEvent(t *testing.T) {
	t.Parallel()
	event, err := bson.Marshal(bson.D{
		{Key: "operationType", Value: "insert"},
		{Key: "ns", Value: bson.D{{Key: "db", Value: "shop"}, {Key: "coll", Value: "orders"}}},
		{Key: "documentKey", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "a", Value: int32(1)}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	encode := func() (err error) {
		defer recoverEvent(event, &err)
		panic("encoder bug")
	}
	err = encode()
	var pe *panics.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *panics.Error", err)
	}
	if want := `panic: encoder bug (namespace shop.orders, key {"_id":{"a":1}})`; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}

// A panic in the goroutine that saves resume tokens (here in the OnBatch
// hook it calls) stops the source with a *panics.Error instead of ending
// the process.
func TestCommitterPanic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s, err := New(e.sourceConfig(func(c *Config) {
		c.OnBatch = func(int, time.Duration) { panic("hook bug") }
	}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	testenv.WaitFor(t, "the change stream", s.Watching)
	e.insert(t, bson.D{{Key: "_id", Value: 1}})
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the source did not stop after its committer panicked")
	}
	var pe *panics.Error
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "panic: hook bug") {
		t.Fatalf("err = %v, want the committer's panic", err)
	}
}

// panickyStream is a change stream whose Decode panics, as a library bug
// would.
type panickyStream struct{ events }

func (*panickyStream) Decode(any) error { panic("decoder bug") }

// A panic on the reading side (here in the stream's Decode) fails the run
// with a *panics.Error, and Run returns only after the token-saving
// goroutine has stopped, rather than leaving it waiting.
func TestReaderPanic(t *testing.T) {
	t.Parallel()
	e := newKafkaRegistry(t)
	ev, err := bson.Marshal(bson.D{{Key: "operationType", Value: "insert"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(e.sourceConfig(func(c *Config) {
		c.Watch = func(context.Context, any, *options.ChangeStreamOptions) (ChangeStream, error) {
			return &panickyStream{events{list: [][]byte{ev}}}, nil
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the source did not stop after its reader panicked")
	}
	var pe *panics.Error
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "panic: decoder bug") {
		t.Fatalf("err = %v, want the reader's panic", err)
	}
}
