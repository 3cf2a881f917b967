package mongosink

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/sink"
)

// replaceRecords is the fewest records each run of BenchmarkReplaceBatch
// writes on a target (b.N when larger): SCHEMAFLOW_BENCH_REPLACE_RECORDS,
// else def.
func replaceRecords(b *testing.B, def int) int {
	b.Helper()
	if s := os.Getenv("SCHEMAFLOW_BENCH_REPLACE_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("SCHEMAFLOW_BENCH_REPLACE_RECORDS=%q: want a positive whole number", s)
		}
		def = n
	}
	return max(b.N, def)
}

// BenchmarkReplaceBatch is the replace strategy (ordered upserts by _id)
// at fixed batch sizes from 10 to 1,000 and with the adaptive size (its
// ceiling 1,000, the default bounds), on lungo's memory store and on
// FerretDB. Like with like: every run writes the same records (at least
// 3,000 on lungo, 1,000 on FerretDB, or b.N; SCHEMAFLOW_BENCH_REPLACE_RECORDS
// sets it) into a fresh engine, timed from their produce after the
// consumer group is joined (one record written before) to the last write.
// Each reports docs/s and the bulk writes split after a timeout
// ("splits"); the adaptive run also the size it ended at ("batch"), the
// mean records per batch ("mean-batch"), and its docs/s as a percentage
// of the best fixed size's in the same run ("%best").
func BenchmarkReplaceBatch(b *testing.B) {
	for _, target := range []struct {
		name    string
		env     func(testing.TB, ...string) *env
		records int
	}{{"lungo", newEnv, 3000}, {"FerretDB", newFerretEnv, 1000}} {
		fixed := map[int]float64{} // docs/s of the fixed sizes, by records
		for _, size := range []int{10, 100, 1000, 0} {
			name := fmt.Sprintf("%s/fixed-%d", target.name, size)
			if size == 0 {
				name = target.name + "/adaptive"
			}
			b.Run(name, func(b *testing.B) {
				n := replaceRecords(b, target.records)
				cfg := func(e *env) Config {
					cfg := e.config(b)
					cfg.Sink.ID = sink.IDValue
					cfg.MaxBatch, cfg.FixedBatch, cfg.MaxWait = size, true, DefaultMaxWait
					if size == 0 {
						cfg.MaxBatch, cfg.FixedBatch = DefaultMaxBatch, false
					}
					return cfg
				}
				p, took, sizes := runReplace(b, target.env(b, "orders"), cfg, n)
				rate := float64(n) / took.Seconds()
				s := p.Stats()
				b.ReportMetric(rate, "docs/s")
				b.ReportMetric(float64(s.Splits), "splits")
				if size != 0 {
					fixed[n] = max(fixed[n], rate)
					return
				}
				b.ReportMetric(float64(s.BatchSize), "batch")
				b.ReportMetric(float64(s.Written-1)/float64(s.Batches-1), "mean-batch") // less the first record's batch
				b.Logf("batches: %s", compact(sizes))
				if best := fixed[n]; best > 0 {
					b.ReportMetric(100*rate/best, "%best")
				}
			})
		}
	}
}

// runReplace runs a pipeline on e: it writes one record (joining the
// group, opening the connections), then the timer runs from the produce of
// n more records to their last write. It returns the pipeline, the time
// the n records took and the records of each of their batches.
func runReplace(b *testing.B, e *env, cfg func(*env) Config, n int) (*Pipeline, time.Duration, []int) {
	b.Helper()
	b.StopTimer()
	_, sd := benchTopic(b, e, "orders", 0)
	frame := func(id int64) []byte {
		raw, err := bson.Marshal(benchDoc(id))
		if err != nil {
			b.Fatal(err)
		}
		f, err := sd.Encode(nil, raw)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "orders", Value: frame(int64(i))}
	}
	e.produce(b, &kgo.Record{Topic: "orders", Value: frame(-1)})
	written := make(chan int, 1<<16)
	c := cfg(e)
	c.OnBatch = func(records int, _ time.Duration) { written <- records }
	p, err := New(c)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var sizes []int
	wait := func(want int) {
		for got := 0; got < want; {
			select {
			case k := <-written:
				got += k
				sizes = append(sizes, k)
			case err := <-done:
				b.Fatalf("the pipeline stopped after %d of %d records: %v", p.Stats().Written, n+1, err)
			}
		}
	}
	wait(1)
	sizes = sizes[:0]
	b.StartTimer()
	began := time.Now()
	for i := 0; i < n; i += 5000 {
		e.produce(b, recs[i:min(i+5000, n)]...)
	}
	wait(n)
	took := time.Since(began)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return p, took, sizes
}
