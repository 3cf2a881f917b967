package evolvecmd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// handWritten is a Protobuf first version written by hand.
const handWritten = `syntax = "proto3";

package shop.v1;

option go_package = "example.com/shop/gen/shopv1";
option java_package = "com.example.shop.v1";

// An order placed in the shop.
message Order {
  reserved 7, 9 to 11;
  reserved "legacy", "old_total";

  string _id = 1; // the order number
  // Who placed it.
  string customer = 2;
  Status status = 4;
  Gift gift = 5;
  string state = 6 [deprecated = true];

  // A gift wrapping.
  message Gift {
    string message = 1;
  }

  enum Status {
    STATUS_UNSPECIFIED = 0;
    PLACED = 1;
  }
}

// Looks orders up.
service Orders {
  rpc Get(Order) returns (Order);
}
`

const orderAvro = `{"type": "record", "name": "Order", "namespace": "shop", "doc": "An order.", "fields": [
  {"name": "_id", "type": "string", "doc": "the order number"},
  {"name": "total", "type": "int", "custom": "kept"}
]}`

// newRegistry serves our registry over loopback HTTP, with the given
// versions registered under subject: text, and "PROTOBUF:" before a
// Protobuf one.
func newRegistry(t *testing.T, subject string, versions ...string) (string, *registry.Client) {
	t.Helper()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c, err := registry.NewClient(ts.URL, registry.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		req := registry.RegisterRequest{Schema: v}
		if text, ok := strings.CutPrefix(v, "PROTOBUF:"); ok {
			req = registry.RegisterRequest{Schema: text, SchemaType: registry.TypeProtobuf}
		}
		if _, err := c.Register(context.Background(), subject, req, false); err != nil {
			t.Fatal(err)
		}
	}
	return ts.URL, c
}

type runResult struct {
	code           int
	stdout, stderr string
}

// run runs `schemaflow evolve` through the CLI's Main, in dir, with the
// environment variables given.
func run(t *testing.T, dir string, vars map[string]string, args ...string) runResult {
	t.Helper()
	root := &cli.Command{Name: "schemaflow", Subcommands: []*cli.Command{New()}}
	var out, errOut bytes.Buffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return vars[k] }, Dir: dir}
	code := cli.Main(context.Background(), root, append([]string{"evolve"}, args...), env)
	return runResult{code, out.String(), errOut.String()}
}

