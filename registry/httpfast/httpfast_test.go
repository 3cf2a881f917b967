package httpfast_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"golang.org/x/crypto/bcrypt"

	"github.com/schemaflow/schemaflow/processor/console"
	"github.com/schemaflow/schemaflow/registry/httpfast"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

const (
	userV1 = `{"type":"record","name":"User","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}`
	userV2 = `{"type":"record","name":"User","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}`
	// userV3 adds a field without a default: BACKWARD refuses it (409).
	userV3 = `{"type":"record","name":"User","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"age","type":"int"}]}`
	// maxBody is the registry's body limit in these tests.
	maxBody  = 4096
	password = "s3cret"
)

// setup is how a test registry is served.
type setup struct {
	engine string // "net" or "fasthttp"
	auth   bool   // basic auth, user alice
	tls    bool
}

// served is a running registry.
type served struct {
	url    string
	client *http.Client
	// fallbacks counts the requests that reached the net/http handler:
	// all of them with net, those the fasthttp engine did not answer
	// itself with fasthttp.
	fallbacks *atomic.Int64
}

// serve starts a registry on a loopback port as `registry serve` wires
// it: the console mounted, RequireAuth around it when auth is on, the
// engine asked for, TLS when asked.
func serve(t *testing.T, st setup) *served {
	t.Helper()
	srv, err := server.New(store.NewMemory(), server.Options{MaxBodyBytes: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Options{Registry: console.HandlerRegistry{Handler: srv}, Realm: "schemaflow registry"})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = c.Mount(srv)
	var users *server.Users
	if st.auth {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		users, err = server.ParseUsers("users", strings.NewReader("alice:"+string(hash)+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		h = server.RequireAuth(users, h)
	}
	fallbacks := &atomic.Int64{}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fallbacks.Add(1)
		h.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
	scheme := "http"
	if st.tls {
		cert, pool := selfSigned(t)
		// As `registry serve` configures TLS: no ALPN, so HTTP/1.1.
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		tr.ForceAttemptHTTP2 = true // offers h2; the server does not take it
		scheme = "https"
	}
	var serveFn func(net.Listener) error
	var shutdown func(context.Context) error
	switch st.engine {
	case "net":
		hs := &http.Server{Handler: counted, ReadHeaderTimeout: 10 * time.Second}
		serveFn, shutdown = hs.Serve, hs.Shutdown
	case "fasthttp":
		fs, err := httpfast.New(srv, counted, httpfast.Options{Users: users})
		if err != nil {
			t.Fatal(err)
		}
		serveFn, shutdown = fs.Serve, fs.Shutdown
	default:
		t.Fatalf("engine %q", st.engine)
	}
	done := make(chan error, 1)
	go func() { done <- serveFn(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return &served{url: scheme + "://" + ln.Addr().String(), client: &http.Client{Transport: tr}, fallbacks: fallbacks}
}

// selfSigned is a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// step is one request and what its answer must be.
type step struct {
	name        string
	method      string
	path        string
	body        string
	user        string // basic auth user; password is password unless pass is set
	pass        string
	chunked     bool // send the body chunked, without a Content-Length
	expect      bool // send Expect: 100-continue
	status      int
	code        int    // the answer's error_code, when an error
	contains    string // the body contains it
	contentType string // the answer's Content-Type; default the registry's
	// native: the fasthttp engine answers it without the net/http
	// handler (a precomputed answer); else through it.
	native bool
}

// answer is what a step got.
type answer struct {
	status      int
	contentType string
	auth        string // WWW-Authenticate
	body        []byte
	proto       string
}

const jsonType = "application/vnd.schemaregistry.v1+json"

func schemaBody(schema string) string {
	b, _ := json.Marshal(map[string]string{"schema": schema})
	return string(b)
}

func (s *served) do(t *testing.T, st step) answer {
	t.Helper()
	a, err := s.try(st)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// try sends a step's request and reads its answer.
func (s *served) try(st step) (answer, error) {
	var body io.Reader
	if st.body != "" {
		body = strings.NewReader(st.body)
		if st.chunked {
			body = io.MultiReader(body) // no length: sent chunked
		}
	}
	req, err := http.NewRequest(st.method, s.url+st.path, body)
	if err != nil {
		return answer{}, err
	}
	if st.body != "" {
		req.Header.Set("Content-Type", jsonType)
	}
	if st.expect {
		req.Header.Set("Expect", "100-continue")
	}
	if st.user != "" {
		pass := password
		if st.pass != "" {
			pass = st.pass
		}
		req.SetBasicAuth(st.user, pass)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s: %w", st.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s: reading the answer: %w", st.name, err)
	}
	return answer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), auth: resp.Header.Get("WWW-Authenticate"), body: b, proto: resp.Proto}, nil
}

// check runs steps against one engine and checks each answer; it returns
// the answers, for comparing the engines.
func check(t *testing.T, s *served, engine string, steps []step) []answer {
	t.Helper()
	var got []answer
	for _, st := range steps {
		before := s.fallbacks.Load()
		a := s.do(t, st)
		got = append(got, a)
		if a.status != st.status {
			t.Errorf("%s %s: status %d, want %d; body %s", engine, st.name, a.status, st.status, a.body)
			continue
		}
		wantType := st.contentType
		if wantType == "" {
			wantType = jsonType
		}
		if st.method != http.MethodHead && a.contentType != wantType {
			t.Errorf("%s %s: Content-Type %q, want %q", engine, st.name, a.contentType, wantType)
		}
		if st.code != 0 {
			var e struct {
				Code int `json:"error_code"`
			}
			if err := json.Unmarshal(a.body, &e); err != nil || e.Code != st.code {
				t.Errorf("%s %s: error_code %d (%v), want %d; body %s", engine, st.name, e.Code, err, st.code, a.body)
			}
		}
		if !bytes.Contains(a.body, []byte(st.contains)) {
			t.Errorf("%s %s: body %s does not contain %q", engine, st.name, a.body, st.contains)
		}
		if st.method == http.MethodHead && len(a.body) != 0 {
			t.Errorf("%s %s: HEAD answered a body: %s", engine, st.name, a.body)
		}
		if engine == "fasthttp" {
			native := s.fallbacks.Load() == before
			if native != st.native {
				t.Errorf("fasthttp %s: answered natively %v, want %v", st.name, native, st.native)
			}
		}
	}
	return got
}

// runBoth runs the steps against a registry served by each engine and
// checks that the engines answer alike: status, Content-Type,
// WWW-Authenticate and body, byte for byte.
func runBoth(t *testing.T, st setup, steps []step) map[string][]answer {
	t.Helper()
	out := map[string][]answer{}
	for _, engine := range []string{"net", "fasthttp"} {
		st.engine = engine
		out[engine] = check(t, serve(t, st), engine, steps)
	}
	for i, s := range steps {
		n, f := out["net"][i], out["fasthttp"][i]
		if n.status != f.status || n.contentType != f.contentType || n.auth != f.auth || !bytes.Equal(n.body, f.body) {
			t.Errorf("%s: the engines differ:\nnet      %d %q %q %s\nfasthttp %d %q %q %s", s.name, n.status, n.contentType, n.auth, n.body, f.status, f.contentType, f.auth, f.body)
		}
	}
	return out
}

// TestEnginesAnswerAlike runs the registry's HTTP behaviour against both
// engines from one table: reads and lookups (the first through net/http,
// the next natively), error codes, the body limit, the console, HEAD,
// chunked bodies and 100-continue, and writes that must clear the
// precomputed answers.
func TestEnginesAnswerAlike(t *testing.T) {
	t.Parallel()
	big := schemaBody(strings.Repeat(" ", maxBody) + userV1)
	steps := []step{
		{name: "register v1", method: "POST", path: "/subjects/users/versions", body: schemaBody(userV1), status: 200, contains: `{"id":1}`},
		{name: "by id, first", method: "GET", path: "/schemas/ids/1", status: 200, contains: `"schema":"{\"type\":\"record\"`},
		{name: "by id, again", method: "GET", path: "/schemas/ids/1", status: 200, contains: `"schema":"{\"type\":\"record\"`, native: true},
		{name: "by id with a query", method: "GET", path: "/schemas/ids/1?fetchMaxId=false", status: 200, contains: `"schema"`},
		{name: "lookup, first", method: "POST", path: "/subjects/users", body: schemaBody(userV1), status: 200, contains: `"id":1`},
		{name: "lookup, again", method: "POST", path: "/subjects/users", body: schemaBody(userV1), status: 200, contains: `"id":1`, native: true},
		{name: "lookup, chunked", method: "POST", path: "/subjects/users", body: schemaBody(userV1), chunked: true, status: 200, contains: `"id":1`, native: true},
		{name: "lookup, 100-continue", method: "POST", path: "/subjects/users", body: schemaBody(userV1), expect: true, status: 200, contains: `"id":1`, native: true},
		{name: "lookup miss: unknown schema", method: "POST", path: "/subjects/users", body: schemaBody(userV3), status: 404, code: 40403},
		{name: "lookup miss, again (errors are not kept)", method: "POST", path: "/subjects/users", body: schemaBody(userV3), status: 404, code: 40403},
		{name: "unknown subject", method: "GET", path: "/subjects/nope/versions", status: 404, code: 40401},
		{name: "unknown id", method: "GET", path: "/schemas/ids/99", status: 404, code: 40403},
		{name: "invalid schema", method: "POST", path: "/subjects/users/versions", body: schemaBody(`{"type":"record"`), status: 422, code: 42201},
		{name: "incompatible schema", method: "POST", path: "/subjects/users/versions", body: schemaBody(userV3), status: 409, code: 409},
		{name: "lookup past the body limit", method: "POST", path: "/subjects/users", body: big, status: 413, code: 413},
		{name: "register past the body limit", method: "POST", path: "/subjects/users/versions", body: big, status: 413, code: 413},
		{name: "register past the body limit, chunked", method: "POST", path: "/subjects/users/versions", body: big, chunked: true, status: 413, code: 413},
		{name: "versions before the write", method: "GET", path: "/subjects/users/versions", status: 200, contains: "[1]"},
		{name: "versions before the write, again", method: "GET", path: "/subjects/users/versions", status: 200, contains: "[1]", native: true},
		{name: "latest before the write", method: "GET", path: "/subjects/users/versions/latest", status: 200, contains: `"version":1`},
		{name: "register v2", method: "POST", path: "/subjects/users/versions", body: schemaBody(userV2), expect: true, status: 200, contains: `{"id":2}`},
		{name: "versions after the write", method: "GET", path: "/subjects/users/versions", status: 200, contains: "[1,2]"},
		{name: "versions after the write, again", method: "GET", path: "/subjects/users/versions", status: 200, contains: "[1,2]", native: true},
		{name: "latest after the write", method: "GET", path: "/subjects/users/versions/latest", status: 200, contains: `"version":2`},
		{name: "lookup v1 after the write", method: "POST", path: "/subjects/users", body: schemaBody(userV1), status: 200, contains: `"version":1`},
		{name: "HEAD by id", method: "HEAD", path: "/schemas/ids/1", status: 200},
		{name: "delete version 2", method: "DELETE", path: "/subjects/users/versions/2", status: 200, contains: "2"},
		{name: "versions after the delete", method: "GET", path: "/subjects/users/versions", status: 200, contains: "[1]"},
		{name: "register in a context", method: "POST", path: "/subjects/:.ctx:users/versions", body: schemaBody(userV1), status: 200, contains: `{"id":1}`},
		{name: "by id in a context, URL form", method: "GET", path: "/contexts/.ctx/schemas/ids/1", status: 200, contains: `"schema"`},
		{name: "by id in a context, URL form, again", method: "GET", path: "/contexts/.ctx/schemas/ids/1", status: 200, contains: `"schema"`, native: true},
		{name: "lookup in a context, URL form", method: "POST", path: "/contexts/.ctx/subjects/users", body: schemaBody(userV1), status: 200, contains: `"subject":":.ctx:users"`},
		{name: "lookup in a context, URL form, again", method: "POST", path: "/contexts/.ctx/subjects/users", body: schemaBody(userV1), status: 200, contains: `"subject":":.ctx:users"`, native: true},
		{name: "lookup, escaped subject", method: "POST", path: "/subjects/%3A.ctx%3Ausers", body: schemaBody(userV1), status: 200, contains: `"subject":":.ctx:users"`},
		{name: "lookup, escaped subject, again", method: "POST", path: "/subjects/%3A.ctx%3Ausers", body: schemaBody(userV1), status: 200, contains: `"subject":":.ctx:users"`, native: true},
		// A lookup of subject "users/versions", whose decoded path ends in
		// /versions: never kept, so never answered natively.
		{name: "lookup of an escaped users/versions", method: "POST", path: "/subjects/users%2Fversions", body: schemaBody(userV1), status: 404, code: 40401},
		{name: "lookup of an escaped users/versions, again", method: "POST", path: "/subjects/users%2Fversions", body: schemaBody(userV1), status: 404, code: 40401},
		{name: "console page", method: "GET", path: "/console/", status: 200, contentType: "text/html; charset=utf-8", contains: "users"},
		{name: "console page, again", method: "GET", path: "/console/", status: 200, contentType: "text/html; charset=utf-8", contains: "users"},
	}
	runBoth(t, setup{}, steps)
}

// TestEnginesAuth: with --users, every request needs credentials; a
// precomputed answer is never given without them.
func TestEnginesAuth(t *testing.T) {
	t.Parallel()
	steps := []step{
		{name: "no credentials", method: "GET", path: "/subjects", status: 401, code: 40101, native: true},
		{name: "register", method: "POST", path: "/subjects/users/versions", user: "alice", body: schemaBody(userV1), status: 200, contains: `{"id":1}`},
		{name: "by id", method: "GET", path: "/schemas/ids/1", user: "alice", status: 200, contains: `"schema"`},
		{name: "by id, again", method: "GET", path: "/schemas/ids/1", user: "alice", status: 200, contains: `"schema"`, native: true},
		{name: "by id without credentials, its answer kept", method: "GET", path: "/schemas/ids/1", status: 401, code: 40101, native: true},
		{name: "by id, wrong password", method: "GET", path: "/schemas/ids/1", user: "alice", pass: "wrong", status: 401, code: 40101, native: true},
		{name: "by id, unknown user", method: "GET", path: "/schemas/ids/1", user: "bob", status: 401, code: 40101, native: true},
		{name: "lookup", method: "POST", path: "/subjects/users", user: "alice", body: schemaBody(userV1), status: 200, contains: `"id":1`},
		{name: "lookup, again", method: "POST", path: "/subjects/users", user: "alice", body: schemaBody(userV1), status: 200, contains: `"id":1`, native: true},
		{name: "lookup, wrong password", method: "POST", path: "/subjects/users", user: "alice", pass: "wrong", body: schemaBody(userV1), status: 401, code: 40101, native: true},
		{name: "console without credentials", method: "GET", path: "/console/", status: 401, code: 40101, native: true},
		{name: "console", method: "GET", path: "/console/", user: "alice", status: 200, contentType: "text/html; charset=utf-8", contains: "users"},
	}
	got := runBoth(t, setup{auth: true}, steps)
	if a := got["fasthttp"][0].auth; a != `Basic realm="schemaflow registry"` {
		t.Errorf("WWW-Authenticate %q", a)
	}
}

// TestEnginesTLS serves both engines over TLS as `registry serve` does:
// HTTP/1.1, even to a client that offers HTTP/2.
func TestEnginesTLS(t *testing.T) {
	t.Parallel()
	steps := []step{
		{name: "register", method: "POST", path: "/subjects/users/versions", body: schemaBody(userV1), status: 200, contains: `{"id":1}`},
		{name: "by id", method: "GET", path: "/schemas/ids/1", status: 200, contains: `"schema"`},
		{name: "by id, again", method: "GET", path: "/schemas/ids/1", status: 200, contains: `"schema"`, native: true},
		{name: "lookup", method: "POST", path: "/subjects/users", body: schemaBody(userV1), status: 200, contains: `"id":1`},
		{name: "lookup, again", method: "POST", path: "/subjects/users", body: schemaBody(userV1), status: 200, contains: `"id":1`, native: true},
	}
	got := runBoth(t, setup{tls: true}, steps)
	for engine, answers := range got {
		for _, a := range answers {
			if a.proto != "HTTP/1.1" {
				t.Errorf("%s over TLS answered in %s, want HTTP/1.1", engine, a.proto)
			}
		}
	}
}

// TestEnginesSrclient uses each engine the way srclient users do, caching
// off so every call is a request.
func TestEnginesSrclient(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"net", "fasthttp"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := serve(t, setup{engine: engine, auth: true})
			c := srclient.CreateSchemaRegistryClient(s.url)
			c.CachingEnabled(false)
			c.SetCredentials("alice", password)
			s1, err := c.CreateSchema("users-value", userV1, srclient.Avro)
			if err != nil || s1.ID() != 1 {
				t.Fatalf("create v1: %v %v", s1, err)
			}
			for range 2 { // the second answers are precomputed
				got, err := c.GetSchema(1)
				if err != nil || got.Schema() != userV1 {
					t.Fatalf("by id: %v %v", got, err)
				}
				found, err := c.LookupSchema("users-value", userV1, srclient.Avro)
				if err != nil || found.ID() != 1 || found.Version() != 1 {
					t.Fatalf("lookup: %v %v", found, err)
				}
				latest, err := c.GetLatestSchema("users-value")
				if err != nil || latest.Version() != 1 {
					t.Fatalf("latest: %v %v", latest, err)
				}
			}
			if _, err := c.LookupSchema("users-value", userV3, srclient.Avro); apiCode(t, err) != 40403 {
				t.Fatalf("lookup of an unknown schema: %v", err)
			}
			if _, err := c.CreateSchema("users-value", userV3, srclient.Avro); apiCode(t, err) != 409 {
				t.Fatalf("incompatible: %v", err)
			}
			s2, err := c.CreateSchema("users-value", userV2, srclient.Avro)
			if err != nil || s2.ID() != 2 {
				t.Fatalf("create v2: %v %v", s2, err)
			}
			latest, err := c.GetLatestSchema("users-value")
			if err != nil || latest.Version() != 2 || latest.ID() != 2 {
				t.Fatalf("latest after the write (a stale answer?): %v %v", latest, err)
			}
			versions, err := c.GetSchemaVersions("users-value")
			if err != nil || fmt.Sprint(versions) != "[1 2]" {
				t.Fatalf("versions: %v %v", versions, err)
			}
			bad := srclient.CreateSchemaRegistryClient(s.url)
			bad.CachingEnabled(false)
			bad.SetCredentials("alice", "wrong")
			if _, err := bad.GetSchema(1); apiCode(t, err) != 40101 {
				t.Fatalf("wrong password: %v", err)
			}
		})
	}
}

