package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Run is one `make bench` output: the configuration lines, the results,
// and what failed or was skipped.
type Run struct {
	// Config holds the first value of each configuration line: go
	// test's goos, goarch and cpu, and the date, go, cores and commit
	// lines make bench writes first.
	Config map[string]string
	// Results are the benchmark lines, in output order.
	Results []Result
	// Failed are benchmarks (--- FAIL) and packages (FAIL pkg) that
	// failed, with their first message line.
	Failed []Problem
	// Skipped are benchmarks that skipped (--- SKIP), with the reason.
	Skipped []Problem
	// Tables are the lines a benchmark printed as "table NAME: LINE"
	// (Markdown table rows), by benchmark name: go test keeps only ten
	// lines of a benchmark's log, so longer tables go to stdout.
	Tables map[string][]string
}

// Result is one benchmark line.
type Result struct {
	// Pkg is the import path of the "pkg:" line before it.
	Pkg string
	// Name is the benchmark's name without the -GOMAXPROCS suffix,
	// sub-benchmarks included: BenchmarkCompareEncode/1KB.
	Name string
	// Iterations is b.N of the reported run.
	Iterations int64
	// Units are the metrics' units in output order; Values by unit.
	Units  []string
	Values map[string]float64
	// Log is what the benchmark logged (its --- BENCH block), one line
	// each, without the file:line prefix or indentation.
	Log []string
}

// Value is the metric of unit and whether it was reported.
func (r Result) Value(unit string) (float64, bool) {
	v, ok := r.Values[unit]
	return v, ok
}

// Problem is a failed or skipped benchmark or package.
type Problem struct {
	// Pkg is the import path; Name the benchmark, "" for a package.
	Pkg, Name string
	// Message is the first line the benchmark logged, or the package's
	// FAIL line.
	Message string
	// messages are the lines logged below the --- line.
	messages []string
}

// settle takes the first logged line as the message.
func (p *Problem) settle() {
	if p.Message == "" && len(p.messages) > 0 {
		p.Message = p.messages[0]
	}
}

// configKeys are the configuration lines read: go test's and make
// bench's. Other "key: value" lines are a benchmark's own output.
var configKeys = map[string]bool{"pkg": true, "goos": true, "goarch": true, "cpu": true, "date": true, "go": true, "cores": true, "commit": true}

var (
	configLine = regexp.MustCompile(`^([a-z][a-zA-Z0-9_-]*): (.*)$`)
	// benchName is a benchmark line's name and what follows it.
	benchName = regexp.MustCompile(`^(Benchmark\S*?)(?:-(\d+))?(\s.*)?$`)
	// counts is a result line's iterations and metrics, on the name's line
	// or on its own when the benchmark printed output before its result.
	counts    = regexp.MustCompile(`^\s*(\d+)((?:\s+\S+\s+\S+)+)\s*$`)
	blockLine = regexp.MustCompile(`^\s*--- (BENCH|FAIL|SKIP): (Benchmark\S*?)(?:-(\d+))?(?: \(.*\))?\s*$`)
	pkgStatus = regexp.MustCompile(`^(ok|FAIL)\s+(\S+)`)
	duration  = regexp.MustCompile(`^[0-9.]+s$`)
	tableLine = regexp.MustCompile(`^table (Benchmark[^\s:]*): (.*)$`)
	// logPrefix is the file:line a log line starts with.
	logPrefix = regexp.MustCompile(`^\S+\.go:\d+: ?`)
)

