package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/daemon"
	"github.com/schemaflow/schemaflow/processor/devstack/mongowire"
	"github.com/schemaflow/schemaflow/processor/spec"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// The soak's shape: soakPairs source pipelines (MongoDB → Kafka) and as
// many sinks (Kafka → MongoDB), each sink reading one source's topic.
const (
	soakPairs = 5
	// soakKeys is each source collection's key space: writers upsert
	// _id = n % soakKeys, so collections (and their copies) stay this
	// size. The embedded engine copies a collection and its oplog on
	// every write, so both must stay small for its rate to stay flat.
	soakKeys = 500
	// soakWindow bounds the documents a writer is ahead of its sink: the
	// writers go as fast as the pipelines deliver, and the backlog stays
	// inside the engine's oplog.
	soakWindow = 200
	// soakBulk is the writes per bulk write of a writer.
	soakBulk = 100
	// soakOplog is the oplog entries the sources' engine keeps beyond
	// the last second: more than every pair's window together (a change
	// stream is never further behind), few enough that copying the
	// oplog on every write costs little.
	soakOplog = 3 * soakPairs * soakWindow / 2
	// soakWarmup is when the growth check starts: samples before it are
	// the daemon filling its buffers and pools.
	soakWarmup = 30 * time.Second
	// soakMaxSlope and soakMaxGrowth define "RSS keeps growing": after
	// the warm-up, the least-squares slope of RSS exceeds soakMaxSlope
	// MB per minute and the last sample is more than soakMaxGrowth times
	// the first sample after the warm-up. Either alone is noise: one
	// GC cycle moves RSS by a few MB.
	soakMaxSlope  = 5.0
	soakMaxGrowth = 1.10
	// soakRSSLimit is issue 16's target for 10 pipelines under load.
	soakRSSLimit = 100.0
)

// soakSample is the daemon's state at one moment of the soak.
type soakSample struct {
	at         time.Duration
	rssMB      float64 // VmRSS
	anonMB     float64 // RssAnon: heap, stacks, runtime
	fileMB     float64 // RssFile: the binary's pages
	heapMB     float64 // go_memstats_heap_inuse_bytes; -1 when not served
	goroutines float64 // go_goroutines; -1 when not served
	written    int64   // documents the writers wrote
	delivered  int64   // records the sinks wrote into MongoDB
}

// BenchmarkSoak runs `schemaflow run` — the binary, built for the soak,
// in a child process — with 5 MongoDB→Kafka sources and 5 Kafka→MongoDB
// sinks against kfake, our registry over HTTP and a lungo memory engine
// served over the MongoDB wire protocol, all in this process. Writers
// upsert ~1 KB orders into the 5 source collections as fast as the
// pipelines deliver them (at most soakWindow ahead of each sink) for
// SCHEMAFLOW_SOAK_DURATION (default 2m). Every 10 s
// (SCHEMAFLOW_SOAK_INTERVAL) it samples the daemon's RSS (VmRSS of
// /proc/PID/status), Go heap in use and goroutines (its /metrics, when
// served). It reports the peaks, the delivered rate and the RSS slope,
// prints the table, and fails when RSS keeps growing after the first 30 s,
// when the daemon logs an error, or when a sink stops delivering.
// SCHEMAFLOW_SOAK_BACKLOG=N first fills each sink's topic with N records
// (default 0), so the sinks start by catching up: their buffers at
// their fullest. SCHEMAFLOW_SOAK_MAX_INFLIGHT sets every pipeline's
// max_inflight_bytes (default: the spec's default). The daemon runs with
// its default memory limit (daemon.MemoryLimit), which the soak checks it
// logged, unless GOMEMLIMIT is in the environment.
func BenchmarkSoak(b *testing.B) {
	runSoak(b, "BenchmarkSoak", 0)
}

// BenchmarkSoakBacklog is BenchmarkSoak with soakBacklog records waiting
// in each sink's topic at the start (SCHEMAFLOW_SOAK_BACKLOG overrides
// it): the sinks catch up for the first minute, their fetch buffers and
// batches full, while the writers wait for them.
func BenchmarkSoakBacklog(b *testing.B) {
	runSoak(b, "BenchmarkSoakBacklog", soakBacklog)
}

