package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

// TestContexts: subjects qualified as :.ctx:name live in their own
// context, with their own ids (the first schema of each context is id 1),
// found by id with ?subject=:.ctx:, listed by /contexts, referenced by
// unqualified names from within the context, and replayed the same after a
// restart; srclient registers and reads qualified subjects. A context
// stays listed after its subjects are gone, until DELETE /contexts/{ctx},
// which refuses a context that holds subjects.
func TestContexts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func() (string, func()) {
		st, err := store.OpenFile(dir)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(st, server.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		stop := func() { ts.Close(); st.Close() }
		t.Cleanup(stop)
		return ts.URL, stop
	}
	url, stop := open()
	reg := func(subject string, body map[string]any) answer {
		t.Helper()
		return httpCall(t, "POST", url+"/subjects/"+subject+"/versions", body)
	}
	for _, tc := range []struct {
		subject string
		body    map[string]any
		id      int
	}{
		{"users-value", map[string]any{"schema": userV1}, 1},
		{":.prod:users-value", map[string]any{"schema": userV3}, 1},
		{":.prod:other", map[string]any{"schema": userV1}, 2},
		{":.prod:money", map[string]any{"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";\npackage shop;\nmessage Money { int64 units = 1; }"}, 3},
		{":.prod:orders", map[string]any{"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";\npackage shop;\nimport \"money.proto\";\nmessage Order { shop.Money total = 1; }",
			"references": []map[string]any{{"name": "money.proto", "subject": "money", "version": 1}}}, 4},
		{"other", map[string]any{"schema": userV3}, 2},
	} {
		if got := reg(tc.subject, tc.body); got.status != 200 || got.id() != tc.id {
			t.Fatalf("register %s: %d %s, want id %d", tc.subject, got.status, got.raw, tc.id)
		}
	}
	check := func(when string) {
		t.Helper()
		for _, tc := range []struct{ path, want string }{
			{"/contexts", `[".",".prod"]` + "\n"},
			{"/schemas/ids/1/subjects", `["users-value"]` + "\n"},
			{"/schemas/ids/1/subjects?subject=:.prod:", `[":.prod:users-value"]` + "\n"},
			{"/schemas/ids/2/subjects", `["other"]` + "\n"},
			{"/schemas/ids/2/subjects?subject=:.prod:x", `[":.prod:other"]` + "\n"},
			{"/subjects/:.prod:money/versions/1/referencedby", "[4]\n"},
			{"/subjects", `[":.prod:money",":.prod:orders",":.prod:other",":.prod:users-value","other","users-value"]` + "\n"},
		} {
			if got := httpCall(t, "GET", url+tc.path, nil); got.status != 200 || got.raw != tc.want {
				t.Fatalf("%s: GET %s: %d %s, want %s", when, tc.path, got.status, got.raw, tc.want)
			}
		}
		for _, tc := range []struct{ path, want string }{
			{"/schemas/ids/1", userV1},
			{"/schemas/ids/1?subject=:.prod:", userV3},
			{"/schemas/ids/2?subject=:.prod:", userV1},
		} {
			if got := httpCall(t, "GET", url+tc.path, nil); got.status != 200 || got.body["schema"] != tc.want {
				t.Fatalf("%s: GET %s: %s", when, tc.path, got.raw)
			}
		}
		if got := httpCall(t, "GET", url+"/schemas/ids/4", nil); got.status != 404 || got.code() != 40403 {
			t.Fatalf("%s: id 4 outside its context: %s", when, got.raw)
		}
		if got := httpCall(t, "POST", url+"/subjects/:.prod:users-value", map[string]any{"schema": userV3}); got.status != 200 || got.id() != 1 {
			t.Fatalf("%s: lookup in the context: %s", when, got.raw)
		}
	}
	check("before the restart")
	// Confluent's URL form: /contexts/{ctx}/... names the context's
	// subjects, schemas and config.
	for _, tc := range []struct{ path, want string }{
		{"/contexts/.prod/subjects", `[":.prod:money",":.prod:orders",":.prod:other",":.prod:users-value"]` + "\n"},
		{"/contexts/prod/subjects/users-value/versions", "[1]\n"},
		{"/contexts/./subjects", `["other","users-value"]` + "\n"},
		{"/subjects?subjectPrefix=:.prod:", `[":.prod:money",":.prod:orders",":.prod:other",":.prod:users-value"]` + "\n"},
		{"/contexts/.prod/schemas/ids/2/subjects", `[":.prod:other"]` + "\n"},
	} {
		if got := httpCall(t, "GET", url+tc.path, nil); got.status != 200 || got.raw != tc.want {
			t.Fatalf("GET %s: %d %s, want %s", tc.path, got.status, got.raw, tc.want)
		}
	}
	if got := httpCall(t, "GET", url+"/contexts/.prod/schemas/ids/1", nil); got.body["schema"] != userV3 {
		t.Fatalf("schema 1 of .prod by the URL form: %s", got.raw)
	}
	// A context's own level applies to its subjects only.
	if got := httpCall(t, "PUT", url+"/contexts/.prod/config", map[string]string{"compatibility": "NONE"}); got.status != 200 {
		t.Fatalf("context config: %s", got.raw)
	}
	idAsString := `{"type":"record","name":"User","namespace":"shop","fields":[{"name":"id","type":"string"}]}`
	if got := reg(":.prod:users-value", map[string]any{"schema": idAsString}); got.status != 200 || got.id() != 5 {
		t.Fatalf("an incompatible change under the context's NONE: %s", got.raw)
	}
	if got := reg("users-value", map[string]any{"schema": userV3}); got.status != 409 {
		t.Fatalf("an incompatible change in the default context: %s", got.raw)
	}
	// A reference is resolved in the referrer's context: money is not a
	// default-context subject.
	if got := reg("orders", map[string]any{"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";\npackage shop;\nimport \"money.proto\";\nmessage Order { shop.Money total = 1; }",
		"references": []map[string]any{{"name": "money.proto", "subject": "money", "version": 1}}}); got.status != 422 || got.code() != 42201 {
		t.Fatalf("default-context reference to a .prod subject: %s", got.raw)
	}
	// srclient with qualified subjects.
	c := srclient.CreateSchemaRegistryClient(url)
	c.CachingEnabled(false)
	s, err := c.CreateSchema(":.stage:users-value", userV2, srclient.Avro)
	if err != nil || s.ID() != 1 {
		t.Fatalf("srclient register in a new context: %v %v", s, err)
	}
	latest, err := c.GetLatestSchema(":.stage:users-value")
	if err != nil || latest.ID() != 1 || latest.Schema() != userV2 {
		t.Fatalf("srclient latest in the context: %v %v", latest, err)
	}
	if byID, err := c.GetSchema(1); err != nil || byID.Schema() != userV1 {
		t.Fatalf("srclient by id (default context): %v %v", byID, err)
	}
	stop()
	url, stop = open()
	if got := httpCall(t, "DELETE", url+"/subjects/:.stage:users-value", nil); got.status != 200 {
		t.Fatalf("delete in a context: %s", got.raw)
	}
	if got := httpCall(t, "DELETE", url+"/subjects/:.stage:users-value?permanent=true", nil); got.status != 200 {
		t.Fatalf("permanent delete in a context: %s", got.raw)
	}
	// As in Confluent, a context outlives its subjects (its CONTEXT record
	// stays) until DELETE /contexts/{ctx}, which only an empty context
	// takes.
	for _, tc := range []struct {
		method, path string
		status, code int
		raw          string
	}{
		{"GET", "/contexts", 200, 0, `[".",".prod",".stage"]` + "\n"},
		{"DELETE", "/contexts/.prod", 422, 42211, ""},
		{"DELETE", "/contexts/stage", 204, 0, ""},
		{"GET", "/contexts", 200, 0, `[".",".prod"]` + "\n"},
		{"DELETE", "/contexts/.never", 204, 0, ""},
		{"DELETE", "/contexts/a:b", 422, 42208, ""},
	} {
		got := httpCall(t, tc.method, url+tc.path, nil)
		if got.status != tc.status || got.code() != tc.code || (tc.raw != "" || tc.status == 204) && got.raw != tc.raw {
			t.Fatalf("%s %s: %d %q, want %d %d %q", tc.method, tc.path, got.status, got.raw, tc.status, tc.code, tc.raw)
		}
	}
	check("after the restart")
	// The deletion is in the log: it holds after another restart.
	stop()
	url, _ = open()
	check("after the context's deletion and a restart")
}

// rawRequest sends one request with its path exactly as given (a Go
// client or a browser would clean /contexts/. first) and reads the answer.
func rawRequest(t *testing.T, ts *httptest.Server, method, path string) (int, http.Header, string) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, method+" "+path+" HTTP/1.1\r\nHost: "+ts.Listener.Addr().String()+"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// TestDeleteDefaultContext: /contexts/. names the default context, which
// Confluent's ContextFilter turns into the root path: DELETE is refused
// with Confluent's 405 answer (the default context is never deleted,
// empty or not), GET answers the root's {}. A
// named context is still deleted through the same route, and the default
// context's subjects stay.
func TestDeleteDefaultContext(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	ts := newServer(t, st)
	if got := httpCall(t, "POST", ts.URL+"/subjects/users-value/versions", map[string]any{"schema": userV1}); got.status != 200 {
		t.Fatalf("register: %s", got.raw)
	}
	if got := httpCall(t, "POST", ts.URL+"/subjects/:.tmp:x/versions", map[string]any{"schema": userV1}); got.status != 200 {
		t.Fatalf("register in .tmp: %s", got.raw)
	}
	if got := httpCall(t, "DELETE", ts.URL+"/subjects/:.tmp:x?permanent=false", nil); got.status != 200 {
		t.Fatalf("soft delete: %s", got.raw)
	}
	if got := httpCall(t, "DELETE", ts.URL+"/subjects/:.tmp:x?permanent=true", nil); got.status != 200 {
		t.Fatalf("hard delete: %s", got.raw)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"DELETE", "/contexts/.", 405, `{"error_code":405,"message":"HTTP 405 Method Not Allowed"}` + "\n"},
		{"DELETE", "/contexts/./", 405, `{"error_code":405,"message":"HTTP 405 Method Not Allowed"}` + "\n"},
		{"PUT", "/contexts/.", 405, `{"error_code":405,"message":"HTTP 405 Method Not Allowed"}` + "\n"},
		{"GET", "/contexts/.", 200, "{}\n"},
		{"DELETE", "/contexts/.tmp", 204, ""},
	} {
		status, header, body := rawRequest(t, ts, tc.method, tc.path)
		if status != tc.status || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, status, body, tc.status, tc.body)
		}
		if status == 405 && !strings.Contains(header.Get("Allow"), "GET") {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, header.Get("Allow"))
		}
	}
	if got := httpCall(t, "GET", ts.URL+"/contexts", nil); strings.TrimSpace(got.raw) != `["."]` {
		t.Errorf("contexts after the deletes: %s", got.raw)
	}
	if got := httpCall(t, "GET", ts.URL+"/subjects/users-value/versions/1", nil); got.status != 200 {
		t.Errorf("the default context lost its subject: %s", got.raw)
	}
}
