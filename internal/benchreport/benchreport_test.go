package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/section.golden.md from testdata/bench.out")

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     *Run
	}{
		{
			name: "config, packages and results",
			in: "date: 2026-11-29\ngoos: linux\npkg: example.com/a\ncpu: Some CPU @ 2GHz\n" +
				"BenchmarkX-2   \t     100\t     12345 ns/op\t  812.5 docs/s\t  3 allocs/op\n" +
				"BenchmarkY/1KB-8 \t 5\t 7.5 ns/op\nPASS\nok  \texample.com/a\t1.2s\n" +
				"pkg: example.com/b\ngoos: darwin\nBenchmarkX \t 1\t 2 x-ref\n",
			want: &Run{Config: map[string]string{"date": "2026-11-29", "goos": "linux", "cpu": "Some CPU @ 2GHz"}, Tables: map[string][]string{}, Results: []Result{
				{Pkg: "example.com/a", Name: "BenchmarkX", Iterations: 100, Units: []string{"ns/op", "docs/s", "allocs/op"},
					Values: map[string]float64{"ns/op": 12345, "docs/s": 812.5, "allocs/op": 3}},
				{Pkg: "example.com/a", Name: "BenchmarkY/1KB", Iterations: 5, Units: []string{"ns/op"}, Values: map[string]float64{"ns/op": 7.5}},
				{Pkg: "example.com/b", Name: "BenchmarkX", Iterations: 1, Units: []string{"x-ref"}, Values: map[string]float64{"x-ref": 2}},
			}},
		},
		{
			name: "output between a name and its result",
			in: "pkg: p\nBenchmarkZ-2   \t2026/11/29 12:00:00 INFO something happened\nstarting: 3 workers\n" +
				"table BenchmarkZ: | t | RSS |\ntable BenchmarkZ: |---|---|\ntable BenchmarkZ: | 0s | 5.0 |\n" +
				"     10\t  99 ns/op\n",
			want: &Run{Config: map[string]string{}, Tables: map[string][]string{"BenchmarkZ": {"| t | RSS |", "|---|---|", "| 0s | 5.0 |"}}, Results: []Result{
				{Pkg: "p", Name: "BenchmarkZ", Iterations: 10, Units: []string{"ns/op"}, Values: map[string]float64{"ns/op": 99}},
			}},
		},
		{
			name: "logs, nested blocks, failures and skips",
			in: "pkg: p\nBenchmarkS-2 \t 1\t 5 peak-RSS-MB\n--- BENCH: BenchmarkS-2\n    soak_test.go:12: \n        | t | RSS |\n        | 0s | 5 |\n" +
				"    soak_test.go:14: done\n" +
				"BenchmarkP\n    --- BENCH: BenchmarkP/a-2\n        p_test.go:3: sub log\n" +
				"BenchmarkF-2   \t--- FAIL: BenchmarkF-2\n    f_test.go:9: the sinks delivered nothing\n        more detail\n" +
				"--- SKIP: BenchmarkK\n    k_test.go:1: needs wrk\n" +
				"FAIL\nFAIL\tp\t3.1s\nFAIL\tq [build failed]\nFAIL\tr\t0.5s\n" +
				"pkg: t\nBenchmarkT/x-2 \tpanic: boom\n\ngoroutine 1 [running]:\nFAIL\tt\t1.0s\n" +
				"pkg: u\nBenchmarkU/fixed-10-2 \t 3\t 1 ns/op\n--- FAIL: BenchmarkU/fixed-1000\n    u_test.go:1: gave up\n--- FAIL: BenchmarkU\n",
			want: &Run{Config: map[string]string{}, Tables: map[string][]string{}, Results: []Result{
				{Pkg: "p", Name: "BenchmarkS", Iterations: 1, Units: []string{"peak-RSS-MB"}, Values: map[string]float64{"peak-RSS-MB": 5},
					Log: []string{"", "| t | RSS |", "| 0s | 5 |", "done"}},
				{Pkg: "p", Name: "BenchmarkP/a", Values: map[string]float64{}, Log: []string{"sub log"}},
				{Pkg: "u", Name: "BenchmarkU/fixed-10", Iterations: 3, Units: []string{"ns/op"}, Values: map[string]float64{"ns/op": 1}},
			},
				Failed: []Problem{
					{Pkg: "p", Name: "BenchmarkF", Message: "the sinks delivered nothing", messages: []string{"the sinks delivered nothing", "more detail"}},
					{Pkg: "q", Message: "[build failed]"},
					{Pkg: "r"},
					{Pkg: "t", Name: "BenchmarkT/x", Message: "panic: boom"},
					{Pkg: "u", Name: "BenchmarkU/fixed-1000", Message: "gave up", messages: []string{"gave up"}},
					{Pkg: "u", Name: "BenchmarkU"},
				},
				Skipped: []Problem{{Pkg: "p", Name: "BenchmarkK", Message: "needs wrk", messages: []string{"needs wrk"}}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.in), "bench.out")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"pkg: p\nBenchmarkX-2 \t 10\t abc ns/op\n", `bench.out:2: BenchmarkX: metric "abc" "ns/op": not a number`},
		{"\n\nBenchmarkX-2 \t 10\t 1 ns/op\t 2 ns/op\n", `bench.out:3: BenchmarkX: metric "ns/op" reported twice`},
		{"BenchmarkX-2 \t 99999999999999999999\t 1 ns/op\n", `bench.out:1: BenchmarkX: iterations "99999999999999999999"`},
		{"BenchmarkX\n     10\t 1e999x ns/op\n", `bench.out:2: BenchmarkX: metric "1e999x" "ns/op": not a number`},
	} {
		_, err := Parse(strings.NewReader(tc.in), "bench.out")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error starting %q", tc.in, err, tc.want)
		}
	}
}

