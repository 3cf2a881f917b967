package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/schemaflow/schemaflow/registry/store"
)

func serveJSON(t *testing.T, h http.Handler, method, path, contentType, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func recordOf(name string, fields int) string {
	fs := `{"name":"id","type":"long"}`
	for i := range fields {
		fs += fmt.Sprintf(`,{"name":"f%d","type":["null","string"],"default":null}`, i)
	}
	return fmt.Sprintf(`{"type":"record","name":%q,"fields":[%s]}`, name, fs)
}

func schemaBody(schema string) string {
	b, _ := json.Marshal(map[string]string{"schema": schema})
	return string(b)
}

const ctJSON = "application/vnd.schemaregistry.v1+json"

// TestAnswersFollowWrites: answers kept from earlier reads (latest version,
// lookups, subjects by id) change as soon as a write changes what they say.
func TestAnswersFollowWrites(t *testing.T) {
	t.Parallel()
	srv, err := New(store.NewMemory(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := func(subject, schema string) {
		if code, body := serveJSON(t, srv, "POST", "/subjects/"+subject+"/versions", ctJSON, schemaBody(schema)); code != 200 {
			t.Fatalf("register %s: %d %s", subject, code, body)
		}
	}
	reg("a", recordOf("R", 0))
	steps := []struct {
		name         string
		before       func()
		method, path string
		body         string
		status       int
		contains     string
	}{
		{"latest is v1", nil, "GET", "/subjects/a/versions/latest", "", 200, `"version":1`},
		{"latest after v2", func() { reg("a", recordOf("R", 1)) }, "GET", "/subjects/a/versions/latest", "", 200, `"version":2`},
		{"lookup of v1", nil, "POST", "/subjects/a", schemaBody(recordOf("R", 0)), 200, `"version":1`},
		{"lookup of v1 after a soft delete", func() {
			if code, _ := serveJSON(t, srv, "DELETE", "/subjects/a/versions/1", "", ""); code != 200 {
				t.Fatalf("delete: %d", code)
			}
		}, "POST", "/subjects/a", schemaBody(recordOf("R", 0)), 404, `"error_code":40403`},
		{"lookup of deleted v1 with deleted=true", nil, "POST", "/subjects/a?deleted=true", schemaBody(recordOf("R", 0)), 200, `"version":1`},
		{"subjects of id 1", nil, "GET", "/schemas/ids/1/subjects", "", 200, `[]`},
		{"subjects of id 1 after b registers it", func() { reg("b", recordOf("R", 0)) }, "GET", "/schemas/ids/1/subjects", "", 200, `["b"]`},
		{"a bad content type is refused even after a cached lookup", func() {
			if code, _ := serveJSON(t, srv, "POST", "/subjects/b", ctJSON, schemaBody(recordOf("R", 0))); code != 200 {
				t.Fatalf("lookup: %d", code)
			}
		}, "POST", "/subjects/b", schemaBody(recordOf("R", 0)), 415, `text/csv`},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		ct := ctJSON
		if st.status == 415 {
			ct = "text/csv"
		}
		// Twice: computed, then from the cache.
		for round := range 2 {
			code, body := serveJSON(t, srv, st.method, st.path, ct, st.body)
			if code != st.status || !strings.Contains(body, st.contains) {
				t.Errorf("%s (round %d): %d %s, want %d containing %s", st.name, round, code, body, st.status, st.contains)
			}
		}
	}
}

// TestAnswersBounded: the cache keeps no more bytes than
// AnswerCacheBytes, and answers past the bound are still right.
func TestAnswersBounded(t *testing.T) {
	t.Parallel()
	const limit = 4 << 10
	srv, err := New(store.NewMemory(), Options{AnswerCacheBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if code, body := serveJSON(t, srv, "POST", fmt.Sprintf("/subjects/s%d/versions", i), ctJSON, schemaBody(recordOf(fmt.Sprintf("R%d", i), i%5))); code != 200 {
			t.Fatalf("register: %d %s", code, body)
		}
	}
	for round := range 2 {
		for i := range 50 {
			code, body := serveJSON(t, srv, "GET", fmt.Sprintf("/schemas/ids/%d", i+1), "", "")
			if code != 200 || !strings.Contains(body, fmt.Sprintf(`\"R%d\"`, i)) {
				t.Fatalf("round %d id %d: %d %s", round, i+1, code, body)
			}
		}
	}
	srv.answers.mu.RLock()
	defer srv.answers.mu.RUnlock()
	if srv.answers.bytes > limit || len(srv.answers.m) == 0 || len(srv.answers.m) == 50 {
		t.Fatalf("cache holds %d answers, %d bytes; want some, at most %d bytes", len(srv.answers.m), srv.answers.bytes, limit)
	}
}

// TestAnswersUnderConcurrentWrites: readers of the latest version racing a
// writer never keep an answer older than the state: once the writes are
// done, every read gives the last version.
func TestAnswersUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	srv, err := New(store.NewMemory(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	const versions = 30
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, httptest.NewRequest("GET", "/subjects/a/versions/latest", nil))
				rec = httptest.NewRecorder()
				srv.ServeHTTP(rec, httptest.NewRequest("POST", "/subjects/a", bytes.NewReader([]byte(schemaBody(recordOf("R", 0))))))
			}
		}()
	}
	for v := range versions {
		if code, body := serveJSON(t, srv, "POST", "/subjects/a/versions", ctJSON, schemaBody(recordOf("R", v))); code != 200 {
			t.Fatalf("register: %d %s", code, body)
		}
	}
	close(stop)
	wg.Wait()
	code, body := serveJSON(t, srv, "GET", "/subjects/a/versions/latest", "", "")
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"version":%d`, versions)) {
		t.Fatalf("latest after the writes: %d %s", code, body)
	}
}

// TestLookupBodyLimit: a lookup body past MaxBodyBytes answers 413, as an
// uncached request does.
func TestLookupBodyLimit(t *testing.T) {
	t.Parallel()
	srv, err := New(store.NewMemory(), Options{MaxBodyBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	code, body := serveJSON(t, srv, "POST", "/subjects/a", ctJSON, schemaBody(recordOf("R", 5)))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than 100 bytes") {
		t.Fatalf("%d %s", code, body)
	}
}
