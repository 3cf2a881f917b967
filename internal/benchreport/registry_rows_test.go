package main

import (
	"strings"
	"testing"
)

// The Registry rows of a run with BenchmarkWrk (registry/server/bench;
// lines as it prints them, from a run on a loaded machine, the fasthttp
// lookup figure raised to show a goal met): the fasthttp engine's figures
// held against issue 14's goal, the net engine's against the fasthttp
// engine of the same run, the wrk -t1 runs listed with the other
// benchmarks.
func TestRegistryWrkRows(t *testing.T) {
	const out = "pkg: github.com/schemaflow/schemaflow/registry/server/bench\n" +
		"BenchmarkWrk/engine=net/ids/t1-2         \t1000000000\t     20232 req/s\t        28.20 server-us-cpu/req\n" +
		"BenchmarkWrk/engine=fasthttp/ids/t1-2    \t1000000000\t     13634 req/s\t        17.70 server-us-cpu/req\n" +
		"BenchmarkWrk/engine=net/ids/t2-2         \t1000000000\t     12555 req/s\t        31.60 server-us-cpu/req\n" +
		"BenchmarkWrk/engine=fasthttp/ids/t2-2    \t1000000000\t     25314 req/s\t        18.20 server-us-cpu/req\n" +
		"BenchmarkWrk/engine=net/lookup/t2-2      \t1000000000\t     14770 req/s\t        32.90 server-us-cpu/req\n" +
		"BenchmarkWrk/engine=fasthttp/lookup/t2-2 \t1000000000\t     60790 req/s\t        19.40 server-us-cpu/req\n"
	run, err := Parse(strings.NewReader(out), "bench.out")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Render(run, rows)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| Registry | `registry serve`, fasthttp engine, wrk -t2 -c64: by id (GET /schemas/ids/N) | 25,314 req/s | 50,000 req/s (issue 14's goal) | 51% | ≥ 100%: **not met** |\n",
		"| Registry | `registry serve`, fasthttp engine, wrk -t2 -c64: lookup (POST /subjects/S) | 60,790 req/s | 50,000 req/s (issue 14's goal) | 122% | ≥ 100%: met |\n",
		"| Registry | `registry serve`, net engine, wrk -t2 -c64: by id (GET /schemas/ids/N) | 12,555 req/s | 25,314 req/s (fasthttp engine) | 50% | – |\n",
		"| Registry | `registry serve`, net engine, wrk -t2 -c64: lookup (POST /subjects/S) | 14,770 req/s | 60,790 req/s (fasthttp engine) | 24% | – |\n",
		"| registry/server/bench | `BenchmarkWrk/engine=net/ids/t1` | 20,232 req/s, 28.2 server-us-cpu/req |\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the section lacks\n%s\ngot:\n%s", want, got)
		}
	}
}
