package runcmd

import (
	"fmt"
	"net/http"
	"runtime/pprof"
	"strconv"
	"time"
)

// maxCPUProfile bounds a CPU profile's duration, so that a request cannot
// hold the profiler for longer.
const maxCPUProfile = 5 * time.Minute

// withPprof serves Go's runtime profiles beside h, in the form `go tool
// pprof` reads: /debug/pprof/{heap,allocs,goroutine,block,mutex,threadcreate}
// (?debug=1 for text) and /debug/pprof/profile?seconds=N (CPU, default 30).
// It uses runtime/pprof rather than net/http/pprof, whose import registers
// handlers on http.DefaultServeMux.
func withPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/profile", cpuProfile)
	mux.HandleFunc("GET /debug/pprof/{name}", func(w http.ResponseWriter, r *http.Request) {
		p := pprof.Lookup(r.PathValue("name"))
		if p == nil {
			http.Error(w, fmt.Sprintf("no profile %q: want one of %s", r.PathValue("name"), profileNames()), http.StatusNotFound)
			return
		}
		debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
		if debug > 0 {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		_ = p.WriteTo(w, debug)
	})
	mux.Handle("/", h)
	return mux
}

// cpuProfile records a CPU profile for ?seconds (default 30, at most
// maxCPUProfile), ending early when the client goes away.
func cpuProfile(w http.ResponseWriter, r *http.Request) {
	d := 30 * time.Second
	if s := r.URL.Query().Get("seconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			http.Error(w, fmt.Sprintf("seconds=%q: want a positive whole number", s), http.StatusBadRequest)
			return
		}
		d = min(time.Duration(n)*time.Second, maxCPUProfile)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := pprof.StartCPUProfile(w); err != nil {
		// Another profile is running.
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
	pprof.StopCPUProfile()
}

func profileNames() string {
	var names string
	for i, p := range pprof.Profiles() {
		if i > 0 {
			names += ", "
		}
		names += p.Name()
	}
	return names
}
