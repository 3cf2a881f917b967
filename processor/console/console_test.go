package console

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/processor/daemon"
	"github.com/schemaflow/schemaflow/processor/dlq"
	"github.com/schemaflow/schemaflow/processor/mongosink"
	"github.com/schemaflow/schemaflow/processor/mongosource"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const (
	v1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"_id","type":"string"},{"name":"total","type":"double"}]}`
	v2 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"_id","type":"string"},{"name":"total","type":"double"},{"name":"coupon","type":["null","string"],"default":null}]}`
	// v3 drops total and renames coupon to voucher by alias.
	v3 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"_id","type":"string"},{"name":"voucher","aliases":["coupon"],"type":["null","string"],"default":null},{"name":"qty","type":"int"}]}`
)

// registryServer is our registry over HTTP with shop.orders-value at
// v1..v3 (v3 registered under NONE, then the level set back to BACKWARD)
// and one more subject.
func registryServer(t *testing.T) (*registry.Client, http.Handler) {
	t.Helper()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	reg, err := registry.NewClient(hs.URL, registry.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.SetConfig(ctx, "shop.orders-value", "NONE"))
	for _, s := range []string{v1, v2, v3} {
		_, err := reg.Register(ctx, "shop.orders-value", registry.RegisterRequest{Schema: s}, false)
		must(err)
	}
	must(reg.SetConfig(ctx, "shop.orders-value", "BACKWARD"))
	_, err = reg.Register(ctx, "shop.orders-key", registry.RegisterRequest{Schema: `{"type":"record","name":"Key","fields":[{"name":"_id","type":"string"}]}`}, false)
	must(err)
	_, err = reg.Register(ctx, "billing.invoices-value", registry.RegisterRequest{Schema: "syntax = \"proto3\";\npackage billing;\n// An invoice.\nmessage Invoice {\n  string id = 1;\n  int64 cents = 2;\n}\n", SchemaType: "PROTOBUF"}, false)
	must(err)
	return reg, srv
}

type response struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return response{w.Code, w.Header(), w.Body.String()}
}

// Every schema page and JSON endpoint: status, content type, and what it
// shows.
func TestSchemaPages(t *testing.T) {
	t.Parallel()
	reg, _ := registryServer(t)
	c, err := New(Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		status int
		ctype  string
		want   []string
		absent []string
	}{
		{"/console/", http.StatusFound, "", nil, nil},
		{"/console/schemas", 200, "text/html", []string{`href="/console/schemas/shop.orders-value"`, "billing.invoices-value", `<span id="subject-count">3</span>`, `aria-current="page">Schemas`}, []string{"Pipelines"}},
		{"/console/schemas?q=ORDERS", 200, "text/html", []string{"shop.orders-key", "shop.orders-value"}, []string{"billing.invoices-value"}},
		{"/console/schemas?q=nothing-like-it", 200, "text/html", []string{"No subject matches"}, nil},
		{"/console/api/subjects?q=invoice", 200, "application/json", []string{`"subjects": [`, `"billing.invoices-value"`}, []string{"shop.orders"}},
		{"/console/schemas/shop.orders-value", 200, "text/html", []string{`<dd id="compatibility">BACKWARD</dd>`, `<dd id="mode">READWRITE</dd>`, ">v3</a>", "diff?from=2&amp;to=3"}, nil},
		{"/console/api/subjects/shop.orders-value", 200, "application/json", []string{`"compatibility": "BACKWARD"`, `"mode": "READWRITE"`, `"version": 3`, `"schemaType": "AVRO"`}, nil},
		{"/console/schemas/shop.orders-value/versions/2", 200, "text/html", []string{`<span class="k">&#34;name&#34;</span>: <span class="s">&#34;coupon&#34;</span>`, `<span class="n">null</span>`}, nil},
		{"/console/schemas/billing.invoices-value/versions/latest", 200, "text/html", []string{`<span class="k">message</span> Invoice`, `<span class="c">// An invoice.</span>`, `<dd>PROTOBUF</dd>`}, nil},
		{"/console/api/subjects/shop.orders-value/versions/1", 200, "application/json", []string{`"id": 1`, `"version": 1`}, nil},
		{"/console/schemas/shop.orders-value/diff?from=1&to=2", 200, "text/html", []string{`data-kind="added" data-field="coupon"`, `data-level="BACKWARD" data-compatible="true"`, `class="current"`, "schemaflow compat --type avro --level LEVEL v2.avsc v1.avsc"}, nil},
		{"/console/schemas/shop.orders-value/diff?from=2&to=3", 200, "text/html", []string{`data-kind="renamed" data-field="voucher"`, `data-kind="removed" data-field="total"`, `data-level="BACKWARD" data-compatible="false"`, "READER_FIELD_MISSING_DEFAULT_VALUE"}, nil},
		{"/console/schemas/shop.orders-value/diff", 200, "text/html", []string{"v2 → v3"}, nil},
		{"/console/schemas/nope", 404, "text/html", []string{"subject nope", "Subject &#39;nope&#39; not found"}, nil},
		{"/console/api/subjects/nope", 404, "application/json", []string{`"error"`}, nil},
		{"/console/schemas/shop.orders-value/versions/x", 400, "text/html", []string{"want a positive number or latest"}, nil},
		{"/console/schemas/shop.orders-value/diff?from=9", 404, "text/html", []string{"has no version &#34;9&#34;"}, nil},
		{"/console/static/console.css", 200, "text/css", []string{"--accent"}, nil},
		{"/console/static/console.js", 200, "javascript", []string{"EventSource"}, nil},
		{"/console/pipelines", 404, "", nil, nil}, // schemas only
		{"/console/dead-letters", 404, "", nil, nil},
	}
	for _, tc := range tests {
		r := get(t, c, tc.path)
		if r.status != tc.status || !strings.Contains(r.header.Get("Content-Type"), tc.ctype) {
			t.Errorf("%s: %d %s, want %d %s\n%.400s", tc.path, r.status, r.header.Get("Content-Type"), tc.status, tc.ctype, r.body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s: lacks %q:\n%.3000s", tc.path, w, r.body)
			}
		}
		for _, w := range tc.absent {
			if strings.Contains(r.body, w) {
				t.Errorf("%s: shows %q", tc.path, w)
			}
		}
	}
}