func writeDocs(t *testing.T, lines ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docs.json"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-update rewrites it)\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func versions(t *testing.T, c *registry.Client, subject string) []int {
	t.Helper()
	vs, err := c.Versions(context.Background(), subject, false)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestEvolveText plans the hand-written Protobuf subject's next version
// for documents adding coupon, gift.note and legacy (a reserved name):
// the text output (golden) shows the edited schema, the changes and every
// level's verdict, and nothing is registered.
func TestEvolveText(t *testing.T) {
	t.Parallel()
	url, c := newRegistry(t, "orders-value", "PROTOBUF:"+handWritten)
	dir := writeDocs(t,
		`{"_id": "o1", "customer": "ann", "status": "PLACED", "gift": {"message": "hi"}}`,
		`{"_id": "o2", "customer": "bob", "status": "PLACED", "gift": {"message": "hi", "note": "wrap it"}, "coupon": "SAVE10", "legacy": true}`,
	)
	r := run(t, dir, nil, "--registry", url, "--subject", "orders-value", "docs.json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkGolden(t, "protobuf.txt", r.stdout)
	if vs := versions(t, c, "orders-value"); len(vs) != 1 {
		t.Errorf("a dry run registered: versions %v", vs)
	}
}

// TestEvolveJSONApply plans and registers the next version of an Avro
// subject: the JSON object has the schema, the changes, the seven levels
// and registered (applied, id, version), and the registry holds that
// schema as version 2, its doc and custom property kept.
func TestEvolveJSONApply(t *testing.T) {
	t.Parallel()
	url, c := newRegistry(t, "orders-value", orderAvro)
	dir := writeDocs(t, `[{"_id": "o1", "total": 5, "coupon": "SAVE10"}, {"_id": "o2", "total": {"$numberLong": "5000000000"}}]`)
	r := run(t, dir, map[string]string{"SCHEMAFLOW_REGISTRY_URL": url}, "--subject", "orders-value", "--output", "json", "--apply", "docs.json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got struct {
		Schema  string `json:"schema"`
		Changed bool   `json:"changed"`
		Changes []struct {
			Kind, Field, From, To string
		} `json:"changes"`
		Levels     map[string]struct{ Compatible bool } `json:"levels"`
		Registered struct {
			Applied     bool
			ID, Version int
		} `json:"registered"`
		Latest struct{ Version, ID int } `json:"latest"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if !got.Changed || len(got.Changes) != 2 || got.Changes[0].Kind != "widened" || got.Changes[0].Field != "total" || got.Changes[1].Kind != "added" || got.Changes[1].Field != "coupon" {
		t.Errorf("changes %+v", got.Changes)
	}
	if len(got.Levels) != 7 || !got.Levels["BACKWARD"].Compatible || got.Levels["FORWARD"].Compatible {
		t.Errorf("levels %+v", got.Levels)
	}
	if !got.Registered.Applied || got.Registered.Version != 2 || got.Registered.ID == 0 || got.Latest.Version != 1 {
		t.Errorf("registered %+v latest %+v", got.Registered, got.Latest)
	}
	v2, err := c.Version(context.Background(), "orders-value", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if json.Compact(&a, []byte(v2.Schema)) != nil || json.Compact(&b, []byte(got.Schema)) != nil || a.String() != b.String() {
		t.Errorf("registered\n%s\nprinted\n%s", v2.Schema, got.Schema)
	}
	if v2.ID != got.Registered.ID || !strings.Contains(v2.Schema, `"custom":"kept"`) || !strings.Contains(v2.Schema, `"doc":"An order."`) {
		t.Errorf("version 2 (id %d): %s", v2.ID, v2.Schema)
	}
}

// TestEvolveFirstAndUnchanged: a subject without versions plans version 1
// under --name and --namespace and registers nothing; documents the
// latest version fits need no version, and the output says so and prints
// the latest schema.
func TestEvolveFirstAndUnchanged(t *testing.T) {
	t.Parallel()
	url, c := newRegistry(t, "orders-value", orderAvro)
	dir := writeDocs(t, `{"_id": "o1", "total": 5}`)
	r := run(t, dir, nil, "--registry", url, "--subject", "new-value", "--name", "Order", "--namespace", "shop", "--format", "protobuf", "docs.json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkGolden(t, "first.txt", r.stdout)
	if _, err := c.Versions(context.Background(), "new-value", false); err == nil {
		t.Error("a dry run registered the first version")
	}
	r = run(t, dir, nil, "--registry", url, "--subject", "orders-value", "--output", "json", "docs.json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got struct {
		Changed bool
		Schema  string
		Fitting int
		Changes []any
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	v1, err := c.Version(context.Background(), "orders-value", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Changed || got.Fitting != 1 || got.Schema != v1.Schema || got.Changes == nil || len(got.Changes) != 0 {
		t.Errorf("unchanged: %+v", got)
	}
	r = run(t, dir, nil, "--registry", url, "--subject", "orders-value", "docs.json")
	if r.code != 0 || !strings.Contains(r.stdout, "the documents fit version 1 (id 1), no new version needed") || !strings.Contains(r.stdout, v1.Schema) {
		t.Errorf("exit %d\n%s", r.code, r.stdout)
	}
}

// TestEvolveExitCodes: 100 when the level forbids the change or the
// planned version cannot carry a document (with FILE:LINE), 1 on errors
// (bad documents, an unreachable registry, wrong credentials), 2 on usage.
func TestEvolveExitCodes(t *testing.T) {
	t.Parallel()
	url, _ := newRegistry(t, "orders-value", orderAvro)
	protoURL, _ := newRegistry(t, "orders-value", "PROTOBUF:"+handWritten)
	// A closed loopback port: a listener opened and closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	dir := writeDocs(t, `{"_id": "o1", "total": 5}`, `{"_id": "o2", "total": "five"}`, `{"_id": "o3", "status": "LOST"}`, `{"_id": `)
	for name, d := range map[string]string{
		"widen.json":  `{"_id": "o1", "total": {"$numberLong": "5000000000"}}`,
		"bad.json":    "{\"_id\": \"o1\", \"total\": 5}\n{\"_id\": ",
		"lost.json":   `{"_id": "o1", "status": "LOST"}`,
		"string.json": `{"_id": "o1", "total": "five"}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(d+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		output string // in stderr, or stdout with --output json
	}{
		{"forward forbids widening", []string{"--registry", url, "--subject", "orders-value", "--level", "FORWARD", "widen.json"}, 100, `field "total": values of type long cannot be written as int without breaking earlier readers (LEVEL_FORBIDS_CHANGE, level FORWARD)`},
		{"forward forbids a union, json", []string{"--registry", url, "--subject", "orders-value", "--level", "FULL", "--output", "json", "string.json"}, 100, `"rule": "LEVEL_FORBIDS_CHANGE"`},
		{"an enum lacks the symbol", []string{"--registry", protoURL, "--subject", "orders-value", "lost.json"}, 100, "lost.json:1: "},
		{"bad document", []string{"--registry", url, "--subject", "orders-value", "bad.json"}, 1, "bad.json:2: "},
		{"unreachable registry", []string{"--registry", closed, "--subject", "orders-value", "widen.json"}, 1, "connection refused"},
		{"missing file", []string{"--registry", url, "--subject", "orders-value", "nope.json"}, 1, "nope.json"},
		{"no subject", []string{"--registry", url, "widen.json"}, 2, "--subject is required"},
		{"bad level", []string{"--registry", url, "--subject", "s", "--level", "SIDEWAYS", "widen.json"}, 2, "--level"},
		{"bad output", []string{"--registry", url, "--subject", "s", "--output", "xml", "widen.json"}, 2, "--output must be text or json"},
		{"bad numbers", []string{"--registry", url, "--subject", "s", "--numbers", "round", "widen.json"}, 2, "--numbers must be widen or exact"},
		{"bad format", []string{"--registry", url, "--subject", "s", "--format", "json", "widen.json"}, 2, "--format must be avro or protobuf"},
		{"bad url", []string{"--registry", "ftp://x", "--subject", "s", "widen.json"}, 2, "not an http(s) URL"},
		{"unknown flag", []string{"--registry", url, "--subject", "s", "--frobnicate", "widen.json"}, 2, "frobnicate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, dir, nil, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr+r.stdout, c.output) {
				t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", c.output, r.stdout, r.stderr)
			}
		})
	}
}

// TestEvolveCredentials: the registry's basic auth, from --user and
// --password or from $SCHEMAFLOW_REGISTRY_USER and
// $SCHEMAFLOW_REGISTRY_PASSWORD, as `schemaflow registry` takes them.
func TestEvolveCredentials(t *testing.T) {
	t.Parallel()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := server.ParseUsers("users", strings.NewReader("alice:"+string(hash)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.RequireAuth(users, srv))
	t.Cleanup(ts.Close)
	dir := writeDocs(t, `{"_id": "o1"}`)
	if r := run(t, dir, map[string]string{"SCHEMAFLOW_REGISTRY_USER": "alice", "SCHEMAFLOW_REGISTRY_PASSWORD": "s3cret"}, "--registry", ts.URL, "--subject", "s", "docs.json"); r.code != 0 {
		t.Errorf("credentials from the environment: exit %d: %s", r.code, r.stderr)
	}
	if r := run(t, dir, nil, "--registry", ts.URL, "--user", "alice", "--password", "s3cret", "--subject", "s", "docs.json"); r.code != 0 {
		t.Errorf("credentials from flags: exit %d: %s", r.code, r.stderr)
	}
	if r := run(t, dir, nil, "--registry", ts.URL, "--user", "alice", "--password", "wrong", "--subject", "s", "docs.json"); r.code != 1 || !strings.Contains(r.stderr, "401") {
		t.Errorf("wrong password: exit %d: %s", r.code, r.stderr)
	}
}

// TestEvolveTLSAndApplyText: an https registry is verified against
// --tls-ca (and refused without it), and --apply in text output registers
// the first version and says which.
func TestEvolveTLSAndApplyText(t *testing.T) {
	t.Parallel()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	ts.StartTLS()
	t.Cleanup(ts.Close)
	dir := writeDocs(t, `{"_id": "o1", "total": 5}`)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, dir, nil, "--registry", ts.URL, "--subject", "orders-value", "docs.json"); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("without --tls-ca: exit %d: %s", r.code, r.stderr)
	}
	r := run(t, dir, nil, "--registry", ts.URL, "--tls-ca", "ca.pem", "--subject", "orders-value", "--apply", "docs.json")
	if r.code != 0 || !strings.Contains(r.stdout, "registered orders-value version 1, id 1\n") {
		t.Fatalf("--apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	c, err := registry.NewClient(ts.URL, registry.ClientOptions{TLS: &tls.Config{RootCAs: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}})
	if err != nil {
		t.Fatal(err)
	}
	if vs := versions(t, c, "orders-value"); len(vs) != 1 {
		t.Errorf("versions %v after --apply", vs)
	}
	// The same documents now fit: nothing to apply.
	r = run(t, dir, nil, "--registry", ts.URL, "--tls-ca", "ca.pem", "--subject", "orders-value", "--apply", "docs.json")
	if r.code != 0 || strings.Contains(r.stdout, "registered") || !strings.Contains(r.stdout, "no new version needed") {
		t.Errorf("--apply without change: exit %d\n%s", r.code, r.stdout)
	}
}
