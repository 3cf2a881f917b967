package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schemaflow/schemaflow/processor/daemon"
)

func (c *Console) pipelineRoutes() {
	c.mux.HandleFunc("GET "+Path+"pipelines", c.pipelinesPage)
	c.mux.HandleFunc("GET "+Path+"api/pipelines", c.pipelinesAPI)
	c.mux.HandleFunc("GET "+Path+"api/events", c.events)
}

// rates turns the pipelines' counters into per-second rates: each read
// is a sample, and a rate is taken over the samples of the last few
// seconds, so that any number of readers share them.
type rates struct {
	mu      sync.Mutex
	samples []sample
}

type sample struct {
	at      time.Time
	in, out map[string]int64
}

// rateWindow is how far back a rate looks.
const rateWindow = 5 * time.Second

// observe records a sample and returns the rates in and out by pipeline.
func (r *rates) observe(now time.Time, st []daemon.Status) (in, out map[string]float64) {
	s := sample{at: now, in: map[string]int64{}, out: map[string]int64{}}
	for _, p := range st {
		s.in[p.Name], s.out[p.Name] = p.In, p.Out
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Keep one sample older than the window, to measure from.
	for len(r.samples) > 1 && now.Sub(r.samples[1].at) > rateWindow {
		r.samples = r.samples[1:]
	}
	in, out = map[string]float64{}, map[string]float64{}
	if len(r.samples) > 0 {
		first := r.samples[0]
		if dt := now.Sub(first.at).Seconds(); dt >= 0.2 {
			for name := range s.in {
				in[name] = max(0, float64(s.in[name]-first.in[name])/dt)
				out[name] = max(0, float64(s.out[name]-first.out[name])/dt)
			}
		}
	}
	r.samples = append(r.samples, s)
	return in, out
}

// pipelineView is one pipeline as the pipelines page and its JSON show
// it.
type pipelineView struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// State is the daemon's state, or "standby" for a source another
	// daemon runs.
	State     string           `json:"state"`
	Restarts  int64            `json:"restarts"`
	LastError string           `json:"lastError,omitempty"`
	Stuck     string           `json:"stuck,omitempty"`
	MongoDB   string           `json:"mongodb,omitempty"`
	In        int64            `json:"in"`
	Out       int64            `json:"out"`
	InRate    float64          `json:"inPerSecond"`
	OutRate   float64          `json:"outPerSecond"`
	Lag       float64          `json:"lag"`
	LagUnit   string           `json:"lagUnit"` // "records" (sinks) or "seconds" (sources)
	Dead      int64            `json:"deadLetters"`
	DeadBy    []classCount     `json:"deadLettersByClass"`
	Copies    []copyView       `json:"copies,omitempty"`
	Subjects  []subjectVersion `json:"subjects"`
	DeadTopic string           `json:"deadLetterTopic,omitempty"`
}

type classCount struct {
	Class string `json:"class"`
	N     int64  `json:"n"`
}

type copyView struct {
	Namespace string  `json:"namespace"`
	Copied    int64   `json:"copied"`
	Estimated int64   `json:"estimated"` // -1 unknown
	Percent   float64 `json:"percent"`   // -1 unknown
	Rate      float64 `json:"perSecond"`
	ETA       string  `json:"eta,omitempty"`
	Done      bool    `json:"done"`
}

type subjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

type pipelinesView struct {
	At        time.Time      `json:"at"`
	Pipelines []pipelineView `json:"pipelines"`
	// SubjectsError says why the subjects could not be listed.
	SubjectsError string `json:"subjectsError,omitempty"`
}

// subjectsOf lists the subjects, of those given, that a pipeline writes
// or reads: TOPIC-key, TOPIC-value and TOPIC-* (topic-record strategy) of
// its topics, and those under its subject prefixes.
func subjectsOf(p Pipeline, subjects []string) []string {
	var out []string
	for _, s := range subjects {
		match := false
		for _, t := range p.Topics {
			if strings.HasPrefix(s, t+"-") {
				match = true
			}
		}
		for _, pre := range p.SubjectPrefixes {
			if strings.HasPrefix(s, pre) {
				match = true
			}
		}
		if match {
			out = append(out, s)
		}
	}
	return out
}

func (c *Console) pipelinesData(r *http.Request) pipelinesView {
	now := time.Now()
	st := c.opts.Status()
	in, out := c.rates.observe(now, st)
	v := pipelinesView{At: now.UTC(), Pipelines: []pipelineView{}}
	ctx, cancel := c.call(r)
	defer cancel()
	subjects, err := c.cachedSubjects(ctx)
	if err != nil {
		v.SubjectsError = err.Error()
	}
	for _, s := range st {
		pv := pipelineView{Name: s.Name, Kind: s.Kind, State: string(s.State), Restarts: s.Restarts, LastError: s.LastErr, Stuck: s.Stuck, MongoDB: s.MongoDB,
			In: s.In, Out: s.Out, InRate: in[s.Name], OutRate: out[s.Name], Lag: s.Lag, LagUnit: "records", Dead: s.Dead, Subjects: []subjectVersion{}}
		if s.Kind == "source" {
			pv.LagUnit = "seconds"
		}
		if s.Standby && s.State == daemon.StateRunning {
			pv.State = "standby"
		}
		for class, n := range s.DeadByClass {
			pv.DeadBy = append(pv.DeadBy, classCount{class, n})
		}
		slices.SortFunc(pv.DeadBy, func(a, b classCount) int { return strings.Compare(a.Class, b.Class) })
		for _, cp := range s.Copies {
			cv := copyView{Namespace: cp.Namespace, Copied: cp.Copied, Estimated: cp.Estimated, Percent: -1, Rate: cp.Rate, Done: cp.Done}
			if cp.Estimated > 0 {
				cv.Percent = min(100, 100*float64(cp.Copied)/float64(cp.Estimated))
			}
			if cp.Done {
				cv.Percent = 100
			}
			if cp.ETA > 0 {
				cv.ETA = cp.ETA.Round(time.Second).String()
			}
			pv.Copies = append(pv.Copies, cv)
		}
		for _, p := range c.opts.Pipelines {
			if p.Name != s.Name {
				continue
			}
			pv.DeadTopic = p.DeadLetterTopic
			for _, sub := range subjectsOf(p, subjects) {
				sv := subjectVersion{Subject: sub}
				if vs, err := c.opts.Registry.Versions(ctx, sub, false); err == nil && len(vs) > 0 {
					sv.Version = vs[len(vs)-1]
				}
				pv.Subjects = append(pv.Subjects, sv)
			}
		}
		v.Pipelines = append(v.Pipelines, pv)
	}
	return v
}

func (c *Console) pipelinesPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "pipelines.html", "Pipelines", "pipelines", c.pipelinesData(r))
}

func (c *Console) pipelinesAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.pipelinesData(r))
}

// events streams the pipelines' status as server-sent events, one
// "pipelines" event per interval, until the client leaves or the console
// is told to stop (Options.Done).
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		data, err := json.Marshal(c.pipelinesData(r))
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: pipelines\ndata: %s\n\n", data); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-c.opts.Done:
			return
		case <-t.C:
		}
	}
}
