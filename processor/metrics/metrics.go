// Package metrics is the daemon's Prometheus registry, on
// github.com/prometheus/client_golang.
//
// Counters and gauges are not kept here: a [Collector] reads them at
// scrape time from the pipelines' own statistics and writes them as
// constant metrics of declared [Family] values. Histograms are
// client_golang's, observed as events happen. Every registry also carries
// the Go runtime (go_*) and process (process_*) collectors.
//
// Each family is declared once, with its help text, type and label names.
// Registering a second family with the same name but another help text,
// type or label names is an error ([Registry.Register]), and a sample that
// does not fit its family fails the scrape with an error naming it; neither
// is merged silently.
package metrics

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds the collectors of one exposition. It is safe for
// concurrent use.
type Registry struct {
	reg *prometheus.Registry

	mu       sync.Mutex
	families map[string]*Family // the families of Collectors, by name
}

// New returns a registry holding the Go runtime and process collectors.
func New() *Registry {
	// Pedantic: a collected sample of a family its collector did not
	// describe fails the scrape.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{reg: reg, families: map[string]*Family{}}
}

// Register adds c. It fails when one of c's families has the name of a
// family already registered (by c or before) with another help text, type
// or label names, or when c is already registered.
func (r *Registry) Register(c prometheus.Collector) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	col, ok := c.(*Collector)
	if ok {
		seen := map[string]*Family{}
		for _, f := range col.families {
			name := f.name
			prev := r.families[name]
			if prev == nil {
				prev = seen[name]
			}
			if prev != nil {
				return fmt.Errorf("metrics: family %s declared twice: %s and %s", name, prev, f)
			}
			seen[name] = f
		}
	}
	if err := r.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if ok {
		for _, f := range col.families {
			r.families[f.name] = f
		}
	}
	return nil
}

// Histogram registers and returns a histogram family with the given upper
// bounds (ascending; +Inf is added) and label names.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) (*prometheus.HistogramVec, error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	if err := r.Register(h); err != nil {
		return nil, fmt.Errorf("histogram %s: %w", name, err)
	}
	return h, nil
}

// Gatherer is the registry as client_golang's gatherer, for tests and
// other expositions.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// ServeHTTP serves the metrics in the format the scraper asks for (the
// Prometheus text format by default). A scrape that gathers inconsistent
// metrics is answered 500 with the error.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).ServeHTTP(w, req)
}

// Family is a counter or gauge family: its name, help text and label
// names, declared once.
type Family struct {
	desc   *prometheus.Desc
	kind   prometheus.ValueType
	name   string
	help   string
	labels []string
}

// Counter declares a counter family.
func Counter(name, help string, labels ...string) *Family {
	return &Family{desc: prometheus.NewDesc(name, help, labels, nil), kind: prometheus.CounterValue, name: name, help: help, labels: labels}
}

// Gauge declares a gauge family.
func Gauge(name, help string, labels ...string) *Family {
	return &Family{desc: prometheus.NewDesc(name, help, labels, nil), kind: prometheus.GaugeValue, name: name, help: help, labels: labels}
}

// String describes f: its type, help text and label names.
func (f *Family) String() string {
	kind := "gauge"
	if f.kind == prometheus.CounterValue {
		kind = "counter"
	}
	return fmt.Sprintf("%s %q %v", kind, f.help, f.labels)
}

// Collector writes the samples of its families at every scrape through a
// collect function. Make one with [NewCollector].
type Collector struct {
	families []*Family
	collect  func(*Writer)
}

// NewCollector returns a collector of families whose samples collect
// writes at every scrape. collect may write only those families.
func NewCollector(collect func(*Writer), families ...*Family) *Collector {
	return &Collector{families: families, collect: collect}
}

// Describe sends the families' descriptors.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.families {
		ch <- f.desc
	}
}

// Collect calls the collect function.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.collect(&Writer{ch: ch})
}

// Writer takes the samples of one scrape.
type Writer struct {
	ch chan<- prometheus.Metric
}

// Write writes a sample of f: v with one value per label name of f. A
// sample with the wrong number of label values fails the scrape.
func (w *Writer) Write(f *Family, v float64, labelValues ...string) {
	m, err := prometheus.NewConstMetric(f.desc, f.kind, v, labelValues...)
	if err != nil {
		m = prometheus.NewInvalidMetric(f.desc, err)
	}
	w.ch <- m
}
