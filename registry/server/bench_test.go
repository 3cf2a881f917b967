package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

func benchSchema(i int) string {
	return fmt.Sprintf(`{"type":"record","name":"R%d","namespace":"bench","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}`, i)
}

func registerDirect(b *testing.B, h http.Handler, subject, schema string) {
	body, _ := json.Marshal(map[string]string{"schema": schema})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/subjects/"+subject+"/versions", bytes.NewReader(body)))
	if rec.Code != 200 {
		b.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
}

// loopback starts the server on a loopback port and returns a client tuned
// for many concurrent keep-alive connections.
func loopback(b *testing.B, h http.Handler) (*httptest.Server, *http.Client) {
	ts := httptest.NewServer(h)
	b.Cleanup(ts.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	return ts, &http.Client{Transport: tr}
}

func benchParallel(b *testing.B, do func(c *http.Client) error) {
	b.SetParallelism(32) // 64 concurrent clients on 2 CPUs
	b.ReportAllocs()
	var failures atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := do(nil); err != nil {
				failures.Add(1)
			}
		}
	})
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// BenchmarkGetSchemaByID is GET /schemas/ids/{id} over loopback HTTP.
func BenchmarkGetSchemaByID(b *testing.B) {
	srv, _ := server.New(store.NewMemory(), server.Options{})
	for i := range 100 {
		registerDirect(b, srv, fmt.Sprintf("s%d", i), benchSchema(i))
	}
	ts, c := loopback(b, srv)
	var n atomic.Int64
	benchParallel(b, func(*http.Client) error {
		return get(c, fmt.Sprintf("%s/schemas/ids/%d", ts.URL, n.Add(1)%100+1))
	})
}

// BenchmarkLookup is POST /subjects/{s} (is this schema registered?) over
// loopback HTTP, what serializers call before producing.
func BenchmarkLookup(b *testing.B) {
	srv, _ := server.New(store.NewMemory(), server.Options{})
	bodies := make([][]byte, 100)
	for i := range bodies {
		registerDirect(b, srv, fmt.Sprintf("s%d", i), benchSchema(i))
		bodies[i], _ = json.Marshal(map[string]string{"schema": benchSchema(i)})
	}
	ts, c := loopback(b, srv)
	var n atomic.Int64
	benchParallel(b, func(*http.Client) error {
		i := n.Add(1) % 100
		resp, err := c.Post(fmt.Sprintf("%s/subjects/s%d", ts.URL, i), "application/vnd.schemaregistry.v1+json", bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// BenchmarkRegister registers new schemas (each a new version checked for
// compatibility) over loopback HTTP, into the memory and the file store.
func BenchmarkRegister(b *testing.B) {
	for _, name := range []string{"memory", "file"} {
		b.Run(name, func(b *testing.B) {
			var st store.Store = store.NewMemory()
			if name == "file" {
				f, err := store.OpenFile(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				st = f
			}
			srv, _ := server.New(st, server.Options{})
			ts, c := loopback(b, srv)
			var n atomic.Int64
			benchParallel(b, func(*http.Client) error {
				i := n.Add(1)
				body, _ := json.Marshal(map[string]string{"schema": benchSchema(int(i))})
				resp, err := c.Post(fmt.Sprintf("%s/subjects/s%d/versions", ts.URL, i%1000), "application/json", bytes.NewReader(body))
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				// Records named differently are incompatible in one subject;
				// a 409 is a complete, checked answer too.
				if resp.StatusCode != 200 && resp.StatusCode != 409 {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}

// BenchmarkMemory10kSubjects reports the heap a registry of 10,000
// subjects with 10 versions each takes.
func BenchmarkMemory10kSubjects(b *testing.B) {
	for range b.N {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		srv, _ := server.New(store.NewMemory(), server.Options{})
		for s := range 10_000 {
			for v := range 10 {
				fields := `{"name":"id","type":"long"}`
				for f := range v {
					fields += fmt.Sprintf(`,{"name":"f%d","type":["null","string"],"default":null}`, f)
				}
				registerDirect(b, srv, fmt.Sprintf("subject-%d", s), fmt.Sprintf(`{"type":"record","name":"R%d","fields":[%s]}`, s, fields))
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-heap")
		runtime.KeepAlive(srv)
	}
}

// BenchmarkLookupHandler is the server's own work per lookup, without the
// network and the client, which share the CPUs in BenchmarkLookup.
func BenchmarkLookupHandler(b *testing.B) {
	srv, _ := server.New(store.NewMemory(), server.Options{})
	bodies := make([][]byte, 100)
	for i := range bodies {
		registerDirect(b, srv, fmt.Sprintf("s%d", i), benchSchema(i))
		bodies[i], _ = json.Marshal(map[string]string{"schema": benchSchema(i)})
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1) % 100
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("POST", fmt.Sprintf("/subjects/s%d", i), bytes.NewReader(bodies[i])))
			if rec.Code != 200 {
				b.Errorf("status %d", rec.Code)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
