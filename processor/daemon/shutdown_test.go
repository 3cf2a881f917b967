package daemon

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/256dpi/lungo"

	"github.com/schemaflow/schemaflow/processor/devstack/mongowire"
	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// A stop gives the drain all the shutdown timeout leaves after the time
// reserved for leaving the groups and closing (here 2s: 1.1s, 500ms and
// 400ms), and says so;
// a sink whose write does not end in it gives the batch up, logs which
// offsets the next start reads again, and the stop still ends within the
// timeout.
func TestStopUsesTheShutdownTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.provide(t, "lungo:hangs", func(c lungo.ICollection) lungo.ICollection { return hanging{c} })
	e.produce(t, "good", `{"_id": 1}`)
	logs := &logBuffer{}
	const shutdown = 2 * time.Second
	d, err := New(context.Background(), e.specs(t, header+`
  - name: hangs
    mongodb: {uri: "lungo:hangs", collection: a}
    sink: {topics: [good], id_strategy: value, write_timeout: 1h}
`), Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Connections: e.conns, ShutdownTimeout: shutdown})
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Start(d.Run)
	testenv.WaitFor(t, "the hanging write", func() bool {
		what, _ := d.pipelines[0].run.busy()
		return strings.HasPrefix(what, "bulk write")
	})
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	took := time.Since(began)
	if took >= shutdown || took < 1100*time.Millisecond {
		t.Errorf("the stop took %s, want the drain's 1.1s and under the timeout's %s", took, shutdown)
	}
	if logs.find(map[string]any{"msg": "schemaflow: stopping", "timeout": "2s", "drain": "1.1s", "leave_groups": "500ms"}) == nil {
		t.Errorf("no stopping line with the budget:\n%s", logs.buf.String())
	}
	line := logs.find(map[string]any{"pipeline": "hangs", "level": "WARN", "drain_timeout": "1.1s"})
	if line == nil || !strings.HasPrefix(line["msg"].(string), "mongosink: stopped before the batch in hand was committed") ||
		line["read_again"] != "good/0 from 0 (1 records)" || line["committed"] != "none" {
		t.Errorf("the sink's stop line: %v\n%s", line, logs.buf.String())
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A MongoDB nobody answers at is reported at once, for sources and sinks:
// the first failed attempt logs a warning, and /readyz names each
// pipeline's deployment with its URI, never its credentials.
func TestUnreachableMongoDB(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	logs := &logBuffer{}
	e.conns.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	sinkAddr, sourceAddr := closedPort(t), closedPort(t)
	began := time.Now()
	d, err := New(context.Background(), e.specs(t, header+`
  - name: sink
    mongodb: {uri: "mongodb://writer:s3cret@`+sinkAddr+`/?authSource=admin&connectTimeoutMS=20000", collection: a}
    sink: {topics: [good]}
  - name: source
    mongodb: {uri: "mongodb://reader:hunter2@`+sourceAddr+`/?directConnection=true&password=hunter3", collection: orders}
    source: {topic: orders}
`), Options{Logger: e.conns.Logger, Connections: e.conns, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Start(d.Run)
	want := map[string]string{
		"sink":   "sink: mongodb unreachable: mongodb://" + sinkAddr + "/?authSource=admin&connectTimeoutMS=20000: ",
		"source": "source: mongodb unreachable: mongodb://" + sourceAddr + "/?directConnection=true&password=xxxxx: ",
	}
	var body string
	testenv.WaitFor(t, "readyz to name both deployments", func() bool {
		var code int
		code, body = get(t, d, "/readyz")
		return code == 503 && strings.Contains(body, want["sink"]) && strings.Contains(body, want["source"])
	})
	// The driver's server selection gives up after 30s; this is the first
	// attempt's answer.
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("reported after %s", took)
	}
	if !strings.Contains(body, "connection refused") {
		t.Errorf("readyz lacks the cause:\n%s", body)
	}
	for _, uri := range []string{"mongodb://" + sinkAddr + "/?authSource=admin&connectTimeoutMS=20000", "mongodb://" + sourceAddr + "/?directConnection=true&password=xxxxx"} {
		line := logs.find(map[string]any{"level": "WARN", "msg": "mongodb unreachable: the first attempt to reach it failed; the pipelines using it wait and retry", "uri": uri})
		if line == nil || !strings.Contains(line["err"].(string), "connection refused") {
			t.Fatalf("no warning for %s: %v\n%s", uri, line, logs.buf.String())
		}
	}
	if n := strings.Count(logs.buf.String(), "mongodb unreachable: the first attempt"); n != 2 {
		t.Errorf("%d warnings, want one per deployment:\n%s", n, logs.buf.String())
	}
	for _, secret := range []string{"s3cret", "hunter2", "hunter3", "writer", "reader"} {
		if strings.Contains(body, secret) || strings.Contains(logs.buf.String(), secret) {
			t.Errorf("%q shown in readyz or the logs", secret)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// RedactURI drops the user information and masks secret options, however
// the password is written.
func TestRedactURI(t *testing.T) {
	for _, tt := range []struct{ uri, want string }{
		{"mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017"},
		{"mongodb://u:p@h1:1,h2:2/db?replicaSet=rs", "mongodb://h1:1,h2:2/db?replicaSet=rs"},
		{"mongodb://u:p%40ss@h/?authSource=admin", "mongodb://h/?authSource=admin"},
		{"mongodb://u:p@ss/w@rd@h:1/db", "mongodb://h:1/db"},
		{"mongodb+srv://u@cluster.example.net/?appName=a@b", "mongodb+srv://cluster.example.net/?appName=a@b"},
		{"mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:abc", "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=xxxxx"},
		{"mongodb://h/?tlsCertificateKeyFilePassword=pw&tls=true", "mongodb://h/?tlsCertificateKeyFilePassword=xxxxx&tls=true"},
		{"lungo:memory", "lungo:memory"},
	} {
		if got := RedactURI(tt.uri); got != tt.want {
			t.Errorf("RedactURI(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
}

// A deployment that starts answering after the warning — here a
// MongoDB wire server over an embedded engine, started on the address
// that refused — is logged reachable again and leaves /readyz.
func TestMongoDBReachableAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	logs := &logBuffer{}
	e.conns.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	addr := closedPort(t)
	uri := "mongodb://" + addr + "/?directConnection=true&replicaSet=" + mongowire.DefaultReplicaSet + "&heartbeatFrequencyMS=500"
	d, err := New(context.Background(), e.specs(t, header+`
  - name: sink
    mongodb: {uri: "`+uri+`", collection: a}
    sink: {topics: [good]}
`), Options{Logger: e.conns.Logger, Connections: e.conns, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Start(d.Run)
	testenv.WaitFor(t, "the deployment unreachable", func() bool { return d.Status()[0].MongoDB != "" })

	_, engine, err := lungo.Open(context.Background(), lungo.Options{Store: lungo.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the refused address was taken meanwhile: %v", err)
	}
	srv := mongowire.New(engine, mongowire.Options{Logger: testenv.Quiet()})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	testenv.WaitFor(t, "the deployment reachable again", func() bool {
		_, body := get(t, d, "/readyz")
		return d.Status()[0].MongoDB == "" && !strings.Contains(body, "mongodb unreachable")
	})
	testenv.WaitFor(t, "the recovery logged", func() bool {
		return logs.find(map[string]any{"level": "INFO", "msg": "mongodb reachable again", "uri": uri}) != nil
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
