package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/versioncmd"
)

// TestMain lets tests run this binary as schemaflow itself, in a child
// process that real signals can reach: SCHEMAFLOW_AS_MAIN=1 runs main.
func TestMain(m *testing.M) {
	if os.Getenv("SCHEMAFLOW_AS_MAIN") == "1" {
		os.Args = append([]string{"schemaflow"}, strings.Fields(os.Getenv("SCHEMAFLOW_ARGS"))...)
		main()
		return
	}
	// Tests run daemons in this process: a limit set here, as a program
	// embedding schemaflow sets its own, keeps theirs (tens of MiB) off
	// the whole test binary; 64 GiB is far above what it uses.
	debug.SetMemoryLimit(64 << 30)
	os.Exit(m.Run())
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// devProcess is schemaflow dev running in a child process.
type devProcess struct {
	cmd     *exec.Cmd
	metrics string
	out     *syncBuffer
	// demoDone is set once the demo generator logged that it made all
	// its writes.
	demoDone atomic.Bool
}

// startDev starts schemaflow dev in the repository's root.
func startDev(t *testing.T, data string, args ...string) *devProcess {
	t.Helper()
	return startDevIn(t, "../..", data, args...)
}

// startDevIn starts schemaflow dev in the directory dir.
func startDevIn(t *testing.T, dir, data string, args ...string) *devProcess {
	t.Helper()
	metrics := freeAddr(t)
	all := append([]string{"dev", "--data", data, "--kafka-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--mongodb-addr", "127.0.0.1:0",
		"--http-addr", metrics, "--progress", "0", "--log-format", "json"}, args...)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SCHEMAFLOW_AS_MAIN=1", "SCHEMAFLOW_ARGS="+strings.Join(all, " "))
	out := &syncBuffer{}
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, metrics: "http://" + metrics + "/metrics", out: out}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"level":"ERROR"`) || strings.Contains(sc.Text(), `"level":"WARN"`) {
				t.Log(sc.Text())
			}
			if strings.Contains(sc.Text(), `"msg":"demo generator finished"`) {
				p.demoDone.Store(true)
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

var sample = regexp.MustCompile(`(?m)^schemaflow_records_out_total\{kind="[^"]+",pipeline="([^"]+)"\} (\d+)$`)

// counts scrapes the records each pipeline delivered; nil if the daemon
// is not serving yet.
func (p *devProcess) counts() map[string]int64 {
	resp, err := http.Get(p.metrics)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]int64{}
	for _, m := range sample.FindAllStringSubmatch(string(body), -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		out[m[1]] = n
	}
	return out
}

// waitFor polls the metrics until ok holds, for up to three minutes: the
// file-backed engine writes about 30 times a second, far less on a busy
// machine.
func (p *devProcess) waitFor(t *testing.T, what string, ok func(map[string]int64) bool) map[string]int64 {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if c := p.counts(); c != nil && ok(c) {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last counts %v; output:\n%s", what, p.counts(), p.out)
	return nil
}

// ready reports whether every pipeline runs: the source elected and its
// change stream open, the sink hearing from its brokers.
func (p *devProcess) ready() bool {
	resp, err := http.Get(strings.TrimSuffix(p.metrics, "/metrics") + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// quiet waits until the counts stop moving with the sink caught up. The
// quiet second counts only once every pipeline is ready: a restarted
// source is still quiet while it waits for its election and opens its
// stream, before it replays what the last run left.
func (p *devProcess) quiet(t *testing.T) map[string]int64 {
	t.Helper()
	var last map[string]int64
	var since time.Time
	return p.waitFor(t, "the pipelines to go quiet", func(c map[string]int64) bool {
		// Unchanged for a whole second while ready, with the sink caught up.
		if last == nil || fmt.Sprint(last) != fmt.Sprint(c) || !p.ready() {
			last, since = c, time.Now()
			return false
		}
		return time.Since(since) >= time.Second && c["orders-to-mongodb"] >= c["orders-to-kafka"]
	})
}

// term sends SIGTERM and checks a clean exit.
func (p *devProcess) term(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("schemaflow dev exited with %v after SIGTERM; output:\n%s", err, p.out)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("schemaflow dev did not stop within 60s of SIGTERM")
	}
}

// collections reads shop.orders and shop.orders_copy from the stopped
// stack's MongoDB file.
func collections(t *testing.T, data string) (orders, copied []bson.D) {
	t.Helper()
	return collectionDocs(t, filepath.Join(data, "mongodb.lungo"), "shop", "orders", "orders_copy")
}

// collectionDocs reads the first two of the named collections of a
// lungo file, sorted by _id.
func collectionDocs(t *testing.T, file, db string, colls ...string) (first, second []bson.D) {
	t.Helper()
	ctx := context.Background()
	client, engine, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewFileStore(file, 0o644)})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	read := func(coll string) []bson.D {
		cur, err := client.Database(db).Collection(coll).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.D
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		return docs
	}
	first = read(colls[0])
	if len(colls) > 1 {
		second = read(colls[1])
	}
	return first, second
}

// sorted orders a document's fields by name, at every depth: a replica's
// fields come in its schema's order, which need not be the original's.
func sorted(v any) any {
	switch v := v.(type) {
	case bson.D:
		out := make(bson.D, len(v))
		for i, e := range v {
			out[i] = bson.E{Key: e.Key, Value: sorted(e.Value)}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		return out
	case bson.A:
		out := make(bson.A, len(v))
		for i, e := range v {
			out[i] = sorted(e)
		}
		return out
	}
	return v
}

func sameDocs(t *testing.T, orders, copied []bson.D) {
	t.Helper()
	for i := range orders {
		orders[i] = sorted(orders[i]).(bson.D)
	}
	for i := range copied {
		copied[i] = sorted(copied[i]).(bson.D)
	}
	a, _ := bson.MarshalExtJSON(bson.D{{Key: "d", Value: orders}}, true, false)
	b, _ := bson.MarshalExtJSON(bson.D{{Key: "d", Value: copied}}, true, false)
	if string(a) != string(b) {
		for i := range min(len(orders), len(copied)) {
			x, _ := bson.MarshalExtJSON(orders[i], false, false)
			y, _ := bson.MarshalExtJSON(copied[i], false, false)
			if string(x) != string(y) {
				t.Errorf("first difference:\n orders %s\n copy   %s", x, y)
				break
			}
		}
		t.Fatalf("shop.orders_copy differs from shop.orders:\n orders %d docs: %.600s\n copy   %d docs: %.600s", len(orders), a, len(copied), b)
	}
}

// The dev smoke test: schemaflow dev, as a real process, streams the
// demo's orders to Kafka and back into a second collection; SIGTERM stops
// it cleanly (exit 0); a second run on the same data continues, is
// stopped by SIGTERM mid-stream, and a third run catches up: the copy
// equals the original, nothing lost across the restarts.
func TestDevEndToEndAcrossSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts schemaflow dev three times")
	}
	t.Parallel()
	data := t.TempDir()

	first := startDev(t, data, "--demo-rate", "400", "--demo-writes", "300")
	c := first.waitFor(t, "records end to end", func(c map[string]int64) bool { return c["orders-to-mongodb"] >= 100 })
	t.Logf("first run, mid-stream: %v", c)
	// Outside clients use the printed endpoints while it runs.
	regURL, brokers := first.endpoint(t, "Registry:"), first.endpoint(t, "Kafka:")
	resp, err := http.Get(regURL + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	subjects, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(subjects)) != `["shop.orders-key","shop.orders-value"]` {
		t.Errorf("registry subjects %s", subjects)
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics("shop.orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	fetchCtx, cancelFetch := context.WithTimeout(context.Background(), 30*time.Second)
	fetches := kc.PollFetches(fetchCtx)
	cancelFetch()
	kc.Close()
	if fetches.NumRecords() == 0 || len(fetches.Records()[0].Value) < 6 || fetches.Records()[0].Value[0] != 0 {
		t.Errorf("no framed records read from %s: %v", brokers, fetches.Errors())
	}
	// The demo's writes take a while on the file store: quiet means
	// nothing once they are all made.
	first.waitFor(t, "the demo's 300 writes", func(map[string]int64) bool { return first.demoDone.Load() })
	c = first.quiet(t)
	first.term(t)
	orders, copied := collections(t, data)
	if len(orders) < 100 {
		t.Fatalf("only %d orders after 300 demo writes", len(orders))
	}
	sameDocs(t, orders, copied)
	t.Logf("first run: %v, %d orders copied", c, len(orders))

	// Stopped while records flow: what was read is delivered and
	// committed, or read again on the next run.
	second := startDev(t, data, "--demo-rate", "400", "--demo-writes", "400")
	second.waitFor(t, "the second run to stream", func(c map[string]int64) bool { return c["orders-to-kafka"] >= 50 })
	second.term(t)

	third := startDev(t, data, "--demo-rate", "0")
	c = third.quiet(t)
	third.term(t)
	orders2, copied2 := collections(t, data)
	sameDocs(t, orders2, copied2)
	if len(orders2) == 0 || fmt.Sprint(orders2[len(orders2)-1][0].Value) == fmt.Sprint(orders[len(orders)-1][0].Value) {
		t.Fatalf("the second run wrote no new orders")
	}
	t.Logf("third run caught up: %v; %d orders, last _id %v", c, len(orders2), orders2[len(orders2)-1][0].Value)
}

// dev runs its quickstart from any directory, as after go install: the
// spec is built into the binary. In an empty directory it streams the
// demo's orders to Kafka and back into MongoDB, and keeps its data there.
func TestDevFromEmptyDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startDevIn(t, dir, "data", "--demo-rate", "200", "--demo-writes", "50")
	p.waitFor(t, "records through both pipelines", func(c map[string]int64) bool {
		return c["orders-to-kafka"] > 0 && c["orders-to-mongodb"] > 0
	})
	p.term(t)
	if !strings.Contains(p.out.String(), "Specs:    examples/quickstart.yaml (embedded)") {
		t.Errorf("the banner does not name the embedded quickstart:\n%s", p.out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "mongodb.lungo")); err != nil {
		t.Errorf("no data under the working directory: %v", err)
	}
	orders, copied := collections(t, filepath.Join(dir, "data"))
	if len(orders) == 0 || len(copied) == 0 {
		t.Errorf("%d orders, %d copied", len(orders), len(copied))
	}
}

// syncBuffer is the child's standard output, read while it is written.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// endpoint reads an address the dev command printed, e.g. "Kafka:".
func (p *devProcess) endpoint(t *testing.T, label string) string {
	t.Helper()
	for _, line := range strings.Split(p.out.String(), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), label); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no %s line in:\n%s", label, p.out)
	return ""
}

// dev -f runs your specs on the embedded stack, with its endpoints in
// ${SCHEMAFLOW_*}, and no demo generator.
func TestDevOwnSpec(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := writeFile(t, dir, "mine.yaml", `version: 1
kafka: {brokers: ["${SCHEMAFLOW_KAFKA}"]}
registry: {url: "${SCHEMAFLOW_REGISTRY}"}
mongodb: {uri: "${SCHEMAFLOW_MONGODB}", database: app}
pipelines:
  - name: users-out
    mongodb: {collection: users}
    source: {topic: app.users}
`)
	var out, errOut syncBuffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }, Dir: "../.."}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, Root(versioncmd.Info{}), []string{"dev", "--data", filepath.Join(dir, "data"), "--kafka-addr", "127.0.0.1:0",
			"--registry-addr", "127.0.0.1:0", "--mongodb-addr", "127.0.0.1:0", "--http-addr", "", "--progress", "50ms", "-f", spec}, env)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "users-out running") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got := out.String()
	for _, want := range []string{"Specs:    " + spec, "users-out running 0"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Demo:") || strings.Contains(got, "Metrics:") {
		t.Errorf("no demo and no metrics were asked for:\n%s", got)
	}
}
