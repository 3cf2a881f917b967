package daemon

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/mongosource"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeRunner is a pipeline whose counters are fixed, so that a scrape is
// deterministic.
type fakeRunner struct {
	snap      Snapshot
	busyWhat  string
	busySince time.Time
}

func (f fakeRunner) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (f fakeRunner) snapshot() Snapshot            { return f.snap }
func (f fakeRunner) ready() bool                   { return true }
func (f fakeRunner) busy() (string, time.Time)     { return f.busyWhat, f.busySince }

// metricsDaemon is a daemon with a source, a sink and a failed source
// whose every counter, gauge and histogram has a value.
func metricsDaemon(t *testing.T) *Daemon {
	t.Helper()
	src := &pipeline{name: "src", kind: "source", state: StateRunning, restarts: 2, stuckAfter: time.Hour,
		failures: map[string]int64{"pipeline": 2},
		run: fakeRunner{snap: Snapshot{In: 12, Out: 10, Dead: 2, Bytes: 4096, Lag: 0.25,
			DeadByClass: map[string]int64{"encode": 2}, Skipped: map[string]int64{mongosource.SkipNoDocument: 3},
			Registrations: 4, CacheHits: 8, CacheMisses: 4, Copied: 7, CopyEstimate: 9, Snapshotted: 5, Snapshots: 1,
			Copies: []mongosource.CopyStats{{Namespace: "shop.orders", Copied: 7, Estimated: 9, Rate: 3.5, ETA: 2 * time.Second}}}}}
	snk := &pipeline{name: "snk", kind: "sink", state: StateRunning, stuckAfter: time.Millisecond,
		run: fakeRunner{busyWhat: "bulk write", busySince: time.Now().Add(-time.Hour), snap: Snapshot{In: 11, Out: 10, Dead: 1, Bytes: 2048, Lag: 3,
			DeadByClass: map[string]int64{"undecodable": 1}, CacheHits: 9, CacheMisses: 1, BatchSize: 150, Splits: 2,
			Formats: []decode.FormatCount{{Topic: "orders", Part: decode.PartKey, Format: decode.FormatJSON, N: 10}, {Topic: "orders", Part: decode.PartValue, Format: decode.FormatRegistry, N: 11}}}}}
	failed := &pipeline{name: "failed", kind: "source", state: StateFailed, stuckAfter: time.Hour,
		failures: map[string]int64{"panic": 1}, run: fakeRunner{snap: Snapshot{CopyEstimate: -1}}}
	d, err := newWithPipelines(Options{Logger: nil}, []*pipeline{src, snk, failed})
	if err != nil {
		t.Fatal(err)
	}
	for _, took := range []time.Duration{500 * time.Microsecond, 20 * time.Millisecond, 3 * time.Second, 20 * time.Second} {
		d.observeBatch("src", took)
	}
	d.observeBatch("snk", 50*time.Millisecond)
	return d
}

var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// normalize keeps the schemaflow_ families of a text exposition, with each
// sample's labels sorted by name (their order carries no meaning) and the
// samples of a family sorted.
func normalize(body string) string {
	var out []string
	var family []string
	flush := func() {
		sort.Strings(family)
		out = append(out, family...)
		family = nil
	}
	for _, line := range strings.Split(body, "\n") {
		if !strings.Contains(line, "schemaflow_") {
			continue
		}
		if strings.HasPrefix(line, "# ") {
			if strings.HasPrefix(line, "# HELP ") {
				flush()
			}
			out = append(out, line)
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		value := rest[strings.LastIndex(rest, " ")+1:]
		if !strings.Contains(line, "{") {
			name, value, _ = strings.Cut(line, " ")
			rest = ""
		}
		pairs := labelPair.FindAllString(rest, -1)
		sort.Strings(pairs)
		family = append(family, name+"{"+strings.Join(pairs, ",")+"} "+value)
	}
	flush()
	return strings.Join(out, "\n") + "\n"
}

// TestMetricsExposition scrapes /metrics of a daemon whose pipelines
// report every statistic, and compares every schemaflow_ family — help,
// type, label sets and values — with a golden file captured from the
// hand-written exposition that client_golang replaced. The Go runtime and
// process collectors come on top.
func TestMetricsExposition(t *testing.T) {
	d := metricsDaemon(t)
	code, body := get(t, d, "/metrics")
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if !regexp.MustCompile(`(?m)^` + name + ` \d`).MatchString(body) {
			t.Errorf("no %s sample in /metrics", name)
		}
	}
	got := normalize(body)
	golden := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("schemaflow_ metrics differ from %s (-update rewrites it)\ngot:\n%s", golden, got)
	}
}

// newWithPipelines is a daemon of ps, with its metrics, that runs nothing.
func newWithPipelines(opts Options, ps []*pipeline) (*Daemon, error) {
	d := &Daemon{opts: opts, pipelines: ps, conns: &Connections{}}
	return d, d.initMetrics()
}
