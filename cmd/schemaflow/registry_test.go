package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/crypto/bcrypt"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/versioncmd"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

func testRegistry(t *testing.T) string {
	t.Helper()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL
}

// serveInProcess runs `registry serve` with args until the returned stop
// function is called; it returns the URL it listens on.
func serveInProcess(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	pr, pw := io.Pipe()
	var errOut strings.Builder
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: pw, Stderr: &errOut, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, Root(versioncmd.Info{}), append([]string{"registry", "serve", "--listen", "127.0.0.1:0"}, args...), env)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("no listening line: %v (%s)", err, errOut.String())
	}
	go io.Copy(io.Discard, pr)
	return strings.Fields(strings.TrimPrefix(line, "registry listening on "))[0], func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not stop")
			return -1
		}
	}
}

// TestRegistryServeKafka serves the registry from a Kafka log (kfake).
func TestRegistryServeKafka(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := strings.Join(c.ListenAddrs(), ",")
	url, stop := serveInProcess(t, "--store", "kafka:"+brokers)
	rc, _ := registry.NewClient(url, registry.ClientOptions{})
	id, err := rc.Register(context.Background(), "s", registry.RegisterRequest{Schema: `"string"`}, false)
	if err != nil || id != 1 {
		t.Fatalf("register: %d %v", id, err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	// A new server on the same topic has it.
	url2, stop2 := serveInProcess(t, "--store", "kafka:"+brokers)
	rc2, _ := registry.NewClient(url2, registry.ClientOptions{})
	if s, err := rc2.SchemaByID(context.Background(), 1); err != nil || s.Schema != `"string"` {
		t.Fatalf("after restart: %+v %v", s, err)
	}
	stop2()
}

// TestRegistryServe starts `registry serve` with basic auth and a file
// store, talks to it, and stops it by cancelling its context.
func TestRegistryServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := writeFile(t, dir, "users", "# admins\nalice:"+string(hash)+"\n")
	pr, pw := io.Pipe()
	var errOut strings.Builder
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: pw, Stderr: &errOut, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, Root(versioncmd.Info{}), []string{"registry", "serve", "--listen", "127.0.0.1:0", "--store", "file:" + filepath.Join(dir, "data"), "--users", users}, env)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v (%s)", err, errOut.String())
	}
	url := strings.Fields(strings.TrimPrefix(line, "registry listening on "))[0]
	go io.Copy(io.Discard, pr)

	resp, err := http.Get(url + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no credentials: status %d", resp.StatusCode)
	}
	c, err := registry.NewClient(url, registry.ClientOptions{Username: "alice", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Register(ctx, "s", registry.RegisterRequest{Schema: `"string"`}, false)
	if err != nil || id != 1 {
		t.Fatalf("register: %d %v", id, err)
	}
	bad, _ := registry.NewClient(url, registry.ClientOptions{Username: "alice", Password: "wrong", Retries: -1})
	if _, err := bad.Subjects(ctx, false); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("wrong password: %v", err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", store.LogName)); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryServeErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badUsers := writeFile(t, dir, "users", "alice:plaintext\n")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"registry", "serve", "--store", "nope"}, 2, `unknown --store "nope"`},
		{[]string{"registry", "serve", "--store", "kafka:"}, 2, "needs brokers"},
		{[]string{"registry", "serve", "--users", badUsers, "--listen", "127.0.0.1:0"}, 1, "users:1: user \"alice\": not a bcrypt hash"},
		{[]string{"registry", "serve", "--tls-cert", "x"}, 2, "--tls-cert and --tls-key go together"},
	} {
		r := run(t, "", tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: %+v", tt.args, r)
		}
	}
}

// TestRegistryAdmin runs every admin command against a registry, then
// exports it and imports the export into a fresh registry, which must
// reproduce every id.
func TestRegistryAdmin(t *testing.T) {
	t.Parallel()
	url := testRegistry(t)
	dir := t.TempDir()
	v1 := writeFile(t, dir, "v1.avsc", userV1)
	v2 := writeFile(t, dir, "v2.avsc", userV2)
	v3 := writeFile(t, dir, "v3.avsc", userV3)
	money := writeFile(t, dir, "money.proto", "syntax = \"proto3\";\npackage shop;\nmessage Money { string currency = 1; int64 units = 2; }\n")
	order := writeFile(t, dir, "order.proto", "syntax = \"proto3\";\npackage shop;\nimport \"money.proto\";\nmessage Order { string id = 1; shop.Money total = 2; }\n")
	reg := func(args ...string) result {
		return run(t, "", append([]string{"registry"}, append(args, "--url", url)...)...)
	}
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"register", "users-value", v1}, 0, "users-value  1"},
		{[]string{"register", "users-value", v2}, 0, "users-value  2"},
		{[]string{"register", "other", v1}, 0, "other    1"},
		{[]string{"register", "money", money}, 0, "money    3"},
		{[]string{"register", "orders", order, "--ref", "money.proto=money:1"}, 0, "orders   4"},
		{[]string{"register", "users-value", v3}, 1, "incompatible with an earlier schema"},
		{[]string{"register", "orders", order, "--ref", "bad"}, 2, "want name=subject:version"},
		{[]string{"subjects"}, 0, "SUBJECT\nmoney\norders\nother\nusers-value\n"},
		{[]string{"subjects", "--output", "json"}, 0, `"users-value"`},
		{[]string{"versions", "users-value"}, 0, "VERSION\n1\n2\n"},
		{[]string{"get", "users-value"}, 0, "users-value  2"},
		{[]string{"get", "users-value", "1", "--output", "json"}, 0, `"version": 1`},
		{[]string{"get", "--id", "4"}, 0, "PROTOBUF"},
		{[]string{"get", "nope"}, 1, "Subject 'nope' not found."},
		{[]string{"check", "users-value", v3}, 100, "false"},
		{[]string{"check", "users-value", v2}, 0, "true"},
		{[]string{"compat", "get"}, 0, "(global)  BACKWARD"},
		{[]string{"compat", "set", "users-value", "full"}, 0, "users-value  FULL"},
		{[]string{"compat", "get", "users-value"}, 0, "FULL"},
		{[]string{"compat", "set", "users-value", "sideways"}, 1, "Invalid compatibility level"},
		{[]string{"mode", "set", "other", "READONLY"}, 0, "other    READONLY"},
		{[]string{"mode", "get", "other"}, 0, "READONLY"},
		{[]string{"delete", "users-value", "1"}, 0, "users-value  1"},
		{[]string{"delete", "users-value", "1", "--permanent"}, 0, "users-value  1"},
		{[]string{"delete", "money"}, 1, "references exist"},
		{[]string{"delete", "orders"}, 0, "orders   1"},
	}
	for _, s := range steps {
		r := reg(s.args...)
		if r.code != s.code || !strings.Contains(r.stdout+r.stderr, s.want) {
			t.Fatalf("registry %v: code %d, want %d and %q\nstdout: %s\nstderr: %s", s.args, r.code, s.code, s.want, r.stdout, r.stderr)
		}
	}

	// A schema with Confluent's data-contract fields (metadata, ruleSet)
	// goes through export and import with them.
	const contract = `{"schema":"{\"type\":\"string\"}","metadata":{"properties":{"owner":"shop"}},"ruleSet":{"domainRules":[{"name":"r","kind":"CONDITION","type":"CEL","mode":"WRITE","expr":"true"}]}}`
	resp, err := http.Post(url+"/subjects/contract/versions", "application/vnd.schemaregistry.v1+json", strings.NewReader(contract))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("register with a contract: %v %v", resp, err)
	}
	resp.Body.Close()
	// And a subject config with data-contract defaults.
	req, _ := http.NewRequest("PUT", url+"/config/contract", strings.NewReader(`{"defaultMetadata":{"properties":{"team":"a"}}}`))
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("contract config: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	exportDir := filepath.Join(dir, "export")
	if r := reg("export", exportDir); r.code != 0 {
		t.Fatalf("export: %+v", r)
	}
	fresh := testRegistry(t)
	if r := run(t, "", "registry", "import", exportDir, "--url", fresh); r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	// Every subject, version, id, deletion, level and mode is reproduced.
	again := filepath.Join(dir, "again")
	if r := run(t, "", "registry", "export", again, "--url", fresh); r.code != 0 {
		t.Fatalf("export of the import: %+v", r)
	}
	a, _ := os.ReadFile(filepath.Join(exportDir, "registry-export.json"))
	b, _ := os.ReadFile(filepath.Join(again, "registry-export.json"))
	if string(a) != string(b) {
		t.Fatalf("the import differs from the original:\n%s\n---\n%s", a, b)
	}
	var ex struct {
		Subjects []struct {
			Versions []struct {
				ID int `json:"id"`
			} `json:"versions"`
		} `json:"subjects"`
	}
	if err := json.Unmarshal(b, &ex); err != nil || len(ex.Subjects) != 5 {
		t.Fatalf("export: %v %s", err, b)
	}
	resp, err = http.Get(fresh + "/subjects/contract/versions/1")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Metadata struct {
			Properties map[string]string `json:"properties"`
		} `json:"metadata"`
		RuleSet struct {
			DomainRules []struct {
				Name string `json:"name"`
			} `json:"domainRules"`
		} `json:"ruleSet"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || got.Metadata.Properties["owner"] != "shop" || len(got.RuleSet.DomainRules) != 1 || got.RuleSet.DomainRules[0].Name != "r" {
		t.Fatalf("the contract after import: %+v %v", got, err)
	}
	if !strings.Contains(string(b), `"defaultMetadata": {`) {
		t.Fatalf("the export lacks the config's defaultMetadata:\n%s", b)
	}
	r := run(t, "", "registry", "mode", "get", "--url", fresh)
	if !strings.Contains(r.stdout, "READWRITE") {
		t.Fatalf("global mode after import: %+v", r)
	}
}

// SCHEMAFLOW_REGISTRY_URL stands in for --url.
func TestRegistryURLFromEnv(t *testing.T) {
	t.Parallel()
	url := testRegistry(t)
	var out, errOut strings.Builder
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(k string) string {
		if k == "SCHEMAFLOW_REGISTRY_URL" {
			return url
		}
		return ""
	}}
	code := cli.Main(context.Background(), Root(versioncmd.Info{}), []string{"registry", "compat", "get"}, env)
	if code != 0 || !strings.Contains(out.String(), "BACKWARD") {
		t.Fatalf("code %d: %s %s", code, out.String(), errOut.String())
	}
}

const (
	userV1 = `{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}`
	userV2 = `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":["null","string"],"default":null}]}`
	userV3 = `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"age","type":"int"}]}`
)