// The section rendered from a whole run (testdata/bench.out, output of
// make bench) matches testdata/section.golden.md; -update rewrites it.
func TestRenderGolden(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "bench.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run, err := Parse(f, "bench.out")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Render(run, rows)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "section.golden.md")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("section differs from %s (go test -run TestRenderGolden -update to accept):\n%s", golden, got)
	}
}

func TestRenderRows(t *testing.T) {
	run := &Run{Config: map[string]string{"cpu": "C", "cores": "2", "go": "go version go1.26.8 linux/amd64", "date": "2026-11-29", "commit": "abc"},
		Failed: []Problem{{Pkg: "m/a", Name: "BenchmarkF/x", Message: "gave up"}, {Pkg: "m/a", Name: "BenchmarkF"}, {Pkg: "m/c"}},
		Results: []Result{
			{Pkg: "m/a", Name: "BenchmarkEnc/1KB", Units: []string{"docs/s", "x-ref"}, Values: map[string]float64{"docs/s": 300000, "x-ref": 1.5}},
			{Pkg: "m/a", Name: "BenchmarkSink", Units: []string{"docs/s", "limit-docs/s", "%limit"}, Values: map[string]float64{"docs/s": 1880, "limit-docs/s": 2825, "%limit": 66.5}},
			{Pkg: "m/a", Name: "BenchmarkPipe", Units: []string{"records/s"}, Values: map[string]float64{"records/s": 900}},
			{Pkg: "m/a", Name: "BenchmarkRaw", Units: []string{"records/s"}, Values: map[string]float64{"records/s": 1200}},
			{Pkg: "m/a", Name: "BenchmarkMem", Units: []string{"peak-RSS-MB"}, Values: map[string]float64{"peak-RSS-MB": 120.4}},
			{Pkg: "m/a", Name: "BenchmarkBatch/x/fixed-10", Units: []string{"docs/s"}, Values: map[string]float64{"docs/s": 50}},
			{Pkg: "m/a", Name: "BenchmarkBatch/x/fixed-100", Units: []string{"docs/s"}, Values: map[string]float64{"docs/s": 80}},
			{Pkg: "m/a", Name: "BenchmarkBatch/x/adaptive", Units: []string{"docs/s", "batch"}, Values: map[string]float64{"docs/s": 76, "batch": 120}},
			{Pkg: "m/b", Name: "BenchmarkBatch/x/fixed-1000", Units: []string{"docs/s"}, Values: map[string]float64{"docs/s": 900}},
			{Pkg: "m/a", Name: "BenchmarkOther", Units: []string{"ns/op", "B/op"}, Values: map[string]float64{"ns/op": 1234567.8, "B/op": 0.5}},
		}}
	rows := []Row{
		{Group: "G", Title: "enc $1", Pkg: "a", Bench: `^BenchmarkEnc/(.+)$`, Figure: "docs/s", Ratio: "x-ref", Limit: Limit{Label: "ref", FromRatio: true}},
		{Group: "G", Title: "sink", Pkg: "a", Bench: `^BenchmarkSink$`, Figure: "docs/s", Ratio: "%limit", Goal: 85, Limit: Limit{Label: "raw", Units: []string{"limit-docs/s"}}},
		{Group: "G", Title: "pipe", Pkg: "a", Bench: `^BenchmarkPipe$`, Figure: "records/s", Goal: 50, Limit: Limit{Label: "raw", Bench: "BenchmarkRaw", Units: []string{"records/s"}}},
		{Group: "G", Title: "mem", Pkg: "a", Bench: `^BenchmarkMem$`, Figure: "peak-RSS-MB", Goal: 100, Lower: true, Limit: Limit{Label: "bound", Const: 100, ConstUnit: "MB"}},
		{Group: "G", Title: "$1 fixed $2", Pkg: "a", Bench: `^BenchmarkBatch/(.+)/fixed-(\d+)$`, Figure: "docs/s"},
		{Group: "G", Title: "$1 adaptive", Pkg: "a", Bench: `^BenchmarkBatch/(.+)/adaptive$`, Figure: "docs/s",
			Limit: Limit{Label: "best", Bench: `^BenchmarkBatch/$1/fixed-\d+$`, Units: []string{"docs/s"}}},
		{Group: "G", Title: "gone $1", Pkg: "a", Bench: `^BenchmarkGone/(.+)$`, Figure: "docs/s"},
	}
	got, err := Render(run, rows)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"C, 2 cores, go1.26.8 linux/amd64, 2026-11-29, commit `abc`",
		"| G | enc 1KB | 300,000 docs/s | 200,000 docs/s (ref) | 1.50× | – |",
		"| G | sink | 1,880 docs/s | 2,825 docs/s (raw) | 67% | ≥ 85%: **not met** |",
		"| G | pipe | 900 records/s | 1,200 records/s (raw) | 75% | ≥ 50%: met |",
		"| G | mem | 120 MB | 100 MB (bound) | 120% | ≤ 100%: **not met** |",
		"| G | x fixed 10 | 50.0 docs/s | – | – | – |",
		"| G | x fixed 100 | 80.0 docs/s | – | – | – |",
		"| G | x adaptive | 76.0 docs/s | 80.0 docs/s (best) | 95% | – |",
		"| m/b | `BenchmarkBatch/x/fixed-1000` | 900 docs/s |",
		"Not in this run: G: gone … (`^BenchmarkGone/(.+)$` in a).",
		"Failed in this run:\n- `BenchmarkF/x` in `m/a`: gave up\n- package `m/c`\n",
		"| m/a | `BenchmarkOther` | 1,234,568 ns/op, 0.50 B/op |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "`BenchmarkSink`") || strings.Contains(got, "`BenchmarkRaw`") {
		t.Errorf("a result used by a row is listed again among the others:\n%s", got)
	}
}