// Parse reads `go test -bench` output. Lines it does not know (test logs,
// build output) are left alone; a benchmark line whose metrics cannot be
// read is an error naming its line.
func Parse(r io.Reader, name string) (*Run, error) {
	run := &Run{Config: map[string]string{}, Tables: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	// pending is a benchmark named without a result yet, pendingRest
	// what followed its name on that line.
	var pkg, pending, pendingRest string
	// procs is the -GOMAXPROCS suffix of the result lines: --- lines
	// carry it after a result and not after a failure.
	var procs string
	// block is the result or problem the indented lines below a
	// --- line belong to; blockIndent is that line's indentation.
	var block *[]string
	blockIndent := -1
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		m := blockLine.FindStringSubmatch(line)
		if i := strings.Index(line, "--- "); m == nil && i > 0 && strings.HasPrefix(line, "Benchmark") {
			// A failed or skipped benchmark's name, then its --- line.
			if m = blockLine.FindStringSubmatch(line[i:]); m != nil {
				indent = 0
			}
		}
		if m == nil && block != nil && indent > blockIndent && strings.TrimSpace(line) != "" {
			text := logPrefix.ReplaceAllString(strings.TrimSpace(line), "")
			*block = append(*block, text)
			continue
		}
		block, blockIndent = nil, -1
		if m != nil {
			pending = ""
			benchPkg := pkg
			if m[3] != "" && m[3] != procs {
				// Not the -GOMAXPROCS suffix: part of the name, as in a
				// failed sub-benchmark's fixed-1000.
				m[2] += "-" + m[3]
			}
			switch m[1] {
			case "BENCH":
				if i := run.find(benchPkg, m[2]); i >= 0 {
					block = &run.Results[i].Log
				} else {
					run.Results = append(run.Results, Result{Pkg: benchPkg, Name: m[2], Values: map[string]float64{}})
					block = &run.Results[len(run.Results)-1].Log
				}
			case "FAIL":
				run.Failed = append(run.Failed, Problem{Pkg: benchPkg, Name: m[2]})
				block = &run.Failed[len(run.Failed)-1].messages
			case "SKIP":
				run.Skipped = append(run.Skipped, Problem{Pkg: benchPkg, Name: m[2]})
				block = &run.Skipped[len(run.Skipped)-1].messages
			}
			blockIndent = indent
			continue
		}
		if t := tableLine.FindStringSubmatch(line); t != nil {
			run.Tables[t[1]] = append(run.Tables[t[1]], t[2])
			continue
		}
		if indent == 0 {
			if m := configLine.FindStringSubmatch(line); m != nil && configKeys[m[1]] {
				if m[1] == "pkg" {
					pkg, pending = m[2], ""
				} else if _, seen := run.Config[m[1]]; !seen {
					run.Config[m[1]] = strings.TrimSpace(m[2])
				}
				continue
			}
			if m := pkgStatus.FindStringSubmatch(line); m != nil {
				switch {
				case m[1] == "FAIL" && pending != "":
					// The package stopped in a benchmark that printed no
					// result: a panic, a timeout, a signal.
					msg := strings.TrimSpace(pendingRest)
					if msg == "" {
						msg = "no result"
					}
					run.Failed = append(run.Failed, Problem{Pkg: m[2], Name: pending, Message: msg})
				case m[1] == "FAIL" && !run.failed(m[2]):
					// The package failed without a failed benchmark: a
					// build failure, a failure outside benchmarks.
					msg := strings.TrimSpace(strings.TrimPrefix(line, m[0]))
					if duration.MatchString(msg) {
						msg = ""
					}
					run.Failed = append(run.Failed, Problem{Pkg: m[2], Message: msg})
				}
				pending = ""
				continue
			}
		}
		if m := benchName.FindStringSubmatch(line); m != nil && indent == 0 {
			rest := m[3]
			if c := counts.FindStringSubmatch(rest); c != nil {
				procs = m[2]
				res, err := result(pkg, m[1], c)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %s: %w", name, n, m[1], err)
				}
				run.Results = append(run.Results, res)
				pending = ""
			} else {
				// A name alone: sub-benchmarks follow, or the benchmark
				// printed output before its result.
				pending, pendingRest = m[1], rest
			}
			continue
		}
		if pending != "" {
			if c := counts.FindStringSubmatch(line); c != nil {
				res, err := result(pkg, pending, c)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %s: %w", name, n, pending, err)
				}
				run.Results = append(run.Results, res)
				pending = ""
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i := range run.Failed {
		run.Failed[i].settle()
	}
	for i := range run.Skipped {
		run.Skipped[i].settle()
	}
	return run, nil
}

// result reads a result line's iterations and value-unit pairs.
func result(pkg, name string, c []string) (Result, error) {
	iters, err := strconv.ParseInt(c[1], 10, 64)
	if err != nil {
		return Result{}, fmt.Errorf("iterations %q: %w", c[1], err)
	}
	res := Result{Pkg: pkg, Name: name, Iterations: iters, Values: map[string]float64{}}
	fields := strings.Fields(c[2])
	for i := 0; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return Result{}, fmt.Errorf("metric %q %q: not a number", fields[i], fields[i+1])
		}
		unit := fields[i+1]
		if _, dup := res.Values[unit]; dup {
			return Result{}, fmt.Errorf("metric %q reported twice", unit)
		}
		res.Units = append(res.Units, unit)
		res.Values[unit] = v
	}
	return res, nil
}

func (run *Run) find(pkg, name string) int {
	for i := len(run.Results) - 1; i >= 0; i-- {
		if run.Results[i].Pkg == pkg && run.Results[i].Name == name {
			return i
		}
	}
	return -1
}

func (run *Run) failed(pkg string) bool {
	for _, f := range run.Failed {
		if f.Pkg == pkg {
			return true
		}
	}
	return false
}
