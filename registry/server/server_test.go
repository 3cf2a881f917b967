package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

func newServer(t *testing.T, s store.Store) *httptest.Server {
	t.Helper()
	srv, err := server.New(s, server.Options{MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

func client(ts *httptest.Server) *srclient.SchemaRegistryClient {
	c := srclient.CreateSchemaRegistryClient(ts.URL)
	c.CachingEnabled(false)
	return c
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

const (
	userV1 = `{"type":"record","name":"User","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}`
	userV2 = `{"type":"record","name":"User","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}`
	userV3 = `{"type":"record","name":"User","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"age","type":"int"}]}`
)

// TestSrclient uses the registry the way srclient users do.
func TestSrclient(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	c := client(ts)

	s1, err := c.CreateSchema("users-value", userV1, srclient.Avro)
	if err != nil {
		t.Fatal(err)
	}
	// Registering is idempotent: same schema, same id and version.
	again, err := c.CreateSchema("users-value", strings.ReplaceAll(userV1, ",", ", "), srclient.Avro)
	if err != nil || again.ID() != s1.ID() {
		t.Fatalf("re-register: %v %v", again, err)
	}
	// The same schema under another subject gets the same id.
	other, err := c.CreateSchema("customers-value", userV1, srclient.Avro)
	if err != nil || other.ID() != s1.ID() {
		t.Fatalf("other subject: %v %v", other, err)
	}
	s2, err := c.CreateSchema("users-value", userV2, srclient.Avro)
	if err != nil || s2.ID() == s1.ID() {
		t.Fatalf("v2: %v %v", s2, err)
	}
	// An incompatible schema is rejected with 409.
	_, err = c.CreateSchema("users-value", userV3, srclient.Avro)
	if err == nil || apiCode(t, err) != 409 || !strings.Contains(err.Error(), `reader field \"age\" has no default value`) {
		t.Fatalf("incompatible: %v", err)
	}
	ok, err := c.IsSchemaCompatible("users-value", userV3, "latest", srclient.Avro)
	if err != nil || ok {
		t.Fatalf("compatibility of v3: %v %v", ok, err)
	}
	ok, err = c.IsSchemaCompatible("users-value", userV2, "1", srclient.Avro)
	if err != nil || !ok {
		t.Fatalf("compatibility of v2 with v1: %v %v", ok, err)
	}

	got, err := c.GetSchema(s2.ID())
	if err != nil || got.Schema() != userV2 {
		t.Fatalf("by id: %v %v", got, err)
	}
	latest, err := c.GetLatestSchema("users-value")
	if err != nil || latest.Version() != 2 || latest.ID() != s2.ID() {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	v1, err := c.GetSchemaByVersion("users-value", 1)
	if err != nil || v1.ID() != s1.ID() {
		t.Fatalf("version 1: %v %v", v1, err)
	}
	versions, err := c.GetSchemaVersions("users-value")
	if err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("versions: %v %v", versions, err)
	}
	subjects, err := c.GetSubjects()
	if err != nil || !slices.Equal(subjects, []string{"customers-value", "users-value"}) {
		t.Fatalf("subjects: %v %v", subjects, err)
	}
	found, err := c.LookupSchema("users-value", userV1, srclient.Avro)
	if err != nil || found.ID() != s1.ID() || found.Version() != 1 {
		t.Fatalf("lookup: %v %v", found, err)
	}
	if _, err := c.LookupSchema("users-value", userV3, srclient.Avro); err == nil || apiCode(t, err) != 40403 {
		t.Fatalf("lookup of an unregistered schema: %v", err)
	}
	if _, err := c.GetSchema(999); err == nil || apiCode(t, err) != 40403 {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := c.GetLatestSchema("nope"); err == nil || apiCode(t, err) != 40401 {
		t.Fatalf("unknown subject: %v", err)
	}
	usedBy, err := c.GetSubjectVersionsById(s1.ID())
	if err != nil || len(usedBy) != 2 {
		t.Fatalf("versions by id: %v %v", usedBy, err)
	}

	// Compatibility levels.
	global, err := c.GetGlobalCompatibilityLevel()
	if err != nil || *global != srclient.Backward {
		t.Fatalf("global level: %v %v", global, err)
	}
	if _, err := c.ChangeSubjectCompatibilityLevel("users-value", srclient.None); err != nil {
		t.Fatal(err)
	}
	lvl, err := c.GetCompatibilityLevel("users-value", false)
	if err != nil || *lvl != srclient.None {
		t.Fatalf("subject level: %v %v", lvl, err)
	}
	if _, err := c.CreateSchema("users-value", userV3, srclient.Avro); err != nil {
		t.Fatalf("at NONE anything goes: %v", err)
	}

	// Deletes: soft, then permanent; permanent only after soft.
	do(t, ts, call{method: "DELETE", path: "/subjects/users-value/versions/3?permanent=true", status: 404, code: 40407})
	if err := c.DeleteSubjectByVersion("users-value", 3, false); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSubjectByVersion("users-value", 3, false); err == nil || apiCode(t, err) != 40406 {
		t.Fatalf("second soft delete: %v", err)
	}
	do(t, ts, call{method: "DELETE", path: "/subjects/users-value/versions/3?permanent=true", status: 200, contains: "3"})
	// srclient's permanent delete soft-deletes, then hard-deletes.
	if err := c.DeleteSubjectByVersion("users-value", 2, true); err != nil {
		t.Fatal(err)
	}
	if versions, err := c.GetSchemaVersions("users-value"); err != nil || !slices.Equal(versions, []int{1}) {
		t.Fatalf("after deletes: %v %v", versions, err)
	}
	if err := c.DeleteSubject("customers-value", true); err == nil || apiCode(t, err) != 40405 {
		t.Fatalf("hard subject delete before soft: %v", err)
	}
	if err := c.DeleteSubject("customers-value", false); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSubject("customers-value", false); err == nil || apiCode(t, err) != 40404 {
		t.Fatalf("second soft subject delete: %v", err)
	}
	all, err := c.GetSubjectsIncludingDeleted()
	if err != nil || !slices.Contains(all, "customers-value") {
		t.Fatalf("with deleted: %v %v", all, err)
	}
	if err := c.DeleteSubject("customers-value", true); err != nil {
		t.Fatal(err)
	}
	// An id stays readable after its subject is gone.
	if got, err := c.GetSchema(s1.ID()); err != nil || got.Schema() != userV1 {
		t.Fatalf("id after delete: %v %v", got, err)
	}
}

// TestSrclientProtobufAndJSON registers Protobuf schemas with references and
// JSON schemas.
func TestSrclientProtobufAndJSON(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	c := client(ts)
	dep, err := c.CreateSchema("money", "syntax = \"proto3\";\npackage shop;\nmessage Money { string currency = 1; int64 units = 2; }\n", srclient.Protobuf)
	if err != nil {
		t.Fatal(err)
	}
	order := "syntax = \"proto3\";\npackage shop;\nimport \"money.proto\";\nmessage Order { string id = 1; shop.Money total = 2; }\n"
	ref := srclient.Reference{Name: "money.proto", Subject: "money", Version: 1}
	o1, err := c.CreateSchema("orders-value", order, srclient.Protobuf, ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSchema(o1.ID())
	if err != nil || len(got.References()) != 1 || *got.SchemaType() != srclient.Protobuf {
		t.Fatalf("by id: %+v %v", got, err)
	}
	// A field type change is rejected, as Confluent rejects it.
	_, err = c.CreateSchema("orders-value", strings.Replace(order, "string id = 1", "int32 id = 1", 1), srclient.Protobuf, ref)
	if err == nil || apiCode(t, err) != 409 || !strings.Contains(err.Error(), "FIELD_SCALAR_KIND_CHANGED") {
		t.Fatalf("incompatible protobuf: %v", err)
	}
	// The referenced schema cannot be deleted while used.
	if err := c.DeleteSubject("money", false); err == nil || apiCode(t, err) != 42206 {
		t.Fatalf("delete of a referenced schema: %v", err)
	}
	resp, err := http.Get(ts.URL + "/subjects/money/versions/1/referencedby")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	_ = json.NewDecoder(resp.Body).Decode(&ids)
	resp.Body.Close()
	if !slices.Equal(ids, []int{o1.ID()}) || dep.ID() == o1.ID() {
		t.Fatalf("referencedby: %v", ids)
	}
	js, err := c.CreateSchema("events-value", `{"type":"object","properties":{"n":{"type":"integer"}}}`, srclient.Json)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSchema(js.ID()); err != nil || *got.SchemaType() != srclient.Json {
		t.Fatalf("json by id: %v %v", got, err)
	}
	if _, err := c.CreateSchema("events-value", `{"type": 5}`, srclient.Json); err == nil || apiCode(t, err) != 42201 {
		t.Fatalf("invalid json schema: %v", err)
	}
}

type call struct {
	method, path, contentType, body string
	status, code                    int
	contains                        string
}

func do(t *testing.T, ts *httptest.Server, c call) {
	t.Helper()
	req, err := http.NewRequest(c.method, ts.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	ct := c.contentType
	if ct == "" && c.body != "" {
		ct = "application/vnd.schemaregistry.v1+json"
	}
	if ct != "-" && ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != c.status {
		t.Errorf("%s %s: status %d, want %d: %s", c.method, c.path, resp.StatusCode, c.status, b)
		return
	}
	if c.code != 0 {
		var e struct {
			Code int `json:"error_code"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Code != c.code {
			t.Errorf("%s %s: body %s, want error_code %d", c.method, c.path, b, c.code)
		}
	}
	if !strings.Contains(string(b), c.contains) {
		t.Errorf("%s %s: body %s lacks %q", c.method, c.path, b, c.contains)
	}
}

// TestHTTPErrorsAndEndpoints checks the error codes and the endpoints
// srclient does not reach.
func TestHTTPErrorsAndEndpoints(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	reg := func(subject, schema string) call {
		b, _ := json.Marshal(map[string]string{"schema": schema})
		return call{method: "POST", path: "/subjects/" + subject + "/versions", body: string(b), status: 200, contains: `"id"`}
	}
	for _, c := range []call{
		{method: "GET", path: "/", status: 200, contains: "{}"},
		reg("a", userV1),
		reg("a", userV2),
		{method: "GET", path: "/schemas/types", status: 200, contains: `["AVRO","JSON","PROTOBUF"]`},
		{method: "GET", path: "/subjects/a/versions/latest/schema", status: 200, contains: `"email"`},
		{method: "GET", path: "/schemas/ids/1/schema", status: 200, contains: `"name":"User"`},
		{method: "GET", path: "/schemas/ids/1/subjects", status: 200, contains: `["a"]`},
		{method: "GET", path: "/schemas/ids/1/versions", status: 200, contains: `[{"subject":"a","version":1}]`},
		{method: "GET", path: "/subjects/a/versions/0", status: 422, code: 42202},
		{method: "GET", path: "/subjects/a/versions/x", status: 422, code: 42202},
		{method: "GET", path: "/subjects/a/versions/9", status: 404, code: 40402},
		{method: "GET", path: "/subjects/zz/versions", status: 404, code: 40401},
		{method: "GET", path: "/schemas/ids/77", status: 404, code: 40403},
		{method: "POST", path: "/subjects/a/versions", body: `{"schema": `, status: 400, code: 400},
		{method: "POST", path: "/subjects/a/versions", body: `{"schema": "{\"type\":\"nope\"}"}`, status: 422, code: 42201},
		{method: "POST", path: "/subjects/a/versions", body: `{"schema": "x", "schemaType": "XML"}`, status: 422, code: 42201},
		{method: "POST", path: "/subjects/a/versions", contentType: "text/xml", body: `{"schema": "{}"}`, status: 415},
		{method: "POST", path: "/subjects/a/versions", contentType: "application/json", body: `{"schema": "` + strings.Repeat("x", 2<<20) + `"}`, status: 413},
		{method: "POST", path: "/subjects/a/versions", contentType: "-", body: `{"schema": "\"string\""}`, status: 409, code: 409},
		{method: "POST", path: "/compatibility/subjects/a/versions/latest?verbose=true", body: `{"schema": "\"string\""}`, status: 200, contains: `"is_compatible":false,"messages":["`},
		{method: "POST", path: "/compatibility/subjects/a/versions?verbose=true", body: `{"schema": "{\"type\":\"nope\"}"}`, status: 200, contains: `"is_compatible":false`},
		{method: "POST", path: "/compatibility/subjects/new/versions/latest", body: `{"schema": "\"string\""}`, status: 200, contains: `"is_compatible":true`},
		{method: "GET", path: "/config", status: 200, contains: `{"compatibilityLevel":"BACKWARD"}`},
		{method: "PUT", path: "/config", body: `{"compatibility":"full"}`, status: 200, contains: `{"compatibility":"FULL"}`},
		{method: "PUT", path: "/config", body: `{"compatibility":"sideways"}`, status: 422, code: 42203},
		{method: "GET", path: "/config/a", status: 404, code: 40408},
		{method: "GET", path: "/config/a?defaultToGlobal=true", status: 200, contains: `"FULL"`},
		{method: "PUT", path: "/config/a", body: `{"compatibility":"NONE"}`, status: 200},
		{method: "GET", path: "/config/a", status: 200, contains: `"NONE"`},
		{method: "DELETE", path: "/config/a", status: 200, contains: `"NONE"`},
		{method: "DELETE", path: "/config/a", status: 404, code: 40401},
		{method: "DELETE", path: "/config", status: 200, contains: `"FULL"`},
		{method: "GET", path: "/config", status: 200, contains: `"BACKWARD"`},
		{method: "GET", path: "/mode", status: 200, contains: `{"mode":"READWRITE"}`},
		{method: "PUT", path: "/mode", body: `{"mode":"sideways"}`, status: 422, code: 42204},
		{method: "GET", path: "/mode/a", status: 404, code: 40409},
		{method: "PUT", path: "/mode/a", body: `{"mode":"READONLY"}`, status: 200},
		reg("b", userV1),
		{method: "POST", path: "/subjects/a/versions", body: `{"schema": "\"string\""}`, status: 422, code: 42205},
		{method: "DELETE", path: "/subjects/a", status: 422, code: 42205},
		{method: "DELETE", path: "/mode/a", status: 200, contains: "READONLY"},
		{method: "PUT", path: "/mode", body: `{"mode":"IMPORT"}`, status: 422, code: 42205},
		{method: "POST", path: "/subjects/a/versions", body: `{"schema": "\"int\"", "id": 50}`, status: 422, code: 42205},
		{method: "PUT", path: "/mode/imp", body: `{"mode":"IMPORT"}`, status: 200},
		{method: "POST", path: "/subjects/imp/versions", body: `{"schema": "\"int\"", "id": 50, "version": 3}`, status: 200, contains: `{"id":50}`},
		{method: "POST", path: "/subjects/imp/versions", body: `{"schema": "\"long\"", "id": 50, "version": 4}`, status: 422, code: 42205},
		{method: "GET", path: "/subjects/imp/versions/3", status: 200, contains: `"id":50`},
		{method: "POST", path: "/subjects/imp", body: `{"schema": "\"int\""}`, status: 200, contains: `"version":3`},
		{method: "DELETE", path: "/subjects/a/versions/latest", status: 200, contains: "2"},
		{method: "GET", path: "/subjects/a/versions", status: 200, contains: "[1]"},
		{method: "GET", path: "/subjects/a/versions?deleted=true", status: 200, contains: "[1,2]"},
		{method: "GET", path: "/subjects/a/versions/2?deleted=true", status: 200, contains: `"deleted":true`},
	} {
		do(t, ts, c)
	}
}

// TestFileStoreRestart: the registry keeps its state across restarts, and a
// record half-written by a crash is dropped, not misread.
func TestFileStoreRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenFile(dir); err == nil {
		t.Fatal("a second server opened the same directory")
	}
	ts := newServer(t, st)
	c := client(ts)
	s1, err := c.CreateSchema("users-value", userV1, srclient.Avro)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.CreateSchema("users-value", userV2, srclient.Avro)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ChangeSubjectCompatibilityLevel("users-value", srclient.Full); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSubjectByVersion("users-value", 1, false); err != nil {
		t.Fatal(err)
	}
	ts.Close()
	st.Close()

	// A crash in the middle of a write leaves a partial last line.
	logf, err := os.OpenFile(filepath.Join(dir, store.LogName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = logf.WriteString(`{"key":{"keytype":"SCHEMA","subject":"half","version":1,"magic":1},"value":{"sub`)
	logf.Close()

	st2, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	ts2 := newServer(t, st2)
	c2 := client(ts2)
	latest, err := c2.GetLatestSchema("users-value")
	if err != nil || latest.ID() != s2.ID() || latest.Version() != 2 {
		t.Fatalf("after restart: %+v %v", latest, err)
	}
	if got, err := c2.GetSchema(s1.ID()); err != nil || got.Schema() != userV1 {
		t.Fatalf("id after restart: %v %v", got, err)
	}
	versions, err := c2.GetSchemaVersions("users-value")
	if err != nil || !slices.Equal(versions, []int{2}) {
		t.Fatalf("the soft delete must survive: %v %v", versions, err)
	}
	lvl, err := c2.GetCompatibilityLevel("users-value", false)
	if err != nil || *lvl != srclient.Full {
		t.Fatalf("level after restart: %v %v", lvl, err)
	}
	if subs, _ := c2.GetSubjectsIncludingDeleted(); slices.Contains(subs, "half") {
		t.Fatal("the half-written record was applied")
	}
	// New writes go after the dropped partial line and survive another restart.
	s3, err := c2.CreateSchema("other", userV1, srclient.Avro)
	if err != nil || s3.ID() != s1.ID() {
		t.Fatalf("register after recovery: %v %v", s3, err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, store.LogName))
	if strings.Contains(string(raw), `"sub`+"\n") || !strings.HasSuffix(string(raw), "\n") {
		t.Fatalf("log not repaired:\n%s", raw)
	}
}

// TestAvroReferences registers an Avro schema that uses a named type of
// another subject, as Confluent's serializers do for shared types.
func TestAvroReferences(t *testing.T) {
	t.Parallel()
	ts := newServer(t, store.NewMemory())
	c := client(ts)
	money := `{"type":"record","name":"Money","namespace":"shop","fields":[{"name":"units","type":"long"},{"name":"currency","type":"string"}]}`
	if _, err := c.CreateSchema("money", money, srclient.Avro); err != nil {
		t.Fatal(err)
	}
	order := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"total","type":"shop.Money"}]}`
	ref := srclient.Reference{Name: "shop.Money", Subject: "money", Version: 1}
	o, err := c.CreateSchema("orders", order, srclient.Avro, ref)
	if err != nil {
		t.Fatal(err)
	}
	// Without the reference the type is unknown.
	if _, err := c.CreateSchema("orders2", order, srclient.Avro); err == nil || apiCode(t, err) != 42201 {
		t.Fatalf("missing reference: %v", err)
	}
	// Compatibility is checked with the referenced types resolved.
	order2 := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"total","type":"shop.Money"},{"name":"note","type":["null","string"],"default":null}]}`
	o2, err := c.CreateSchema("orders", order2, srclient.Avro, ref)
	if err != nil || o2.ID() == o.ID() {
		t.Fatalf("second version: %v %v", o2, err)
	}
	do(t, ts, call{method: "GET", path: "/subjects/money/versions/1/referencedby", status: 200, contains: fmt.Sprintf("[%d,%d]", o.ID(), o2.ID())})
}
