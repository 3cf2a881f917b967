package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/versioncmd"
	"github.com/schemaflow/schemaflow/processor/console"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

// authGet fetches url, with basic auth when user is set.
func authGet(t *testing.T, url, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// registry serve serves the console's schema pages behind its own basic
// auth; --console=false turns them off.
func TestRegistryServeConsole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := writeFile(t, dir, "users", "alice:"+string(hash)+"\n")
	url, stop := serveInProcess(t, "--users", users)
	defer stop()
	reg, err := registry.NewClient(url, registry.ClientOptions{Username: "alice", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(context.Background(), "shop.orders-value", registry.RegisterRequest{Schema: `{"type":"record","name":"Order","fields":[{"name":"_id","type":"string"}]}`}, false); err != nil {
		t.Fatal(err)
	}
	if code, _ := authGet(t, url+"/console/schemas", "", ""); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d", code)
	}
	if code, _ := authGet(t, url+"/console/schemas", "alice", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("with a wrong password: %d", code)
	}
	code, body := authGet(t, url+"/console/schemas/shop.orders-value", "alice", "s3cret")
	if code != 200 || !strings.Contains(body, `<dd id="compatibility">BACKWARD</dd>`) || strings.Contains(body, "Pipelines</a>") {
		t.Errorf("subject page: %d\n%s", code, body)
	}
	if code, body := authGet(t, url+"/subjects", "alice", "s3cret"); code != 200 || !strings.Contains(body, "shop.orders-value") {
		t.Errorf("the REST API beside the console: %d %s", code, body)
	}
	if code, _ := authGet(t, url+"/console/pipelines", "alice", "s3cret"); code != http.StatusNotFound {
		t.Errorf("the registry's console has pipeline pages: %d", code)
	}

	off, stopOff := serveInProcess(t, "--console=false")
	defer stopOff()
	if code, _ := authGet(t, off+"/console/schemas", "", ""); code != http.StatusNotFound {
		t.Errorf("--console=false: %d", code)
	}
}

// schemaflow run serves the console on --http-addr beside /metrics; it
// asks for the user and password of the spec's registry; it is read-only
// unless --console-write.
func TestRunServesConsole(t *testing.T) {
	t.Parallel()
	kafka, _ := kafkaAndRegistry(t, "orders", "orders.dlq")
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := server.ParseUsers("users", strings.NewReader("ops:"+string(hash)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(server.RequireAuth(users, srv))
	t.Cleanup(reg.Close)
	dir := t.TempDir()
	spec := writeFile(t, dir, "sink.yaml", fmt.Sprintf(`version: 1
kafka: {brokers: [%q]}
registry: {url: %q, username: ops, password: pw}
mongodb: {uri: "lungo:memory", database: shop}
pipelines:
  - name: orders-in
    mongodb: {collection: orders}
    sink: {topics: [orders]}
    errors: {tolerance: all, dead_letter_topic: orders.dlq}
`, kafka.ListenAddrs()[0], reg.URL))
	for _, write := range []bool{false, true} {
		addr := freeAddr(t)
		args := []string{"run", "-f", spec, "--http-addr", addr, "--log-format", "json"}
		if write {
			args = append(args, "--console-write")
		}
		var out, errOut syncBuffer
		env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }, Dir: dir}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() { done <- cli.Main(ctx, Root(versioncmd.Info{}), args, env) }()
		base := "http://" + addr
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(errOut.String(), "serving the web console") && time.Now().Before(deadline) {
			select {
			case code := <-done:
				t.Fatalf("run exited %d: %s", code, errOut.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		if code, _ := authGet(t, base+"/console/pipelines", "", ""); code != http.StatusUnauthorized {
			t.Errorf("write=%v: the console without the registry's credentials: %d", write, code)
		}
		code, body := authGet(t, base+"/console/pipelines", "ops", "pw")
		if code != 200 || !strings.Contains(body, `data-pipeline="orders-in"`) || !strings.Contains(body, `href="/console/dead-letters/orders.dlq"`) {
			t.Errorf("write=%v: pipelines page %d\n%s", write, code, body)
		}
		if code, _ := authGet(t, base+"/metrics", "", ""); code != 200 {
			t.Errorf("write=%v: /metrics answered %d", write, code)
		}
		code, body = authGet(t, base+"/console/dead-letters/orders.dlq", "ops", "pw")
		if code != 200 || strings.Contains(body, `id="replay-all"`) == !write {
			t.Errorf("write=%v: dead letters page %d, replay button shown %v", write, code, strings.Contains(body, `id="replay-all"`))
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("run exited %d: %s", code, errOut.String())
		}
	}
}

// The console's verdicts are schemaflow compat's: for each level, the
// same compatibility and the same messages (naming versions instead of
// files).
func TestConsoleVerdictsMatchCompat(t *testing.T) {
	t.Parallel()
	versions := []string{
		`{"type":"record","name":"Order","fields":[{"name":"_id","type":"string"},{"name":"total","type":"double"}]}`,
		`{"type":"record","name":"Order","fields":[{"name":"_id","type":"string"},{"name":"total","type":"double"},{"name":"coupon","type":["null","string"],"default":null}]}`,
		`{"type":"record","name":"Order","fields":[{"name":"_id","type":"string"},{"name":"coupon","type":["null","string"],"default":null},{"name":"qty","type":"int"}]}`,
		`{"type":"record","name":"Order","fields":[{"name":"_id","type":"string"},{"name":"total","type":"float"}]}`,
	}
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
	if err := reg.SetConfig(ctx, "s", "NONE"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, v := range versions {
		if _, err := reg.Register(ctx, "s", registry.RegisterRequest{Schema: v}, false); err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, fmt.Sprintf("v%d.avsc", i+1), v)
	}
	c, err := console.New(console.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]int{{1, 2}, {2, 3}, {1, 3}, {3, 4}, {1, 4}} {
		from, to := pair[0], pair[1]
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest("GET", fmt.Sprintf("/console/api/subjects/s/diff?from=%d&to=%d", from, to), nil))
		var diff struct {
			Verdicts []struct {
				Level      string
				Compatible bool
				Messages   []string
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &diff); err != nil || len(diff.Verdicts) != 7 {
			t.Fatalf("v%d..v%d: %v %s", from, to, err, rec.Body)
		}
		for _, v := range diff.Verdicts {
			args := []string{"compat", "--type", "avro", "--level", v.Level, "--output", "json", filepath.Join(dir, fmt.Sprintf("v%d.avsc", to))}
			for n := 1; n <= from; n++ {
				args = append(args, filepath.Join(dir, fmt.Sprintf("v%d.avsc", n)))
			}
			r := run(t, "", args...)
			var got struct {
				Compatible bool
				Messages   []string
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("compat: %v: %s %s", err, r.stdout, r.stderr)
			}
			for i, m := range got.Messages {
				file, rest, _ := strings.Cut(m, ": ")
				got.Messages[i] = "version " + strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "v"), ".avsc") + ": " + rest
			}
			if got.Compatible != v.Compatible || fmt.Sprint(got.Messages) != fmt.Sprint(v.Messages) {
				t.Errorf("v%d..v%d %s: console %v %q, compat %v %q", from, to, v.Level, v.Compatible, v.Messages, got.Compatible, got.Messages)
			}
		}
	}
}