func TestRenderErrors(t *testing.T) {
	run := &Run{Config: map[string]string{}, Results: []Result{
		{Pkg: "m/a", Name: "BenchmarkEnc", Units: []string{"docs/s"}, Values: map[string]float64{"docs/s": 3}},
	}}
	for _, tc := range []struct {
		row  Row
		want string
	}{
		{Row{Title: "t", Pkg: "a", Bench: `^BenchmarkEnc$`, Figure: "docs/s", Ratio: "x-ref", Limit: Limit{FromRatio: true}}, "m/a BenchmarkEnc: no x-ref to derive the limit from"},
		{Row{Title: "t", Pkg: "a", Bench: `^BenchmarkEnc$`, Figure: "docs/s", Limit: Limit{Units: []string{"limit-docs/s"}}}, "m/a BenchmarkEnc: reports none of limit-docs/s"},
		{Row{Title: "t", Pkg: "a", Bench: `^Benchmark(Enc$`, Figure: "docs/s"}, `row "t": error parsing regexp`},
	} {
		_, err := Render(run, []Row{tc.row})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Render with %+v = %v, want an error starting %q", tc.row, err, tc.want)
		}
	}
}

func TestUpdate(t *testing.T) {
	for _, tc := range []struct{ readme, want, err string }{
		{readme: "# T\n\n<!-- bench:start -->\nold\nfigures\n<!-- bench:end -->\n\nafter\n", want: "# T\n\n<!-- bench:start -->\nnew\n<!-- bench:end -->\n\nafter\n"},
		{readme: "# T\n<!-- bench:start --><!-- bench:end -->", want: "# T\n<!-- bench:start -->\nnew\n<!-- bench:end -->"},
		{readme: "# T\n<!-- bench:end -->\n", err: "no <!-- bench:start --> marker"},
		{readme: "# T\n<!-- bench:start -->\n", err: "no <!-- bench:end --> marker"},
		{readme: "<!-- bench:end --> <!-- bench:start -->", err: "<!-- bench:end --> comes before <!-- bench:start -->"},
		{readme: "<!-- bench:start --> <!-- bench:end --> <!-- bench:start --> <!-- bench:end -->", err: "the markers appear more than once"},
	} {
		got, err := Update(tc.readme, "new\n")
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Update(%q) error %v, want %q", tc.readme, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Update(%q) = %q, %v; want %q", tc.readme, got, err, tc.want)
		}
	}
}