func apiCode(t *testing.T, err error) int {
	t.Helper()
	var e srclient.Error
	if errors.As(err, &e) {
		return e.Code
	}
	var ep *srclient.Error
	if errors.As(err, &ep) {
		return ep.Code
	}
	t.Fatalf("not an API error: %v", err)
	return 0
}

// TestFastBodyTooLargeByContentLength: a Content-Length past the limit
// is refused from the header, with the registry's 413, and the
// connection is closed (the body is not read).
func TestFastBodyTooLargeByContentLength(t *testing.T) {
	t.Parallel()
	s := serve(t, setup{engine: "fasthttp"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /subjects/users HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", jsonType, 1<<30)
	// Far past the limit and its slack: refused before the body.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf(`{"error_code":413,"message":"request body larger than %d bytes"}`+"\n", maxBody)
	if resp.StatusCode != 413 || resp.Header.Get("Content-Type") != jsonType || string(body) != want || !resp.Close {
		t.Fatalf("got %d %q close=%v %s, want 413 %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Close, body, want)
	}
	if srv := resp.Header.Get("Server"); srv != "" {
		t.Errorf("Server header %q, want none", srv)
	}
}

// TestFastHeaders: a native answer carries what net/http's does:
// Content-Type, Content-Length and Date, no Server header, and the
// connection stays open (HTTP/1.1 keep-alive).
func TestFastHeaders(t *testing.T) {
	t.Parallel()
	s := serve(t, setup{engine: "fasthttp"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	reg := schemaBody(userV1)
	fmt.Fprintf(conn, "POST /subjects/users/versions HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", jsonType, len(reg), reg)
	var bodies []string
	for i := range 3 { // a register, then the read twice: computed, then precomputed
		if i > 0 {
			fmt.Fprintf(conn, "GET /schemas/ids/1 HTTP/1.1\r\nHost: x\r\n\r\n")
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d on one connection: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close || resp.Header.Get("Server") != "" || resp.Header.Get("Date") == "" ||
			resp.Header.Get("Content-Length") != fmt.Sprint(len(body)) || resp.Header.Get("Content-Type") != jsonType {
			t.Fatalf("answer %d: %d close=%v %v", i, resp.StatusCode, resp.Close, resp.Header)
		}
		bodies = append(bodies, string(body))
	}
	if bodies[1] != bodies[2] {
		t.Errorf("computed %s, precomputed %s", bodies[1], bodies[2])
	}
	if got := s.fallbacks.Load(); got != 2 {
		t.Errorf("%d requests went to net/http, want 2 (the register and the first read)", got)
	}
}

// TestFastShutdown: Shutdown closes idle keep-alive connections and
// returns; Serve returns nil.
func TestFastShutdown(t *testing.T) {
	t.Parallel()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := httpfast.New(srv, srv, httpfast.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fs.Serve(ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /subjects HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	_, _ = io.ReadAll(resp.Body)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fs.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an idle connection: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve after shutdown: %v", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the idle connection: %v, want EOF", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		reg  *server.Server
		h    http.Handler
	}{
		{"no registry", nil, srv},
		{"no handler", srv, nil},
	} {
		if _, err := httpfast.New(tc.reg, tc.h, httpfast.Options{}); err == nil || !strings.Contains(err.Error(), "a registry and a handler are required") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// startFast serves h (over reg) with the fasthttp engine and opts on a
// loopback port; it returns the address.
func startFast(t *testing.T, reg *server.Server, h http.Handler, opts httpfast.Options) string {
	t.Helper()
	fs, err := httpfast.New(reg, h, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := fs.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return ln.Addr().String()
}

// TestFastTimeouts: a connection that stalls in a request's header, in
// its body, or idles between requests is closed after the matching
// timeout, and not before the others would allow.
func TestFastTimeouts(t *testing.T) {
	t.Parallel()
	reg, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const short = 300 * time.Millisecond
	for _, tc := range []struct {
		name string
		opts httpfast.Options
		send string // then nothing
	}{
		{"header", httpfast.Options{ReadTimeout: short, BodyTimeout: time.Hour, IdleTimeout: time.Hour}, "GET /subjects HTTP/1.1\r\nHost: x\r\n"},
		{"body", httpfast.Options{ReadTimeout: time.Hour, BodyTimeout: short, IdleTimeout: time.Hour}, "POST /subjects/s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"},
		{"idle", httpfast.Options{ReadTimeout: time.Hour, BodyTimeout: time.Hour, IdleTimeout: short}, "GET /subjects HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := startFast(t, reg, reg, tc.opts)
			start := time.Now()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			// The server closes the connection (after an answer to the
			// complete request, for idle; after a 408 for a timeout).
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, err := io.ReadAll(conn)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("the connection was not closed: %v after %s", err, took)
			}
			if took < short {
				t.Errorf("closed after %s, before the %s timeout", took, short)
			}
			if took > 20*time.Second {
				t.Errorf("closed after %s", took)
			}
			if tc.name == "idle" && !bytes.HasPrefix(got, []byte("HTTP/1.1 200 OK")) {
				t.Errorf("the request before the idle time was not answered: %q", got)
			}
		})
	}
}

// TestFastPanic: a panic in the net/http handler answers 500 and closes
// the connection; the server keeps serving.
func TestFastPanic(t *testing.T) {
	t.Parallel()
	reg, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			panic("boom")
		}
		reg.ServeHTTP(w, r)
	})
	addr := startFast(t, reg, h, httpfast.Options{})
	resp, err := http.Get("http://" + addr + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !resp.Close {
		t.Fatalf("a panic: %d close=%v, want 500 and the connection closed", resp.StatusCode, resp.Close)
	}
	resp, err = http.Get("http://" + addr + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "[]\n" {
		t.Fatalf("after the panic: %d %s", resp.StatusCode, body)
	}
}

// TestFastConcurrent: readers hammer precomputed answers while a writer
// registers; every answer is whole and right, and once a registration
// has answered, every read sees it (no stale precomputed answer).
func TestFastConcurrent(t *testing.T) {
	t.Parallel()
	s := serve(t, setup{engine: "fasthttp"})
	first := s.do(t, step{name: "register", method: "POST", path: "/subjects/users/versions", body: schemaBody(userV1)})
	if first.status != 200 {
		t.Fatalf("register: %d %s", first.status, first.body)
	}
	want := s.do(t, step{name: "by id", method: "GET", path: "/schemas/ids/1"}).body
	stop := make(chan struct{})
	halt := sync.OnceFunc(func() { close(stop) })
	defer halt() // the readers stop when the test fails too
	errs := make(chan error, 8)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				a, err := s.try(step{name: "by id", method: "GET", path: "/schemas/ids/1"})
				if err != nil || a.status != 200 || !bytes.Equal(a.body, want) {
					errs <- fmt.Errorf("by id during writes: %d %s %v", a.status, a.body, err)
					return
				}
				l, err := s.try(step{name: "lookup", method: "POST", path: "/subjects/users", body: schemaBody(userV1)})
				if err != nil || l.status != 200 || !bytes.Contains(l.body, []byte(`"id":1`)) {
					errs <- fmt.Errorf("lookup during writes: %d %s %v", l.status, l.body, err)
					return
				}
			}
		}()
	}
	for i := range 20 {
		subject := fmt.Sprintf("/subjects/s%d", i)
		if a := s.do(t, step{name: "register", method: "POST", path: subject + "/versions", body: schemaBody(userV1)}); a.status != 200 {
			t.Fatalf("register %d: %d %s", i, a.status, a.body)
		}
		// The subject's versions, read right after: never a stale 404.
		if a := s.do(t, step{name: "versions", method: "GET", path: subject + "/versions"}); a.status != 200 || string(a.body) != "[1]\n" {
			t.Fatalf("versions of s%d right after its registration: %d %s", i, a.status, a.body)
		}
		if a := s.do(t, step{name: "subjects", method: "GET", path: "/subjects"}); !bytes.Contains(a.body, []byte(fmt.Sprintf(`"s%d"`, i))) {
			t.Fatalf("subjects right after registering s%d: %s", i, a.body)
		}
	}
	halt()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
