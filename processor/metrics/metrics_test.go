package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestExposition(t *testing.T) {
	var r Registry
	r.Collect(func(w *Writer) {
		w.Counter("sf_records_total", "Records.", 3, "pipeline", "a")
		w.Gauge("sf_lag", "Lag\nin records.", 1.5, "pipeline", `q"b\`)
		w.Counter("sf_records_total", "Records.", 7, "pipeline", "b")
	})
	h := r.Histogram("sf_batch_seconds", "Batch latency.", []float64{0.01, 0.1, 1}, "pipeline")
	for _, v := range []float64{0.005, 0.01, 0.5, 3} {
		h.Observe(v, "a")
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
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
	if got := rec.Body.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
}
