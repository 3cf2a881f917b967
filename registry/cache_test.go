package registry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

// TestClientCacheBoundedInBytes: the client's schemas by id are kept within
// CacheBytes, least recently used out first, against our registry over
// HTTP; the test counts the requests that reach it.
func TestClientCacheBoundedInBytes(t *testing.T) {
	t.Parallel()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			fetches.Add(1)
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	ctx := context.Background()
	// Schemas of about 1 KB each (ids 1..5), and one of 8 KB (id 6).
	schema := func(i, size int) string {
		return fmt.Sprintf(`{"type":"record","name":"R%d","doc":"%s","fields":[]}`, i, strings.Repeat("x", size))
	}
	admin, err := registry.NewClient(ts.URL, registry.ClientOptions{CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		size := 1000
		if i == 6 {
			size = 8000
		}
		if _, err := admin.Register(ctx, fmt.Sprintf("s%d", i), registry.RegisterRequest{Schema: schema(i, size)}, false); err != nil {
			t.Fatal(err)
		}
	}
	// Room for three 1 KB schemas, not four, and not the 8 KB one.
	c, err := registry.NewClient(ts.URL, registry.ClientOptions{CacheBytes: 3 * 1300})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		id      int
		fetched bool // whether the client had to ask the registry
	}{
		{1, true}, {2, true}, {3, true},
		{1, false}, {2, false}, {3, false}, // all three kept
		{4, true},  // the least recently used, 1, goes
		{2, false}, // 2 and 3 stay
		{1, true},  // 1 was dropped; 3 goes now
		{4, false}, {2, false},
		{3, true},
		{6, true}, {6, true}, // larger than the bound: never kept
		{2, false}, // and it pushed nothing out
	}
	for n, st := range steps {
		before := fetches.Load()
		got, err := c.SchemaByID(ctx, st.id)
		if err != nil {
			t.Fatalf("step %d id %d: %v", n, st.id, err)
		}
		if !strings.Contains(got.Schema, fmt.Sprintf(`"R%d"`, st.id)) {
			t.Fatalf("step %d id %d: got %s", n, st.id, got.Schema[:40])
		}
		if fetched := fetches.Load() > before; fetched != st.fetched {
			t.Errorf("step %d: id %d fetched from the registry = %v, want %v", n, st.id, fetched, st.fetched)
		}
	}
}

// TestClientCacheDefault: the default bound is DefaultCacheBytes, and -1
// turns the cache off.
func TestClientCacheDefault(t *testing.T) {
	t.Parallel()
	srv, err := server.New(store.NewMemory(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	ctx := context.Background()
	off, _ := registry.NewClient(ts.URL, registry.ClientOptions{CacheBytes: -1})
	if _, err := off.Register(ctx, "s", registry.RegisterRequest{Schema: `"string"`}, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		bytes int64
		want  int64 // requests for three reads of id 1
	}{{"default", 0, 1}, {"off", -1, 3}} {
		c, _ := registry.NewClient(ts.URL, registry.ClientOptions{CacheBytes: tc.bytes})
		before := fetches.Load()
		for range 3 {
			if _, err := c.SchemaByID(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}
		if got := fetches.Load() - before; got != tc.want {
			t.Errorf("%s: %d requests, want %d", tc.name, got, tc.want)
		}
	}
	if registry.DefaultCacheBytes != 32<<20 {
		t.Errorf("DefaultCacheBytes = %d, documented as 32 MiB", registry.DefaultCacheBytes)
	}
}