// soakBacklog is BenchmarkSoakBacklog's records per sink topic: 20,000
// orders of about 1 KB, 100 MB in all.
const soakBacklog = 20000

func runSoak(b *testing.B, name string, backlog int) {
	duration := envDuration(b, "SCHEMAFLOW_SOAK_DURATION", 2*time.Minute)
	interval := envDuration(b, "SCHEMAFLOW_SOAK_INTERVAL", 10*time.Second)
	if v := os.Getenv("SCHEMAFLOW_SOAK_BACKLOG"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("SCHEMAFLOW_SOAK_BACKLOG=%q: want a number of records", v)
		}
		backlog = n
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skipf("the soak reads RSS from /proc: %v", err)
	}
	for range b.N {
		soak(b, name, duration, interval, backlog)
	}
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 2m", name, v)
	}
	return d
}

func soak(b *testing.B, name string, duration, interval time.Duration, backlog int) {
	b.StopTimer()
	dir := b.TempDir()
	bin := filepath.Join(dir, "schemaflow")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}

	topics := []string{"_schemaflow_offsets"}
	for i := range soakPairs {
		topics = append(topics, fmt.Sprintf("soak.orders%d", i))
	}
	kafka, reg := kafkaAndRegistry(b, topics...)
	// The sources read one engine, the sinks write another: the
	// writers' engine keeps the oplog the change streams need, the
	// sinks' keeps almost none.
	mongoURI := soakMongo(b, soakOplog)
	copyURI := soakMongo(b, 100)

	if backlog > 0 {
		produceBacklog(b, kafka.ListenAddrs(), reg.URL, backlog)
	}

	// Every pipeline's max_inflight_bytes, when set: the bound on what
	// each holds.
	inflight, bound := "", int64(config.DefaultMaxInflightBytes)
	if v := os.Getenv("SCHEMAFLOW_SOAK_MAX_INFLIGHT"); v != "" {
		n, err := spec.ParseByteSize(v)
		if err != nil {
			b.Fatalf("SCHEMAFLOW_SOAK_MAX_INFLIGHT: %v", err)
		}
		inflight, bound = fmt.Sprintf("\n    max_inflight_bytes: %q", v), int64(n)
	}
	var spec strings.Builder
	fmt.Fprintf(&spec, "version: 1\nkafka: {brokers: [%q]}\nregistry: {url: %q}\nmongodb: {uri: %q, database: soak}\npipelines:\n",
		kafka.ListenAddrs()[0], reg.URL, mongoURI)
	for i := range soakPairs {
		fmt.Fprintf(&spec, `  - name: source-%[1]d
    mongodb: {collection: orders%[1]d}
    source: {topic: soak.orders%[1]d, format: avro, namespace: soak}%[3]s
  - name: sink-%[1]d
    mongodb: {uri: %[2]q, collection: orders%[1]d_copy}
    sink: {topics: [soak.orders%[1]d], id_strategy: key}%[3]s
`, i, copyURI, inflight)
	}
	specFile := writeFile(b, dir, "soak.yaml", spec.String())

	httpAddr := freeAddr(b)
	d := startDaemon(b, bin, "run", "-f", specFile, "--http-addr", httpAddr, "--log-format", "json")
	metricsURL := "http://" + httpAddr + "/metrics"
	waitUntil(b, "the daemon ready", time.Minute, d, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	limit := checkMemoryLimit(b, d, daemon.MemoryOverhead+2*soakPairs*bound)
	b.ReportMetric(float64(limit)/(1<<20), "memory-limit-MiB")

	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI(mongoURI))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Disconnect(context.Background())

	flow := newSoakFlow(backlog)
	ctx, stopWriters := context.WithCancel(context.Background())
	var writers sync.WaitGroup
	writeErrs := make(chan error, soakPairs)
	b.StartTimer()
	start := time.Now()
	for i := range soakPairs {
		writers.Add(1)
		go func() {
			defer writers.Done()
			if err := soakWriter(ctx, client.Database("soak").Collection(fmt.Sprintf("orders%d", i)), i, flow); err != nil && ctx.Err() == nil {
				writeErrs <- fmt.Errorf("writer %d: %w", i, err)
			}
		}()
	}

	// The sampler: /metrics every 250 ms for the flow control, a sample
	// for the table every interval.
	var samples []soakSample
	take := func() soakSample {
		m, err := scrape(metricsURL)
		if err != nil {
			b.Fatalf("scrape %s: %v\ndaemon output:\n%s", metricsURL, err, d.out)
		}
		mem, err := readProcMemory(d.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		flow.update(m)
		s := soakSample{at: time.Since(start).Round(time.Second), rssMB: mem.rss, anonMB: mem.anon, fileMB: mem.file, heapMB: -1, goroutines: -1,
			written: flow.totalWritten(), delivered: m.sum("schemaflow_records_out_total", `kind="sink"`)}
		if v, ok := m.value("go_memstats_heap_inuse_bytes", ""); ok {
			s.heapMB = v / (1 << 20)
		}
		if v, ok := m.value("go_goroutines", ""); ok {
			s.goroutines = v
		}
		return s
	}
	samples = append(samples, take())
	tick := time.NewTicker(250 * time.Millisecond)
	next := interval
	for done := false; !done; {
		select {
		case err := <-writeErrs:
			b.Fatalf("%v\ndaemon output:\n%s", err, d.out)
		case err := <-d.exited:
			b.Fatalf("the daemon exited during the soak: %v\noutput:\n%s", err, d.out)
		case <-tick.C:
		}
		if time.Since(start) >= next {
			s := take()
			samples = append(samples, s)
			if prev := samples[len(samples)-2]; s.delivered == prev.delivered {
				b.Fatalf("the sinks delivered nothing between %s and %s\ndaemon output:\n%s", prev.at, s.at, d.out)
			}
			done = time.Since(start) >= duration
			next += interval
			continue
		}
		m, err := scrape(metricsURL)
		if err != nil {
			b.Fatalf("scrape %s: %v", metricsURL, err)
		}
		flow.update(m)
	}
	tick.Stop()
	elapsed := time.Since(start)
	stopWriters()
	writers.Wait()
	b.StopTimer()
	if errs := d.errors(); len(errs) > 0 {
		b.Fatalf("the daemon logged errors:\n%s", strings.Join(errs, "\n"))
	}

	last := samples[len(samples)-1]
	peakRSS, peakHeap, peakG := 0.0, -1.0, -1.0
	for _, s := range samples {
		peakRSS, peakHeap, peakG = max(peakRSS, s.rssMB), max(peakHeap, s.heapMB), max(peakG, s.goroutines)
	}
	slope, growth, checked := rssGrowth(samples)
	b.ReportMetric(peakRSS, "peak-RSS-MB")
	if peakHeap >= 0 {
		b.ReportMetric(peakHeap, "peak-heap-MB")
	}
	if peakG >= 0 {
		b.ReportMetric(peakG, "peak-goroutines")
	}
	b.ReportMetric(float64(last.delivered)/elapsed.Seconds(), "docs/s")
	if checked {
		b.ReportMetric(slope, "RSS-slope-MB/min")
	}
	// To stdout, not b.Log: go test keeps only 10 lines of a
	// benchmark's log. internal/benchreport reads the "table NAME: "
	// lines into the README.
	fmt.Println()
	for _, line := range strings.Split(soakTable(samples), "\n") {
		fmt.Println("table " + name + ": " + line)
	}
	if peakHeap < 0 || peakG < 0 {
		b.Log("the daemon serves no go_memstats_heap_inuse_bytes or go_goroutines: heap and goroutines not measured")
	}
	if peakRSS > soakRSSLimit {
		b.Logf("peak RSS %.1f MB is above the %.0f MB target for %d pipelines", peakRSS, soakRSSLimit, 2*soakPairs)
	}
	d.term(b)
	if checked && slope > soakMaxSlope && growth > soakMaxGrowth {
		b.Fatalf("RSS keeps growing after %s: %.1f MB/min, last sample %.2fx the first after warm-up (limits %.0f MB/min and %.2fx)",
			soakWarmup, slope, growth, soakMaxSlope, soakMaxGrowth)
	}
}

