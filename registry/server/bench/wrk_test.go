package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// wrkLine is a line of wrk.sh's output.
var wrkLine = regexp.MustCompile(`^(ids|lookup)\s+t(\d+) round \d+\s+\S+:(\w+)\s+([0-9.]+) req/s\s+([0-9.]+) us-cpu/req(.*)$`)

// wrkResult is one wrk run of wrk.sh.
type wrkResult struct {
	kind, engine string
	threads      int
	rps          float64
	cpu          float64 // the server's CPU µs per request
}

// parseWrk reads wrk.sh's lines; a run marked ERRORS, or a line it
// cannot read, is an error naming it.
func parseWrk(out string) ([]wrkResult, error) {
	var rs []wrkResult
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		m := wrkLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("wrk.sh: unexpected line %q", line)
		}
		if strings.Contains(m[6], "ERRORS") {
			return nil, fmt.Errorf("wrk.sh: a run had errors: %q", line)
		}
		threads, _ := strconv.Atoi(m[2])
		rps, err1 := strconv.ParseFloat(m[4], 64)
		cpu, err2 := strconv.ParseFloat(m[5], 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("wrk.sh: %q: %w", line, err)
		}
		rs = append(rs, wrkResult{kind: m[1], engine: m[3], threads: threads, rps: rps, cpu: cpu})
	}
	return rs, nil
}

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []wrkResult
		err      string
	}{
		{name: "runs", in: "ids      t1 round 1  bin/schemaflow:net        37000.50 req/s   27.5 us-cpu/req\nlookup   t2 round 1  /tmp/x/schemaflow:fasthttp 61234.00 req/s   12.0 us-cpu/req\n",
			want: []wrkResult{{"ids", "net", 1, 37000.5, 27.5}, {"lookup", "fasthttp", 2, 61234, 12}}},
		{name: "errors", in: "ids      t1 round 1  bin/schemaflow:net   100.00 req/s   10.0 us-cpu/req  ERRORS: Non-2xx or 3xx responses: 5\n", err: "a run had errors"},
		{name: "no engine", in: "ids      t1 round 1  bin/schemaflow   100.00 req/s   10.0 us-cpu/req\n", err: "unexpected line"},
		{name: "no figure", in: "ids      t1 round 1  bin/schemaflow:net   req/s   10.0 us-cpu/req\n", err: "unexpected line"},
		{name: "no CPU", in: "ids      t1 round 1  bin/schemaflow:net   100.00 req/s\n", err: "unexpected line"},
	} {
		got, err := parseWrk(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
}

// BenchmarkWrk measures the real binary, built from this tree, under wrk
// (64 connections, 1 and 2 wrk threads) with each engine, side by side in
// one run of wrk.sh: GET /schemas/ids/{id} and lookups (POST
// /subjects/{s}) on 100 registered schemas. Each sub-benchmark reports
// one run's req/s and the server's CPU time per request. SCHEMAFLOW_WRK_DURATION sets each run's length
// (default 5s). It skips without wrk, curl or python3.
func BenchmarkWrk(b *testing.B) {
	for _, tool := range []string{"wrk", "curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("needs %s (apt-get install %s)", tool, tool)
		}
	}
	bin := filepath.Join(b.TempDir(), "schemaflow")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/schemaflow/schemaflow/cmd/schemaflow").CombinedOutput(); err != nil {
		b.Fatalf("building schemaflow: %v\n%s", err, out)
	}
	duration := os.Getenv("SCHEMAFLOW_WRK_DURATION")
	if duration == "" {
		duration = "5s"
	}
	cmd := exec.Command("./wrk.sh", bin+":net", bin+":fasthttp")
	cmd.Env = append(os.Environ(), "DURATION="+duration, "ROUNDS=1", "THREADS=1 2", "CONNS=64")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("wrk.sh: %v\n%s%s", err, out, stderr.String())
	}
	results, err := parseWrk(string(out))
	if err != nil {
		b.Fatal(err)
	}
	if len(results) != 8 {
		b.Fatalf("wrk.sh gave %d runs, want 8:\n%s", len(results), out)
	}
	for _, r := range results {
		b.Run(fmt.Sprintf("engine=%s/%s/t%d", r.engine, r.kind, r.threads), func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(r.rps, "req/s")
			b.ReportMetric(r.cpu, "server-us-cpu/req")
		})
	}
}
