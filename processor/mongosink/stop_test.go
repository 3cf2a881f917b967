package mongosink

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// sluggish writes through inner after a delay, deaf to its context, as
// lungo's file store is while it rewrites its file: a write, once begun,
// ends when it ends. gate, when not nil, holds each write until closed.
type sluggish struct {
	inner Collection
	delay time.Duration
	gate  chan struct{}
}

func (s sluggish) BulkWrite(_ context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	if s.gate != nil {
		<-s.gate
	}
	time.Sleep(s.delay) // the target's own slowness; the test waits on conditions
	return s.inner.BulkWrite(context.Background(), models, opts...)
}

// logLines collects a JSON logger's lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// find returns the first line whose msg starts with prefix.
func (l *logLines) find(prefix string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && strings.HasPrefix(m["msg"].(string), prefix) {
			return m
		}
	}
	return nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// A bulk write that runs past SlowWrite is reported while it still runs —
// with its namespace, record count and time so far — and again when it
// ends.
func TestSlowWriteWarnsWhileRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders")
	e.produce(t, &kgo.Record{Topic: "orders", Value: []byte(`{"_id": 1}`)}, &kgo.Record{Topic: "orders", Value: []byte(`{"_id": 2}`)})
	logs := &logLines{}
	gate := make(chan struct{})
	cfg := e.config(t)
	cfg.Logger, cfg.SlowWrite, cfg.MaxWait = logs.logger(), 50*time.Millisecond, 200*time.Millisecond
	cfg.Target = func(db, coll string) Collection { return sluggish{inner: e.target(db, coll), gate: gate} }
	p, stop := start(t, cfg)
	var warning map[string]any
	testenv.WaitFor(t, "the slow write's warning", func() bool {
		warning = logs.find("mongosink: slow write: a bulk write is still running")
		return warning != nil
	})
	if what, _ := p.Busy(); what != "bulk write of 2 records to shop.orders" {
		t.Fatalf("the warning came, but the pipeline is in %q, not the write", what)
	}
	if warning["level"] != "WARN" || warning["namespace"] != "shop.orders" || warning["records"] != float64(2) || warning["slow_write"] != "50ms" {
		t.Errorf("warning %v, want namespace shop.orders, 2 records, slow_write 50ms", warning)
	}
	if elapsed, err := time.ParseDuration(warning["elapsed"].(string)); err != nil || elapsed < 50*time.Millisecond {
		t.Errorf("elapsed %v (%v), want at least the threshold", warning["elapsed"], err)
	}
	close(gate)
	testenv.WaitFor(t, "the write's end", func() bool { return p.Stats().Written == 2 })
	testenv.WaitFor(t, "the slow write's end logged", func() bool { return logs.find("mongosink: slow write ended") != nil })
	if end := logs.find("mongosink: slow write ended"); end["namespace"] != "shop.orders" || end["records"] != float64(2) || end["err"] != nil {
		t.Errorf("end %v", end)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// A stop during a slow bulk write that the target does not abandon: with
// time left in the drain, the batch is written and committed, and the stop
// log says so with the offsets the group holds; when the drain runs out,
// Run returns within it, the log names the offsets the next run reads
// again, the group holds none for them, and the next run writes them.
func TestStopSaysWhatIsCommittedAndReadAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "orders-drained", "orders-drain-ran-out")
	for _, tt := range []struct {
		name        string
		delay       time.Duration
		drain       time.Duration
		msg         string
		committed   string // the logged offsets; also what the group holds
		readAgain   string
		stopsWithin time.Duration
	}{
		{"drained", 300 * time.Millisecond, 10 * time.Second, "mongosink: stopped; nothing uncommitted to read again", "orders/P=1", "none", 5 * time.Second},
		{"drain ran out", 5 * time.Second, 200 * time.Millisecond, "mongosink: stopped before the batch in hand was committed", "none", "orders/P from 0 (1 records)", 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topic := "orders-" + strings.ReplaceAll(tt.name, " ", "-")
			rec := &kgo.Record{Topic: topic, Value: []byte(`{"_id": 1}`)}
			e.produce(t, rec)
			partition := "/" + itoa(rec.Partition)
			logs := &logLines{}
			cfg := e.config(t)
			cfg.Group, cfg.Topics, cfg.Collection = "group-"+topic, []string{topic}, topic
			cfg.Logger, cfg.DrainTimeout, cfg.CloseTimeout = logs.logger(), tt.drain, 500*time.Millisecond
			cfg.Target = func(db, coll string) Collection { return sluggish{inner: e.target(db, coll), delay: tt.delay} }
			p, stop := start(t, cfg)
			testenv.WaitFor(t, "the slow write", func() bool { what, _ := p.Busy(); return strings.HasPrefix(what, "bulk write") })
			began := time.Now()
			if err := stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if took := time.Since(began); took > tt.stopsWithin {
				t.Fatalf("the stop took %s, want under %s", took, tt.stopsWithin)
			}
			line := logs.find(tt.msg)
			if line == nil {
				t.Fatalf("no %q line:\n%s", tt.msg, logs)
			}
			want := map[string]string{"committed": strings.ReplaceAll(tt.committed, "orders/P", topic+partition),
				"read_again": strings.ReplaceAll(tt.readAgain, "orders/P", topic+partition)}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %v, want %q; line %v", k, line[k], v, line)
				}
			}
			// The group holds what the log says.
			got := "none"
			if o, ok := e.committedOffset(t, cfg.Group, topic, rec.Partition); ok {
				got = topic + partition + "=" + itoa(int32(o))
			}
			if got != want["committed"] {
				t.Errorf("the group holds %s, the log says %s", got, want["committed"])
			}
			if tt.readAgain == "none" {
				return
			}
			// What the log says is read again is: a healthy run writes it.
			cfg.Target, cfg.Logger = e.target, e.quiet
			again, stop := start(t, cfg)
			testenv.WaitFor(t, "the batch read again", func() bool { return again.Stats().Written == 1 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// committedOffset is the group's committed offset of a partition.
func (e *env) committedOffset(t *testing.T, group, topic string, partition int32) (int64, bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offsets, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offsets.Lookup(topic, partition)
	if !ok || o.Err != nil || o.At < 0 {
		return 0, false
	}
	return o.At, true
}

func itoa(n int32) string { b, _ := json.Marshal(n); return string(b) }