// checkMemoryLimit finds the memory limit the daemon logged at start and
// returns it; without GOMEMLIMIT in the environment it must be the
// pipelines' default, want bytes.
func checkMemoryLimit(b *testing.B, d *soakDaemon, want int64) int64 {
	for _, line := range strings.Split(d.out.String(), "\n") {
		var entry struct {
			Msg, From string
			Bytes     int64
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "memory limit" {
			continue
		}
		if _, set := os.LookupEnv("GOMEMLIMIT"); !set && (entry.From != "pipelines" || entry.Bytes != want) {
			b.Fatalf("the daemon's memory limit: %s; want %d bytes from the pipelines", line, want)
		}
		return entry.Bytes
	}
	b.Fatalf("the daemon logged no memory limit:\n%s", d.out)
	return 0
}

// rssGrowth is the least-squares slope of RSS (MB per minute) over the
// samples from soakWarmup on, and the last of them over the first; checked
// is false with fewer than three such samples.
func rssGrowth(samples []soakSample) (slope, growth float64, checked bool) {
	var xs, ys []float64
	for _, s := range samples {
		if s.at >= soakWarmup {
			xs, ys = append(xs, s.at.Minutes()), append(ys, s.rssMB)
		}
	}
	if len(xs) < 3 {
		return 0, 1, false
	}
	var mx, my float64
	for i := range xs {
		mx, my = mx+xs[i], my+ys[i]
	}
	mx, my = mx/float64(len(xs)), my/float64(len(xs))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	return num / den, ys[len(ys)-1] / ys[0], true
}

// soakTable is the samples as a Markdown table, one row per sample, the
// rate being the sinks' since the previous sample. RSS is VmRSS: anon
// (RssAnon: heap, stacks, the runtime) plus file (RssFile: the binary's
// pages).
func soakTable(samples []soakSample) string {
	var sb strings.Builder
	sb.WriteString("| t | RSS MB | anon MB | file MB | heap MB | goroutines | written | delivered | docs/s |\n|---|---|---|---|---|---|---|---|---|\n")
	opt := func(v float64, format string) string {
		if v < 0 {
			return "–"
		}
		return fmt.Sprintf(format, v)
	}
	for i, s := range samples {
		rate := "–"
		if i > 0 {
			p := samples[i-1]
			rate = fmt.Sprintf("%.0f", float64(s.delivered-p.delivered)/(s.at-p.at).Seconds())
		}
		fmt.Fprintf(&sb, "| %s | %.1f | %.1f | %.1f | %s | %s | %d | %d | %s |\n", s.at, s.rssMB, s.anonMB, s.fileMB, opt(s.heapMB, "%.1f"), opt(s.goroutines, "%.0f"), s.written, s.delivered, rate)
	}
	return strings.TrimSuffix(sb.String(), "\n")
}

// soakMongo serves a lungo memory engine over the wire protocol on a
// loopback port and returns its URI. The oplog keeps the last oplog
// entries and those of the last second (trimmed every second), so that
// the engine's copy-on-write cost per write stays flat over the soak.
func soakMongo(b *testing.B, oplog int) string {
	_, engine, err := lungo.Open(context.Background(), lungo.Options{Store: lungo.NewMemoryStore(),
		ExpireInterval: time.Second, MinOplogSize: oplog, MaxOplogSize: oplog, MinOplogAge: time.Second, MaxOplogAge: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(engine.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := mongowire.New(engine, mongowire.Options{Logger: slog.New(slog.DiscardHandler)})
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return mongowire.URI(ln.Addr().String(), mongowire.DefaultReplicaSet)
}

// soakFlow holds the writers at most soakWindow documents ahead of their
// sinks.
type soakFlow struct {
	// backlog is the records each sink's topic held before the writers
	// started, delivered on top of theirs.
	backlog   int64
	mu        sync.Mutex
	cond      *sync.Cond
	written   [soakPairs]int64
	delivered [soakPairs]int64
}

func newSoakFlow(backlog int) *soakFlow {
	f := &soakFlow{backlog: int64(backlog)}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// update takes the sinks' delivered counts from a scrape and wakes the
// writers.
func (f *soakFlow) update(m metricSet) {
	f.mu.Lock()
	for i := range soakPairs {
		if v, ok := m.value("schemaflow_records_out_total", fmt.Sprintf(`pipeline="sink-%d"`, i)); ok {
			f.delivered[i] = int64(v) - f.backlog
		}
	}
	f.mu.Unlock()
	f.cond.Broadcast()
}

// wait blocks until writer i may write n more documents, or ctx ends.
func (f *soakFlow) wait(ctx context.Context, i int, n int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.written[i]+n-f.delivered[i] > soakWindow {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.cond.Wait()
	}
	return nil
}

func (f *soakFlow) wrote(i int, n int64) {
	f.mu.Lock()
	f.written[i] += n
	f.mu.Unlock()
}

func (f *soakFlow) totalWritten() (n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.written {
		n += w
	}
	return n
}

// soakWriter upserts orders into coll in bulk writes of soakBulk, as fast
// as the flow allows, until ctx ends.
func soakWriter(ctx context.Context, coll *mongo.Collection, w int, flow *soakFlow) error {
	// Wake the writer's wait when ctx ends.
	stop := context.AfterFunc(ctx, func() {
		flow.mu.Lock()
		defer flow.mu.Unlock()
		flow.cond.Broadcast()
	})
	defer stop()
	models := make([]mongo.WriteModel, soakBulk)
	for n := int64(0); ; {
		if err := flow.wait(ctx, w, soakBulk); err != nil {
			return nil
		}
		for j := range models {
			id := (n + int64(j)) % soakKeys
			models[j] = mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetReplacement(soakOrder(id, n+int64(j))).SetUpsert(true)
		}
		if _, err := coll.BulkWrite(ctx, models); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		n += soakBulk
		flow.wrote(w, soakBulk)
	}
}

// soakSchema is soakOrder's Avro schema, for the backlog.
const soakSchema = `{"type": "record", "name": "Order", "namespace": "soak", "fields": [
	{"name": "_id", "type": "long"}, {"name": "status", "type": "string"}, {"name": "version", "type": "long"},
	{"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
		{"name": "name", "type": "string"}, {"name": "email", "type": "string"}, {"name": "city", "type": "string"}]}},
	{"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
		{"name": "sku", "type": "string"}, {"name": "qty", "type": "long"}, {"name": "price", "type": "double"}]}}},
	{"name": "note", "type": "string"}]}`

// produceBacklog produces n framed orders (Avro values registered under
// their own subject, JSON keys) to each sink's topic.
func produceBacklog(b *testing.B, brokers []string, registryURL string, n int) {
	client, err := registry.NewClient(registryURL, registry.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	id, err := client.Register(context.Background(), "soak.backlog-value", registry.RegisterRequest{Schema: soakSchema}, false)
	if err != nil {
		b.Fatal(err)
	}
	sd, err := serde.New([]byte(soakSchema), serde.Options{Format: schemas.Avro, ID: uint32(id)})
	if err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	for i := range soakPairs {
		recs := make([]*kgo.Record, 0, 1000)
		for j := range n {
			raw, err := bson.Marshal(soakOrder(int64(j%soakKeys), int64(j)))
			if err != nil {
				b.Fatal(err)
			}
			v, err := sd.Encode(nil, raw)
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: fmt.Sprintf("soak.orders%d", i), Key: []byte(fmt.Sprintf(`{"_id": %d}`, j%soakKeys)), Value: v})
			if len(recs) == cap(recs) || j == n-1 {
				if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
					b.Fatal(err)
				}
				recs = recs[:0]
			}
		}
	}
}

// soakOrder is a ~1 KB order, the same shape the sink benchmarks write.
func soakOrder(id, version int64) bson.D {
	items := make(bson.A, 0, 8)
	for i := range 8 {
		items = append(items, bson.D{{Key: "sku", Value: fmt.Sprintf("SKU-%06d", i)}, {Key: "qty", Value: int64(i + 1)}, {Key: "price", Value: 9.99 * float64(i+1)}})
	}
	return bson.D{{Key: "_id", Value: id}, {Key: "status", Value: "paid"}, {Key: "version", Value: version},
		{Key: "customer", Value: bson.D{{Key: "name", Value: "Ada Lovelace"}, {Key: "email", Value: "ada@example.com"}, {Key: "city", Value: "London"}}},
		{Key: "items", Value: items}, {Key: "note", Value: "leave at the door, ring twice, the dog is friendly"}}
}

// soakDaemon is the built binary running as a child process.
type soakDaemon struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan error
	mu     sync.Mutex
	errs   []string
}

// startDaemon runs bin with args; its output is kept, and its ERROR log
// lines collected.
func startDaemon(b *testing.B, bin string, args ...string) *soakDaemon {
	cmd := exec.Command(bin, args...)
	d := &soakDaemon{cmd: cmd, out: &syncBuffer{}, exited: make(chan error, 1)}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout = d.out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(d.out, line)
			if strings.Contains(line, `"level":"ERROR"`) {
				d.mu.Lock()
				d.errs = append(d.errs, line)
				d.mu.Unlock()
			}
		}
	}()
	go func() {
		<-scanned
		d.exited <- cmd.Wait()
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	return d
}

func (d *soakDaemon) errors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.errs...)
}

