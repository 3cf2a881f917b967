package mongosink

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// flaky passes writes to a real collection after failing them as scripted:
// each script entry fails one BulkWrite call before it reaches the engine.
type flaky struct {
	inner Collection
	mu    sync.Mutex
	fail  []func(models []mongo.WriteModel) (int, error) // returns how many models to apply first
	calls int
}

func (f *flaky) BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	f.mu.Lock()
	f.calls++
	var step func([]mongo.WriteModel) (int, error)
	if len(f.fail) > 0 {
		step, f.fail = f.fail[0], f.fail[1:]
	}
	f.mu.Unlock()
	if step == nil {
		return f.inner.BulkWrite(ctx, models, opts...)
	}
	applied, err := step(models)
	if applied > 0 {
		if _, werr := f.inner.BulkWrite(ctx, models[:applied], opts...); werr != nil {
			return nil, werr
		}
	}
	return nil, err
}

func writeErr(index, code int, msg string) mongo.BulkWriteError {
	return mongo.BulkWriteError{WriteError: mongo.WriteError{Index: index, Code: code, Message: msg}}
}

// The bulk-write error paths: transient errors are retried and lose
// nothing; a record the server refuses for good is dead-lettered with its
// class while the rest of its batch is written.
func TestWriteFailures(t *testing.T) {
	t.Parallel()
	retryable := mongo.CommandError{Code: 189, Name: "PrimarySteppedDown", Labels: []string{"RetryableWriteError"}}
	tests := []struct {
		name      string
		unordered bool
		script    []func([]mongo.WriteModel) (int, error)
		classes   []string // dead-letter classes, in order
		retried   bool
	}{
		{name: "stepdown", retried: true, script: []func([]mongo.WriteModel) (int, error){
			func([]mongo.WriteModel) (int, error) { return 0, retryable },
			func([]mongo.WriteModel) (int, error) { return 0, retryable },
		}},
		{name: "network error", retried: true, script: []func([]mongo.WriteModel) (int, error){
			func([]mongo.WriteModel) (int, error) {
				return 0, mongo.CommandError{Labels: []string{"NetworkError"}, Message: "connection reset"}
			},
		}},
		{name: "write concern", retried: true, script: []func([]mongo.WriteModel) (int, error){
			func(m []mongo.WriteModel) (int, error) {
				return len(m), mongo.BulkWriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64, Message: "waiting for replication timed out"}}
			},
		}},
		{name: "ordered too large", classes: []string{ClassDocumentTooLarge}, script: []func([]mongo.WriteModel) (int, error){
			func([]mongo.WriteModel) (int, error) {
				return 1, mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(1, 10334, "object to insert too large")}}
			},
		}},
		{name: "ordered validation then stepdown", retried: true, classes: []string{ClassValidation}, script: []func([]mongo.WriteModel) (int, error){
			func([]mongo.WriteModel) (int, error) {
				return 2, mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(2, 121, "Document failed validation")}}
			},
			func([]mongo.WriteModel) (int, error) {
				return 0, mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(0, 10107, "not primary")}}
			},
		}},
		{name: "unordered two refused", unordered: true, classes: []string{ClassDuplicateKey, ClassWriteFailed}, script: []func([]mongo.WriteModel) (int, error){
			func(m []mongo.WriteModel) (int, error) {
				// An unordered write applies everything else; the fake
				// applies the records other than 1 and 3 afterwards.
				return 0, mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(1, 11000, "E11000 duplicate key"), writeErr(3, 2, "bad value")}}
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "orders", "dlq")
			var recs []*kgo.Record
			for i := range 5 {
				recs = append(recs, &kgo.Record{Topic: "orders", Partition: 0, Value: []byte(fmt.Sprintf(`{"_id": %d}`, i))})
			}
			e.produce(t, recs...)
			real := e.target("shop", "orders")
			f := &flaky{inner: real, fail: append([]func([]mongo.WriteModel) (int, error)(nil), tt.script...)}
			if tt.unordered {
				// The refused records never reach the engine; the others do.
				first := tt.script[0]
				f.fail[0] = func(m []mongo.WriteModel) (int, error) {
					_, err := first(m)
					ok := []mongo.WriteModel{m[0], m[2], m[4]}
					if _, werr := real.BulkWrite(context.Background(), ok); werr != nil {
						return 0, werr
					}
					return 0, err
				}
			}
			cfg := e.config(t)
			cfg.MaxBatch, cfg.MaxWait = 5, 200*time.Millisecond
			cfg.Unordered = tt.unordered
			cfg.Tolerance, cfg.DeadLetterTopic = ToleranceAll, "dlq"
			cfg.Target = func(string, string) Collection { return f }
			p, stop := start(t, cfg)
			testenv.WaitFor(t, "all records", func() bool { s := p.Stats(); return s.Written+s.DeadLetter == 5 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			s := p.Stats()
			if s.DeadLetter != int64(len(tt.classes)) || (s.Retries > 0) != tt.retried {
				t.Fatalf("stats %+v, want %d dead letters and retried=%v", s, len(tt.classes), tt.retried)
			}
			var got []string
			if len(tt.classes) > 0 {
				for _, r := range e.consume(t, "dlq", len(tt.classes)) {
					for _, h := range r.Headers {
						if h.Key == HeaderClass {
							got = append(got, string(h.Value))
						}
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.classes, ",") {
				t.Fatalf("dead-letter classes %v, want %v", got, tt.classes)
			}
			docs, err := e.mongo.Database("shop").Collection("orders").CountDocuments(context.Background(), bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			if int(docs)+len(tt.classes) != 5 {
				t.Fatalf("%d documents and %d dead letters, want 5 in all", docs, len(tt.classes))
			}
		})
	}
}

// A failure that stays transient past the retries stops the pipeline
// without committing, so nothing is lost.
func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders")
	e.produce(t, &kgo.Record{Topic: "orders", Value: []byte(`{"_id": 1}`)})
	cfg := e.config(t)
	cfg.Retries = 2
	down := mongo.CommandError{Code: 91, Name: "ShutdownInProgress"}
	cfg.Target = func(string, string) Collection {
		return &flaky{inner: e.target("shop", "orders"), fail: []func([]mongo.WriteModel) (int, error){
			func([]mongo.WriteModel) (int, error) { return 0, down },
			func([]mongo.WriteModel) (int, error) { return 0, down },
			func([]mongo.WriteModel) (int, error) { return 0, down },
		}}
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "giving up after 2 retries") || !strings.Contains(err.Error(), "shop.orders") {
		t.Fatalf("err = %v, want retries exhausted on shop.orders", err)
	}
	// The next run (healthy target) writes the record: it was not committed.
	cfg.Target = e.target
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "the replay", func() bool { return p.Stats().Written == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
