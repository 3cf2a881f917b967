package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
)

// ballast writes a lungo file holding mb megabytes in shop.ballast.
// lungo's file store rewrites the whole file on every write, so each of
// the sink's bulk writes into it takes hundreds of milliseconds: a real
// slow MongoDB target.
func ballast(t *testing.T, path string, mb int) {
	t.Helper()
	ctx := context.Background()
	// A short oplog, so the seed's inserts are not kept in it too.
	client, engine, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewFileStore(path, 0o644),
		MinOplogSize: 1, MaxOplogSize: 1, MinOplogAge: time.Nanosecond, MaxOplogAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	pad := strings.Repeat("x", 1<<20)
	docs := make([]any, mb)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: pad}}
	}
	if _, err := client.Database("shop").Collection("ballast").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
}

// logLine is one line of schemaflow's JSON log.
type logLine map[string]any

// jsonLines parses the JSON lines of out whose msg starts with prefix.
func jsonLines(out, prefix string) []logLine {
	var lines []logLine
	for _, l := range strings.Split(out, "\n") {
		var m logLine
		if json.Unmarshal([]byte(l), &m) == nil {
			if msg, _ := m["msg"].(string); strings.HasPrefix(msg, prefix) {
				lines = append(lines, m)
			}
		}
	}
	return lines
}

var readAgain = regexp.MustCompile(`^orders/0 from (\d+) \((\d+) records\)$`)