// term sends SIGTERM and checks exit 0 within 30 s.
func (d *soakDaemon) term(b *testing.B) {
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			b.Fatalf("the daemon exited with %v after SIGTERM; output:\n%s", err, d.out)
		}
	case <-time.After(30 * time.Second):
		b.Fatalf("the daemon did not exit within 30s of SIGTERM; output:\n%s", d.out)
	}
}

// waitUntil polls ok every 50 ms until it holds, failing after limit or
// when the daemon exits.
func waitUntil(b *testing.B, what string, limit time.Duration, d *soakDaemon, ok func() bool) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(limit)
	for !ok() {
		select {
		case err := <-d.exited:
			b.Fatalf("the daemon exited (%v) waiting for %s; output:\n%s", err, what, d.out)
		case <-deadline:
			b.Fatalf("timed out after %s waiting for %s; output:\n%s", limit, what, d.out)
		case <-tick.C:
		}
	}
}

// procMemory is a process's resident memory in MB from /proc/PID/status:
// VmRSS and its parts, RssAnon (heap, stacks, the runtime's own) and
// RssFile (the binary's pages and other mapped files).
type procMemory struct{ rss, anon, file float64 }

func readProcMemory(pid int) (procMemory, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	f, err := os.Open(path)
	if err != nil {
		return procMemory{}, fmt.Errorf("read RSS: %w", err)
	}
	defer f.Close()
	var m procMemory
	fields := map[string]*float64{"VmRSS:": &m.rss, "RssAnon:": &m.anon, "RssFile:": &m.file}
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		dst, ok := fields[firstField(parts)]
		if !ok {
			continue
		}
		if len(parts) != 3 || parts[2] != "kB" {
			return procMemory{}, fmt.Errorf("%s: unexpected line %q", path, sc.Text())
		}
		kb, err := strconv.ParseFloat(parts[1], 64)
		if err != nil {
			return procMemory{}, fmt.Errorf("%s: %s %w", path, parts[0], err)
		}
		*dst = kb / 1024
		seen++
	}
	if err := sc.Err(); err != nil {
		return procMemory{}, fmt.Errorf("%s: %w", path, err)
	}
	if seen != len(fields) {
		return procMemory{}, fmt.Errorf("%s: want VmRSS, RssAnon and RssFile lines, found %d of them", path, seen)
	}
	return m, nil
}

