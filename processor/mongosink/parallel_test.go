package mongosink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// A batch large enough to be decoded by several goroutines keeps record
// order for what follows: dead letters come out in offset order, the good
// records are all written, and under tolerance none the error names the
// first bad record, not whichever a goroutine met first.
func TestParallelDecodeKeepsOrder(t *testing.T) {
	t.Parallel()
	const n = 400
	poison := map[int]bool{50: true, 120: true, 121: true, 333: true}
	produce := func(e *env) {
		recs := make([]*kgo.Record, n)
		for i := range recs {
			v := e.order(t, int64(i), "paid", 1)
			if poison[i] {
				v = append(v[:5:5], 0xff) // a frame that does not decode
			}
			recs[i] = &kgo.Record{Topic: "orders", Partition: 0, Value: v}
		}
		e.produce(t, recs...)
	}
	config := func(e *env) Config {
		cfg := e.config(t)
		cfg.MaxBatch, cfg.FixedBatch, cfg.MaxWait = n, true, 5*time.Second
		return cfg
	}

	e := newEnv(t, "orders", "dlq")
	produce(e)
	cfg := config(e)
	cfg.Tolerance, cfg.DeadLetterTopic = ToleranceAll, "dlq"
	p, stop := start(t, cfg)
	testenv.WaitFor(t, "every record", func() bool { s := p.Stats(); return s.Written+s.DeadLetter == n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Batches != 1 {
		t.Fatalf("%d batches, want the %d records in one (decoded in parallel)", s.Batches, n)
	}
	var offsets []int
	for _, r := range e.consume(t, "dlq", len(poison)) {
		for _, h := range r.Headers {
			if h.Key == HeaderOffset {
				o, _ := strconv.Atoi(string(h.Value))
				offsets = append(offsets, o)
			}
		}
	}
	if got, want := fmt.Sprint(offsets), "[50 120 121 333]"; got != want {
		t.Errorf("dead letters at offsets %s, want %s in order", got, want)
	}
	if got := e.count(t, "orders"); got != n-len(poison) {
		t.Errorf("%d documents, want %d", got, n-len(poison))
	}

	e = newEnv(t, "orders")
	produce(e)
	p, err := New(config(e))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = p.Run(ctx)
	var re *RecordError
	if !errors.As(err, &re) || re.Offset != 50 {
		t.Fatalf("err = %v, want a RecordError at offset 50", err)
	}
}