// schemaflow run, the real binary in a child process, sinks into a slow
// MongoDB target (lungo:PATH over a large file) and gets SIGTERM while a
// bulk write runs — after the slow_write warning said so. It exits 0
// within --shutdown-timeout, and its stop line is true: the offsets it
// says were committed are the consumer group's, and the batch it says
// will be read again starts at the group's offset. With time to spare
// (30s), the batch in hand is committed; with 3s, the drain (1.65s) may
// run out first, and the batch is read again.
func TestRunSIGTERMDuringASlowWrite(t *testing.T) {
	t.Parallel()
	seed := filepath.Join(t.TempDir(), "seed.lungo")
	ballast(t, seed, 3)
	seeded, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		timeout   time.Duration
		committed bool // the batch in hand must be committed; else either
	}{
		{"time to spare", 30 * time.Second, true},
		{"short timeout", 3 * time.Second, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kafka, reg := kafkaAndRegistry(t, "orders")
			cl, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			const records = 400
			recs := make([]*kgo.Record, records)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: "orders", Key: []byte(fmt.Sprintf("order-%d", i)), Value: []byte(fmt.Sprintf(`{"_id": %d, "n": %d}`, i, i*i))}
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}

			dir := t.TempDir()
			storeFile := filepath.Join(dir, "mongodb.lungo")
			if err := os.WriteFile(storeFile, seeded, 0o644); err != nil {
				t.Fatal(err)
			}
			spec := writeFile(t, dir, "slow.yaml", `version: 1
kafka: {brokers: ["${BROKERS}"]}
registry: {url: "${REGISTRY}"}
mongodb: {uri: "lungo:`+storeFile+`", database: shop}
pipelines:
  - name: slow
    sink: {topics: [orders], id_strategy: value, max_batch: 40, adaptive_batch: false, max_wait: 5ms, slow_write: 20ms}
`)
			args := []string{"run", "-f", spec, "--http-addr", freeAddr(t), "--log-format", "json", "--shutdown-timeout", tt.timeout.String()}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "SCHEMAFLOW_AS_MAIN=1", "SCHEMAFLOW_ARGS="+strings.Join(args, " "),
				"BROKERS="+kafka.ListenAddrs()[0], "REGISTRY="+reg.URL,
				"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			out := &syncBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })

			// The second slow write: the first batch is committed, the
			// second is being written.
			deadline := time.Now().Add(60 * time.Second)
			for len(jsonLines(out.String(), "mongosink: slow write: a bulk write is still running")) < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("no second slow write warning; output:\n%s", out)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled := time.Now()
			warning := jsonLines(out.String(), "mongosink: slow write: a bulk write is still running")[1]
			if warning["namespace"] != "shop.orders" || warning["records"] != float64(40) || warning["elapsed"] == nil {
				t.Errorf("the warning: %v", warning)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if errors.As(err, &exit) || err != nil {
					t.Fatalf("exited with %v after SIGTERM; output:\n%s", err, out)
				}
			case <-time.After(tt.timeout + 30*time.Second):
				t.Fatalf("no exit within %s of SIGTERM; output:\n%s", tt.timeout+30*time.Second, out)
			}
			// Within the timeout; the slack covers the signal's delivery
			// and the process's teardown, which the daemon cannot time.
			exited := time.Since(signalled)
			// The daemon's last word comes within the timeout; the exit
			// adds the process's teardown, which the daemon cannot time
			// (longer under -race, whose runtime finishes its reports).
			var last time.Time
			for _, l := range jsonLines(out.String(), "") {
				if at, err := time.Parse(time.RFC3339Nano, l["time"].(string)); err == nil && at.After(last) {
					last = at
				}
			}
			if last.Sub(signalled) > tt.timeout {
				t.Errorf("the last log line came %s after SIGTERM, past --shutdown-timeout %s; output:\n%s", last.Sub(signalled), tt.timeout, out)
			}
			teardown := 100 * time.Millisecond
			if raceDetector {
				teardown = time.Second
			}
			if exited > tt.timeout+teardown {
				t.Fatalf("exited %s after SIGTERM, past --shutdown-timeout %s; output:\n%s", exited, tt.timeout, out)
			}
			t.Logf("exited %s after SIGTERM (--shutdown-timeout %s), the last log line at %s", exited.Round(time.Millisecond), tt.timeout, last.Sub(signalled).Round(time.Millisecond))
			if len(jsonLines(out.String(), "schemaflow: stopping")) != 1 || jsonLines(out.String(), "schemaflow: stopping")[0]["timeout"] != tt.timeout.String() {
				t.Errorf("no stopping line with timeout=%s; output:\n%s", tt.timeout, out)
			}

			stops := jsonLines(out.String(), "mongosink: stopped")
			if len(stops) != 1 {
				t.Fatalf("%d stop lines, want 1; output:\n%s", len(stops), out)
			}
			line := stops[0]
			offsets, err := kadm.NewClient(cl).FetchOffsets(context.Background(), "schemaflow-slow")
			if err != nil {
				t.Fatal(err)
			}
			group := int64(0)
			if o, ok := offsets.Lookup("orders", 0); ok && o.Err == nil && o.At >= 0 {
				group = o.At
			}
			if want := fmt.Sprintf("orders/0=%d", group); line["committed"] != want {
				t.Errorf("the log says %v committed, the group holds %s", line["committed"], want)
			}
			if int64(line["records_committed"].(float64)) != group {
				t.Errorf("the log says %v records committed, the group's offset is %d", line["records_committed"], group)
			}
			again, _ := line["read_again"].(string)
			switch m := readAgain.FindStringSubmatch(again); {
			case again == "none":
				t.Logf("the batch in hand was committed: %v", line["committed"])
			case tt.committed:
				t.Fatalf("with %s to stop, the batch was not committed: %v", tt.timeout, line)
			case m == nil:
				t.Fatalf("read_again %q", again)
			default:
				from, _ := strconv.ParseInt(m[1], 10, 64)
				if from != group {
					t.Errorf("the log says the next run reads again from %d, the group holds %d", from, group)
				}
				t.Logf("the drain ran out: %s will be read again", again)
			}

			// Every committed record is in the collection.
			docs, _ := collectionDocs(t, storeFile, "shop", "orders")
			have := map[string]bool{}
			for _, d := range docs {
				have[fmt.Sprint(d[0].Value)] = true
			}
			for i := range group {
				if !have[strconv.FormatInt(i, 10)] {
					t.Fatalf("record %d is committed but not in shop.orders (%d documents)", i, len(docs))
				}
			}
		})
	}
}