// The diff's JSON — field changes and the verdict at every level with
// each rule's message — against a golden file (go test -update rewrites
// it).
func TestDiffGolden(t *testing.T) {
	t.Parallel()
	reg, _ := registryServer(t)
	c, err := New(Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]int{{1, 2}, {2, 3}, {1, 3}} {
		name := fmt.Sprintf("diff-v%d-v%d.json", pair[0], pair[1])
		r := get(t, c, fmt.Sprintf("/console/api/subjects/shop.orders-value/diff?from=%d&to=%d", pair[0], pair[1]))
		if r.status != 200 {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(r.body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to write it)", err)
		}
		if r.body != string(want) {
			t.Errorf("%s differs from the golden file:\n%s", name, r.body)
		}
	}
}

// The schema pages work over HandlerRegistry — the registry server's
// handler called in process — as over HTTP.
func TestHandlerRegistry(t *testing.T) {
	t.Parallel()
	reg, srv := registryServer(t)
	overHTTP, err := New(Options{Registry: reg})
	if err != nil {

		t.Fatal(err)
	}
	inProcess, err := New(Options{Registry: HandlerRegistry{Handler: srv}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/console/api/subjects", "/console/api/subjects/shop.orders-value", "/console/api/subjects/shop.orders-value/versions/latest",
		"/console/api/subjects/shop.orders-value/diff?from=1&to=3", "/console/api/subjects/missing"} {
		a, b := get(t, overHTTP, p), get(t, inProcess, p)
		if a.status != b.status || a.body != b.body {
			t.Errorf("%s: over HTTP %d %.300s\nin process %d %.300s", p, a.status, a.body, b.status, b.body)
		}
	}
}

// With Auth, every page needs the user and password; the realm is
// announced.
func TestAuth(t *testing.T) {
	t.Parallel()
	reg, _ := registryServer(t)
	c, err := New(Options{Registry: reg, Auth: BasicAuth("ops", "s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	basic := func(u, p string) string {
		req := httptest.NewRequest("GET", "/", nil)
		req.SetBasicAuth(u, p)
		return req.Header.Get("Authorization")
	}
	for _, tc := range []struct {
		auth   string
		status int
	}{{"", 401}, {basic("ops", "wrong"), 401}, {basic("other", "s3cret"), 401}, {basic("ops", "s3cret"), 200}} {
		var r response
		if tc.auth == "" {
			r = get(t, c, "/console/schemas")
		} else {
			r = get(t, c, "/console/schemas", "Authorization", tc.auth)
		}
		if r.status != tc.status {
			t.Errorf("auth %q: %d, want %d", tc.auth, r.status, tc.status)
		}
		if r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Basic realm="schemaflow"`) {
			t.Errorf("401 without a Basic challenge: %v", r.header)
		}
	}
	mounted := c.Mount(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "metrics") }))
	if r := get(t, mounted, "/metrics"); r.body != "metrics" {
		t.Errorf("Mount: /metrics answered %q", r.body)
	}
	if r := get(t, mounted, "/console/schemas"); r.status != 401 {
		t.Errorf("Mount: the console answered %d without credentials", r.status)
	}
}

// fakeDaemon reports two pipelines whose counters move at every call.
type fakeDaemon struct{ calls atomic.Int64 }

func (f *fakeDaemon) Status() []daemon.Status {
	n := f.calls.Add(1)
	return []daemon.Status{
		{Name: "orders-to-kafka", Kind: "source", State: daemon.StateRunning, Snapshot: daemon.Snapshot{In: 10 * n, Out: 10 * n, Lag: 0.5,
			Copies: []mongosource.CopyStats{{Namespace: "shop.orders", Copied: 50, Estimated: 200, Rate: 25, ETA: 6 * time.Second}}}},
		{Name: "orders-to-mongodb", Kind: "sink", State: daemon.StateRestarting, Restarts: 2, LastErr: "mongosink: write refused",
			Snapshot: daemon.Snapshot{In: 9 * n, Out: 8 * n, Dead: 3, Lag: 12, DeadByClass: map[string]int64{"undecodable": 1, "duplicate-key": 2}}},
		{Name: "standby-source", Kind: "source", State: daemon.StateRunning, Snapshot: daemon.Snapshot{Standby: true}},
	}
}

var testPipelines = []Pipeline{
	{Name: "orders-to-kafka", Topics: []string{"shop.orders"}, DeadLetterTopic: "shop.orders.dlq"},
	{Name: "orders-to-mongodb", Topics: []string{"shop.orders"}, DeadLetterTopic: "shop.orders_copy.dlq"},
	{Name: "standby-source", SubjectPrefixes: []string{"billing."}},
}

// The pipelines page and its JSON: state (standby, the last error,
// restarts), counters, lag, dead letters by class, copy progress, the
// subjects written with their latest versions.
func TestPipelinesPage(t *testing.T) {
	t.Parallel()
	reg, _ := registryServer(t)
	fd := &fakeDaemon{}
	c, err := New(Options{Registry: reg, Status: fd.Status, Pipelines: testPipelines})
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, c, "/console/pipelines")
	for _, w := range []string{`data-pipeline="orders-to-kafka"`, `class="pipeline state-running"`, `class="pipeline state-restarting"`, "mongosink: write refused",
		`<li>duplicate-key: 2</li><li>undecodable: 1</li>`, `shop.orders-value</a> v3`, `shop.orders-key</a> v1`, `billing.invoices-value</a> v1`,
		`class="pipeline state-standby"`, "shop.orders: 50 / 200 (25/s, ETA 6s)", `<progress max="100" value="25">`, `<dd data-field="lag">12 records</dd>`,
		`href="/console/dead-letters/shop.orders_copy.dlq"`, `data-events="/console/api/events"`} {
		if !strings.Contains(r.body, w) {
			t.Errorf("pipelines page lacks %q:\n%s", w, r.body)
		}
	}
	r = get(t, c, "/console/api/pipelines")
	var v pipelinesView
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || r.status != 200 {
		t.Fatalf("%d %v: %s", r.status, err, r.body)
	}
	sink := v.Pipelines[1]
	if sink.State != "restarting" || sink.Restarts != 2 || sink.Dead != 3 || sink.LagUnit != "records" || len(sink.Subjects) != 2 || sink.DeadTopic != "shop.orders_copy.dlq" {
		t.Errorf("sink %+v", sink)
	}
	if src := v.Pipelines[0]; src.LagUnit != "seconds" || src.Copies[0].Percent != 25 || src.Out != 20 {
		t.Errorf("source %+v", src)
	}
}

// Rates are measured over the samples of the last few seconds.
func TestRates(t *testing.T) {
	t.Parallel()
	var r rates
	t0 := time.Unix(1000, 0)
	st := func(in, out int64) []daemon.Status {
		return []daemon.Status{{Name: "p", Snapshot: daemon.Snapshot{In: in, Out: out}}}
	}
	steps := []struct {
		at      time.Duration
		in, out int64
		wantIn  float64
		wantOut float64
	}{
		{0, 100, 90, 0, 0},
		{100 * time.Millisecond, 110, 95, 0, 0}, // too soon to tell
		{time.Second, 200, 190, 100, 100},
		{2 * time.Second, 300, 290, 100, 100},
		{8 * time.Second, 360, 350, 10, 10}, // from the sample at 2s, the last before the window
		{20 * time.Second, 360, 350, 0, 0},
	}
	for _, s := range steps {
		in, out := r.observe(t0.Add(s.at), st(s.in, s.out))
		if fmt.Sprintf("%.3f %.3f", in["p"], out["p"]) != fmt.Sprintf("%.3f %.3f", s.wantIn, s.wantOut) {
			t.Errorf("at %s: rates %.3f %.3f, want %.3f %.3f", s.at, in["p"], out["p"], s.wantIn, s.wantOut)
		}
	}
}

// The event stream sends the pipelines' status again and again, with
// moving counters, and ends when Done is closed.
func TestEvents(t *testing.T) {
	t.Parallel()
	reg, _ := registryServer(t)
	fd := &fakeDaemon{}
	done := make(chan struct{})
	c, err := New(Options{Registry: reg, Status: fd.Status, Pipelines: testPipelines, Interval: 10 * time.Millisecond, Done: done})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(c)
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/console/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var outs []int64
	for len(outs) < 3 && sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var v pipelinesView
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatal(err)
			}
			outs = append(outs, v.Pipelines[0].Out)
		} else if line != "" && line != "event: pipelines" {
			t.Fatalf("unexpected line %q", line)
		}
	}
	if len(outs) != 3 || !(outs[0] < outs[1] && outs[1] < outs[2]) {
		t.Fatalf("counters %v, want three increasing", outs)
	}
	close(done)
	ended := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, resp.Body); close(ended) }() // the handler returns: the body ends
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream did not end after Done was closed")
	}
}

func hdr(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }

// deadLetterConsole is a console over kfake with two dead letters of the
// sink and one of the source.
func deadLetterConsole(t *testing.T, write bool) (*Console, []kgo.Opt) {
	t.Helper()
	reg, _ := registryServer(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "shop.orders", "shop.orders_copy.dlq", "shop.orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	opts := []kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sink := func(offset int, class, key, value string) *kgo.Record {
		return &kgo.Record{Topic: "shop.orders_copy.dlq", Key: []byte(key), Value: []byte(value), Headers: []kgo.RecordHeader{hdr("app", "demo"),
			hdr(mongosink.HeaderTopic, "shop.orders"), hdr(mongosink.HeaderPartition, "0"), hdr(mongosink.HeaderOffset, fmt.Sprint(offset)),
			hdr(mongosink.HeaderClass, class), hdr(mongosink.HeaderMessage, class+": refused")}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx,
		sink(7, "duplicate-key", `{"_id":"o7"}`, `{"_id":"o7","ref":"R1"}`),
		sink(9, "undecodable", "k9", "\x00\x00\x00\x00\x63\x01"),
		&kgo.Record{Topic: "shop.orders.dlq", Key: []byte(`{"_id":1}`), Value: []byte(`{"_id":1}`), Headers: []kgo.RecordHeader{
			hdr(mongosource.HeaderClass, "encode"), hdr(mongosource.HeaderMessage, "field x: bad"), hdr(mongosource.HeaderSource, "shop.orders")}},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fd := &fakeDaemon{}
	c, err := New(Options{Registry: reg, Status: fd.Status, Pipelines: testPipelines, Write: write, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DeadLetters: []DeadLetterTopic{
		{Topic: "shop.orders.dlq", Pipeline: "orders-to-kafka", Kafka: opts, Registry: reg},
		{Topic: "shop.orders_copy.dlq", Pipeline: "orders-to-mongodb", Kafka: opts, Registry: reg},
		{Topic: "never.created.dlq", Pipeline: "other", Kafka: opts},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c, opts
}

// The dead-letter pages and JSON: topics, letters newest first with
// class, message, origin, headers and decoded or hex key and value;
// filtering by class; a read-only console shows no replay buttons.
func TestDeadLetterPages(t *testing.T) {
	t.Parallel()
	c, _ := deadLetterConsole(t, false)
	tests := []struct {
		path   string
		status int
		want   []string
		absent []string
	}{
		{"/console/dead-letters", 200, []string{`href="/console/dead-letters/shop.orders.dlq"`, "of orders-to-mongodb"}, nil},
		{"/console/api/dead-letters", 200, []string{`"topic": "shop.orders_copy.dlq"`, `"pipeline": "orders-to-mongodb"`}, nil},
		{"/console/dead-letters/shop.orders_copy.dlq", 200, []string{`data-id="0:1" data-class="undecodable"`, "shop.orders partition 0 offset 7",
			`{&#34;_id&#34;:&#34;o7&#34;,&#34;ref&#34;:&#34;R1&#34;}`, "hex:0000000063", "schema id 99", `<li class="dl"><code>__connect.errors.topic</code>`,
			`<li><code>app</code>: <code>demo</code></li>`, "duplicate-key (1)", "Read-only: start schemaflow with <code>--console-write</code>"},
			[]string{`id="replay-selected"`, `type="checkbox"`}},
		{"/console/dead-letters/shop.orders_copy.dlq?class=duplicate-key", 200, []string{`data-class="duplicate-key"`}, []string{`data-class="undecodable"`}},
		{"/console/api/dead-letters/shop.orders_copy.dlq", 200, []string{`"originTopic": "shop.orders"`, `"originOffset": 9`, `"replayable": true`, `"hex": "00000000630`, `"schemaId": 99`}, nil},
		{"/console/dead-letters/shop.orders.dlq", 200, []string{"encode", "Namespace", "never reached Kafka"}, nil},
		{"/console/dead-letters/never.created.dlq", 200, []string{"No dead letters"}, nil},
		{"/console/dead-letters/not.configured", 404, []string{"not the dead-letter topic of any pipeline"}, nil},
	}
	for _, tc := range tests {
		r := get(t, c, tc.path)
		if r.status != tc.status {
			t.Errorf("%s: %d, want %d: %.500s", tc.path, r.status, tc.status, r.body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s: lacks %q:\n%s", tc.path, w, r.body)
			}
		}
		for _, w := range tc.absent {
			if strings.Contains(r.body, w) {
				t.Errorf("%s: shows %q", tc.path, w)
			}
		}
	}
}

func post(t *testing.T, h http.Handler, path, body string, hdrs ...string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdrs); i += 2 {
		req.Header.Set(hdrs[i], hdrs[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return response{w.Code, w.Header(), w.Body.String()}
}

// Replays: refused read-only, refused cross-site or not JSON; by id they
// land on the original topic with the original headers only; a source's
// dead letter is reported, not replayed.
func TestReplay(t *testing.T) {
	t.Parallel()
	ro, _ := deadLetterConsole(t, false)
	if r := post(t, ro, "/console/api/dead-letters/shop.orders_copy.dlq/replay", `{"ids":["0:0"]}`); r.status != 403 || !strings.Contains(r.body, "--console-write") {
		t.Errorf("read-only: %d %s", r.status, r.body)
	}
	c, opts := deadLetterConsole(t, true)
	if r := get(t, c, "/console/dead-letters/shop.orders_copy.dlq"); !strings.Contains(r.body, `id="replay-selected"`) || !strings.Contains(r.body, `value="0:0"`) {
		t.Errorf("a writable console shows no replay controls:\n%s", r.body)
	}
	const api = "/console/api/dead-letters/shop.orders_copy.dlq/replay"
	refused := []struct {
		name, path, body string
		hdrs             []string
		status           int
		msg              string
	}{
		{"form post", api, `{"ids":["0:0"]}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "JSON request"},
		{"other site", api, `{"ids":["0:0"]}`, []string{"Origin", "http://evil.example"}, 403, "origin http://evil.example refused"},
		{"fetch metadata", api, `{"ids":["0:0"]}`, []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site"},
		{"nothing named", api, `{}`, nil, 400, "name the dead letters"},
		{"bad id", api, `{"ids":["zero"]}`, nil, 400, "PARTITION:OFFSET"},
		{"bad json", api, `{"ids":`, nil, 400, "replay request"},
		{"missing id", api, `{"ids":["0:5"]}`, nil, 404, "no dead letters [0:5]"},
		{"other topic", "/console/api/dead-letters/x/replay", `{"all":true}`, nil, 404, "not the dead-letter topic"},
	}
	for _, tc := range refused {
		r := post(t, c, tc.path, tc.body, tc.hdrs...)
		if r.status != tc.status || !strings.Contains(r.body, tc.msg) {
			t.Errorf("%s: %d %s, want %d %q", tc.name, r.status, r.body, tc.status, tc.msg)
		}
	}
	r := post(t, c, api, `{"ids":["0:0"]}`, "Origin", "http://example.com") // httptest's Host
	var res struct {
		Results []replayResult
	}
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || r.status != 200 || len(res.Results) != 1 || res.Results[0].Error != "" || res.Results[0].OriginTopic != "shop.orders" {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	landed, err := dlq.Read(context.Background(), opts, "shop.orders", dlq.ReadOptions{})
	if err != nil || len(landed) != 1 {
		t.Fatalf("shop.orders: %v %v", landed, err)
	}
	if l := landed[0]; string(l.Value) != `{"_id":"o7","ref":"R1"}` || fmt.Sprint(l.Headers) != fmt.Sprint([]kgo.RecordHeader{hdr("app", "demo")}) ||
		l.Offset != res.Results[0].Offset {
		t.Errorf("landed %+v, headers %v", l, l.Headers)
	}
	r = post(t, c, "/console/api/dead-letters/shop.orders.dlq/replay", `{"all":true}`)
	if r.status != 200 || !strings.Contains(r.body, "never reached Kafka") {
		t.Errorf("source letters: %d %s", r.status, r.body)
	}
	r = post(t, c, api, `{"all":true,"class":"undecodable"}`)
	if r.status != 200 || strings.Count(r.body, `"id"`) != 1 || !strings.Contains(r.body, `"class": "undecodable"`) {
		t.Errorf("all of a class: %d %s", r.status, r.body)
	}
}
