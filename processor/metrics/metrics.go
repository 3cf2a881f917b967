// Package metrics serves metrics in the Prometheus text exposition format
// (version 0.0.4). Counters and gauges are read at scrape time from the
// pipelines' own statistics through collect functions; histograms are
// observed as events happen.
package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Registry holds collect functions and histograms. It is safe for
// concurrent use.
type Registry struct {
	mu         sync.Mutex
	collectors []func(*Writer)
	histograms []*HistogramVec
}

// Collect adds f, called on every scrape to write current values.
func (r *Registry) Collect(f func(*Writer)) {
	r.mu.Lock()
	r.collectors = append(r.collectors, f)
	r.mu.Unlock()
}

// Histogram makes a histogram family with the given upper bounds
// (ascending; +Inf is added) and label names.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	h := &HistogramVec{name: name, help: help, buckets: buckets, labels: labels, series: map[string]*histogram{}}
	r.mu.Lock()
	r.histograms = append(r.histograms, h)
	r.mu.Unlock()
	return h
}

// Write writes every family in the text format, sorted by name.
func (r *Registry) Write(out io.Writer) error {
	w := &Writer{families: map[string]*family{}}
	r.mu.Lock()
	collectors := append([](func(*Writer)){}, r.collectors...)
	hists := append([]*HistogramVec(nil), r.histograms...)
	r.mu.Unlock()
	for _, f := range collectors {
		f(w)
	}
	for _, h := range hists {
		h.write(w)
	}
	names := make([]string, 0, len(w.families))
	for n := range w.families {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		f := w.families[n]
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", n, escapeHelp(f.help), n, f.kind)
		for _, line := range f.lines {
			b.WriteString(line)
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// ServeHTTP serves the metrics.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = r.Write(w)
}

// Writer gathers the samples of one scrape.
type Writer struct {
	families map[string]*family
}

type family struct {
	help, kind string
	lines      []string
}

func (w *Writer) sample(kind, name, help string, v float64, labels []string) {
	f := w.families[name]
	if f == nil {
		f = &family{help: help, kind: kind}
		w.families[name] = f
	}
	f.lines = append(f.lines, name+labelText(labels)+" "+formatValue(v)+"\n")
}

// Counter writes a counter sample; labels are name, value pairs.
func (w *Writer) Counter(name, help string, v float64, labels ...string) {
	w.sample("counter", name, help, v, labels)
}

// Gauge writes a gauge sample; labels are name, value pairs.
func (w *Writer) Gauge(name, help string, v float64, labels ...string) {
	w.sample("gauge", name, help, v, labels)
}

// HistogramVec is a histogram family.
type HistogramVec struct {
	name, help string
	buckets    []float64
	labels     []string

	mu     sync.Mutex
	series map[string]*histogram // by label values joined with \xff
	order  []string
}

type histogram struct {
	values []string
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	count  uint64
}

// Observe records v in the series of the label values (one per label
// name).
func (h *HistogramVec) Observe(v float64, labelValues ...string) {
	key := strings.Join(labelValues, "\xff")
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.series[key]
	if s == nil {
		s = &histogram{values: labelValues, counts: make([]uint64, len(h.buckets)+1)}
		h.series[key] = s
		h.order = append(h.order, key)
	}
	i := sort.SearchFloat64s(h.buckets, v) // the first bound >= v
	s.counts[i]++
	s.sum += v
	s.count++
}

func (h *HistogramVec) write(w *Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.series) == 0 {
		return
	}
	f := &family{help: h.help, kind: "histogram"}
	w.families[h.name] = f
	keys := append([]string(nil), h.order...)
	sort.Strings(keys)
	for _, k := range keys {
		s := h.series[k]
		var pairs []string
		for i, n := range h.labels {
			pairs = append(pairs, n, s.values[i])
		}
		cum := uint64(0)
		for i, c := range s.counts {
			cum += c
			le := "+Inf"
			if i < len(h.buckets) {
				le = formatValue(h.buckets[i])
			}
			f.lines = append(f.lines, h.name+"_bucket"+labelText(append(append([]string(nil), pairs...), "le", le))+" "+strconv.FormatUint(cum, 10)+"\n")
		}
		f.lines = append(f.lines,
			h.name+"_sum"+labelText(pairs)+" "+formatValue(s.sum)+"\n",
			h.name+"_count"+labelText(pairs)+" "+strconv.FormatUint(s.count, 10)+"\n")
	}
}

func labelText(pairs []string) string {
	if len(pairs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(pairs[i])
		b.WriteString(`="`)
		b.WriteString(escapeLabel(pairs[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
