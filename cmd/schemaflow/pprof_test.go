package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/versioncmd"
)

// schemaflow run serves Go's runtime profiles on --http-addr only with
// --pprof.
func TestRunPprof(t *testing.T) {
	t.Parallel()
	kafka, reg := kafkaAndRegistry(t, "orders")
	dir := t.TempDir()
	spec := writeFile(t, dir, "sink.yaml", fmt.Sprintf(`version: 1
kafka: {brokers: [%q]}
registry: {url: %q}
mongodb: {uri: "lungo:memory", database: shop}
pipelines:
  - name: orders-in
    mongodb: {collection: orders}
    sink: {topics: [orders]}
`, kafka.ListenAddrs()[0], reg.URL))
	for _, profiles := range []bool{false, true} {
		addr := freeAddr(t)
		args := []string{"run", "-f", spec, "--http-addr", addr, "--log-format", "json"}
		if profiles {
			args = append(args, "--pprof")
		}
		var out, errOut syncBuffer
		env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }, Dir: dir}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() { done <- cli.Main(ctx, Root(versioncmd.Info{}), args, env) }()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(errOut.String(), "serving /metrics") && time.Now().Before(deadline) {
			select {
			case code := <-done:
				t.Fatalf("run exited %d: %s", code, errOut.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		base := "http://" + addr
		code, body := authGet(t, base+"/debug/pprof/heap?debug=1", "", "")
		if profiles && (code != 200 || !strings.Contains(body, "heap profile:")) {
			t.Errorf("--pprof: heap profile %d %.100q", code, body)
		}
		if !profiles && code != 404 {
			t.Errorf("without --pprof: /debug/pprof/heap answered %d", code)
		}
		if profiles != strings.Contains(errOut.String(), "serving Go's runtime profiles") {
			t.Errorf("pprof=%v: the log line about profiles: %s", profiles, errOut.String())
		}
		if code, _ := authGet(t, base+"/metrics", "", ""); code != 200 {
			t.Errorf("pprof=%v: /metrics answered %d", profiles, code)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("run exited %d: %s", code, errOut.String())
		}
	}
}