// The command writes the section into a README between its markers,
// prints it, and leaves the rest of the README as it was.
func TestRunCommand(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte("# R\n\n## Performance\n\n<!-- bench:start -->\nstale\n<!-- bench:end -->\n\n## Next\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"-in", filepath.Join("testdata", "bench.out"), "-readme", readme}, &out); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "section.golden.md"))
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("printed section differs from the golden file:\n%s", out.String())
	}
	got, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	if wantReadme := "# R\n\n## Performance\n\n<!-- bench:start -->\n" + string(want) + "<!-- bench:end -->\n\n## Next\n"; string(got) != wantReadme {
		t.Errorf("README:\n%s\nwant:\n%s", got, wantReadme)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-in", filepath.Join(dir, "missing.out")}, "missing.out: no such file"},
		{[]string{"-in", filepath.Join("testdata", "bench.out"), "-readme", filepath.Join(dir, "none.md")}, "none.md: no such file"},
		{[]string{"extra"}, `unexpected arguments ["extra"]`},
	} {
		if err := run(tc.args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// Parse never panics, and its errors name the file and line.
func FuzzParse(f *testing.F) {
	if seed, err := os.ReadFile(filepath.Join("testdata", "bench.out")); err == nil {
		f.Add(string(seed))
	}
	f.Add("pkg: p\nBenchmarkX-2 \t 10\t 1 ns/op\n--- BENCH: BenchmarkX-2\n    x.go:1: | a |\n")
	f.Add("BenchmarkX\n   3 \t 1 ns/op 2\n--- FAIL: BenchmarkX\nFAIL\tp\n")
	f.Fuzz(func(t *testing.T, in string) {
		run, err := Parse(strings.NewReader(in), "fuzz.out")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.out") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		_, _ = Render(run, rows)
	})
}
