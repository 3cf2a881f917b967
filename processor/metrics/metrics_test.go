package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// scrape serves one GET /metrics of r.
func scrape(t *testing.T, r *Registry) (int, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(body)
}

// only keeps the lines of body that mention prefix.
func only(body, prefix string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(body, "\n") {
		if strings.Contains(line, prefix) {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestExposition(t *testing.T) {
	r := New()
	records := Counter("sf_records_total", "Records.", "pipeline")
	lag := Gauge("sf_lag", "Lag\nin records.", "pipeline")
	if err := r.Register(NewCollector(func(w *Writer) {
		w.Write(records, 3, "a")
		w.Write(lag, 1.5, `q"b\`)
		w.Write(records, 7, "b")
	}, records, lag)); err != nil {
		t.Fatal(err)
	}
	h, err := r.Histogram("sf_batch_seconds", "Batch latency.", []float64{0.01, 0.1, 1}, "pipeline")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{0.005, 0.01, 0.5, 3} {
		h.WithLabelValues("a").Observe(v)
	}
	code, ct, body := scrape(t, r)
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	want := `# HELP sf_batch_seconds Batch latency.
# TYPE sf_batch_seconds histogram
sf_batch_seconds_bucket{pipeline="a",le="0.01"} 2
sf_batch_seconds_bucket{pipeline="a",le="0.1"} 2
sf_batch_seconds_bucket{pipeline="a",le="1"} 3
sf_batch_seconds_bucket{pipeline="a",le="+Inf"} 4
sf_batch_seconds_sum{pipeline="a"} 3.515
sf_batch_seconds_count{pipeline="a"} 4
# HELP sf_lag Lag\nin records.
# TYPE sf_lag gauge
sf_lag{pipeline="q\"b\\"} 1.5
# HELP sf_records_total Records.
# TYPE sf_records_total counter
sf_records_total{pipeline="a"} 3
sf_records_total{pipeline="b"} 7
`
	if got := only(body, "sf_"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	// The Go runtime and process collectors.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("no %s in\n%s", name, body)
		}
	}
}

// Two families that share a name but not their help text, type or label
// names are refused when the second is registered, never merged.
func TestConflictingFamilies(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second *Family
		wantErr       string
	}{
		{"other help", Counter("sf_x_total", "Records."), Counter("sf_x_total", "Other records."), `declared twice: counter "Records." [] and counter "Other records." []`},
		{"other labels", Counter("sf_x_total", "Records.", "pipeline"), Counter("sf_x_total", "Records.", "kind"), "declared twice"},
		{"other type", Counter("sf_x", "Records."), Gauge("sf_x", "Records."), `declared twice: counter "Records." [] and gauge "Records." []`},
		{"same family twice", Gauge("sf_x", "Records."), Gauge("sf_x", "Records."), "declared twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// In two collectors, the second is refused.
			r := New()
			if err := r.Register(NewCollector(func(*Writer) {}, tc.first)); err != nil {
				t.Fatal(err)
			}
			err := r.Register(NewCollector(func(*Writer) {}, tc.second))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "sf_x") {
				t.Errorf("second collector: got %v, want an error with %q naming sf_x", err, tc.wantErr)
			}
			// In one collector, the collector is refused.
			if err := New().Register(NewCollector(func(*Writer) {}, tc.first, tc.second)); err == nil || !strings.Contains(err.Error(), "sf_x") {
				t.Errorf("one collector: got %v, want an error naming sf_x", err)
			}
		})
	}
	// A histogram clashes with a family of its name as well: client_golang
	// compares help texts and label names.
	r := New()
	if err := r.Register(NewCollector(func(*Writer) {}, Gauge("sf_batch_seconds", "Gauge."))); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Histogram("sf_batch_seconds", "Batch latency.", []float64{1}); err == nil || !strings.Contains(err.Error(), "histogram sf_batch_seconds") {
		t.Errorf("histogram over a gauge: got %v", err)
	}
}

// A sample that does not fit its family, or of a family the collector did
// not declare, fails the scrape with an error naming it.
func TestBadSamples(t *testing.T) {
	declared := Counter("sf_records_total", "Records.", "pipeline")
	undeclared := Gauge("sf_undeclared", "Not declared.")
	for _, tc := range []struct {
		name    string
		collect func(*Writer)
		wantErr string
	}{
		{"missing label value", func(w *Writer) { w.Write(declared, 1) }, "sf_records_total"},
		{"extra label value", func(w *Writer) { w.Write(declared, 1, "a", "b") }, "sf_records_total"},
		{"undeclared family", func(w *Writer) { w.Write(undeclared, 1) }, "sf_undeclared"},
		{"duplicate sample", func(w *Writer) { w.Write(declared, 1, "a"); w.Write(declared, 2, "a") }, "sf_records_total"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New()
			if err := r.Register(NewCollector(tc.collect, declared)); err != nil {
				t.Fatal(err)
			}
			code, _, body := scrape(t, r)
			if code != 500 || !strings.Contains(body, tc.wantErr) {
				t.Errorf("got %d %q, want 500 naming %s", code, body, tc.wantErr)
			}
		})
	}
}
