package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/versioncmd"
)

// runForMemoryLimit runs `schemaflow run` in process with args on a
// one-sink spec until it logs its memory limit, reads the runtime's limit
// then, stops it, and returns that limit, the limit after the exit and
// the log.
func runForMemoryLimit(t *testing.T, args ...string) (during, after int64, log string) {
	t.Helper()
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	dir := t.TempDir()
	spec := writeFile(t, dir, "events.yaml", `version: 1
kafka: {brokers: ["`+kafka.ListenAddrs()[0]+`"]}
mongodb: {uri: "lungo:`+filepath.Join(dir, "mongo.lungo")+`", database: analytics}
pipelines:
  - name: events-in
    mongodb: {collection: events}
    sink: {topics: [events], plain_json: true, id_strategy: value}
`)
	var out, errOut syncBuffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Dir: "../..", Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, Root(versioncmd.Info{}), append([]string{"run", "-f", spec, "--http-addr", "", "--log-format", "json"}, args...), env)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(errOut.String(), `"msg":"memory limit"`) {
		select {
		case code := <-done:
			t.Fatalf("run exited %d before logging its memory limit:\n%s", code, errOut.String())
		case <-deadline:
			t.Fatalf("no memory limit logged within 30s:\n%s", errOut.String())
		case <-tick.C:
		}
	}
	during = debug.SetMemoryLimit(-1)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	return during, debug.SetMemoryLimit(-1), errOut.String()
}

// memoryLogged is the daemon's "memory limit" log line.
func memoryLogged(t *testing.T, log string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == "memory limit" {
			return entry
		}
	}
	t.Fatalf("no memory limit line in:\n%s", log)
	return nil
}

// In process, `run --memory-limit` sets the runtime's soft limit while the
// daemon runs, logs it, and puts the previous one back when it exits;
// without the flag, the limit this test binary set (TestMain, as a
// program embedding schemaflow would) stays.
func TestRunMemoryLimitFlag(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	for _, tc := range []struct {
		name  string
		args  []string
		want  int64
		from  string
		bytes float64
	}{
		{"flag", []string{"--memory-limit", "3GiB"}, 3 << 30, "--memory-limit", 3 << 30},
		{"no flag: the program's limit stays", nil, before, "program", float64(before)},
		{"off", []string{"--memory-limit", "off"}, before, "off", float64(before)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			during, after, log := runForMemoryLimit(t, tc.args...)
			if during != tc.want || after != before {
				t.Errorf("limit %d while running (want %d), %d after (want %d as before)", during, tc.want, after, before)
			}
			if e := memoryLogged(t, log); e["from"] != tc.from || e["bytes"] != tc.bytes {
				t.Errorf("logged %v, want from %q, bytes %.0f", e, tc.from, tc.bytes)
			}
		})
	}
	// A bad size is a usage error: exit 2, naming the flag.
	r := run(t, "", "run", "-f", "examples/quickstart.yaml", "--memory-limit", "lots")
	if r.code != 2 || !strings.Contains(r.stderr, `--memory-limit "lots"`) {
		t.Errorf("--memory-limit lots: exit %d, stderr %q; want 2 naming the flag", r.code, r.stderr)
	}
}

// GOMEMLIMIT in the environment wins over --memory-limit (Go's rule: the
// runtime took it at start): the limit is left as it is, and the log says
// so and that the flag was ignored. Not parallel: it sets the process's
// environment.
func TestRunMemoryLimitGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "900MiB")
	before := debug.SetMemoryLimit(-1)
	during, after, log := runForMemoryLimit(t, "--memory-limit", "3GiB")
	if during != before || after != before {
		t.Errorf("limit %d while running, %d after; want %d (left as it was)", during, after, before)
	}
	if e := memoryLogged(t, log); e["from"] != "GOMEMLIMIT" {
		t.Errorf("logged %v, want from GOMEMLIMIT", e)
	}
	if !strings.Contains(log, "--memory-limit is ignored: GOMEMLIMIT is set") {
		t.Errorf("no warning that the flag was ignored:\n%s", log)
	}
}
