package runcmd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPprof(t *testing.T) {
	h := withPprof(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "daemon "+r.URL.Path)
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		path string
		code int
		want string // in the body (text) or its first bytes (binary)
	}{
		{"/debug/pprof/heap?debug=1", 200, "heap profile:"},
		{"/debug/pprof/goroutine?debug=1", 200, "goroutine profile:"},
		{"/debug/pprof/allocs", 200, "\x1f\x8b"}, // gzipped profile.proto, as go tool pprof reads it
		{"/debug/pprof/profile?seconds=1", 200, "\x1f\x8b"},
		{"/debug/pprof/nope", 404, `no profile "nope": want one of`},
		{"/debug/pprof/profile?seconds=x", 400, `seconds="x": want a positive whole number`},
		{"/debug/pprof/profile?seconds=0", 400, `seconds="0"`},
		{"/metrics", 200, "daemon /metrics"},
		{"/console/", 200, "daemon /console/"},
	} {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s: %d %.80q, want %d with %q", tt.path, resp.StatusCode, body, tt.code, tt.want)
		}
	}
}
