package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/schemaflow/schemaflow/registry"
)

// HandlerRegistry is a Registry that calls a registry's REST API handler
// in process, as `schemaflow registry serve` gives its own server to the
// console: no network, no credentials (the console sits behind the same
// authentication as the server).
type HandlerRegistry struct {
	Handler http.Handler
}

// memWriter is the response of an in-process call.
type memWriter struct {
	header http.Header
	status int
	body   strings.Builder
}

func (m *memWriter) Header() http.Header { return m.header }
func (m *memWriter) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return m.body.Write(b)
}
func (m *memWriter) WriteHeader(status int) {
	if m.status == 0 {
		m.status = status
	}
}

func (h HandlerRegistry) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://registry.internal"+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
	w := &memWriter{header: http.Header{}}
	h.Handler.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 300 {
		e := &registry.Error{Status: w.status}
		if err := json.Unmarshal([]byte(w.body.String()), e); err != nil || e.Message == "" {
			e.Message = strings.TrimSpace(w.body.String())
		}
		return e
	}
	if err := json.Unmarshal([]byte(w.body.String()), out); err != nil {
		return fmt.Errorf("registry: GET %s: %w", path, err)
	}
	return nil
}

// Subjects implements Registry.
func (h HandlerRegistry) Subjects(ctx context.Context, deleted bool) ([]string, error) {
	var out []string
	return out, h.get(ctx, "/subjects?deleted="+strconv.FormatBool(deleted), &out)
}

// Versions implements Registry.
func (h HandlerRegistry) Versions(ctx context.Context, subject string, deleted bool) ([]int, error) {
	var out []int
	return out, h.get(ctx, "/subjects/"+url.PathEscape(subject)+"/versions?deleted="+strconv.FormatBool(deleted), &out)
}

// Version implements Registry; version -1 is the latest.
func (h HandlerRegistry) Version(ctx context.Context, subject string, version int, deleted bool) (registry.Schema, error) {
	v := "latest"
	if version > 0 {
		v = strconv.Itoa(version)
	}
	var out registry.Schema
	return out, h.get(ctx, "/subjects/"+url.PathEscape(subject)+"/versions/"+v+"?deleted="+strconv.FormatBool(deleted), &out)
}

// Config implements Registry.
func (h HandlerRegistry) Config(ctx context.Context, subject string, defaultToGlobal bool) (registry.Config, error) {
	var out registry.Config
	return out, h.get(ctx, "/config/"+url.PathEscape(subject)+"?defaultToGlobal="+strconv.FormatBool(defaultToGlobal), &out)
}

// Mode implements Registry.
func (h HandlerRegistry) Mode(ctx context.Context, subject string, defaultToGlobal bool) (string, error) {
	var out registry.Mode
	return out.Mode, h.get(ctx, "/mode/"+url.PathEscape(subject)+"?defaultToGlobal="+strconv.FormatBool(defaultToGlobal), &out)
}
