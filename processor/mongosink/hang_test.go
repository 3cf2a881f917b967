package mongosink

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/internal/panics"
	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/processor/sink"
)

// panicky writes through inner, but panics as lungo v0.3.7 did (comparing
// two documents with ==) on a bulk write holding the _id poison.
type panicky struct {
	inner  Collection
	poison any
}

func (p panicky) BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	for _, m := range models {
		r, ok := m.(*mongo.ReplaceOneModel)
		if !ok {
			continue
		}
		id := r.Filter.(bson.D)[0].Value
		if rv, isRaw := id.(bson.RawValue); isRaw {
			_ = rv.Unmarshal(&id) // the _id as the decoder wrote it
		}
		if id == p.poison {
			var a, b any = bson.D{}, bson.D{}
			_ = a == b // panics: comparing uncomparable type primitive.D
		}
	}
	return p.inner.BulkWrite(ctx, models, opts...)
}

// blocking is a target whose writes never finish: they end only when
// their context does.
type blocking struct{}

func (blocking) BulkWrite(ctx context.Context, _ []mongo.WriteModel, _ ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// threeOrders produces {_id: 1}, {_id: 2, boom: true}, {_id: 3} to one
// partition of "orders" and returns that partition.
func threeOrders(t *testing.T, e *env) int32 {
	t.Helper()
	var recs []*kgo.Record
	for _, v := range []string{`{"_id": 1}`, `{"_id": 2, "boom": true}`, `{"_id": 3}`} {
		recs = append(recs, &kgo.Record{Topic: "orders", Key: []byte(`{"k": 1}`), Value: []byte(v)})
	}
	e.produce(t, recs...)
	return recs[0].Partition
}

// A panic while processing — in a post processor, or in the MongoDB
// client's bulk write — stops the pipeline with a *panics.Error naming the
// record's topic, partition and offset, instead of crashing or hanging;
// for the bulk write, the records before the culprit are written.
func TestPanicNamesTheRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders")
	partition := threeOrders(t, e)
	postProcessor := func(_ sink.Record, v bson.D) (bson.D, error) {
		if _, ok := sink.Lookup(v, "boom"); ok {
			panic("boom processor")
		}
		return v, nil
	}
	for _, tt := range []struct {
		name    string
		setup   func(*Config)
		message string
		written string // the collection afterwards
	}{
		{"post processor", func(c *Config) { c.Sink.PostProcess = []sink.PostProcessor{postProcessor} }, "panic: boom processor", `{"docs":null}`},
		{"bulk write", func(c *Config) {
			c.Target = func(db, coll string) Collection { return panicky{inner: e.target(db, coll), poison: int32(2)} }
			c.Collection = "written"
		}, "panic: runtime error: comparing uncomparable type primitive.D", `{"docs":[{"_id":{"$numberInt":"1"}}]}`},
	} {
		cfg := e.config(t)
		cfg.Group = "sink-" + tt.name
		cfg.Sink.ID = sink.IDValue
		tt.setup(&cfg)
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = p.Run(ctx)
		cancel()
		var pe *panics.Error
		if !errors.As(err, &pe) {
			t.Fatalf("%s: err = %v, want a *panics.Error", tt.name, err)
		}
		if want := []any{"topic", "orders", "partition", partition, "offset", int64(1)}; len(pe.Record) != len(want) || pe.Record[1] != want[1] || pe.Record[3] != want[3] || pe.Record[5] != want[5] {
			t.Errorf("%s: record %v, want %v", tt.name, pe.Record, want)
		}
		if !strings.HasPrefix(err.Error(), tt.message) || !strings.Contains(err.Error(), "offset 1") {
			t.Errorf("%s: message %q, want %q naming offset 1", tt.name, err, tt.message)
		}
		if what, _ := p.Busy(); what != "" {
			t.Errorf("%s: still busy with %q after Run returned", tt.name, what)
		}
		coll := cfg.Collection
		if coll == "" {
			coll = "orders"
		}
		if got := e.state(t, "shop", coll); got != tt.written {
			t.Errorf("%s: collection %s, want %s", tt.name, got, tt.written)
		}
	}
}

// A bulk write that gets no answer ends at WriteTimeout and is retried as
// a transient failure; while it waits, Busy names it; when the retries run
// out, the pipeline stops with an error saying so.
func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders")
	e.produce(t, &kgo.Record{Topic: "orders", Value: []byte(`{"_id": 1}`)})
	cfg := e.config(t)
	cfg.Target = func(string, string) Collection { return blocking{} }
	cfg.WriteTimeout, cfg.Retries = 200*time.Millisecond, 1
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	testenv.WaitFor(t, "the pipeline busy writing", func() bool {
		what, since := p.Busy()
		return what == "bulk write of 1 records to shop.orders" && !since.IsZero()
	})
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the pipeline did not give up on a write that never finishes")
	}
	if err == nil || !strings.Contains(err.Error(), "giving up after 1 retries") || !strings.Contains(err.Error(), "no answer within 200ms") || !mongo.IsTimeout(err) {
		t.Fatalf("err = %v, want the write's timeout after the retries", err)
	}
}

// A stop while a bulk write hangs returns within the drain and close
// timeouts, with nil: the batch is not committed and is read again.
func TestStopWithAHangingWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders")
	e.produce(t, &kgo.Record{Topic: "orders", Value: []byte(`{"_id": 1}`)})
	cfg := e.config(t)
	cfg.Target = func(string, string) Collection { return blocking{} }
	cfg.WriteTimeout = time.Hour
	cfg.DrainTimeout, cfg.CloseTimeout = 300*time.Millisecond, 300*time.Millisecond
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "the hanging write", func() bool { what, _ := p.Busy(); return strings.HasPrefix(what, "bulk write") })
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("the stop took %s, want about the drain timeout (300ms)", took)
	}
	// Not committed: a healthy run writes the record.
	cfg.Target = e.target
	p, stop = start(t, cfg)
	testenv.WaitFor(t, "the replay", func() bool { return p.Stats().Written == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