func firstField(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	return parts[0]
}

// metricSet is the samples of one scrape of the Prometheus text format:
// series (name and labels as written) to value.
type metricSet map[string]float64

var promSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)`)

func scrape(url string) (metricSet, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	m := metricSet{}
	for _, line := range strings.Split(string(body), "\n") {
		sm := promSample.FindStringSubmatch(line)
		if sm == nil {
			continue
		}
		v, err := strconv.ParseFloat(sm[3], 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		m[sm[1]+sm[2]] = v
	}
	return m, nil
}

// value is the first series of name whose labels contain label ("" for
// any).
func (m metricSet) value(name, label string) (float64, bool) {
	for series, v := range m {
		if (series == name || strings.HasPrefix(series, name+"{")) && strings.Contains(series, label) {
			return v, true
		}
	}
	return 0, false
}

// sum adds the series of name whose labels contain label.
func (m metricSet) sum(name, label string) (n int64) {
	for series, v := range m {
		if strings.HasPrefix(series, name+"{") && strings.Contains(series, label) {
			n += int64(v)
		}
	}
	return n
}

// The soak's growth check: flat or shrinking RSS after the warm-up
// passes, a steady climb fails, one noisy sample does not, and fewer than
// three samples after the warm-up are not judged.
func TestSoakGrowthCheck(t *testing.T) {
	series := func(rss ...float64) []soakSample {
		var out []soakSample
		for i, r := range rss {
			out = append(out, soakSample{at: time.Duration(i) * 10 * time.Second, rssMB: r})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		samples []soakSample
		slope   float64
		growth  float64
		checked bool
		keeps   bool
	}{
		{"flat after a warm-up peak", series(30, 65, 60, 50, 50, 50, 50), 0, 1, true, false},
		{"steady climb", series(30, 40, 45, 50, 55, 60, 65), 30, 1.3, true, true},
		{"one spike", series(30, 60, 50, 50, 58, 50, 51), -3, 1.02, true, false},
		{"too short", series(30, 60, 50, 52), 0, 1, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slope, growth, checked := rssGrowth(tc.samples)
			if checked != tc.checked || math.Abs(slope-tc.slope) > 0.05 || math.Abs(growth-tc.growth) > 0.005 {
				t.Fatalf("rssGrowth = %.2f MB/min, %.3fx, %v; want %.2f, %.3f, %v", slope, growth, checked, tc.slope, tc.growth, tc.checked)
			}
			if got := checked && slope > soakMaxSlope && growth > soakMaxGrowth; got != tc.keeps {
				t.Fatalf("keeps growing: %v, want %v", got, tc.keeps)
			}
		})
	}
}

// readProcMemory reads this process's resident memory: VmRSS is at least
// its anonymous and file parts.
func TestReadProcMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	m, err := readProcMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.anon <= 0 || m.file <= 0 || m.rss < m.anon+m.file-0.01 {
		t.Fatalf("memory %+v: want positive parts within VmRSS", m)
	}
	if _, err := readProcMemory(-1); err == nil || !strings.Contains(err.Error(), "read RSS") {
		t.Fatalf("a missing process: %v", err)
	}
}

// A scrape's samples are found by name and label; sums add a metric's
// series.
func TestMetricSet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "# HELP go_goroutines Goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 204\n"+
			"go_memstats_heap_inuse_bytes 1.8874368e+07\n"+
			`schemaflow_records_out_total{pipeline="sink-1",kind="sink"} 120`+"\n"+
			`schemaflow_records_out_total{pipeline="sink-10",kind="sink"} 7`+"\n"+
			`schemaflow_records_out_total{pipeline="source-1",kind="source"} 99`+"\n")
	}))
	defer srv.Close()
	m, err := scrape(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.value("go_goroutines", ""); !ok || v != 204 {
		t.Errorf("go_goroutines = %v, %v", v, ok)
	}
	if v, ok := m.value("go_memstats_heap_inuse_bytes", ""); !ok || v != 18874368 {
		t.Errorf("heap = %v, %v", v, ok)
	}
	if v, ok := m.value("schemaflow_records_out_total", `pipeline="sink-1"`); !ok || v != 120 {
		t.Errorf("sink-1 = %v, %v", v, ok)
	}
	if n := m.sum("schemaflow_records_out_total", `kind="sink"`); n != 127 {
		t.Errorf("sinks' sum = %d, want 127", n)
	}
	if _, ok := m.value("go_threads", ""); ok {
		t.Error("a metric not served was found")
	}
}
